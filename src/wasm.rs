//! The wasm-bindgen edge: thin exports over [`crate::Verifier`]. Errors become JS `Error`s
//! whose `name` is the stable [`crate::ErrorKind::code`]; results are JSON strings that the
//! ES module `packages/faceverify/faceverify.js` parses and documents.

use wasm_bindgen::prelude::*;

use crate::pipeline::compare::Metric;
use crate::pipeline::gallery;
use crate::pipeline::decode::{check_encoded_size, check_size, crop_from_rgba, decode_owned, from_rgba, Decoded, MATTE};
use crate::pipeline::quality::{self, Quality};
use crate::registry::Registry;
use crate::{Error, ErrorKind};

fn js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name(err.kind().code());
    js.into()
}

fn to_json(value: &impl serde::Serialize) -> Result<String, JsValue> {
    serde_json::to_string(value).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// The models this build offers (the manifest as JSON, without user-supplied models that
/// were not converted): files, sizes, thresholds, provenance.
#[wasm_bindgen(js_name = modelManifest)]
pub fn model_manifest() -> String {
    serde_json::to_string(&Registry::builtin().offered()).unwrap_or_default()
}

/// The manifest entries (JSON array) a [`Verifier`] loads for `detector` and `model`, the
/// defaults where not given: detectors, the face check, the landmarker, the recognition
/// model. `UNKNOWN_MODEL` for an id the build does not offer.
#[wasm_bindgen(js_name = modelSet)]
pub fn model_set(detector: Option<String>, model: Option<String>) -> Result<String, JsValue> {
    to_json(&Registry::builtin().model_set(detector.as_deref(), model.as_deref()).map_err(js_error)?)
}

/// The manifest entries (JSON array) of the attribute models that estimate `attributes`
/// (`age`, `gender`, `expression`), to fetch and load. `INVALID_INPUT` for an unknown one.
#[wasm_bindgen(js_name = attributeModels)]
pub fn attribute_models(attributes: Vec<String>) -> Result<String, JsValue> {
    to_json(&Registry::builtin().attribute_models(&attributes).map_err(js_error)?)
}

/// The f32 GEMM micro-kernel tract's dispatch picks in this build for a convolution-shaped
/// product (64 × 576 × 1024, dlib ResNet's 64-channel 3×3 layers): `faceverify_wasm_f32_6x8`
/// (src/gemm.rs) when this crate's tier is linked in, tract's own (`wasm_f32_8x8`) otherwise.
/// The JS API reports it as `backend.gemm`.
#[wasm_bindgen(js_name = gemmKernel)]
pub fn gemm_kernel() -> String {
    use tract_linalg::mmm::Query;
    use tract_nnef::prelude::DatumType;
    let query = Query::plain(DatumType::F32, Some(64), Some(576), Some(1024));
    tract_linalg::MmmDispatch::native().pick(&query).map(|(mmm, _, _)| mmm.name().to_string()).unwrap_or_default()
}

/// `initThreadPool(n)`: a promise of a rayon pool of `n` Web Workers sharing this instance's
/// memory (wasm-bindgen-rayon). Await it once after `init`, from a worker (the pool blocks
/// the caller while it works), then call [`use_thread_pool`]. `threads` build only.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Run tract's matrix products on the pool `initThreadPool` started (tract's
/// `Executor::RayonGlobal`; products under 64 panels stay on the thread running the network,
/// where the hand-over would cost more than it saves). Each network then runs on a pool
/// thread (`par::on_pool`). Until then everything runs on the caller. `threads` build only.
#[cfg(feature = "threads")]
#[wasm_bindgen(js_name = useThreadPool)]
pub fn use_thread_pool() {
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(Executor::RayonGlobal);
}

/// `IMAGE_TOO_LARGE` for an encoded file of `bytes` bytes over the budget (64 MB): check
/// before handing a file to [`Verifier::analyze`] or [`Verifier::detect`], whose argument is
/// copied into wasm memory first (a file beyond the memory would abort the instance).
#[wasm_bindgen(js_name = checkImageFile)]
pub fn check_image_file(bytes: usize) -> Result<(), JsValue> {
    check_encoded_size(bytes).map_err(js_error)
}

/// Loaded detectors, landmarker and recognition model.
#[wasm_bindgen]
pub struct Verifier(crate::Verifier);

fn source(camera: Option<bool>) -> crate::Source {
    if camera.unwrap_or(false) { crate::Source::Camera } else { crate::Source::Photo }
}

/// An analysis as a JS object: the JSON fields plus `aligned: {width, height, rgba}`, built
/// on the JS side so that nothing stays allocated in wasm memory.
fn analysis_object(analysis: &crate::Analysis) -> Result<JsValue, JsValue> {
    let object = js_sys::JSON::parse(&to_json(analysis)?)?;
    let aligned = js_sys::Object::new();
    js_sys::Reflect::set(&aligned, &"width".into(), &analysis.aligned.width().into())?;
    js_sys::Reflect::set(&aligned, &"height".into(), &analysis.aligned.height().into())?;
    js_sys::Reflect::set(&aligned, &"rgba".into(), &js_sys::Uint8Array::from(&analysis.aligned_rgba()[..]))?;
    js_sys::Reflect::set(&object, &"aligned".into(), &aligned)?;
    Ok(object)
}

impl Verifier {
    fn analysis(&self, image: &Decoded, camera: Option<bool>, attributes: Option<Vec<String>>) -> Result<JsValue, JsValue> {
        let mut analysis = self.0.analyze_decoded(image, source(camera)).map_err(js_error)?;
        if let Some(wanted) = attributes.filter(|a| !a.is_empty()) {
            self.0.estimate_attributes(&image.image, &mut analysis.faces, analysis.rotation, &wanted).map_err(js_error)?;
        }
        analysis_object(&analysis)
    }

    fn faces_json(&self, image: &Decoded, camera: Option<bool>) -> Result<String, JsValue> {
        to_json(&self.0.detect_decoded(image, source(camera)).map_err(js_error)?)
    }
}

/// The pixels of a browser image — an `ImageData`, or an `ImageBitmap` drawn onto an
/// `OffscreenCanvas` — through the one conversion every path shares ([`from_rgba`]: pixel
/// budget, transparency). A bitmap made by `createImageBitmap(blob)` is already upright
/// (the browser applies EXIF orientation), so nothing here turns it again.
fn browser_image(image: &JsValue) -> Result<Decoded, JsValue> {
    use wasm_bindgen::JsCast;
    let failed = |what: &str, e: JsValue| {
        js_error(Error::new(ErrorKind::InvalidInput, format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))))
    };
    if let Some(data) = image.dyn_ref::<web_sys::ImageData>() {
        return from_rgba(data.data().0, data.width(), data.height()).map_err(js_error);
    }
    let Some(bitmap) = image.dyn_ref::<web_sys::ImageBitmap>() else {
        return Err(js_error(Error::new(ErrorKind::InvalidInput, "expected an ImageData or an ImageBitmap")));
    };
    let (width, height) = (bitmap.width(), bitmap.height());
    if width == 0 || height == 0 {
        return Err(js_error(Error::new(ErrorKind::InvalidInput, "the ImageBitmap is empty (0 pixels, or closed)")));
    }
    // The budget before the canvas: its pixels would be allocated first.
    check_size(width, height).map_err(js_error)?;
    let canvas = web_sys::OffscreenCanvas::new(width, height).map_err(|e| failed("cannot make a canvas", e))?;
    let context: web_sys::OffscreenCanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| failed("cannot draw the bitmap", e))?
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(|| js_error(Error::new(ErrorKind::InvalidInput, "no 2D context for the bitmap")))?;
    // Drawn over the matte, so the canvas composites as `from_rgba` would: read back
    // from a transparent canvas, semi-transparent pixels would lose precision to
    // premultiplied alpha. A fully transparent bitmap is then plain grey: no face.
    let [r, g, b] = MATTE;
    context.set_fill_style_str(&format!("rgb({r} {g} {b})"));
    context.fill_rect(0.0, 0.0, width as f64, height as f64);
    context.draw_image_with_image_bitmap(bitmap, 0.0, 0.0).map_err(|e| failed("cannot draw the bitmap", e))?;
    let data = context.get_image_data(0.0, 0.0, width as f64, height as f64).map_err(|e| failed("cannot read the bitmap", e))?;
    from_rgba(data.data().0, width, height).map_err(js_error)
}

