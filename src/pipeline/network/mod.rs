//! A loaded network (its NNEF file, or with the `onnx` feature the ONNX file it was written
//! from): checked against its manifest, optimised once by tract, and run with inputs prepared
//! the way the manifest says (NCHW, `(pixel - mean) / std`).

#[cfg(feature = "onnx")]
mod onnx;
mod compact;

use image::{ImageBuffer, Pixel, Primitive, Rgb};
use sha2::{Digest, Sha256};
use tract_nnef::prelude::*;

#[cfg(feature = "onnx")]
pub use onnx::to_nnef;

use crate::error::{Error, ErrorKind, Result};
use crate::registry::{ColorOrder, InputSpec, ModelSpec};

/// A model ready to run: the optimised tract plan plus its manifest entry.
pub struct Network {
    plan: Arc<TypedRunnableModel>,
    spec: ModelSpec,
    output_names: Vec<String>,
}

impl Network {
    /// Load `bytes` as the model `spec` describes: its NNEF file (`spec.nnef`, what the
    /// browser downloads), or with the `onnx` feature its ONNX file. Bytes whose sha256 is
    /// neither file's are refused (`ModelInvalid`): thresholds and preprocessing are only
    /// valid for that network; so is an ONNX file in a build without the feature (the wasm).
    pub fn load(spec: &ModelSpec, bytes: &[u8]) -> Result<Network> {
        let digest = sha256_hex(bytes);
        let (model, decluttered) = if spec.nnef.as_ref().is_some_and(|nnef| nnef.sha256 == digest) {
            let model = nnef()
                .model_for_read(&mut std::io::Cursor::new(bytes))
                .map_err(|e| invalid(spec, format!("cannot parse its NNEF file: {e:#}")))?;
            (model, true)
        } else {
            check_digest(spec, bytes, &digest)?;
            (from_onnx(spec, bytes)?, false)
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

#[cfg(feature = "onnx")]
fn from_onnx(spec: &ModelSpec, bytes: &[u8]) -> Result<TypedModel> {
    onnx::typed_from_onnx(spec, bytes, None)
}

#[cfg(not(feature = "onnx"))]
fn from_onnx(spec: &ModelSpec, _bytes: &[u8]) -> Result<TypedModel> {
    let nnef = spec.nnef.as_ref().map(|n| format!(": give it {} (sha256 {})", n.file, n.sha256)).unwrap_or_default();
    Err(invalid(spec, format!("this build reads NNEF files only, not the ONNX file {}{nnef}", spec.file)))
}

/// tract's NNEF with our registry ([`compact`]): made once (its standard library is parsed from
/// text, 10 ms natively).
fn nnef() -> &'static tract_nnef::framework::Nnef {
    static NNEF: std::sync::OnceLock<tract_nnef::framework::Nnef> = std::sync::OnceLock::new();
    NNEF.get_or_init(|| tract_nnef::nnef().with_registry(compact::registry()))
}

/// The outputs' names: the ONNX graph's (kept in the NNEF file), else the node's.
fn output_names(model: &TypedModel) -> TractResult<Vec<String>> {
    Ok(model
        .output_outlets()?
        .iter()
        .map(|o| model.outlet_label(*o).map(String::from).unwrap_or_else(|| model.node(o.node).name.clone()))
        .collect())
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
}
