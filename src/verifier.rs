//! The whole pipeline behind one type: decode → detect → landmarks → align → embed → compare.

use image::{imageops, Rgb32FImage, RgbImage};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::liveness::{Challenge, Frame, LivenessProgress};
use crate::pipeline::align::align;
use crate::pipeline::attributes::AttributeModel;
use crate::pipeline::decode::{sample_to_u8, Decoded, Levels};
use crate::pipeline::quality::{self, Quality, VERIFY_BAR};
use crate::pipeline::compare::Metric;
use crate::pipeline::detect::{suppress_overlaps, BoundingBox, Detector, Face, Keypoint};
use crate::pipeline::embed::Embedder;
use crate::pipeline::landmarks::Landmarker;
use crate::pipeline::network::Network;
use crate::registry::{AlignMethod, DecoderSpec, ModelKind, ModelSpec, Registry};

/// Where an image comes from, which decides how faces are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A photo: every detector (small and distant faces, faces cut by the border), each face
    /// confirmed by the face check, and when nothing plausible is found upright, the image
    /// turned by 90°, 180° and 270° (the turn with the best face wins).
    Photo,
    /// A live camera frame: the camera detector (the fastest, for near faces), upright only.
    Camera,
}

/// Detectors, landmarks and a recognition model, loaded once and reused for every image.
pub struct Verifier {
    /// Their faces, pooled, are a photo's candidate faces.
    photo_detectors: Vec<Detector>,
    /// Index into `photo_detectors` of the camera's detector.
    camera: usize,
    /// Confirms a photo's candidate faces; `None`: every candidate is taken.
    face_check: Option<Detector>,
    landmarker: Landmarker,
    embedder: Embedder,
    alignment: AlignMethod,
    /// Attribute models loaded so far (none by default: they load when asked for).
    attribute_models: Vec<AttributeModel>,
}

/// What the pipeline found in one image.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Every face found, best score first, in the pixels of the image as given (boxes
    /// clamped to it; `cut` says a face runs past its border).
    pub faces: Vec<Face>,
    /// Index into `faces` of the face that was embedded: the largest.
    pub chosen: usize,
    /// Degrees (0, 90, 180 or 270) the image was turned clockwise before its faces were
    /// upright; 0 unless a photo's faces were only found turned.
    pub rotation: u16,
    /// The chosen face's embedding.
    pub embedding: Vec<f32>,
    /// The aligned crop that was embedded, samples in 0–255 (not serialised).
    #[serde(skip)]
    pub aligned: Rgb32FImage,
    /// What the caller may want to know about the result (several faces competing for
    /// "the largest").
    pub warnings: Vec<Warning>,
}

/// Something about a result worth saying, with a stable code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// `SIMILAR_FACES`: other faces are nearly as large as the one embedded, so which
    /// face "the largest" is may not be what the caller meant. `LOW_QUALITY`: a face is
    /// below [`quality::VERIFY_BAR`], too poor to decide on.
    pub code: &'static str,
    /// For people: which faces, and what to do.
    pub message: String,
}

/// Faces found from about this width (px): in the group-photo set every face of 42 px or
/// more was found, and the 8 missed were 24–40 px (docs/accuracy.md).
pub const MIN_FACE_PX: u32 = 42;
/// Another face with at least this share of the chosen face's area competes with it.
const SIMILAR_AREA: f32 = 0.8;

/// The verdict on two images.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether the distance is at or below the threshold.
    pub verified: bool,
    /// Distance between the two embeddings.
    pub distance: f32,
    /// The threshold used.
    pub threshold: f32,
    /// P(same person | distance) in [0, 1], from the model's calibration for the metric
    /// (see its manifest entry); `None` when the model has none for it.
    pub confidence: Option<f32>,
    /// The metric used.
    pub metric: Metric,
    /// The recognition model's id.
    pub model: String,
    /// Each face's quality, in the order given; `null` where the caller gave none.
    pub quality: [Option<Quality>; 2],
    /// `LOW_QUALITY` when either face is below [`VERIFY_BAR`]: the verdict is then too weak
    /// to act on ("too poor to decide").
    pub warnings: Vec<Warning>,
}

