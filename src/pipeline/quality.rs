//! Face quality: how far one face image can be trusted for recognition, measured on the face
//! itself, before anyone compares it.
//!
//! The components follow ISO/IEC 29794-5 (face image quality) where it defines one that fits
//! a single photo or frame: inter-eye distance, sharpness, head pose (yaw, pitch, roll),
//! luminance mean and contrast, natural colour, and eye and mouth visibility (its "eyes
//! visible" and "mouth occlusion prevention"). Each is measured on a canonical crop — dlib's
//! 150 px face chip, whatever the recognition model — and mapped to a component score in
//! [0, 1] by a linear ramp between a value where recognition fails and one where it no longer
//! suffers. The overall score is the product of the component scores: 1 only when every
//! component is good, 0 when any is hopeless. The ramps' ends are round values from the
//! literature and from the clean shared photos, not fitted to the degraded pairs on which the
//! score is evaluated (docs/quality.md: the error-versus-discard curve).

use image::{Rgb32FImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::align::{extract_chip, Similarity};
use crate::pipeline::decode::Levels;
use crate::pipeline::detect::Face;

/// Side of the canonical crop (px).
const CROP: u32 = 150;
/// dlib's 5-point face-chip template for a 150 px crop with padding 0.25
/// (`get_face_chip_details`): where each of the landmarker's points goes.
const TEMPLATE: [(&str, [f32; 2]); 5] = [
    ("left_eye_outer", [110.9567, 46.3498]),
    ("left_eye_inner", [89.606, 47.8967]),
    ("right_eye_outer", [37.0575, 46.3727]),
    ("right_eye_inner", [58.4085, 47.9064]),
    ("nose_base", [74.0112, 87.7798]),
];

/// Regions of the canonical crop, `[x0, y0, x1, y1)` in its pixels.
type Region = [u32; 4];
/// Around each eye (the eye centres are at x 47.7 and 100.3, y 47.1).
const EYES: [Region; 2] = [[35, 38, 61, 57], [88, 38, 114, 57]];
/// Mouth and chin, from just under the nose base.
const MOUTH: Region = [52, 98, 98, 128];
/// Skin that sunglasses and a mask band leave visible: the forehead and the cheeks under the
/// eyes.
const SKIN: [Region; 3] = [[55, 14, 95, 30], [30, 64, 52, 82], [98, 64, 120, 82]];
/// The inner face, for sharpness and luminance: brows to chin, cheek to cheek.
const INNER: Region = [30, 30, 120, 135];

/// Where a component's score goes from 0 to 1, and what it is called in a reason.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    /// Value at which the component scores 0 (recognition fails).
    bad: f32,
    /// Value from which it scores 1 (recognition no longer suffers).
    good: f32,
}

impl Ramp {
    fn score(self, value: f32) -> f32 {
        if !value.is_finite() {
            return 0.0;
        }
        ((value - self.bad) / (self.good - self.bad)).clamp(0.0, 1.0)
    }
}

