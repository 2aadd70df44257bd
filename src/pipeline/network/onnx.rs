//! The ONNX files (feature `onnx`: the command line and the tests; the browser's wasm reads
//! only the NNEF files written from them here, and leaves tract-onnx's parser out).

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::compact::{Compact, Stored, dequantize};
use super::{check_sha256, invalid, nnef, output_names};
use crate::error::Result;
use crate::registry::ModelSpec;

/// Replace each `Cast(uint8 weights) → Mul(scale) → Add(offset)` chain on initializers (how
/// the converters ship uint8 weights) by the float initializer it computes, before tract
/// sees the graph. tract would fold the chain itself, but through broadcasting element by
/// element: 357 of the 368 ms dlib ResNet took to load natively, seconds in wasm. Same f32
/// operations in the same order ([`dequantize`]), so the weights are bit for bit the ones
/// tract computed. Chains of any other shape are left to tract. With `compact` (the NNEF
/// writer), each chain folded is added to it as the writer stores it.
fn fold_dequantization(graph: &mut pb::GraphProto, mut compact: Option<&mut Vec<Compact>>) {
    use pb::tensor_proto::DataType;
    const FLOAT: i32 = DataType::Float as i32;
    let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let consumers = |graph: &pb::GraphProto, name: &str| -> Vec<usize> {
        graph.node.iter().enumerate().filter(|(_, n)| n.input.iter().any(|i| i == name)).map(|(i, _)| i).collect()
    };
    let initializer: HashMap<String, usize> =
        graph.initializer.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    let floats = |t: &pb::TensorProto| -> Option<Vec<f32>> {
        if t.data_type != FLOAT {
            return None;
        }
        if !t.float_data.is_empty() {
            return Some(t.float_data.clone());
        }
        Some(t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    let mut folded = Vec::new();
    let mut dropped_nodes = Vec::new();
    for (cast_index, cast) in graph.node.iter().enumerate() {
        let to_float = cast.attribute.iter().any(|a| a.name == "to" && a.i == FLOAT as i64);
        let Some(&q) = (cast.op_type == "Cast" && to_float && cast.input.len() == 1).then(|| initializer.get(&cast.input[0])).flatten() else {
            continue;
        };
        let q = &graph.initializer[q];
        if q.data_type != DataType::Uint8 as i32 || q.raw_data.is_empty() {
            continue;
        }
        // Intermediate results that are graph outputs, or read twice, must stay.
        let Some(cast_out) = cast.output.first().filter(|o| !graph_outputs.contains(*o)) else { continue };
        let [mul_index] = consumers(graph, cast_out)[..] else { continue };
        let mul = &graph.node[mul_index];
        let Some(mul_out) = mul.output.first().filter(|o| !graph_outputs.contains(*o)) else { continue };
        let [add_index] = consumers(graph, mul_out)[..] else { continue };
        let add = &graph.node[add_index];
        if mul.op_type != "Mul" || add.op_type != "Add" {
            continue;
        }
        let other = |node: &pb::NodeProto, input: &str| -> Option<(Vec<f32>, Vec<i64>)> {
            let [a, b] = &node.input[..] else { return None };
            let name = if a == input { b } else if b == input { a } else { return None };
            let tensor = &graph.initializer[*initializer.get(name)?];
            Some((floats(tensor)?, tensor.dims.clone()))
        };
        let (Some((scale, scale_dims)), Some((offset, offset_dims)), Some(out)) =
            (other(mul, cast_out), other(add, mul_out), add.output.first())
        else {
            continue;
        };
        // Per tensor, or per leading axis (output channel): anything else stays with tract.
        let rows = q.dims.first().copied().unwrap_or(1).max(1) as usize;
        let per_channel = |v: &[f32], dims: &[i64]| v.len() == rows && dims.first() == Some(&(rows as i64)) && dims[1..].iter().all(|&d| d == 1);
        if !(scale.len() == 1 || per_channel(&scale, &scale_dims)) || !(offset.len() == 1 || per_channel(&offset, &offset_dims)) {
            continue;
        }
        let Some(values) = dequantize(&q.raw_data, rows, &scale, &offset) else { continue };
        if let Some(compact) = compact.as_deref_mut() {
            let shape: Vec<usize> = q.dims.iter().map(|&d| d as usize).collect();
            let (Ok(codes), Ok(tensor)) = (Tensor::from_shape(&shape, &q.raw_data), Tensor::from_shape(&shape, &values)) else { continue };
            compact.push(Compact {
                stored: Stored::Uint8 { codes: codes.into_arc_tensor(), scale: rctensor1(&scale), offset: rctensor1(&offset) },
                values: tensor.into_arc_tensor(),
            });
        }
        folded.push(pb::TensorProto {
            dims: q.dims.clone(),
            data_type: FLOAT,
            name: out.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        dropped_nodes.extend([cast_index, mul_index, add_index]);
    }
    dropped_nodes.sort_unstable();
    for index in dropped_nodes.into_iter().rev() {
        graph.node.remove(index);
    }
    graph.initializer.extend(folded);
    // The uint8, scale and offset initializers nobody reads any more.
    let used: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    graph.initializer.retain(|t| used.contains(&t.name) || graph_outputs.contains(&t.name));
}

/// Each float16 initializer cast to float (how `convert_tfjs_graph.py` ships FaceRes),
/// as the NNEF writer stores it. tract casts these itself, element by element, which costs
/// little; the graph is left as it is.
fn half_weights(graph: &pb::GraphProto) -> Vec<Compact> {
    use pb::tensor_proto::DataType;
    let initializer: HashMap<&str, &pb::TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let casts = graph.node.iter().filter(|n| n.op_type == "Cast" && n.attribute.iter().any(|a| a.name == "to" && a.i == DataType::Float as i64));
    casts
        .filter_map(|cast| {
            let t = initializer.get(cast.input.first()?.as_str()).filter(|t| t.data_type == DataType::Float16 as i32)?;
            // Raw little-endian halves, or (ONNX's other layout) one per int32.
            let bits: Vec<u16> = if t.raw_data.is_empty() {
                t.int32_data.iter().map(|&v| v as u16).collect()
            } else {
                t.raw_data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
            };
            let halves: Vec<f16> = bits.into_iter().map(f16::from_bits).collect();
            let values: Vec<f32> = halves.iter().map(|h| h.to_f32()).collect();
            let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
            let (halves, values) = (Tensor::from_shape(&shape, &halves).ok()?, Tensor::from_shape(&shape, &values).ok()?);
            Some(Compact { stored: Stored::Half(halves.into_arc_tensor()), values: values.into_arc_tensor() })
        })
        .collect()
}

/// The ONNX file's network for the manifest's input size, with its uint8 weights folded
/// ([`fold_dequantization`]), typed but not yet decluttered. With `compact` (the NNEF writer;
/// loading does without the copies), its compactly stored weights are added to it
/// ([`fold_dequantization`]'s chains and [`half_weights`]).
pub(super) fn typed_from_onnx(spec: &ModelSpec, bytes: &[u8], mut compact: Option<&mut Vec<Compact>>) -> Result<TypedModel> {
    let input = spec.input()?;
    let onnx = tract_onnx::onnx();
    let mut proto = onnx
        .proto_model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| invalid(spec, format!("cannot parse: {e}")))?;
    if let Some(graph) = proto.graph.as_mut() {
        if let Some(compact) = compact.as_deref_mut() {
            compact.extend(half_weights(graph));
        }
        fold_dequantization(graph, compact);
    }
    let fact = f32::fact([1, 3, input.height as usize, input.width as usize]);
    onnx.model_for_proto_model(&proto)
        .map_err(|e| invalid(spec, format!("cannot parse: {e}")))?
        .with_input_fact(0, fact.into())
        .and_then(|m| m.into_typed())
        .map_err(|e| invalid(spec, format!("cannot load: {e}")))
}

/// Put each constant that the ONNX file stores compactly back as stored ([`Compact`]), so the
/// NNEF file stores it so too. Run after tract's rewrites for NNEF, which reshape some weights
/// (a 1×1 kernel to a matrix with a leading unit axis) and fold them into new constants:
/// constants are matched by value, in any shape of the same elements in the same order (what
/// the stored tensor is reshaped to; the scales apply to runs of that order, whatever the
/// shape), and one whose values changed stays f32.
fn keep_compact(model: &mut TypedModel, chains: Vec<Compact>) {
    let by_value: HashMap<Vec<u8>, Compact> =
        chains.into_iter().map(|chain| (chain.values.as_bytes().to_vec(), chain)).collect();
    for id in 0..model.nodes.len() {
        let Some(konst) = model.node(id).op_as::<tract_onnx::tract_core::ops::konst::Const>() else { continue };
        if konst.val().datum_type() != f32::datum_type() {
            continue;
        }
        let Some(chain) = by_value.get(konst.val().as_bytes()) else { continue };
        let shape = konst.val().shape().to_vec();
        let reshaped = |t: &Arc<Tensor>| t.clone().into_tensor().into_shape(&shape).map(|t| t.into_arc_tensor());
        let stored = match &chain.stored {
            Stored::Uint8 { codes, scale, offset } => reshaped(codes).map(|codes| Stored::Uint8 { codes, scale: scale.clone(), offset: offset.clone() }),
            Stored::Half(halves) => reshaped(halves).map(Stored::Half),
        };
        let (Ok(stored), Ok(values)) = (stored, reshaped(&chain.values)) else { continue };
        model.node_mut(id).op = Box::new(Compact { stored, values });
    }
}

/// Renumber the nodes named `<base>.<n>` in graph order, outputs aside (their names are the
/// manifest's). tract's rewrites for NNEF name the axis changes around a product
/// `….fix_a.1`, `….fix_a.2` in an order that varies from run to run, and fold some of them
/// away (face-api's age net came out with three sha256 in three runs); the manifest pins the
/// file's bytes.
fn stable_names(model: &mut TypedModel) -> TractResult<()> {
    model.compact()?;
    let outputs: HashSet<usize> = model.output_outlets()?.iter().map(|o| o.node).collect();
    let base = |name: &str| {
        name.rsplit_once('.').filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).map(|(b, _)| b.to_string())
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for id in model.eval_order()? {
        if outputs.contains(&id) {
            continue;
        }
        if let Some(base) = base(&model.node(id).name) {
            let n = count.entry(base.clone()).or_default();
            *n += 1;
            model.node_mut(id).name = format!("{base}.{n}");
        }
    }
    Ok(())
}

/// The network of `spec`'s ONNX file (`bytes`) as tract's NNEF tar, decluttered for the
/// manifest's input size, weights stored as the ONNX file stores them ([`super::compact`]): the file
/// `spec.nnef` names. The tar's times are fixed, so the same ONNX file and tract version give
/// the same bytes (the manifest pins their sha256), and the outputs keep their names (checked
/// by reading the tar back). Errors: `ModelInvalid` for bytes that are not the manifest's
/// ONNX file or a network NNEF cannot express.
pub fn to_nnef(spec: &ModelSpec, bytes: &[u8]) -> Result<Vec<u8>> {
    check_sha256(spec, bytes)?;
    let mut compact = Vec::new();
    let mut model = typed_from_onnx(spec, bytes, Some(&mut compact))?
        .into_decluttered()
        .map_err(|e| invalid(spec, format!("cannot load: {e}")))?;
    // tract's rewrites for NNEF, run here (writing runs them again, to no effect) so that the
    // nodes they add are renamed and the weights they reshape are found.
    tract_nnef::ser::rewrite_model(&mut model)
        .and_then(|()| stable_names(&mut model))
        .map_err(|e| invalid(spec, format!("cannot write as NNEF: {e:#}")))?;
    keep_compact(&mut model, compact);
    let tar = nnef()
        .write_to_tar_with_config(&model, Vec::new(), false, true)
        .map_err(|e| invalid(spec, format!("cannot write as NNEF: {e:#}")))?;
    let read_back = nnef()
        .model_for_read(&mut &tar[..])
        .map_err(|e| invalid(spec, format!("its NNEF does not read back: {e}")))?;
    let (names, read_names) = (output_names(&model), output_names(&read_back));
    if names.as_ref().ok() != read_names.as_ref().ok() {
        return Err(invalid(spec, format!("NNEF renames its outputs: {names:?} became {read_names:?}")));
    }
    Ok(tar)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
        // Casts in these graphs are to float, as the converters write them.
        let to_float = pb::AttributeProto { name: "to".into(), i: 1, ..Default::default() };
        pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: if op == "Cast" { vec![to_float] } else { Vec::new() },
            ..Default::default()
        }
    }

    fn floats(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn dequantization_chains_become_float_weights() {
        let codes = pb::TensorProto { name: "q".into(), dims: vec![2, 3], data_type: 2, raw_data: vec![0, 1, 255, 10, 20, 30], ..Default::default() };
        let mut graph = pb::GraphProto {
            node: vec![
                node("Cast", &["q"], "qf"),
                node("Mul", &["qf", "scale"], "scaled"),
                node("Add", &["offset", "scaled"], "w"),
                node("Conv", &["input", "w"], "y"),
            ],
            initializer: vec![codes, floats("scale", &[2, 1], &[0.5, 2.0]), floats("offset", &[1], &[-1.0])],
            ..Default::default()
        };
        let mut compact = Vec::new();
        fold_dequantization(&mut graph, Some(&mut compact));
        assert_eq!(graph.node.len(), 1, "only the Conv is left");
        assert_eq!(graph.initializer.len(), 1, "codes, scale and offset are gone");
        let w = &graph.initializer[0];
        assert_eq!((w.name.as_str(), w.dims.as_slice(), w.data_type), ("w", &[2i64, 3][..], 1));
        let values: Vec<f32> = w.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(values, [-1.0, -0.5, 126.5, 19.0, 39.0, 59.0]);
        // What the NNEF writer stores instead: the codes, and the values they give.
        let [Compact { stored: Stored::Uint8 { codes, .. }, values: stored }] = &compact[..] else { panic!("one uint8 chain: {compact:?}") };
        assert_eq!(codes.as_bytes(), [0, 1, 255, 10, 20, 30]);
        assert_eq!(stored.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(), values);
    }

    #[test]
    fn other_chains_are_left_to_tract() {
        // A scale per column, not per output channel (3 of them, as many as rows): not this
        // fold's shape.
        let codes = pb::TensorProto { name: "q".into(), dims: vec![3, 3], data_type: 2, raw_data: vec![1; 9], ..Default::default() };
        let mut graph = pb::GraphProto {
            node: vec![node("Cast", &["q"], "qf"), node("Mul", &["qf", "scale"], "scaled"), node("Add", &["scaled", "offset"], "w")],
            initializer: vec![codes, floats("scale", &[1, 3], &[1.0, 2.0, 3.0]), floats("offset", &[1], &[0.0])],
            ..Default::default()
        };
        let before = graph.clone();
        fold_dequantization(&mut graph, None);
        assert_eq!(graph, before);
        // A per-channel chain, but its Cast is to int32.
        graph.initializer[1] = floats("scale", &[3, 1], &[1.0, 2.0, 3.0]);
        graph.node[0].attribute[0].i = 6;
        let before = graph.clone();
        fold_dequantization(&mut graph, None);
        assert_eq!(graph, before);
        graph.node[0].attribute[0].i = 1;
        fold_dequantization(&mut graph, None);
        assert_ne!(graph, before, "to float, the same chain folds");
    }
}