impl Verification {
    /// The verdict with the two faces' quality, warned about when either is below
    /// [`VERIFY_BAR`].
    pub fn with_quality(mut self, a: Option<Quality>, b: Option<Quality>) -> Verification {
        for (which, q) in [("first", &a), ("second", &b)] {
            self.warnings.extend(q.as_ref().and_then(|q| low_quality(q, Some(which))));
        }
        self.quality = [a, b];
        self
    }
}

/// `LOW_QUALITY` when quality `q` is below [`VERIFY_BAR`] (`which` names the face in a pair).
fn low_quality(q: &Quality, which: Option<&str>) -> Option<Warning> {
    if q.score >= VERIFY_BAR {
        return None;
    }
    Some(Warning {
        code: "LOW_QUALITY",
        message: format!("too poor to decide: {}quality {:.2} (under {VERIFY_BAR}): {}", which.map(|w| format!("the {w} face's ")).unwrap_or_default(), q.score, q.explain()),
    })
}

impl Analysis {
    /// The aligned crop as RGBA bytes (opaque), to show people what was compared.
    pub fn aligned_rgba(&self) -> Vec<u8> {
        let mut rgba = vec![255; 4 * self.aligned.pixels().len()];
        for (out, rgb) in rgba.chunks_exact_mut(4).zip(self.aligned.as_raw().chunks_exact(3)) {
            for c in 0..3 {
                out[c] = sample_to_u8(rgb[c]);
            }
        }
        rgba
    }
}

impl Verifier {
    /// Load models by manifest id from their bytes: one recognition model, one landmarker,
    /// one or more keypoint detectors, at most one face check (an MMOD-type detector), and
    /// any attribute models.
    /// Every keypoint detector looks for faces in photos, the manifest's `camera_detector`
    /// (or else the first one) alone in camera frames; the face check confirms each photo
    /// face. [`Registry::model_set`] lists the default set.
    pub fn load(models: &[(&str, &[u8])]) -> Result<Verifier> {
        let registry = Registry::builtin();
        let twice = |what: &str| Error::new(ErrorKind::InvalidInput, format!("two {what} models given"));
        // Each file's role first (cheap, and every misuse refused before any model is parsed),
        // then the parsing and optimising, which is most of a load: on every core where the
        // build has threads.
        let (mut seen_check, mut seen_landmarker, mut seen_embedder) = (false, false, false);
        let mut roles = Vec::with_capacity(models.len());
        for &(id, bytes) in models {
            let spec = registry
                .models
                .iter()
                .find(|m| m.id == id)
                .ok_or_else(|| Error::new(ErrorKind::UnknownModel, format!("unknown model \"{id}\"")))?;
            let spec = registry.get(id, spec.kind)?;
            let role = match (spec.kind, &spec.decoder) {
                (ModelKind::Detector, Some(DecoderSpec::Mmod { .. })) if !seen_check => Role::FaceCheck,
                (ModelKind::Detector, Some(DecoderSpec::Mmod { .. })) => return Err(twice("face check")),
                (ModelKind::Detector, _) => Role::Detector,
                (ModelKind::Landmarker, _) if !seen_landmarker => Role::Landmarker,
                (ModelKind::Embedder, _) if !seen_embedder => Role::Embedder,
                (ModelKind::Attributes, _) => Role::Attributes,
                (kind, _) => return Err(twice(&format!("{kind:?}").to_lowercase())),
            };
            seen_check |= role == Role::FaceCheck;
            seen_landmarker |= role == Role::Landmarker;
            seen_embedder |= role == Role::Embedder;
            roles.push((role, spec, bytes));
        }
        let load = |&(role, spec, bytes): &(Role, &ModelSpec, &[u8])| -> Result<Part> {
            Ok(match role {
                Role::FaceCheck => Part::FaceCheck(Detector::new(Network::load(spec, bytes)?)?),
                Role::Detector => Part::Detector(Detector::new(Network::load(spec, bytes)?)?),
                Role::Landmarker => Part::Landmarker(Landmarker::load(spec, bytes)?),
                Role::Embedder => Part::Embedder(Embedder::new(Network::load(spec, bytes)?)?),
                Role::Attributes => Part::Attributes(AttributeModel::new(Network::load(spec, bytes)?)?),
            })
        };
        let parts = crate::par::map(&roles, load);
        let (mut detectors, mut face_check, mut landmarker, mut embedder) = (Vec::new(), None, None, None);
        let mut attribute_models = Vec::new();
        // In the files' order, so that a failure is the first file's, as without threads.
        for part in parts {
            match part? {
                Part::FaceCheck(check) => face_check = Some(check),
                Part::Detector(detector) => detectors.push(detector),
                Part::Landmarker(l) => landmarker = Some(l),
                Part::Embedder(e) => embedder = Some(e),
                Part::Attributes(model) => attribute_models.push(model),
            }
        }
        let missing = |what: &str| Error::new(ErrorKind::InvalidInput, format!("no {what} model given"));
        if detectors.is_empty() {
            return Err(missing("face detector"));
        }
        let (landmarker, embedder) = (landmarker.ok_or_else(|| missing("landmark"))?, embedder.ok_or_else(|| missing("recognition"))?);
        let camera = detectors.iter().position(|d| d.network().spec().id == registry.camera_detector).unwrap_or(0);
        let alignment = embedder.alignment().method;
        Ok(Verifier { photo_detectors: detectors, camera, face_check, landmarker, embedder, alignment, attribute_models })
    }

