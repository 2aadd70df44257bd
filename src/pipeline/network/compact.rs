//! Weights stored compactly in the NNEF files, as the ONNX files store them: uint8 codes with
//! a scale and an offset (dlib ResNet, face-api's nets: `Cast → Mul → Add` in ONNX) and
//! float16 (faceres: `Cast`). Two primitives of an NNEF registry of our own compute the f32
//! constant in one loop as the graph is read: `faceverify_dequantize(codes, scale, offset)`
//! and `faceverify_widen(halves)`. tract's NNEF writer folds such chains and writes f32 (dlib
//! ResNet: 22.5 MB instead of 5.9, faceres 12.9 instead of 6.5), and its reader folded the
//! chain we once wrote by hand through broadcasting binary ops (149–161 ms to load dlib ResNet
//! natively, against 33–62 ms from the ONNX file).

use tract_nnef::internal::*;

/// The registry's name, as `graph.nnef` enables it (`extension tract_registry faceverify;`).
pub const REGISTRY: &str = "faceverify";
const DEQUANTIZE: &str = "faceverify_dequantize";
const WIDEN: &str = "faceverify_widen";

/// `code × scale + offset` in f32 for each code, with one scale and one offset for the whole
/// tensor or one per run of `codes.len() / rows` codes (`rows` of them: in the ONNX file's
/// layout, a convolution's output channels). The same f32 operations in the same order as
/// tract's folding of the ONNX chain, so the weights are bit for bit the ones the ONNX file
/// gives. `None` when the lengths do not fit.
pub fn dequantize(codes: &[u8], rows: usize, scale: &[f32], offset: &[f32]) -> Option<Vec<f32>> {
    let fits = |v: &[f32]| v.len() == 1 || (v.len() == rows && rows > 0);
    if !fits(scale) || !fits(offset) || (rows > 0 && !codes.len().is_multiple_of(rows)) {
        return None;
    }
    let row_len = if scale.len() == 1 && offset.len() == 1 { codes.len().max(1) } else { codes.len() / rows };
    let mut values = Vec::with_capacity(codes.len());
    for (row, codes) in codes.chunks(row_len.max(1)).enumerate() {
        let (a, b) = (scale[row.min(scale.len() - 1)], offset[row.min(offset.len() - 1)]);
        values.extend(codes.iter().map(|&code| code as f32 * a + b));
    }
    Some(values)
}