#[wasm_bindgen]
impl Verifier {
    /// Load models from their bytes, `ids[i]` (manifest ids) naming `models[i]`: one
    /// recognition model, one landmarker, and one or two detectors (the manifest's
    /// `camera_detector` serves camera frames, the other photos).
    #[wasm_bindgen(constructor)]
    pub fn new(ids: Vec<String>, models: Vec<js_sys::Uint8Array>) -> Result<Verifier, JsValue> {
        let bytes: Vec<Vec<u8>> = models.iter().map(|m| m.to_vec()).collect();
        let pairs: Vec<(&str, &[u8])> = ids.iter().map(String::as_str).zip(bytes.iter().map(Vec::as_slice)).collect();
        crate::Verifier::load(&pairs).map(Verifier).map_err(js_error)
    }

    /// Detect, align and embed the largest face of an encoded image (JPEG, PNG, WebP, GIF,
    /// BMP); `camera`: a live frame (fast detector, upright only). Returns
    /// `{faces, chosen, rotation, embedding, aligned: {width, height, rgba}}`.
    /// Call [`check_image_file`] first: the bytes are copied into wasm memory before this
    /// runs, and released as soon as they are decoded.
    /// `attributes`: names to estimate for every face (`age`, `gender`, `expression`); their
    /// models must be loaded ([`Verifier::load_attributes`], [`attribute_models`]).
    pub fn analyze(&self, image: Vec<u8>, camera: Option<bool>, attributes: Option<Vec<String>>) -> Result<JsValue, JsValue> {
        let image = decode_owned(image).map_err(js_error)?;
        self.analysis(&image, camera, attributes)
    }

