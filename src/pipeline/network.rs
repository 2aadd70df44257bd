//! A loaded ONNX model: checked against its manifest, optimised once by tract, and run
//! with inputs prepared the way the manifest says (NCHW, `(pixel - mean) / std`).

use image::{ImageBuffer, Pixel, Primitive, Rgb};
use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::registry::{ColorOrder, InputSpec, ModelSpec};

/// A model ready to run: the optimised tract plan plus its manifest entry.
pub struct Network {
    plan: Arc<TypedRunnableModel>,
    spec: ModelSpec,
    output_names: Vec<String>,
}

impl Network {
    /// Load `bytes` as the model `spec` describes. Bytes whose sha256 differs from the
    /// manifest are refused: thresholds and preprocessing are only valid for that file.
    pub fn load(spec: &ModelSpec, bytes: &[u8]) -> Result<Network> {
        let invalid = |msg: String| Error::new(ErrorKind::ModelInvalid, format!("model \"{}\": {msg}", spec.id));
        let digest = hex(&Sha256::digest(bytes));
        if digest != spec.sha256 {
            return Err(invalid(format!(
                "{} bytes with sha256 {digest} do not match the manifest's {} (file {})",
                bytes.len(),
                spec.sha256,
                spec.file
            )));
        }
        let input = &spec.input;
        let model = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .map_err(|e| invalid(format!("cannot parse: {e}")))?;
        // Names come from the ONNX graph; optimisation keeps the order of outputs.
        let output_names = model
            .output_outlets()
            .map_err(|e| invalid(e.to_string()))?
            .iter()
            .map(|o| model.outlet_label(*o).map(String::from).unwrap_or_else(|| model.node(o.node).name.clone()))
            .collect();
        let fact = f32::fact([1, 3, input.height as usize, input.width as usize]);
        let plan = model
            .with_input_fact(0, fact.into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| invalid(format!("cannot load: {e}")))?;
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
        let input = to_tensor(image, &self.spec.input)?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::new(ErrorKind::Inference, format!("model \"{}\" failed: {e}", self.spec.id)))?;
        Ok(self.output_names.iter().cloned().zip(outputs.into_iter().map(|t| t.into_tensor())).collect())
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
}