    /// Load an attribute model (manifest kind `attributes`) by id from its bytes; one
    /// already loaded under that id stays.
    pub fn load_attributes(&mut self, id: &str, bytes: &[u8]) -> Result<()> {
        if self.attribute_models.iter().any(|m| m.id() == id) {
            return Ok(());
        }
        let spec = Registry::builtin().get(id, ModelKind::Attributes)?;
        self.attribute_models.push(AttributeModel::new(Network::load(spec, bytes)?)?);
        Ok(())
    }

    /// Estimate the `wanted` attributes (`age`, `gender`, `expression`) of every face of
    /// `analysis`, found in `image`: each face's `attributes`. The models the registry
    /// picks for them ([`Registry::attribute_models`]) must be loaded
    /// ([`Verifier::load_attributes`]); else `INVALID_INPUT` names them.
    pub fn estimate_attributes(&self, image: &RgbImage, faces: &mut [Face], rotation: u16, wanted: &[String]) -> Result<()> {
        let mut models = Vec::new();
        for spec in Registry::builtin().attribute_models(wanted)? {
            models.push(self.attribute_models.iter().find(|m| m.id() == spec.id).ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, format!("attribute model \"{}\" is not loaded", spec.id))
            })?);
        }
        for face in faces.iter_mut() {
            let turned = match rotation {
                0 => None,
                turn => Some(self.turned_upright(image, face, turn)?),
            };
            let (picture, upright) = turned.as_ref().map_or((image, &*face), |(p, f)| (p, f));
            let mut estimates = std::collections::BTreeMap::new();
            for model in &models {
                let crop = align(picture, upright, model.network().spec(), model.alignment().method)?;
                estimates.extend(model.estimate(&crop, wanted)?);
            }
            face.attributes = Some(estimates);
        }
        Ok(())
    }

    /// Load models by manifest id from the folder holding the converted files:
    /// [`Registry::model_set`] for `detector` and `embedder` (the defaults when `None`).
    /// Native builds only: browsers fetch the bytes.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path, detector: Option<&str>, embedder: Option<&str>) -> Result<Verifier> {
        let files = Registry::builtin()
            .model_set(detector, embedder)?
            .into_iter()
            .map(|spec| Ok((spec.id.as_str(), read_model(dir, spec)?)))
            .collect::<Result<Vec<_>>>()?;
        let models: Vec<(&str, &[u8])> = files.iter().map(|(id, bytes)| (*id, &bytes[..])).collect();
        Verifier::load(&models)
    }

    /// Load the attribute models that estimate `wanted` ([`Registry::attribute_models`])
    /// from the folder holding the converted files. Native builds only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_attributes_from_dir(&mut self, dir: &std::path::Path, wanted: &[String]) -> Result<()> {
        for spec in Registry::builtin().attribute_models(wanted)? {
            self.load_attributes(&spec.id, &read_model(dir, spec)?)?;
        }
        Ok(())
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

    /// Faces in `image`, best first, with their landmarks and quality, in the image's pixels.
    pub fn detect(&self, image: &RgbImage, source: Source) -> Result<Vec<Face>> {
        Ok(self.upright_faces(image, Levels::IDENTITY, source, true)?.faces)
    }

    /// As [`Verifier::detect`], with quality reporting exposure as the file gave it.
    pub fn detect_decoded(&self, decoded: &Decoded, source: Source) -> Result<Vec<Face>> {
        Ok(self.upright_faces(&decoded.image, decoded.levels, source, true)?.faces)
    }

    /// Detect, then align and embed the largest face. In a camera frame, faces are not
    /// checked as a photo's are (that would slow every frame down); the one to embed is: the
    /// largest the face check confirms.
    pub fn analyze(&self, image: &RgbImage, source: Source) -> Result<Analysis> {
        self.analyze_levels(image, Levels::IDENTITY, source)
    }

    /// As [`Verifier::analyze`], with quality reporting exposure as the file gave it.
    pub fn analyze_decoded(&self, decoded: &Decoded, source: Source) -> Result<Analysis> {
        self.analyze_levels(&decoded.image, decoded.levels, source)
    }

    fn analyze_levels(&self, image: &RgbImage, levels: Levels, source: Source) -> Result<Analysis> {
        // With cores to spare, a camera frame's faces are measured beside the face check
        // (below), not before it.
        let deferred = source == Source::Camera && crate::par::PARALLEL && self.face_check.is_some();
        let Found { rotation, mut faces, mut rejected } = self.upright_faces(image, levels, source, !deferred)?;
        let mut by_size: Vec<usize> = (0..faces.len()).collect();
        by_size.sort_by(|&a, &b| faces[b].bbox.area().total_cmp(&faces[a].bbox.area()));
        let embed = |i: usize| -> Result<(Rgb32FImage, Vec<f32>)> {
            let aligned = match rotation {
                0 => align(image, &faces[i], self.embedder_spec(), self.alignment)?,
                turn => {
                    let (upright, face) = self.turned_upright(image, &faces[i], turn)?;
                    align(&upright, &face, self.embedder_spec(), self.alignment)?
                }
            };
            let embedding = self.embedder.embed(&aligned)?;
            Ok((aligned, embedding))
        };
        let mut chosen = None;
        // With cores to spare, a face is embedded while the check looks at it (the two are
        // independent); the embedding is dropped if the check refuses the face.
        let mut embedded = None;
        let mut qualities = None;
        for i in by_size {
            let confirmed = match (&self.face_check, source) {
                (Some(check), Source::Camera) if deferred => {
                    let measure = || qualities.is_none().then(|| faces.iter().map(|f| self.quality(image, f, rotation, levels)).collect::<Vec<_>>());
                    let ((confirmed, measured), embedding) = crate::par::join(|| (check.confirm(image, &faces[i]), measure()), || embed(i));
                    qualities = qualities.or(measured);
                    embedded = Some((i, embedding));
                    confirmed?.is_some()
                }
                (Some(check), Source::Camera) => check.confirm(image, &faces[i])?.is_some(),
                _ => true,
            };
            if confirmed {
                chosen = Some(i);
                break;
            }
            rejected.push(faces[i].clone());
        }
        let chosen = chosen.ok_or_else(|| no_face(image, &rejected))?;
        let (aligned, embedding) = match embedded {
            Some((i, result)) if i == chosen => result?,
            _ => embed(chosen)?,
        };
        for (face, quality) in faces.iter_mut().zip(qualities.into_iter().flatten()) {
            face.quality = quality;
        }
        let area = faces[chosen].bbox.area();
        let rivals = faces.iter().enumerate().filter(|&(i, f)| i != chosen && f.bbox.area() >= SIMILAR_AREA * area).count();
        let mut warnings: Vec<Warning> = (rivals > 0)
            .then(|| Warning {
                code: "SIMILAR_FACES",
                message: format!(
                    "{} faces are about as large as the one used ({:.0} px wide, face {} of {}): crop the photo to the face you mean",
                    rivals + 1,
                    faces[chosen].bbox.width,
                    chosen + 1,
                    faces.len()
                ),
            })
            .into_iter()
            .collect();
        warnings.extend(faces[chosen].quality.as_ref().and_then(|q| low_quality(q, None)));
        Ok(Analysis { faces, chosen, rotation, embedding, aligned, warnings })
    }

    /// The part of `image` around `face` (found under the clockwise `turn`), turned upright,
    /// and the face in it with landmarks from it: the pixels the predictor reads and the chip
    /// samples are then those of an upright photo. Only the face's surroundings are turned: a
    /// turned copy of a 50-megapixel photo would double its memory.
    fn turned_upright(&self, image: &RgbImage, face: &Face, turn: u16) -> Result<(RgbImage, Face)> {
        let (part, origin) = surroundings(image, face);
        let upright = turn_image(&part, turn);
        let face = turn_face(&face.within(origin), turn, part.width(), part.height());
        let face = self.landmarker.refine(&upright, &face)?;
        Ok((upright, face))
    }

    /// The faces of `image` with landmarks and quality, in its pixels, and the clockwise turn
    /// (degrees) under which they are upright. Faces are looked for in a working copy at most
    /// [`WORKING_SIDE`] pixels long (turned, if need be); landmarks on the image itself.
    /// Without `assess`, faces have no quality yet.
    fn upright_faces(&self, image: &RgbImage, levels: Levels, source: Source, assess: bool) -> Result<Found> {
        let (working, scale) = working_copy(image);
        let (width, height) = image.dimensions();
        let to_image = |f: &Face, turn: u16, w: u32, h: u32| turn_face(f, (360 - turn) % 360, w, h).scaled(1.0 / scale);
        let found = |turn: u16| -> Result<(Vec<Face>, Vec<Face>)> {
            let turned = match turn {
                0 => std::borrow::Cow::Borrowed(working.as_ref()),
                _ => std::borrow::Cow::Owned(turn_image(&working, turn)),
            };
            let (w, h) = (turned.width(), turned.height());
            let (confirmed, rejected) = self.candidates(&turned, source)?;
            Ok((
                confirmed.iter().filter(|f| plausible(f)).map(|f| to_image(f, turn, w, h)).collect(),
                rejected.iter().map(|f| to_image(f, turn, w, h).clamped(width, height)).collect(),
            ))
        };
        let (upright, rejected) = found(0)?;
        let mut best = (0, upright);
        if source == Source::Photo && best.1.is_empty() {
            // A face turned by 90° can pass for an upright one under the wrong turn too: the
            // turn whose best face scores highest wins.
            let top = |faces: &[Face]| faces.iter().map(|f| f.score).fold(f32::NEG_INFINITY, f32::max);
            for turn in [90, 180, 270] {
                let (faces, _) = found(turn)?;
                if !faces.is_empty() && (best.1.is_empty() || top(&faces) > top(&best.1)) {
                    best = (turn, faces);
                }
            }
        }
        let rotation = best.0;
        let faces = best.1.iter().map(|f| {
            let mut face = self.landmarker.refine(image, f)?.clamped(width, height);
            if assess {
                face.quality = self.quality(image, &face, rotation, levels);
            }
            Ok(face)
        });
        Ok(Found { rotation, faces: faces.collect::<Result<_>>()?, rejected })
    }

    /// The quality of `face` (with landmarks, upright under the clockwise `rotation`); none for
    /// a face it cannot measure (its crop entirely outside the image).
    fn quality(&self, image: &RgbImage, face: &Face, rotation: u16, levels: Levels) -> Option<Quality> {
        match rotation {
            0 => quality::assess(image, face, levels).ok(),
            turn => self.turned_upright(image, face, turn).and_then(|(part, f)| quality::assess(&part, &f, levels)).ok(),
        }
    }

    /// Candidate faces without landmarks, and those the face check refused. Camera frames:
    /// the camera detector's faces. Photos: every detector's faces, overlaps merged (best
    /// score kept), each confirmed by the face check.
    fn candidates(&self, image: &RgbImage, source: Source) -> Result<(Vec<Face>, Vec<Face>)> {
        Ok(match source {
            Source::Camera => (self.photo_detectors[self.camera].detect(image)?, Vec::new()),
            Source::Photo => {
                let mut candidates = Vec::new();
                for found in crate::par::map(&self.photo_detectors, |detector| detector.detect_photo(image)) {
                    candidates.extend(found?);
                }
                let candidates = suppress_overlaps(candidates, MERGE_IOU);
                let confirmed = crate::par::map(&candidates, |candidate| match &self.face_check {
                    Some(check) => check.confirm(image, candidate).map(|score| score.is_some()),
                    None => Ok(true),
                });
                let (mut faces, mut rejected) = (Vec::new(), Vec::new());
                for (candidate, confirmed) in candidates.into_iter().zip(confirmed) {
                    if confirmed? { &mut faces } else { &mut rejected }.push(candidate);
                }
                (faces, rejected)
            }
        })
    }

    /// Analyze a camera frame seen at `time_ms` and feed it to a liveness `challenge` (a frame
    /// where no face is found counts as such, not as an error). Returns where the challenge
    /// stands and the frame's analysis, for an overlay.
    pub fn liveness_frame(&self, challenge: &mut Challenge, image: &Decoded, time_ms: f64) -> Result<(LivenessProgress, Option<Analysis>)> {
        let analysis = match self.analyze_decoded(image, Source::Camera) {
            Ok(analysis) => Some(analysis),
            Err(e) if e.kind() == ErrorKind::NoFace => None,
            Err(e) => return Err(e),
        };
        let progress = challenge.observe(time_ms, analysis.as_ref().and_then(Frame::of).as_ref())?;
        Ok((progress, analysis))
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
        let spec = self.embedder_spec();
        let confidence = spec.threshold(metric)?.confidence(distance);
        Ok(Verification { verified: distance <= threshold, distance, threshold, confidence, metric, model: spec.id.clone(), quality: [None, None], warnings: Vec::new() })
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

/// The converted file of `spec` in `dir`; `MODEL_INVALID` when it cannot be read.
#[cfg(not(target_arch = "wasm32"))]
fn read_model(dir: &std::path::Path, spec: &ModelSpec) -> Result<Vec<u8>> {
    let path = dir.join(&spec.file);
    std::fs::read(&path)
        .map_err(|e| Error::new(ErrorKind::ModelInvalid, format!("cannot read {}: {e} (run `make models`)", path.display())))
}

/// What a model file is to [`Verifier::load`].
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Detector,
    FaceCheck,
    Landmarker,
    Embedder,
    Attributes,
}

