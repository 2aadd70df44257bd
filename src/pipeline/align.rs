//! Align: a detected face → the recognition model's input crop.
//!
//! Every method is a similarity transform (rotation, uniform scale, translation) from image
//! to crop, and the image is warped through it with bilinear sampling; the methods differ in
//! how the transform is chosen ([`AlignMethod`]). The template method fits the keypoints
//! named in the model's template by least squares (Umeyama's method, no reflection).
//! Coordinates are pixels; the crop has the model's input size.
//!
//! The crop keeps f32 samples: rounding it to u8 would let a keypoint shift of 1e-5 px
//! (float summation order differs between native and wasm kernels) flip pixel values by a
//! whole level, and the embedding with them. Only the face's region is converted to f32.

use image::{imageops, Rgb, Rgb32FImage, RgbImage};
use imageproc::geometric_transformations::{warp_into, Border, Interpolation, Projection};
use nalgebra::{Matrix2, Vector2};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::detect::Face;
use crate::registry::{AlignMethod, ModelSpec};

/// A 2-D similarity transform `p ↦ s·R·p + t`, as the top two rows of a 3×3 matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity(pub [f32; 6]);

impl Similarity {
    /// Least-squares fit mapping each `from[i]` onto `to[i]`; needs two distinct points.
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        if from.len() != to.len() || from.len() < 2 {
            return None;
        }
        let n = from.len() as f64;
        let v = |p: &[f32; 2]| Vector2::new(p[0] as f64, p[1] as f64);
        let mean_from = from.iter().map(v).sum::<Vector2<f64>>() / n;
        let mean_to = to.iter().map(v).sum::<Vector2<f64>>() / n;
        let mut covariance = Matrix2::zeros();
        let mut spread = 0.0;
        for (f, t) in from.iter().zip(to) {
            let (df, dt) = (v(f) - mean_from, v(t) - mean_to);
            covariance += dt * df.transpose();
            spread += df.norm_squared();
        }
        if spread < 1e-9 {
            return None;
        }
        let svd = covariance.svd(true, true);
        let (u, v_t) = (svd.u?, svd.v_t?);
        let flip = if u.determinant() * v_t.determinant() < 0.0 { -1.0 } else { 1.0 };
        let d = Matrix2::new(1.0, 0.0, 0.0, flip);
        let rotation = u * d * v_t;
        let scale = (svd.singular_values[0] + flip * svd.singular_values[1]) / spread;
        let translation = mean_to - scale * rotation * mean_from;
        let m = scale * rotation;
        let values = [m[(0, 0)], m[(0, 1)], translation.x, m[(1, 0)], m[(1, 1)], translation.y];
        values.iter().all(|x| x.is_finite()).then(|| Similarity(values.map(|x| x as f32)))
    }

    /// Where `p` goes.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let m = &self.0;
        [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]]
    }

    /// The inverse transform, if the matrix is not singular.
    pub fn inverse(&self) -> Option<Similarity> {
        let [a, b, c, d, e, f] = self.0;
        let det = a * e - b * d;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Some(Similarity([ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)]))
    }
}

/// Warp `face` out of `image` into the crop the embedder `spec` expects, by `method`.
pub fn align(image: &RgbImage, face: &Face, spec: &ModelSpec, method: AlignMethod) -> Result<Rgb32FImage> {
    let (width, height) = (spec.input.width, spec.input.height);
    let crop_size = [width as f32, height as f32];
    let transform = match method {
        AlignMethod::Similarity => template_fit(face, spec)?,
        AlignMethod::EyeRotation => box_transform(face, eye_angle(face)?, crop_size),
        AlignMethod::Box => box_transform(face, 0.0, crop_size),
    }
    .ok_or_else(|| Error::new(ErrorKind::NoFace, "degenerate face box or keypoints"))?;
    let (region, origin) = face_region(image, &transform, width, height)
        .ok_or_else(|| Error::new(ErrorKind::NoFace, "the face lies outside the image"))?;
    // The transform moves with the region's origin: p_region = p_image - origin.
    let m = transform.0;
    let (tx, ty) = (m[2] + m[0] * origin.0 + m[1] * origin.1, m[5] + m[3] * origin.0 + m[4] * origin.1);
    let projection = Projection::from_matrix([m[0], m[1], tx, m[3], m[4], ty, 0.0, 0.0, 1.0])
        .ok_or_else(|| Error::new(ErrorKind::NoFace, "degenerate face keypoints"))?;
    let mut crop = Rgb32FImage::new(width, height);
    warp_into(&region, projection, Interpolation::Bilinear, Border::Constant(Rgb([0.0; 3])), &mut crop);
    Ok(crop)
}