/// Inter-ocular distance (px): recognition accuracy falls steeply below ~30 px (NIST FRVT on
/// low-resolution probes); the face detectors find faces from ~17 px between the eyes.
const IOD: Ramp = Ramp { bad: 10.0, good: 40.0 };
/// Sharpness (see [`Quality::sharpness`]): the clean shared photos score 0.35–1.2; a
/// Gaussian blur of σ 1.5 px on the crop brings a face to about 0.1.
const SHARPNESS: Ramp = Ramp { bad: 0.05, good: 0.2 };
/// |yaw| (degrees): frontal to half-profile is fine for 2D recognition; beyond 60° one eye
/// is hidden.
const YAW: Ramp = Ramp { bad: 60.0, good: 30.0 };
/// |pitch| (degrees).
const PITCH: Ramp = Ramp { bad: 50.0, good: 25.0 };
/// Luminance mean of the face, 0–1, in the image as given: under- and over-exposure.
const DARK: Ramp = Ramp { bad: 0.04, good: 0.2 };
const BRIGHT: Ramp = Ramp { bad: 0.98, good: 0.85 };
/// Luminance contrast (standard deviation, 0–1) of the face as given.
const CONTRAST: Ramp = Ramp { bad: 0.01, good: 0.05 };
/// Distance (CIELAB a*b*) of the skin's colour from the range of human skin tones
/// (a* 3–30, b* 3–40): 0 inside.
const COLOUR: Ramp = Ramp { bad: 15.0, good: 4.0 };
/// Eye region lightness over the skin's (CIELAB L*): dark lenses make it ~0.15, open eyes
/// in shadow ~0.5.
const EYES_VISIBLE: Ramp = Ramp { bad: 0.3, good: 0.5 };
/// Colour difference (CIE ΔE*76) of mouth and chin from the skin: lips and stubble differ by
/// up to ~20, a mask or a hand in another colour by 30 and more.
const MOUTH_VISIBLE: Ramp = Ramp { bad: 38.0, good: 24.0 };
/// Texture (Laplacian deviation) of eye or mouth region over the skin's: open eyes and
/// mouths, and beards, have edges the skin lacks; lenses and masks are as smooth as skin.
const TEXTURE: Ramp = Ramp { bad: 1.0, good: 2.0 };
/// Detector score: BlazeFace's own threshold is 0.5; real faces score 0.8 and more.
const DETECTOR: Ramp = Ramp { bad: 0.5, good: 0.75 };

/// The quality of one face image, with the measures it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Overall quality in [0, 1]: the product of the component scores below.
    pub score: f32,
    /// Why the score is below 1, worst first; empty when it is 1.
    pub reasons: Vec<QualityReason>,
    /// Inter-ocular distance (ISO/IEC 29794-5 "inter-eye distance"): pixels between the eye
    /// centres (each the middle of its two corners) in the image as given.
    pub inter_ocular_distance: f32,
    /// Sharpness: standard deviation of the Laplacian of the crop's luminance (3×3 kernel)
    /// over the standard deviation of the luminance itself, on the inner face; unitless,
    /// ~0.3–1.2 for sharp photos, under 0.1 for blurred or upscaled ones.
    pub sharpness: f32,
    /// Head yaw in degrees, positive when the face turns to the image's right (the
    /// subject's left); from the nose tip's offset from the eyes' middle.
    pub yaw: f32,
    /// Head pitch in degrees, positive when the face tilts up; from where the nose tip sits
    /// between the eyes and the mouth.
    pub pitch: f32,
    /// Head roll in degrees, positive clockwise in the image; from the line through the
    /// eyes. Alignment undoes it: it does not lower the score.
    pub roll: f32,
    /// Mean luminance of the inner face in [0, 1] (Rec. 601 luma), in the image as given,
    /// before the normalisation of dark images.
    pub luminance_mean: f32,
    /// Standard deviation of that luminance, in [0, 1], as given.
    pub luminance_contrast: f32,
    /// The skin's CIELAB a* and b* (forehead and cheeks, median); `null` in a grey image.
    pub skin_colour: Option<[f32; 2]>,
    /// Eye visibility in [0, 1]: 0 behind dark glasses or a hand (eye-region lightness over
    /// the skin's).
    pub eyes_visible: f32,
    /// Mouth visibility in [0, 1]: 0 under a mask or a hand of another colour than the skin
    /// (colour difference of mouth and chin from the skin).
    pub mouth_visible: f32,
    /// Share of the face covered in [0, 1]: eyes and mouth weighed equally.
    pub occlusion: f32,
    /// The face detector's score in [0, 1].
    pub detector_score: f32,
}