/// A model file, loaded for its [`Role`].
enum Part {
    Detector(Detector),
    FaceCheck(Detector),
    Landmarker(Landmarker),
    Embedder(Embedder),
    Attributes(AttributeModel),
}

/// What [`Verifier::upright_faces`] found.
struct Found {
    /// Clockwise turn (degrees) under which the faces are upright.
    rotation: u16,
    /// The faces, with landmarks, in the image's pixels.
    faces: Vec<Face>,
    /// Upright candidates the face check refused, in the image's pixels: the reasons a
    /// `NO_FACE` can give.
    rejected: Vec<Face>,
}

/// `NO_FACE`, saying why when the image or what the detectors saw tells: an image smaller
/// than a face is reliably found at, a face too small to be sure of, part of a face at the border, or
/// a face-like pattern the face check refused.
fn no_face(image: &RgbImage, rejected: &[Face]) -> Error {
    let (width, height) = image.dimensions();
    let reason = if width.min(height) < MIN_FACE_PX {
        format!("the image is {width}×{height} px: faces are found reliably from about {MIN_FACE_PX} px wide")
    } else if let Some(face) = rejected.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
        let b = &face.bbox;
        let size = b.width.max(b.height);
        if size < MIN_FACE_PX as f32 {
            format!("the only face-like region, {size:.0} px wide at ({:.0}, {:.0}), is too small to be sure of (faces are found from about {MIN_FACE_PX} px wide)", b.x, b.y)
        } else if face.cut {
            format!("only part of a face was seen, cut by the image border at ({:.0}, {:.0})", b.x, b.y)
        } else {
            format!(
                "a face-like region, {size:.0} px wide at ({:.0}, {:.0}), failed the face check (an animal, a pattern, or a face turned away or covered?)",
                b.x, b.y
            )
        }
    } else {
        return Error::new(ErrorKind::NoFace, "no face found");
    };
    Error::new(ErrorKind::NoFace, format!("no face found: {reason}"))
}