/// The similarity that puts the keypoints named in `spec`'s template onto their targets.
fn template_fit(face: &Face, spec: &ModelSpec) -> Result<Option<Similarity>> {
    let template = &spec
        .alignment
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" has no alignment template", spec.id)))?
        .template;
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (name, target) in template {
        if let Some(point) = face.keypoints.iter().find(|k| &k.name == name) {
            from.push([point.x, point.y]);
            to.push(*target);
        }
    }
    if from.len() < 2 {
        return Err(Error::new(
            ErrorKind::NoFace,
            format!("the face's keypoints cannot be aligned to \"{}\" (matched {} of {})", spec.id, from.len(), template.len()),
        ));
    }
    Ok(Similarity::fit(&from, &to))
}

/// The angle (radians, image y down) of the line from the right eye to the left eye.
fn eye_angle(face: &Face) -> Result<f32> {
    let eye = |name: &str| face.keypoints.iter().find(|k| k.name == name);
    match (eye("right_eye"), eye("left_eye")) {
        (Some(r), Some(l)) => Ok((l.y - r.y).atan2(l.x - r.x)),
        _ => Err(Error::new(ErrorKind::NoFace, "the detector gave no eye keypoints to level")),
    }
}

/// Rotate by `-angle` about the box centre, then map the box, squared to its longer side,
/// onto the crop.
fn box_transform(face: &Face, angle: f32, crop_size: [f32; 2]) -> Option<Similarity> {
    let b = &face.bbox;
    let side = b.width.max(b.height);
    if !(side > 0.0 && side.is_finite()) {
        return None;
    }
    let scale = crop_size[0].min(crop_size[1]) / side;
    let (sin, cos) = angle.sin_cos();
    let (a, c) = (scale * cos, scale * sin);
    let (cx, cy) = (b.x + b.width / 2.0, b.y + b.height / 2.0);
    // p ↦ scale·R(−angle)·(p − centre) + crop centre
    let m = [a, c, 0.0, -c, a, 0.0];
    let tx = crop_size[0] / 2.0 - (m[0] * cx + m[1] * cy);
    let ty = crop_size[1] / 2.0 - (m[3] * cx + m[4] * cy);
    Some(Similarity([m[0], m[1], tx, m[3], m[4], ty]))
}

