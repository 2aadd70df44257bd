//! A loaded network (its ONNX file, or the NNEF file written from it): checked against its
//! manifest, optimised once by tract, and run with inputs prepared the way the manifest says
//! (NCHW, `(pixel - mean) / std`).

use image::{ImageBuffer, Pixel, Primitive, Rgb};
use sha2::{Digest, Sha256};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::registry::{ColorOrder, InputSpec, ModelSpec};

/// Replace each `Cast(uint8 weights) → Mul(scale) → Add(offset)` chain on initializers (how
/// the converters ship uint8 weights) by the float initializer it computes, before tract
/// sees the graph. tract would fold the chain itself, but through broadcasting element by
/// element: 357 of the 368 ms dlib ResNet took to load natively, seconds in wasm. Same f32
/// operations in the same order, so the weights are bit for bit the ones tract computed.
/// Chains of any other shape are left to tract.
fn fold_dequantization(graph: &mut pb::GraphProto) {
    use std::collections::{HashMap, HashSet};
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
        let per_channel = |v: &[f32], dims: &[i64]| {
            v.len() == rows && dims.first() == Some(&(rows as i64)) && dims[1..].iter().all(|&d| d == 1) && q.raw_data.len() % rows == 0
        };
        if !(scale.len() == 1 || per_channel(&scale, &scale_dims)) || !(offset.len() == 1 || per_channel(&offset, &offset_dims)) {
            continue;
        }
        let row_len = if scale.len() == 1 && offset.len() == 1 { q.raw_data.len().max(1) } else { q.raw_data.len() / rows };
        let mut raw_data = Vec::with_capacity(q.raw_data.len() * 4);
        for (row, codes) in q.raw_data.chunks(row_len).enumerate() {
            let (a, b) = (scale[row.min(scale.len() - 1)], offset[row.min(offset.len() - 1)]);
            for &code in codes {
                raw_data.extend_from_slice(&(code as f32 * a + b).to_le_bytes());
            }
        }
        folded.push(pb::TensorProto { dims: q.dims.clone(), data_type: FLOAT, name: out.clone(), raw_data, ..Default::default() });
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

/// A model ready to run: the optimised tract plan plus its manifest entry.
pub struct Network {
    plan: Arc<TypedRunnableModel>,
    spec: ModelSpec,
    output_names: Vec<String>,
}

impl Network {
    /// Load `bytes` as the model `spec` describes: its ONNX file, or its NNEF file where the
    /// manifest names one (`spec.nnef`, what the browser downloads). Bytes whose sha256 is
    /// neither file's are refused (`ModelInvalid`): thresholds and preprocessing are only
    /// valid for that network.
    pub fn load(spec: &ModelSpec, bytes: &[u8]) -> Result<Network> {
        let digest = sha256_hex(bytes);
        let (model, decluttered) = if spec.nnef.as_ref().is_some_and(|nnef| nnef.sha256 == digest) {
            let model = nnef()
                .model_for_read(&mut std::io::Cursor::new(bytes))
                .map_err(|e| invalid(spec, format!("cannot parse its NNEF file: {e}")))?;
            (model, true)
        } else {
            check_digest(spec, bytes, &digest)?;
            (typed_from_onnx(spec, bytes)?, false)
        };
        // Optimisation keeps the order of outputs, not always their names.
        let output_names = output_names(&model).map_err(|e| invalid(spec, e.to_string()))?;
        // The NNEF file was decluttered when it was written (`to_nnef`): only tract's codegen
        // passes are left to run, which is where NNEF saves time.
        let plan = (if decluttered { Ok(model) } else { model.into_decluttered() })
            .and_then(|mut m| m.optimize().map(|()| m))
            .and_then(|m| m.into_runnable())
            .map_err(|e| invalid(spec, format!("cannot load: {e}")))?;
        Ok(Network { plan, spec: spec.clone(), output_names })
    }

    /// The manifest entry this network was loaded from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Run on an RGB image (u8 or f32 samples in 0–255) of exactly the input size;
    /// returns every output by name.
    pub fn run<T>(&self, image: &ImageBuffer<Rgb<T>, Vec<T>>) -> Result<Vec<(String, Tensor)>>
    where
        T: Primitive + Into<f32>,
        Rgb<T>: Pixel<Subpixel = T>,
    {
        let input = to_tensor(image, self.spec.input()?)?;
        let outputs = crate::par::on_pool(|| self.plan.run(tvec!(input.into())))
            .map_err(|e| Error::new(ErrorKind::Inference, format!("model \"{}\" failed: {e}", self.spec.id)))?;
        Ok(self.output_names.iter().cloned().zip(outputs.into_iter().map(|t| t.into_tensor())).collect())
    }
}

/// Refuse model bytes whose sha256 is not the manifest's: thresholds and preprocessing are
/// only valid for that file.
pub fn check_sha256(spec: &ModelSpec, bytes: &[u8]) -> Result<()> {
    check_digest(spec, bytes, &sha256_hex(bytes))
}

fn check_digest(spec: &ModelSpec, bytes: &[u8], digest: &str) -> Result<()> {
    if digest == spec.sha256 {
        return Ok(());
    }
    let or_nnef = spec.nnef.as_ref().map(|n| format!(", nor its NNEF file's {} ({})", n.sha256, n.file)).unwrap_or_default();
    Err(invalid(
        spec,
        format!(
            "{} bytes{} with sha256 {digest} do not match the manifest's {} (file {}){or_nnef}",
            bytes.len(),
            looks_like(bytes),
            spec.sha256,
            spec.file
        ),
    ))
}

fn invalid(spec: &ModelSpec, msg: String) -> Error {
    Error::new(ErrorKind::ModelInvalid, format!("model \"{}\": {msg}", spec.id))
}

/// The ONNX file's network for the manifest's input size, with its uint8 weights folded
/// ([`fold_dequantization`]), typed but not yet decluttered.
fn typed_from_onnx(spec: &ModelSpec, bytes: &[u8]) -> Result<TypedModel> {
    let input = spec.input()?;
    let onnx = tract_onnx::onnx();
    let mut proto = onnx
        .proto_model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| invalid(spec, format!("cannot parse: {e}")))?;
    if let Some(graph) = proto.graph.as_mut() {
        fold_dequantization(graph);
    }
    let fact = f32::fact([1, 3, input.height as usize, input.width as usize]);
    onnx.model_for_proto_model(&proto)
        .map_err(|e| invalid(spec, format!("cannot parse: {e}")))?
        .with_input_fact(0, fact.into())
        .and_then(|m| m.into_typed())
        .map_err(|e| invalid(spec, format!("cannot load: {e}")))
}