/// Faces are looked for in a copy of the image at most this long: faces stay far above the
/// detectors' resolution, and the detectors' input resizes cost little.
pub const WORKING_SIDE: u32 = 2048;

/// `image`, or a copy scaled to at most [`WORKING_SIDE`] pixels long, and the scale.
fn working_copy(image: &RgbImage) -> (std::borrow::Cow<'_, RgbImage>, f32) {
    let longer = image.width().max(image.height());
    if longer <= WORKING_SIDE {
        return (std::borrow::Cow::Borrowed(image), 1.0);
    }
    let scale = WORKING_SIDE as f32 / longer as f32;
    let (w, h) = (((image.width() as f32 * scale).round() as u32).max(1), ((image.height() as f32 * scale).round() as u32).max(1));
    // Area averaging in one pass: a filtered resize keeps a float copy of the image at one
    // of its final sides, 150 MB more for a 50-megapixel photo.
    (std::borrow::Cow::Owned(imageops::thumbnail(image, w, h)), w as f32 / image.width() as f32)
}

/// Detections of two detectors overlapping this much are one face.
const MERGE_IOU: f32 = 0.3;

/// Whether a detection looks like an upright face: the subject's right eye on the image's
/// left, the eyes' line within 45° of level, and the mouth below the eyes within 45° of
/// straight down. A face turned by 90° or more, or a pattern that is not a face, fails.
fn plausible(face: &Face) -> bool {
    let point = |name: &str| face.keypoints.iter().find(|k| k.name == name).map(|k| (k.x, k.y));
    let (Some(right), Some(left), Some(mouth)) = (point("right_eye"), point("left_eye"), point("mouth")) else {
        return false;
    };
    let eyes = (left.0 - right.0, left.1 - right.1);
    let middle = ((left.0 + right.0) / 2.0, (left.1 + right.1) / 2.0);
    let down = (mouth.0 - middle.0, mouth.1 - middle.1);
    eyes.0 > eyes.1.abs() && down.1 > down.0.abs()
}