/// One reason a face's quality is low.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReason {
    /// Stable code: `SMALL_FACE`, `BLURRED`, `TURNED_AWAY`, `TILTED`, `UNDEREXPOSED`,
    /// `OVEREXPOSED`, `LOW_CONTRAST`, `UNNATURAL_COLOUR`, `EYES_COVERED`, `MOUTH_COVERED`,
    /// `UNCERTAIN_FACE`.
    pub code: String,
    /// For people: the measure and the value wanted.
    pub message: String,
    /// The component's score in [0, 1].
    pub score: f32,
}

/// Enrolment keeps out faces below this overall quality unless told otherwise: a reference
/// photo should be a good one (docs/quality.md).
pub const ENROL_BAR: f32 = 0.5;
/// Below this quality for either face a verdict carries a `LOW_QUALITY` warning: "too poor to
/// decide" (docs/quality.md: discarding pairs under it removes most errors).
pub const VERIFY_BAR: f32 = 0.3;

impl Quality {
    /// `Ok` when the score reaches `bar`; else `LOW_QUALITY`, saying why.
    pub fn admit(&self, bar: f32) -> Result<()> {
        if self.score >= bar {
            return Ok(());
        }
        Err(Error::new(ErrorKind::LowQuality, format!("face quality {:.2} is below the bar of {bar:.2}: {}", self.score, self.explain())))
    }

    /// The reasons, joined for people; "no single cause" when all components are middling.
    pub fn explain(&self) -> String {
        if self.reasons.is_empty() {
            return "no single cause".into();
        }
        self.reasons.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join("; ")
    }
}