    /// As [`Verifier::analyze`], from a browser image: an `ImageData` (canvas pixels) or an
    /// `ImageBitmap` (from a Blob, a video frame, a canvas; EXIF orientation is the
    /// browser's to apply). The bitmap is left open: its owner closes it.
    // `image` is taken by value: a borrowed JsValue's shim uses `table.fill`, which the
    // binaryen the set-up installs (116) cannot parse.
    #[wasm_bindgen(js_name = analyzeImage)]
    pub fn analyze_image(&self, image: JsValue, camera: Option<bool>, attributes: Option<Vec<String>>) -> Result<JsValue, JsValue> {
        self.analysis(&browser_image(&image)?, camera, attributes)
    }

    /// Load an attribute model by manifest id from its bytes (sha256 checked).
    #[wasm_bindgen(js_name = loadAttributes)]
    pub fn load_attributes(&mut self, id: &str, bytes: &[u8]) -> Result<(), JsValue> {
        self.0.load_attributes(id, bytes).map_err(js_error)
    }

    /// Every face in an encoded image, best first. Returns JSON `[{box, score, keypoints}]`.
    pub fn detect(&self, image: Vec<u8>, camera: Option<bool>) -> Result<String, JsValue> {
        self.faces_json(&decode_owned(image).map_err(js_error)?, camera)
    }

    /// As [`Verifier::detect`], from an `ImageData` or `ImageBitmap` (a video frame, say).
    #[wasm_bindgen(js_name = detectImage)]
    pub fn detect_image(&self, image: JsValue, camera: Option<bool>) -> Result<String, JsValue> {
        self.faces_json(&browser_image(&image)?, camera)
    }

