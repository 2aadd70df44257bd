//! Align: a detected face → the recognition model's input crop.
//!
//! Every method is a similarity transform (rotation, uniform scale, translation) between
//! crop and image; the methods differ in how it is chosen ([`AlignMethod`]). The template
//! method fits the model's template points onto the face's keypoints of the same names by
//! least squares (Umeyama's method, no reflection). The crop is cut as dlib cuts its face
//! chips (`extract_chip`): from a Gaussian pyramid level near the crop's scale, bilinearly.
//! Coordinates are pixels; the crop has the model's input size.
//!
//! The crop keeps f32 samples: rounding it to u8 would let a keypoint shift of 1e-5 px
//! (float summation order differs between native and wasm kernels) flip pixel values by a
//! whole level, and the embedding with them.

use image::{Rgb32FImage, RgbImage};
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
    let input = spec.input()?;
    let (width, height) = (input.width, input.height);
    let crop_size = [width as f32, height as f32];
    let to_image = match method {
        AlignMethod::Similarity => template_fit(face, spec)?,
        AlignMethod::EyeRotation => box_transform(face, eye_angle(face)?, crop_size).and_then(|t| t.inverse()),
        AlignMethod::Box => box_transform(face, 0.0, crop_size).and_then(|t| t.inverse()),
    }
    .ok_or_else(|| Error::new(ErrorKind::NoFace, "degenerate face box or keypoints"))?;
    extract_chip(image, &to_image, width, height)
        .ok_or_else(|| Error::new(ErrorKind::NoFace, "the face lies outside the image"))
}