/// Measure the quality of `face` (with the landmarker's 5 points) in `image`, whose levels
/// were normalised by `levels` at decode (exposure is reported as given).
pub fn assess(image: &RgbImage, face: &Face, levels: Levels) -> Result<Quality> {
    let point = |name: &str| face.keypoints.iter().find(|k| k.name == name).map(|k| [k.x, k.y]);
    let missing = || Error::new(ErrorKind::InvalidInput, "quality needs the landmarker's eye and nose points");
    let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    let corners = |eye: &str| Some(mid(point(&format!("{eye}_eye_outer"))?, point(&format!("{eye}_eye_inner"))?));
    let (right, left) = (corners("right").ok_or_else(missing)?, corners("left").ok_or_else(missing)?);
    let iod = (left[0] - right[0]).hypot(left[1] - right[1]);
    let roll = (left[1] - right[1]).atan2(left[0] - right[0]).to_degrees();
    let (yaw, pitch) = pose(right, left, point("nose"), point("mouth"));

    let (from, to): (Vec<[f32; 2]>, Vec<[f32; 2]>) =
        TEMPLATE.iter().filter_map(|(name, at)| point(name).map(|p| (*at, p))).unzip();
    let crop = Similarity::fit(&from, &to)
        .and_then(|to_image| extract_chip(image, &to_image, CROP, CROP))
        .ok_or_else(|| Error::new(ErrorKind::NoFace, "the face lies outside the image"))?;
    let luma = luminance(&crop);
    let (mean, std) = mean_std(&luma, INNER);
    let sharpness = laplacian_std(&luma, INNER) / std.max(1.0);
    let (luminance_mean, luminance_contrast) = (levels.as_given(mean) / 255.0, std / levels.gain / 255.0);

    let skin = median_lab(&crop, &SKIN);
    let grey = crop.pixels().all(|p| (p.0[0] - p.0[1]).abs().max((p.0[1] - p.0[2]).abs()) < 2.0);
    let skin_colour = (!grey).then_some([skin[1], skin[2]]);
    // Covers are smooth: eyes in shadow and beards are dark or off-colour too, but keep
    // their texture (lashes, brows, hair), which dark lenses and masks lack.
    let skin_texture = SKIN.iter().map(|&r| laplacian_std(&luma, r)).sum::<f32>() / SKIN.len() as f32;
    let texture = |r: Region| laplacian_std(&luma, r) / skin_texture.max(0.5);
    let eyes_visible = EYES
        .iter()
        .map(|&r| EYES_VISIBLE.score(mean_lab(&crop, r)[0] / skin[0].max(1.0)).max(TEXTURE.score(texture(r))))
        .fold(1.0, f32::min);
    let mouth = mean_lab(&crop, MOUTH);
    let delta_e = (0..3).map(|i| (mouth[i] - skin[i]).powi(2)).sum::<f32>().sqrt();
    let mouth_visible = MOUTH_VISIBLE.score(delta_e).max(TEXTURE.score(texture(MOUTH)));
    let occlusion = 1.0 - (eyes_visible + mouth_visible) / 2.0;

    let colour_distance = skin_colour.map(|[a, b]| outside(a, 3.0, 30.0).hypot(outside(b, 3.0, 40.0))).unwrap_or(0.0);
    let components = [
        ("SMALL_FACE", IOD.score(iod), format!("face too small: {iod:.0} px between the eyes, {:.0} wanted", IOD.good)),
        ("BLURRED", SHARPNESS.score(sharpness), format!("blurred: sharpness {sharpness:.2}, {:.2} wanted", SHARPNESS.good)),
        ("TURNED_AWAY", YAW.score(yaw.abs()), format!("face turned {:.0}° sideways, at most {:.0}° wanted", yaw.abs(), YAW.good)),
        ("TILTED", PITCH.score(pitch.abs()), format!("face tilted {:.0}° {}, at most {:.0}° wanted", pitch.abs(), if pitch > 0.0 { "up" } else { "down" }, PITCH.good)),
        ("UNDEREXPOSED", DARK.score(luminance_mean), format!("face too dark: mean luminance {luminance_mean:.2}, {:.2} wanted", DARK.good)),
        ("OVEREXPOSED", BRIGHT.score(luminance_mean), format!("face too bright: mean luminance {luminance_mean:.2}, at most {:.2} wanted", BRIGHT.good)),
        ("LOW_CONTRAST", CONTRAST.score(luminance_contrast), format!("face too flat: contrast {luminance_contrast:.3}, {:.2} wanted", CONTRAST.good)),
        ("UNNATURAL_COLOUR", COLOUR.score(colour_distance), "skin colour outside human skin tones (a drawing, a mask, a colour cast?)".into()),
        ("EYES_COVERED", eyes_visible, "eyes covered (dark glasses, a hand?)".into()),
        ("MOUTH_COVERED", mouth_visible, "mouth covered (a mask, a hand?)".into()),
        ("UNCERTAIN_FACE", DETECTOR.score(face.score), format!("the detector is unsure it is a face: score {:.2}, {:.2} wanted", face.score, DETECTOR.good)),
    ];
    let score = components.iter().map(|c| c.1).product::<f32>();
    let mut reasons: Vec<QualityReason> =
        components.into_iter().filter(|c| c.1 < 1.0).map(|(code, score, message)| QualityReason { code: code.into(), message, score }).collect();
    reasons.sort_by(|a, b| a.score.total_cmp(&b.score));
    Ok(Quality {
        score,
        reasons,
        inter_ocular_distance: iod,
        sharpness,
        yaw,
        pitch,
        roll,
        luminance_mean,
        luminance_contrast,
        skin_colour,
        eyes_visible,
        mouth_visible,
        occlusion,
        detector_score: face.score,
    })
}

/// How far `v` lies outside `[lo, hi]`.
fn outside(v: f32, lo: f32, hi: f32) -> f32 {
    (lo - v).max(v - hi).max(0.0)
}