/// The registry to add to tract's NNEF (`Nnef::with_registry`): the primitives' readers, and
/// with the ONNX converter their writer.
pub fn registry() -> Registry {
    let mut registry = Registry::new(REGISTRY).with_doc("faceverify: weights stored as uint8 codes or float16");
    registry.register_primitive(
        DEQUANTIZE,
        &[
            TypeName::Integer.tensor().named("codes"),
            TypeName::Scalar.tensor().named("scale"),
            TypeName::Scalar.tensor().named("offset"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        read_dequantize,
    );
    registry.register_primitive(WIDEN, &[TypeName::Scalar.tensor().named("halves")], &[("output", TypeName::Scalar.tensor())], read_widen);
    #[cfg(feature = "onnx")]
    registry.register_dumper(write);
    registry
}

fn read_dequantize(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let codes: Arc<Tensor> = invocation.named_arg_as(builder, "codes")?;
    let scale: Arc<Tensor> = invocation.named_arg_as(builder, "scale")?;
    let offset: Arc<Tensor> = invocation.named_arg_as(builder, "offset")?;
    let (codes_plain, scale_plain, offset_plain) = (codes.try_as_plain_ram()?, scale.try_as_plain_ram()?, offset.try_as_plain_ram()?);
    // The codes may be stored reshaped (`onnx::keep_compact`): the scales count the runs.
    let rows = scale.len().max(offset.len());
    let values = dequantize(codes_plain.as_slice::<u8>()?, rows, scale_plain.as_slice::<f32>()?, offset_plain.as_slice::<f32>()?)
        .with_context(|| format!("{DEQUANTIZE}: {} scales and {} offsets for codes of shape {:?}", scale.len(), offset.len(), codes.shape()))?;
    let values = tract_ndarray::ArrayD::from_shape_vec(codes.shape(), values)?.into_tensor();
    Ok(Value::Wire(builder.add_const(values)?))
}

fn read_widen(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let halves: Arc<Tensor> = invocation.named_arg_as(builder, "halves")?;
    ensure!(halves.datum_type() == f16::datum_type(), "{WIDEN}: float16 values, not {:?}", halves.datum_type());
    // Every float16 is exactly an f32: the ONNX file's Cast gives the same bits.
    Ok(Value::Wire(builder.add_const(halves.cast_to::<f32>()?.into_owned())?))
}

/// How a constant is stored in the NNEF file ([`Compact`]).
#[cfg(feature = "onnx")]
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub enum Stored {
    /// uint8 codes, and one f32 scale and offset per tensor or per run ([`dequantize`]).
    Uint8 { codes: Arc<Tensor>, scale: Arc<Tensor>, offset: Arc<Tensor> },
    /// float16 values.
    Half(Arc<Tensor>),
}

/// A constant the ONNX file stores compactly, as the NNEF writer writes it: a
/// `faceverify_dequantize` or `faceverify_widen` of the stored tensor. Put in place of the
/// `Const` it equals (`onnx::keep_compact`), it evaluates to the same tensor.
#[cfg(feature = "onnx")]
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Compact {
    pub stored: Stored,
    pub values: Arc<Tensor>,
}

#[cfg(feature = "onnx")]
impl Op for Compact {
    fn name(&self) -> StaticName {
        "FaceverifyCompact".into()
    }

    op_as_typed_op!();
}

#[cfg(feature = "onnx")]
impl EvalOp for Compact {
    // Not evaluated out of a plan: tract's passes before writing would fold it to a `Const`.
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, _inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec![Arc::clone(&self.values).into_tvalue()])
    }
}

#[cfg(feature = "onnx")]
impl TypedOp for Compact {
    as_op!();

    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        // Without the value as `konst`, for the same reason.
        Ok(tvec!(f32::fact(self.values.shape())))
    }
}

#[cfg(feature = "onnx")]
fn write(ast: &mut IntoAst, node: &TypedNode, op: &Compact) -> TractResult<Option<Arc<RValue>>> {
    Ok(Some(match &op.stored {
        Stored::Uint8 { codes, scale, offset } => {
            let codes = ast.konst_variable(format!("{}.codes", node.name), codes)?;
            let scale = ast.konst_variable(format!("{}.scale", node.name), scale)?;
            let offset = ast.konst_variable(format!("{}.offset", node.name), offset)?;
            invocation(DEQUANTIZE, &[codes, scale, offset], &[])
        }
        Stored::Half(halves) => {
            let halves = ast.konst_variable(format!("{}.halves", node.name), halves)?;
            invocation(WIDEN, &[halves], &[])
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::dequantize;

    #[test]
    fn codes_scale_per_tensor_or_per_row() {
        assert_eq!(dequantize(&[0, 1, 255, 10], 2, &[0.5], &[-1.0]).unwrap(), [-1.0, -0.5, 126.5, 4.0]);
        assert_eq!(dequantize(&[0, 1, 255, 10, 20, 30], 2, &[0.5, 2.0], &[-1.0]).unwrap(), [-1.0, -0.5, 126.5, 19.0, 39.0, 59.0]);
        assert_eq!(dequantize(&[1, 1], 2, &[1.0], &[0.0, 10.0]).unwrap(), [1.0, 11.0]);
        // Three scales for two rows, or codes that do not split into rows: refused.
        assert!(dequantize(&[1, 2], 2, &[1.0, 2.0, 3.0], &[0.0]).is_none());
        assert!(dequantize(&[1, 2, 3], 2, &[1.0, 2.0], &[0.0]).is_none());
    }
}