/// The part of `image` that the crop samples from (plus a pixel for interpolation), as
/// f32 samples in 0–255, and its top-left corner in the image.
fn face_region(image: &RgbImage, to_crop: &Similarity, width: u32, height: u32) -> Option<(Rgb32FImage, (f32, f32))> {
    let to_image = to_crop.inverse()?;
    let corners = [[0.0, 0.0], [width as f32, 0.0], [0.0, height as f32], [width as f32, height as f32]];
    let points = corners.map(|c| to_image.apply(c));
    let clamp_x = |v: f32| (v.max(0.0) as u32).min(image.width());
    let clamp_y = |v: f32| (v.max(0.0) as u32).min(image.height());
    let x0 = clamp_x(points.iter().map(|p| p[0]).fold(f32::INFINITY, f32::min).floor() - 1.0);
    let y0 = clamp_y(points.iter().map(|p| p[1]).fold(f32::INFINITY, f32::min).floor() - 1.0);
    let x1 = clamp_x(points.iter().map(|p| p[0]).fold(f32::NEG_INFINITY, f32::max).ceil() + 2.0);
    let y1 = clamp_y(points.iter().map(|p| p[1]).fold(f32::NEG_INFINITY, f32::max).ceil() + 2.0);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let region = imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image();
    let samples = region.as_raw().iter().map(|&v| v as f32).collect();
    Some((Rgb32FImage::from_raw(x1 - x0, y1 - y0, samples)?, (x0 as f32, y0 as f32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity() {
        let (s, angle, t) = (1.7f32, 0.4f32, [12.0f32, -3.0f32]);
        let truth = Similarity([
            s * angle.cos(), -s * angle.sin(), t[0],
            s * angle.sin(), s * angle.cos(), t[1],
        ]);
        let from = [[10.0, 10.0], [40.0, 12.0], [25.0, 30.0], [24.0, 45.0]];
        let to: Vec<[f32; 2]> = from.iter().map(|&p| truth.apply(p)).collect();
        let fitted = Similarity::fit(&from, &to).unwrap();
        for (a, b) in fitted.0.iter().zip(truth.0.iter()) {
            assert!((a - b).abs() < 1e-4, "{fitted:?} vs {truth:?}");
        }
    }

    #[test]
    fn never_reflects() {
        // Mirror-image targets: the best similarity cannot flip, so it must not map exactly.
        let from = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let to = [[0.0, 0.0], [-10.0, 0.0], [0.0, 10.0]];
        let m = Similarity::fit(&from, &to).unwrap().0;
        let det = m[0] * m[4] - m[1] * m[3];
        assert!(det >= 0.0);
    }

    #[test]
    fn inverse_undoes_the_transform() {
        let t = Similarity([1.2, -0.3, 5.0, 0.3, 1.2, -7.0]);
        let p = t.inverse().unwrap().apply(t.apply([13.0, 42.0]));
        assert!((p[0] - 13.0).abs() < 1e-4 && (p[1] - 42.0).abs() < 1e-4, "{p:?}");
    }

    fn face(bbox: [f32; 4], right_eye: [f32; 2], left_eye: [f32; 2]) -> Face {
        use crate::pipeline::detect::{BoundingBox, Keypoint};
        let point = |name: &str, p: [f32; 2]| Keypoint { name: name.into(), x: p[0], y: p[1] };
        Face {
            bbox: BoundingBox { x: bbox[0], y: bbox[1], width: bbox[2], height: bbox[3] },
            score: 1.0,
            keypoints: vec![point("right_eye", right_eye), point("left_eye", left_eye)],
        }
    }

    #[test]
    fn box_maps_the_squared_box_onto_the_crop() {
        let face = face([100.0, 50.0, 40.0, 60.0], [110.0, 70.0], [130.0, 70.0]);
        let t = box_transform(&face, 0.0, [120.0, 120.0]).unwrap();
        // 60 px side (the longer one) → 120 px: the box centre lands mid-crop, scale 2.
        let centre = t.apply([120.0, 80.0]);
        assert!((centre[0] - 60.0).abs() < 1e-4 && (centre[1] - 60.0).abs() < 1e-4, "{centre:?}");
        let top = t.apply([120.0, 50.0]);
        assert!((top[1] - 0.0).abs() < 1e-4, "{top:?}");
    }

    #[test]
    fn eye_rotation_levels_the_eyes() {
        let face = face([100.0, 50.0, 40.0, 40.0], [110.0, 65.0], [130.0, 75.0]);
        let t = box_transform(&face, eye_angle(&face).unwrap(), [100.0, 100.0]).unwrap();
        let (r, l) = (t.apply([110.0, 65.0]), t.apply([130.0, 75.0]));
        assert!((r[1] - l[1]).abs() < 1e-3 && l[0] > r[0], "{r:?} {l:?}");
    }

    #[test]
    fn degenerate_points_fail() {
        assert!(Similarity::fit(&[[1.0, 1.0], [1.0, 1.0]], &[[0.0, 0.0], [5.0, 5.0]]).is_none());
        assert!(Similarity::fit(&[[1.0, 1.0]], &[[0.0, 0.0]]).is_none());
    }
}