/// The part of `image` around `face` that landmarks and chip read (the box grown by its
/// size on every side, within the image), and its top-left corner.
fn surroundings(image: &RgbImage, face: &Face) -> (RgbImage, [f32; 2]) {
    let b = &face.bbox;
    let margin = b.width.max(b.height);
    let (x0, y0) = ((b.x - margin).max(0.0).floor() as u32, (b.y - margin).max(0.0).floor() as u32);
    let x1 = ((b.x + b.width + margin).ceil() as u32).clamp(x0 + 1, image.width());
    let y1 = ((b.y + b.height + margin).ceil() as u32).clamp(y0 + 1, image.height());
    (imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image(), [x0 as f32, y0 as f32])
}

/// `image` turned clockwise by `degrees` (90, 180 or 270).
fn turn_image(image: &RgbImage, degrees: u16) -> RgbImage {
    match degrees {
        90 => imageops::rotate90(image),
        180 => imageops::rotate180(image),
        270 => imageops::rotate270(image),
        _ => image.clone(),
    }
}

/// `face`, found in an image of `width`×`height`, in that image turned clockwise by
/// `degrees`.
fn turn_face(face: &Face, degrees: u16, width: u32, height: u32) -> Face {
    let (w, h) = (width as f32, height as f32);
    let turn = |x: f32, y: f32| match degrees % 360 {
        90 => (h - y, x),
        180 => (w - x, h - y),
        270 => (y, w - x),
        _ => (x, y),
    };
    let b = &face.bbox;
    let (ax, ay) = turn(b.x, b.y);
    let (bx, by) = turn(b.x + b.width, b.y + b.height);
    Face {
        bbox: BoundingBox { x: ax.min(bx), y: ay.min(by), width: (ax - bx).abs(), height: (ay - by).abs() },
        score: face.score,
        keypoints: face.keypoints.iter().map(|k| {
            let (x, y) = turn(k.x, k.y);
            Keypoint { name: k.name.clone(), x, y }
        }).collect(),
        cut: face.cut,
        quality: face.quality.clone(),
        attributes: face.attributes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(points: &[(&str, f32, f32)]) -> Face {
        Face {
            bbox: BoundingBox { x: 10.0, y: 20.0, width: 30.0, height: 40.0 },
            score: 0.9,
            keypoints: points.iter().map(|&(n, x, y)| Keypoint { name: n.into(), x, y }).collect(),
            cut: false,
            quality: None,
            attributes: None,
        }
    }

    #[test]
    fn no_face_gives_the_reason_the_candidates_tell() {
        let image = RgbImage::new(640, 480);
        let candidate = |x: f32, side: f32, cut: bool| Face {
            bbox: BoundingBox { x, y: 100.0, width: side, height: side },
            score: 0.8,
            keypoints: Vec::new(),
            cut,
            quality: None,
            attributes: None,
        };
        let message = |rejected: &[Face]| no_face(&image, rejected).to_string();
        assert_eq!(message(&[]), "no face found");
        assert!(message(&[candidate(10.0, 30.0, false)]).contains("30 px wide at (10, 100), is too small to be sure of"));
        assert!(message(&[candidate(0.0, 90.0, true)]).contains("only part of a face was seen, cut by the image border"));
        assert!(message(&[candidate(200.0, 90.0, false)]).contains("90 px wide at (200, 100), failed the face check"));
        assert!(no_face(&RgbImage::new(30, 20), &[]).to_string().contains("the image is 30×20 px"));
    }

    #[test]
    fn upright_faces_are_plausible_turned_ones_are_not() {
        let upright = face(&[("right_eye", 20.0, 30.0), ("left_eye", 30.0, 30.0), ("nose", 25.0, 38.0), ("mouth", 25.0, 46.0)]);
        assert!(plausible(&upright));
        let (w, h) = (100, 80);
        for degrees in [90, 180, 270] {
            let turned = turn_face(&upright, degrees, w, h);
            assert!(!plausible(&turned), "{degrees}°");
        }
    }

    #[test]
    fn turning_back_restores_a_face() {
        let original = face(&[("nose", 25.0, 38.0)]);
        for degrees in [90u16, 180, 270] {
            let (tw, th) = if degrees == 180 { (100, 80) } else { (80, 100) };
            let back = turn_face(&turn_face(&original, degrees, 100, 80), 360 - degrees, tw, th);
            assert!((back.bbox.x - 10.0).abs() < 1e-4 && (back.bbox.y - 20.0).abs() < 1e-4, "{degrees}: {:?}", back.bbox);
            assert!((back.bbox.width - 30.0).abs() < 1e-4 && (back.keypoints[0].y - 38.0).abs() < 1e-4);
        }
    }

    #[test]
    fn turned_points_follow_the_turned_pixels() {
        // A marker pixel at (x, y) must land where turn_face puts (x + 0.5, y + 0.5), minus the half pixel.
        let mut image = RgbImage::new(5, 3);
        image.put_pixel(1, 0, image::Rgb([255, 0, 0]));
        for degrees in [90u16, 180, 270] {
            let turned = turn_image(&image, degrees);
            let marker = face(&[("p", 1.5, 0.5)]);
            let k = &turn_face(&marker, degrees, 5, 3).keypoints[0];
            assert_eq!(turned.get_pixel((k.x - 0.5) as u32, (k.y - 0.5) as u32).0, [255, 0, 0], "{degrees}°");
        }
    }
}