    /// The embedding of RGBA pixels that are already an aligned face crop of the model's
    /// input size (150×150 for dlib-resnet).
    #[wasm_bindgen(js_name = embedAligned)]
    pub fn embed_aligned(&self, rgba: &[u8], width: u32, height: u32) -> Result<Vec<f32>, JsValue> {
        let crop = crop_from_rgba(rgba, width, height).map_err(js_error)?;
        self.0.embed_aligned(&crop).map_err(js_error)
    }

    /// Analyze a camera frame (an `ImageData` or `ImageBitmap`) seen at `time_ms` and feed it
    /// to `challenge`. Returns JSON `{progress, faces, chosen}`: where the challenge stands
    /// (`{state, completed, total, action, prompt, progress, remaining_ms, result}`) and the
    /// frame's faces for an overlay (`[]`, chosen −1, when none was found).
    #[wasm_bindgen(js_name = livenessFrame)]
    pub fn liveness_frame(&self, challenge: &mut LivenessChallenge, image: JsValue, time_ms: f64) -> Result<String, JsValue> {
        let (progress, analysis) = self.0.liveness_frame(&mut challenge.0, &browser_image(&image)?, time_ms).map_err(js_error)?;
        let (faces, chosen) = analysis.map(|a| (a.faces, a.chosen as i64)).unwrap_or((Vec::new(), -1));
        to_json(&serde_json::json!({ "progress": progress, "faces": faces, "chosen": chosen }))
    }

    /// Compare two embeddings. `threshold` overrides the model's when given.
    /// Returns JSON `{verified, distance, threshold, confidence, metric, model}`.
    /// `qualities`: JSON `[quality | null, quality | null]` of the two faces (from their
    /// analyses), for the verdict's `LOW_QUALITY` warning.
    pub fn verify(&self, a: &[f32], b: &[f32], metric: &str, threshold: Option<f32>, qualities: Option<String>) -> Result<String, JsValue> {
        let metric: Metric = metric.parse().map_err(js_error)?;
        let [qa, qb] = parse_qualities(qualities.as_deref())?;
        to_json(&self.0.verify(a, b, metric, threshold).map_err(js_error)?.with_quality(qa, qb))
    }

    /// The accept threshold for `metric`: `threshold` when given, else the model's
    /// calibrated one.
    pub fn threshold(&self, metric: &str, threshold: Option<f32>) -> Result<f32, JsValue> {
        let metric: Metric = metric.parse().map_err(js_error)?;
        self.0.threshold(metric, threshold).map_err(js_error)
    }
}

/// `count` (2–4) different liveness actions (`turn_left`, `turn_right`, `look_up`,
/// `look_down`) in an order drawn from `random` (at least 4 × `count` bytes from
/// `crypto.getRandomValues`).
#[wasm_bindgen(js_name = pickLivenessActions)]
pub fn pick_liveness_actions(random: &[u8], count: usize) -> Result<Vec<String>, JsValue> {
    let actions = crate::liveness::pick_actions(random, count).map_err(js_error)?;
    Ok(actions.iter().map(|a| a.name().to_string()).collect())
}

/// An active liveness challenge (see the core's `liveness` module): feed it frames with
/// [`Verifier::liveness_frame`].
#[wasm_bindgen]
pub struct LivenessChallenge(crate::liveness::Challenge);

#[wasm_bindgen]
impl LivenessChallenge {
    /// A challenge of `actions` (2–4 different names, as [`pick_liveness_actions`] gives),
    /// each within `timeout_ms` of its prompt; the face must stay within the recognition
    /// model's threshold for `metric` (`threshold` overrides it). `INVALID_INPUT` for an
    /// unknown or repeated action, or a non-positive time limit.
    #[wasm_bindgen(constructor)]
    pub fn new(verifier: &Verifier, actions: Vec<String>, timeout_ms: f64, metric: &str, threshold: Option<f32>) -> Result<LivenessChallenge, JsValue> {
        let metric: Metric = metric.parse().map_err(js_error)?;
        let threshold = verifier.0.threshold(metric, threshold).map_err(js_error)?;
        let actions = actions.iter().map(|name| name.parse()).collect::<crate::Result<Vec<_>>>().map_err(js_error)?;
        crate::liveness::Challenge::new(actions, timeout_ms, metric, threshold).map(LivenessChallenge).map_err(js_error)
    }