/// tract's NNEF, with the operators tract adds for ONNX: made once (its standard library is
/// parsed from text, 10 ms natively).
fn nnef() -> &'static tract_nnef::framework::Nnef {
    static NNEF: std::sync::OnceLock<tract_nnef::framework::Nnef> = std::sync::OnceLock::new();
    NNEF.get_or_init(|| tract_nnef::nnef().with_onnx())
}

/// The outputs' names: the ONNX graph's (kept in the NNEF file), else the node's.
fn output_names(model: &TypedModel) -> TractResult<Vec<String>> {
    Ok(model
        .output_outlets()?
        .iter()
        .map(|o| model.outlet_label(*o).map(String::from).unwrap_or_else(|| model.node(o.node).name.clone()))
        .collect())
}

/// The network of `spec`'s ONNX file (`bytes`) as tract's NNEF tar, decluttered for the
/// manifest's input size: the file `spec.nnef` names. The tar's times are fixed, so the same
/// ONNX file and tract version give the same bytes (the manifest pins their sha256), and the
/// outputs keep their names (checked by reading the tar back). Errors: `ModelInvalid` for
/// bytes that are not the manifest's ONNX file or a network NNEF cannot express.
pub fn to_nnef(spec: &ModelSpec, bytes: &[u8]) -> Result<Vec<u8>> {
    check_sha256(spec, bytes)?;
    let model = typed_from_onnx(spec, bytes)?
        .into_decluttered()
        .map_err(|e| invalid(spec, format!("cannot load: {e}")))?;
    let tar = nnef()
        .write_to_tar_with_config(&model, Vec::new(), false, true)
        .map_err(|e| invalid(spec, format!("cannot write as NNEF: {e}")))?;
    let read_back = nnef()
        .model_for_read(&mut &tar[..])
        .map_err(|e| invalid(spec, format!("its NNEF does not read back: {e}")))?;
    let (names, read_names) = (output_names(&model), output_names(&read_back));
    if names.as_ref().ok() != read_names.as_ref().ok() {
        return Err(invalid(spec, format!("NNEF renames its outputs: {names:?} became {read_names:?}")));
    }
    Ok(tar)
}

/// What bytes served in place of a model file look like, when they look like something
/// a server sends by mistake: an error page, a JSON error, nothing.
fn looks_like(bytes: &[u8]) -> &'static str {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).trim_start().to_ascii_lowercase();
    if bytes.is_empty() {
        " (empty: the download failed)"
    } else if head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<head") {
        " (an HTML page: the server answered with a page, not the model file)"
    } else if head.starts_with('{') || head.starts_with('[') {
        " (JSON: the server answered with data, not the model file)"
    } else {
        ""
    }
}

