//! The whole pipeline behind one type: decode → detect → align → embed → compare.

use image::{Rgb32FImage, RgbImage};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::align::align;
use crate::pipeline::compare::Metric;
use crate::pipeline::detect::{Detector, Face};
use crate::pipeline::embed::Embedder;
use crate::pipeline::network::Network;
use crate::registry::{AlignMethod, ModelKind, ModelSpec, Registry};

/// A detector and a recognition model, loaded once and reused for every image.
pub struct Verifier {
    detector: Detector,
    embedder: Embedder,
    alignment: AlignMethod,
}

/// What the pipeline found in one image.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Every face found, best score first.
    pub faces: Vec<Face>,
    /// Index into `faces` of the face that was embedded: the largest.
    pub chosen: usize,
    /// The chosen face's embedding.
    pub embedding: Vec<f32>,
    /// The aligned crop that was embedded, samples in 0–255 (not serialised).
    #[serde(skip)]
    pub aligned: Rgb32FImage,
}

/// The verdict on two images.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether the distance is at or below the threshold.
    pub verified: bool,
    /// Distance between the two embeddings.
    pub distance: f32,
    /// The threshold used.
    pub threshold: f32,
    /// The metric used.
    pub metric: Metric,
    /// The recognition model's id.
    pub model: String,
}

impl Analysis {
    /// The aligned crop as RGBA bytes (opaque), to show people what was compared.
    pub fn aligned_rgba(&self) -> Vec<u8> {
        self.aligned.pixels().flat_map(|p| {
            let [r, g, b] = p.0.map(|v| v.round().clamp(0.0, 255.0) as u8);
            [r, g, b, 255]
        }).collect()
    }
}

impl Verifier {
    /// Load a detector and an embedder by manifest id from their ONNX bytes.
    pub fn load(detector_id: &str, detector: &[u8], embedder_id: &str, embedder: &[u8]) -> Result<Verifier> {
        let registry = Registry::builtin();
        let detector_spec = registry.get(detector_id, ModelKind::Detector)?;
        let embedder_spec = registry.get(embedder_id, ModelKind::Embedder)?;
        let embedder = Embedder::new(Network::load(embedder_spec, embedder)?)?;
        let alignment = embedder.alignment().method;
        Ok(Verifier { detector: Detector::new(Network::load(detector_spec, detector)?)?, embedder, alignment })
    }

    /// Load models by manifest id (the manifest's defaults when `None`) from the folder
    /// holding the converted `.onnx` files. Native builds only: browsers fetch the bytes.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path, detector: Option<&str>, embedder: Option<&str>) -> Result<Verifier> {
        let registry = Registry::builtin();
        let detector = registry.get(detector.unwrap_or(&registry.default_detector), ModelKind::Detector)?;
        let embedder = registry.get(embedder.unwrap_or(&registry.default_embedder), ModelKind::Embedder)?;
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|e| {
                Error::new(ErrorKind::ModelInvalid, format!("cannot read {}: {e} (run `make models`)", path.display()))
            })
        };
        Verifier::load(&detector.id, &read(&detector.file)?, &embedder.id, &read(&embedder.file)?)
    }

    /// The recognition model's manifest entry.
    pub fn embedder_spec(&self) -> &ModelSpec {
        self.embedder.network().spec()
    }

    /// Cut faces out by `method` instead of the model's default (to compare methods).
    pub fn with_alignment(mut self, method: AlignMethod) -> Verifier {
        self.alignment = method;
        self
    }

    /// How faces are cut out.
    pub fn alignment(&self) -> AlignMethod {
        self.alignment
    }

    /// Faces in `image`, best first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        self.detector.detect(image)
    }

    /// Detect, then align and embed the largest face.
    pub fn analyze(&self, image: &RgbImage) -> Result<Analysis> {
        let faces = self.detector.detect(image)?;
        let chosen = faces
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.bbox.area().total_cmp(&b.1.bbox.area()))
            .map(|(i, _)| i)
            .ok_or_else(|| Error::new(ErrorKind::NoFace, "no face found"))?;
        let aligned = align(image, &faces[chosen], self.embedder_spec(), self.alignment)?;
        let embedding = self.embedder.embed(&aligned)?;
        Ok(Analysis { faces, chosen, embedding, aligned })
    }

    /// The embedding of a crop already aligned to the recognition model's input size
    /// (samples in 0–255).
    pub fn embed_aligned(&self, crop: &Rgb32FImage) -> Result<Vec<f32>> {
        self.embedder.embed(crop)
    }

    /// Compare two embeddings with `metric` against the model's threshold for it, or
    /// against `threshold` when given.
    pub fn verify(&self, a: &[f32], b: &[f32], metric: Metric, threshold: Option<f32>) -> Result<Verification> {
        let threshold = self.threshold(metric, threshold)?;
        let distance = metric.distance(a, b)?;
        let model = self.embedder_spec().id.clone();
        Ok(Verification { verified: distance <= threshold, distance, threshold, metric, model })
    }

    /// The accept threshold for `metric`: `override_with` when given (it must be a
    /// number), else the recognition model's calibrated one.
    pub fn threshold(&self, metric: Metric, override_with: Option<f32>) -> Result<f32> {
        match override_with {
            Some(t) if t.is_finite() => Ok(t),
            Some(t) => Err(Error::new(ErrorKind::InvalidInput, format!("threshold {t} is not a number"))),
            None => Ok(self.embedder_spec().threshold(metric)?.value),
        }
    }
}