    /// A frame at `time_ms` with no picture (the camera gave none): a frame without a face.
    /// Returns the progress JSON.
    pub fn missing(&mut self, time_ms: f64) -> Result<String, JsValue> {
        to_json(&self.0.observe(time_ms, None).map_err(js_error)?)
    }

    /// End the challenge, failed with `CANCELLED`; returns its progress JSON.
    pub fn cancel(&mut self) -> Result<String, JsValue> {
        to_json(&self.0.cancel())
    }
}

/// Named identities enrolled from one or more embeddings, for one recognition model.
fn parse_qualities(json: Option<&str>) -> Result<[Option<Quality>; 2], JsValue> {
    let Some(json) = json else { return Ok([None, None]) };
    serde_json::from_str(json).map_err(|e| js_error(Error::new(ErrorKind::InvalidInput, format!("qualities: {e}"))))
}

/// `LOW_QUALITY` unless the face quality (JSON, from an analysis) reaches `bar` (default:
/// the enrolment bar).
#[wasm_bindgen(js_name = admitQuality)]
pub fn admit_quality(quality: &str, bar: Option<f32>) -> Result<(), JsValue> {
    let quality: Quality =
        serde_json::from_str(quality).map_err(|e| js_error(Error::new(ErrorKind::InvalidInput, format!("quality: {e}"))))?;
    quality.admit(bar.unwrap_or(quality::ENROL_BAR)).map_err(js_error)
}

/// The quality bars: `{enrol, verify}`.
#[wasm_bindgen(js_name = qualityBars)]
pub fn quality_bars() -> String {
    serde_json::json!({"enrol": quality::ENROL_BAR, "verify": quality::VERIFY_BAR}).to_string()
}

#[wasm_bindgen]
pub struct Gallery(gallery::Gallery);

#[wasm_bindgen]
impl Gallery {
    /// An empty gallery for `model` with `embedding_size`-d embeddings.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &str, embedding_size: usize) -> Gallery {
        Gallery(gallery::Gallery::new(model, embedding_size))
    }

    /// Import a gallery file; refused whole (`GALLERY_INVALID`) if malformed or made by
    /// another model.
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(text: &str, model: &str, embedding_size: usize) -> Result<Gallery, JsValue> {
        gallery::Gallery::from_json(text, model, embedding_size).map(Gallery).map_err(js_error)
    }

    /// The gallery file (JSON).
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self) -> String {
        self.0.to_json()
    }

    /// The identities and how many embeddings each has. Returns JSON `[{name, count}]`.
    pub fn identities(&self) -> Result<String, JsValue> {
        to_json(&self.0.identities())
    }

    /// Add an embedding to `name`, creating the identity if new.
    pub fn enroll(&mut self, name: &str, embedding: Vec<f32>) -> Result<(), JsValue> {
        self.0.enroll(name, embedding).map_err(js_error)
    }

    /// Rename an identity; false if it is not enrolled.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<bool, JsValue> {
        self.0.rename(from, to).map_err(js_error)
    }

    /// Remove an identity; false if it was not enrolled.
    pub fn remove(&mut self, name: &str) -> bool {
        self.0.remove(name)
    }

    /// The `limit` identities (all when not given) closest to `probe`, ranked by best
    /// distance. Returns JSON `[{name, best_distance, mean_distance, verified}]`.
    pub fn find(&self, probe: &[f32], metric: &str, threshold: f32, limit: Option<usize>) -> Result<String, JsValue> {
        let metric: Metric = metric.parse().map_err(js_error)?;
        to_json(&self.0.find_top(probe, metric, threshold, limit.unwrap_or(usize::MAX)).map_err(js_error)?)
    }

    /// How many embeddings the gallery holds.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.0.len()
    }
}
