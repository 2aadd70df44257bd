//! uint8 weights in the NNEF files: `faceverify_dequantize(codes, scale, offset)`, the one
//! primitive of an NNEF registry of our own, computed into an f32 constant as the graph is
//! read. The converters ship dlib ResNet, faceres and face-api's nets as uint8 codes with a
//! scale and an offset per tensor or per output channel (`Cast → Mul → Add` in ONNX). tract's
//! NNEF writer folds such chains and writes f32 (dlib ResNet: 22.5 MB instead of 5.9), and
//! its reader folds them through broadcasting binary ops (149–161 ms to load dlib ResNet
//! natively, against 33–62 ms from the ONNX file): this primitive is one loop over the codes.

use tract_nnef::internal::*;

/// The registry's name, as `graph.nnef` enables it (`extension tract_registry faceverify;`).
pub const REGISTRY: &str = "faceverify";
const PRIMITIVE: &str = "faceverify_dequantize";

/// `code × scale + offset` in f32 for each code, with one scale and one offset for the whole
/// tensor or one per leading-axis slice (`rows` of them: a convolution's output channels).
/// The same f32 operations in the same order as tract's folding of the ONNX chain, so the
/// weights are bit for bit the ones the ONNX file gives. `None` when the lengths do not fit.
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

/// The registry to add to tract's NNEF (`Nnef::with_registry`): the primitive's reader, and
/// with the ONNX converter its writer.
pub fn registry() -> Registry {
    let mut registry = Registry::new(REGISTRY).with_doc("faceverify: uint8 weights with a scale and an offset");
    registry.register_primitive(
        PRIMITIVE,
        &[
            TypeName::Integer.tensor().named("codes"),
            TypeName::Scalar.tensor().named("scale"),
            TypeName::Scalar.tensor().named("offset"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        read,
    );
    #[cfg(feature = "onnx")]
    registry.register_dumper(write);
    registry
}

fn read(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let codes: Arc<Tensor> = invocation.named_arg_as(builder, "codes")?;
    let scale: Arc<Tensor> = invocation.named_arg_as(builder, "scale")?;
    let offset: Arc<Tensor> = invocation.named_arg_as(builder, "offset")?;
    let (codes_plain, scale_plain, offset_plain) = (codes.try_as_plain_ram()?, scale.try_as_plain_ram()?, offset.try_as_plain_ram()?);
    let rows = codes.shape().first().copied().unwrap_or(1);
    let values = dequantize(codes_plain.as_slice::<u8>()?, rows, scale_plain.as_slice::<f32>()?, offset_plain.as_slice::<f32>()?)
        .with_context(|| format!("{PRIMITIVE}: {} scales and {} offsets for codes of shape {:?}", scale.len(), offset.len(), codes.shape()))?;
    let values = tract_ndarray::ArrayD::from_shape_vec(codes.shape(), values)?.into_tensor();
    Ok(Value::Wire(builder.add_const(values)?))
}

/// A constant the ONNX file stored as uint8 codes: what the NNEF writer writes as a
/// `faceverify_dequantize` of them. Put in place of the `Const` it equals
/// (`onnx::keep_uint8`), it evaluates to the same tensor.
#[cfg(feature = "onnx")]
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Dequantize {
    pub codes: Arc<Tensor>,
    pub scale: Arc<Tensor>,
    pub offset: Arc<Tensor>,
    pub values: Arc<Tensor>,
}

#[cfg(feature = "onnx")]
impl Op for Dequantize {
    fn name(&self) -> StaticName {
        "FaceverifyDequantize".into()
    }

    op_as_typed_op!();
}

#[cfg(feature = "onnx")]
impl EvalOp for Dequantize {
    // Not evaluated out of a plan: tract's passes before writing would fold it to a `Const`.
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, _inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec![Arc::clone(&self.values).into_tvalue()])
    }
}

#[cfg(feature = "onnx")]
impl TypedOp for Dequantize {
    as_op!();

    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        // Without the value as `konst`, for the same reason.
        Ok(tvec!(f32::fact(self.values.shape())))
    }
}

#[cfg(feature = "onnx")]
fn write(ast: &mut IntoAst, node: &TypedNode, op: &Dequantize) -> TractResult<Option<Arc<RValue>>> {
    let codes = ast.konst_variable(format!("{}.codes", node.name), &op.codes)?;
    let scale = ast.konst_variable(format!("{}.scale", node.name), &op.scale)?;
    let offset = ast.konst_variable(format!("{}.offset", node.name), &op.offset)?;
    Ok(Some(invocation(PRIMITIVE, &[codes, scale, offset], &[])))
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