/// Yaw and pitch (degrees) from the eye centres and the detector's nose tip and mouth,
/// by a rigid head whose nose tip stands 0.6 inter-ocular distances in front of the plane of
/// eyes and mouth (anthropometric means): the tip's sideways offset is 0.6·tan(yaw) of the
/// eye distance; its height between eyes and mouth moves from its frontal share (0.541,
/// BlazeFace's keypoints in dlib's face boxes) by 0.6·IOD/(eye–mouth distance)·tan(pitch).
/// `(0, 0)` when the detector gave no nose or mouth.
fn pose(right: [f32; 2], left: [f32; 2], nose: Option<[f32; 2]>, mouth: Option<[f32; 2]>) -> (f32, f32) {
    const DEPTH: f32 = 0.6;
    const NOSE_SHARE: f32 = 0.541;
    let (Some(nose), Some(mouth)) = (nose, mouth) else { return (0.0, 0.0) };
    let eyes = [(right[0] + left[0]) / 2.0, (right[1] + left[1]) / 2.0];
    let (dx, dy) = (left[0] - right[0], left[1] - right[1]);
    let iod = dx.hypot(dy);
    if iod <= 0.0 {
        return (0.0, 0.0);
    }
    // Coordinates along the eye line (u) and down the face (v), in eye distances.
    let (ux, uy) = (dx / iod, dy / iod);
    let local = |p: [f32; 2]| {
        let (x, y) = (p[0] - eyes[0], p[1] - eyes[1]);
        ((x * ux + y * uy) / iod, (-x * uy + y * ux) / iod)
    };
    let (nose_u, nose_v) = local(nose);
    let (_, mouth_v) = local(mouth);
    let yaw = (nose_u / DEPTH).atan().to_degrees();
    let pitch = if mouth_v > 0.0 { ((NOSE_SHARE - nose_v / mouth_v) * mouth_v / DEPTH).atan().to_degrees() } else { 0.0 };
    (yaw, pitch)
}

/// Rec. 601 luma of each pixel, 0–255, row-major.
fn luminance(crop: &Rgb32FImage) -> Vec<f32> {
    crop.pixels().map(|p| 0.299 * p.0[0] + 0.587 * p.0[1] + 0.114 * p.0[2]).collect()
}

fn region_indices(r: Region) -> impl Iterator<Item = usize> {
    (r[1]..r[3]).flat_map(move |y| (r[0]..r[2]).map(move |x| (y * CROP + x) as usize))
}

fn mean_std(values: &[f32], r: Region) -> (f32, f32) {
    let n = ((r[2] - r[0]) * (r[3] - r[1])) as f32;
    let mean = region_indices(r).map(|i| values[i]).sum::<f32>() / n;
    let var = region_indices(r).map(|i| (values[i] - mean).powi(2)).sum::<f32>() / n;
    (mean, var.sqrt())
}