/// The named output of `outputs` as f32 values, checked for length.
pub fn output<'a>(outputs: &'a [(String, Tensor)], name: &str, len: usize) -> Result<&'a [f32]> {
    let tensor = outputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::new(ErrorKind::Inference, format!("model has no output \"{name}\"")))?;
    let values = tensor
        .to_plain_array_view::<f32>()
        .ok()
        .and_then(|view| view.to_slice())
        .ok_or_else(|| Error::new(ErrorKind::Inference, format!("output \"{name}\" is not contiguous f32")))?;
    if values.len() != len {
        return Err(Error::new(
            ErrorKind::Inference,
            format!("output \"{name}\" has {} values, expected {len}", values.len()),
        ));
    }
    Ok(values)
}

/// NCHW float tensor from an image of the input's size, normalised per channel.
fn to_tensor<T>(image: &ImageBuffer<Rgb<T>, Vec<T>>, input: &InputSpec) -> Result<Tensor>
where
    T: Primitive + Into<f32>,
    Rgb<T>: Pixel<Subpixel = T>,
{
    let (w, h) = (input.width as usize, input.height as usize);
    if image.width() as usize != w || image.height() as usize != h {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("input image is {}×{}, model needs {w}×{h}", image.width(), image.height()),
        ));
    }
    let channels: [usize; 3] = match input.color {
        ColorOrder::Rgb => [0, 1, 2],
        ColorOrder::Bgr => [2, 1, 0],
    };
    let mut data = vec![0f32; 3 * w * h];
    let (plane, pixels) = (w * h, image.as_raw());
    for (i, px) in pixels.chunks_exact(3).enumerate() {
        for (c, &source) in channels.iter().enumerate() {
            data[c * plane + i] = (px[source].into() - input.mean[c]) / input.std[c];
        }
    }
    Tensor::from_shape(&[1, 3, h, w], &data)
        .map_err(|e| Error::new(ErrorKind::Inference, format!("cannot build input tensor: {e}")))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ModelKind, Registry};

    #[test]
    fn wrong_bytes_are_refused_before_parsing() {
        let registry = Registry::builtin();
        let spec = registry.get(&registry.default_embedder, ModelKind::Embedder).unwrap();
        let err = Network::load(spec, b"definitely not onnx").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::ModelInvalid);
        assert!(err.to_string().contains("sha256"), "{err}");
        for (bytes, says) in [(&b""[..], "empty"), (b"\n<!DOCTYPE html><title>404</title>", "HTML page"), (b"{\"error\": 1}", "JSON")] {
            let err = Network::load(spec, bytes).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::ModelInvalid);
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn tensor_is_normalised_nchw() {
        let input = InputSpec {
            name: "input".into(),
            layout: crate::registry::Layout::Nchw,
            width: 2,
            height: 1,
            mean: [10.0, 20.0, 30.0],
            std: [2.0, 4.0, 5.0],
            color: ColorOrder::Rgb,
        };
        let image = image::RgbImage::from_raw(2, 1, vec![12, 24, 35, 10, 20, 30]).unwrap();
        let tensor = to_tensor(&image, &input).unwrap();
        assert_eq!(tensor.shape(), &[1, 3, 1, 2]);
        assert_eq!(tensor.to_plain_array_view::<f32>().unwrap().to_slice().unwrap(), &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }

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
        fold_dequantization(&mut graph);
        assert_eq!(graph.node.len(), 1, "only the Conv is left");
        assert_eq!(graph.initializer.len(), 1, "codes, scale and offset are gone");
        let w = &graph.initializer[0];
        assert_eq!((w.name.as_str(), w.dims.as_slice(), w.data_type), ("w", &[2i64, 3][..], 1));
        let values: Vec<f32> = w.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(values, [-1.0, -0.5, 126.5, 19.0, 39.0, 59.0]);
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
        fold_dequantization(&mut graph);
        assert_eq!(graph, before);
        // A per-channel chain, but its Cast is to int32.
        graph.initializer[1] = floats("scale", &[3, 1], &[1.0, 2.0, 3.0]);
        graph.node[0].attribute[0].i = 6;
        let before = graph.clone();
        fold_dequantization(&mut graph);
        assert_eq!(graph, before);
        graph.node[0].attribute[0].i = 1;
        fold_dequantization(&mut graph);
        assert_ne!(graph, before, "to float, the same chain folds");
    }
}