/// The similarity from the crop onto the image that puts the template's points onto the
/// face's keypoints of the same names (fitted in that direction, as dlib's
/// `get_face_chip_details` does: least squares is not symmetric).
fn template_fit(face: &Face, spec: &ModelSpec) -> Result<Option<Similarity>> {
    let template = &spec
        .alignment
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" has no alignment template", spec.id)))?
        .template;
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (name, target) in template {
        if let Some(point) = face.keypoints.iter().find(|k| &k.name == name) {
            from.push(*target);
            to.push([point.x, point.y]);
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

/// A rectangle with real corners, inclusive as dlib's `drectangle`: width = right − left + 1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

impl Rect {
    fn area(&self) -> f64 {
        if self.left > self.right || self.top > self.bottom {
            return 0.0;
        }
        (self.right - self.left + 1.0) * (self.bottom - self.top + 1.0)
    }

    fn centre(&self) -> [f64; 2] {
        [(self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0]
    }

    /// The same rectangle one level down a [`pyramid_down`] image.
    fn down(&self) -> Rect {
        Rect { left: self.left / 2.0 - 1.25, top: self.top / 2.0 - 0.75, right: self.right / 2.0 - 1.25, bottom: self.bottom / 2.0 - 0.75 }
    }

    /// Its corners turned by `angle` about its centre: top-left, top-right, bottom-left,
    /// bottom-right.
    fn turned_corners(&self, angle: f64) -> [[f64; 2]; 4] {
        let c = self.centre();
        let (sin, cos) = angle.sin_cos();
        [[self.left, self.top], [self.right, self.top], [self.left, self.bottom], [self.right, self.bottom]]
            .map(|[x, y]| [cos * (x - c[0]) - sin * (y - c[1]) + c[0], sin * (x - c[0]) + cos * (y - c[1]) + c[1]])
    }
}

/// dlib's `extract_image_chip`: the crop of `width`×`height` that `to_image` maps into
/// the image, sampled bilinearly from the level of a 2:1 Gaussian pyramid where the crop
/// is not smaller than the face (so a large face is low-passed, not aliased), 0 outside the
/// image. dlib's ResNet was trained on exactly these chips; sampling the full-size photo
/// instead moved embeddings 0.06 from dlib's own on average (0.22 at worst). Samples stay
/// f32 (dlib truncates to u8; that moves embeddings by 0.004).
pub fn extract_chip(image: &RgbImage, to_image: &Similarity, width: u32, height: u32) -> Option<Rgb32FImage> {
    let m = to_image.0.map(f64::from);
    let (angle, scale) = (m[3].atan2(m[0]), m[0].hypot(m[3]));
    let (cols, rows) = (width as f64, height as f64);
    let centre = [m[0] * cols / 2.0 + m[1] * rows / 2.0 + m[2], m[3] * cols / 2.0 + m[4] * rows / 2.0 + m[5]];
    let (half_w, half_h) = ((cols * scale - 1.0) / 2.0, (rows * scale - 1.0) / 2.0);
    let rect = Rect { left: centre[0] - half_w, top: centre[1] - half_h, right: centre[0] + half_w, bottom: centre[1] + half_h };
    if !(rect.area() > 0.0 && rect.area().is_finite()) {
        return None;
    }
    let size = cols * rows;
    let (mut depth, mut grow, mut r) = (0, 2.0, rect.down());
    while r.area() > size {
        r = r.down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }
    // The image region the crop reads, grown for the pyramid's filter.
    let corners = rect.turned_corners(angle);
    let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f64::INFINITY, f64::min) - grow;
    let hi = |i: usize| corners.iter().map(|c| c[i]).fold(f64::NEG_INFINITY, f64::max) + grow;
    let (left, top) = (lo(0).max(0.0).round(), lo(1).max(0.0).round());
    let (right, bottom) = (hi(0).min(image.width() as f64 - 1.0).round(), hi(1).min(image.height() as f64 - 1.0).round());
    if right < left || bottom < top {
        return None;
    }
    let region = image::imageops::crop_imm(image, left as u32, top as u32, (right - left + 1.0) as u32, (bottom - top + 1.0) as u32).to_image();
    let mut source = region;
    let mut r = Rect { left: rect.left - left, top: rect.top - top, right: rect.right - left, bottom: rect.bottom - top };
    for _ in 0..depth {
        if r.down().area() <= size {
            break;
        }
        source = pyramid_down(&source);
        r = r.down();
    }
    // Crop corners (0, 0), (cols − 1, 0), (0, rows − 1) onto the turned rectangle's.
    let [tl, tr, bl, _] = r.turned_corners(angle);
    let (dx, dy) = (cols - 1.0, rows - 1.0);
    let (ax, ay) = ([(tr[0] - tl[0]) / dx, (bl[0] - tl[0]) / dy], [(tr[1] - tl[1]) / dx, (bl[1] - tl[1]) / dy]);
    let mut crop = Rgb32FImage::new(width, height);
    for (x, y, pixel) in crop.enumerate_pixels_mut() {
        let (x, y) = (x as f64, y as f64);
        let p = [tl[0] + ax[0] * x + ax[1] * y, tl[1] + ay[0] * x + ay[1] * y];
        pixel.0 = bilinear(&source, p);
    }
    Some(crop)
}

/// dlib's bilinear sample at `p`: black unless all four neighbours are inside.
fn bilinear(image: &RgbImage, p: [f64; 2]) -> [f32; 3] {
    let (left, top) = (p[0].floor(), p[1].floor());
    if !(left >= 0.0 && top >= 0.0 && left + 1.0 < image.width() as f64 && top + 1.0 < image.height() as f64) {
        return [0.0; 3];
    }
    let (fx, fy) = (p[0] - left, p[1] - top);
    let (l, t) = (left as u32, top as u32);
    let at = |x: u32, y: u32, c: usize| image.get_pixel(x, y).0[c] as f64;
    [0, 1, 2].map(|c| {
        let upper = (1.0 - fx) * at(l, t, c) + fx * at(l + 1, t, c);
        let lower = (1.0 - fx) * at(l, t + 1, c) + fx * at(l + 1, t + 1, c);
        ((1.0 - fy) * upper + fy * lower) as f32
    })
}

/// dlib's `pyramid_down<2>` on RGB: a separable [1 4 6 4 1] filter, every other row and
/// column, integer arithmetic; output pixel (x, y) is centred on input (2x + 2, 2y + 2).
/// Images of 8 pixels or fewer a side have no level below (an empty image).
fn pyramid_down(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w <= 8 || h <= 8 {
        return RgbImage::new(0, 0);
    }
    let (out_w, out_h) = ((w - 3) / 2, (h - 3) / 2);
    let src = image.as_raw();
    // Rows filtered horizontally, every other column.
    let mut rows = vec![0u32; h * out_w * 3];
    for y in 0..h {
        for x in 0..out_w {
            for c in 0..3 {
                let at = |dx: usize| src[(y * w + 2 * x + dx) * 3 + c] as u32;
                rows[(y * out_w + x) * 3 + c] = at(0) + 4 * at(1) + 6 * at(2) + 4 * at(3) + at(4);
            }
        }
    }
    let mut out = RgbImage::new(out_w as u32, out_h as u32);
    let dst: &mut [u8] = &mut out;
    for oy in 0..out_h {
        let y = 2 + 2 * oy;
        for x in 0..out_w {
            for c in 0..3 {
                let at = |row: usize| rows[(row * out_w + x) * 3 + c];
                let v = at(y - 2) + 4 * at(y - 1) + 6 * at(y) + 4 * at(y + 1) + at(y + 2);
                dst[(oy * out_w + x) * 3 + c] = (v / 256) as u8;
            }
        }
    }
    out
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
            cut: false,
            quality: None,
            attributes: None,
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