/// Standard deviation of the 4-neighbour Laplacian over region `r` (inside the crop).
fn laplacian_std(luma: &[f32], r: Region) -> f32 {
    let w = CROP as usize;
    let lap: Vec<f32> = region_indices(r).map(|i| 4.0 * luma[i] - luma[i - 1] - luma[i + 1] - luma[i - w] - luma[i + w]).collect();
    let n = lap.len() as f32;
    let mean = lap.iter().sum::<f32>() / n;
    (lap.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt()
}

/// An sRGB sample (0–255) in linear light, 0–1.
fn srgb_to_linear(c: f32) -> f32 {
    let c = (c / 255.0).clamp(0.0, 1.0);
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// Steps per sRGB level of [`linear`]'s table.
const LINEAR_STEPS_PER_LEVEL: usize = 16;

/// [`srgb_to_linear`] from a table at 1/16 of a level, interpolated: within 1e-6 of it (a
/// test holds it there), and `powf` per sample was a third of `assess`, which runs on every
/// camera frame. The samples are the chip's interpolated f32s, so no table of the 256 levels
/// alone would do.
fn linear(c: f32) -> f32 {
    const STEPS: usize = 255 * LINEAR_STEPS_PER_LEVEL;
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| (0..=STEPS).map(|i| srgb_to_linear(i as f32 / LINEAR_STEPS_PER_LEVEL as f32)).collect());
    let x = c.clamp(0.0, 255.0) * LINEAR_STEPS_PER_LEVEL as f32;
    let i = (x as usize).min(STEPS - 1);
    table[i] + (table[i + 1] - table[i]) * (x - i as f32)
}

/// CIELAB (D65) of one sRGB pixel (samples 0–255).
fn lab(rgb: [f32; 3]) -> [f32; 3] {
    let f = |t: f32| if t > 0.008856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
    let [r, g, b] = rgb.map(linear);
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIELAB of the pixels of region `r` of the crop, row-major: only the regions the
/// measures read are converted (a sixth of the crop), as faces are assessed on every frame.
fn region_lab(crop: &Rgb32FImage, r: Region) -> Vec<[f32; 3]> {
    let samples = crop.as_raw();
    region_indices(r).map(|i| lab([samples[3 * i], samples[3 * i + 1], samples[3 * i + 2]])).collect()
}

fn mean_lab(crop: &Rgb32FImage, r: Region) -> [f32; 3] {
    let pixels = region_lab(crop, r);
    let mut sum = [0.0f32; 3];
    for p in &pixels {
        for c in 0..3 {
            sum[c] += p[c];
        }
    }
    sum.map(|s| s / pixels.len() as f32)
}

/// Per-channel median over `regions`: robust to part of them being covered.
fn median_lab(crop: &Rgb32FImage, regions: &[Region]) -> [f32; 3] {
    let pixels: Vec<[f32; 3]> = regions.iter().flat_map(|&r| region_lab(crop, r)).collect();
    let mut out = [0.0; 3];
    for (c, value) in out.iter_mut().enumerate() {
        let mut values: Vec<f32> = pixels.iter().map(|p| p[c]).collect();
        let middle = values.len() / 2;
        *value = *values.select_nth_unstable_by(middle, f32::total_cmp).1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_clamp_and_reject_nan() {
        assert_eq!(IOD.score(5.0), 0.0);
        assert_eq!(IOD.score(25.0), 0.5);
        assert_eq!(IOD.score(80.0), 1.0);
        assert_eq!(YAW.score(45.0), 0.5, "ramps may fall");
        assert_eq!(IOD.score(f32::NAN), 0.0);
    }

    #[test]
    fn pose_of_a_frontal_face_is_level_and_turns_have_signs() {
        let (right, left) = ([40.0, 50.0], [80.0, 50.0]);
        let mouth = Some([60.0, 90.0]);
        let (yaw, pitch) = pose(right, left, Some([60.0, 50.0 + 0.541 * 40.0]), mouth);
        assert!(yaw.abs() < 1e-3 && pitch.abs() < 1e-3, "{yaw} {pitch}");
        let (yaw, _) = pose(right, left, Some([60.0 + 0.6 * 40.0, 71.6]), mouth);
        assert!((yaw - 45.0).abs() < 1e-3, "nose 0.6 IOD to the image's right: 45°, got {yaw}");
        let (_, pitch) = pose(right, left, Some([60.0, 60.0]), mouth);
        assert!(pitch > 20.0, "nose tip high between eyes and mouth: face tilted up, got {pitch}");
    }

    #[test]
    fn tabulated_linear_light_is_the_srgb_curve() {
        for i in 0..=255 * 100 {
            let c = i as f32 / 100.0;
            assert!((linear(c) - srgb_to_linear(c)).abs() < 1e-6, "{c}: {} against {}", linear(c), srgb_to_linear(c));
        }
        assert_eq!((linear(-3.0), linear(300.0)), (0.0, 1.0));
    }

    #[test]
    fn lab_of_white_and_black() {
        let white = lab([255.0; 3]);
        assert!((white[0] - 100.0).abs() < 0.1 && white[1].abs() < 0.1 && white[2].abs() < 0.1, "{white:?}");
        assert!(lab([0.0; 3])[0].abs() < 0.1);
    }
}
