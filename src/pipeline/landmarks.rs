//! Landmarks: a detected face → precise named points, by dlib's shape predictor.
//!
//! The detector's keypoints are a few pixels off on a 200-pixel face, and a recognition
//! model trained on chips cut at dlib's landmarks is sensitive to exactly that. dlib's
//! predictor (Kazemi & Sullivan's ensemble of regression trees) starts from its mean shape
//! placed in a face box and refines it in cascade levels: each level reads grey levels at
//! fixed offsets around the current points and adds the leaves its trees fall into.
//!
//! The face box is the one dlib's own detector would draw, placed from the detector's
//! keypoints by a similarity fit (the manifest's `face_box` template), so a face turned in
//! the image plane gets a turned box and the trees see it upright. The file format is
//! written by `models/convert_dlib_shape_predictor.py`. Coordinates are image pixels; grey
//! level is dlib's `(r + g + b) / 3`, integer.

use image::RgbImage;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::align::Similarity;
use crate::pipeline::detect::{Face, Keypoint};
use crate::registry::{LandmarkSpec, ModelSpec};

/// A loaded shape predictor and its manifest entry.
pub struct Landmarker {
    spec: ModelSpec,
    landmarks: LandmarkSpec,
    initial: Vec<[f32; 2]>,
    levels: Vec<Level>,
    depth: u32,
}

/// One cascade level.
struct Level {
    /// Per feature pixel: the landmark it is anchored to, and its offset in the initial
    /// shape's frame.
    anchors: Vec<u16>,
    offsets: Vec<[f32; 2]>,
    /// Splits of every tree, tree after tree: feature a, feature b, integer threshold.
    splits: Vec<(u16, u16, i16)>,
    /// Leaves of every tree: 2 × points values each, times `leaf_scale`.
    leaves: Vec<i16>,
    leaf_scale: f32,
}

/// Reads little-endian values from the model file, refusing truncation.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        if self.bytes.len() < N {
            return Err(Error::new(ErrorKind::ModelInvalid, "shape predictor file is truncated"));
        }
        let (head, rest) = self.bytes.split_at(N);
        self.bytes = rest;
        Ok(head.try_into().unwrap_or([0; N]))
    }
    fn u16(&mut self) -> Result<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn i16(&mut self) -> Result<i16> {
        self.take().map(i16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn f32(&mut self) -> Result<f32> {
        let v = f32::from_le_bytes(self.take()?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::new(ErrorKind::ModelInvalid, "shape predictor holds a non-finite number"))
        }
    }
}

impl Landmarker {
    /// Load a shape predictor file as `spec` describes it; the sha256 must match the
    /// manifest's (checked by [`crate::pipeline::network::check_sha256`]).
    pub fn load(spec: &ModelSpec, bytes: &[u8]) -> Result<Landmarker> {
        crate::pipeline::network::check_sha256(spec, bytes)?;
        let landmarks = spec.landmarks.clone().ok_or_else(|| {
            Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" is not a landmarker", spec.id))
        })?;
        let invalid = |msg: &str| Error::new(ErrorKind::ModelInvalid, format!("model \"{}\": {msg}", spec.id));
        let mut c = Cursor { bytes };
        if &c.take::<4>()? != b"FVSP" || c.u32()? != 1 {
            return Err(invalid("not a faceverify shape predictor file (version 1)"));
        }
        let [points, n_levels, trees, depth, features] =
            [c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?].map(|v| v as usize);
        if points != landmarks.points.len() || !(1..=16).contains(&depth) || points == 0 || features == 0 {
            return Err(invalid("layout does not match the manifest"));
        }
        // Every count is checked against what is left, so a lying header cannot make us allocate.
        let (n_splits, n_leaves) = ((1usize << depth) - 1, 1usize << depth);
        let level_bytes = features * 10 + 4 + trees * (n_splits * 6 + n_leaves * points * 4);
        if n_levels.checked_mul(level_bytes).is_none_or(|total| total + points * 8 != c.bytes.len()) {
            return Err(invalid("file size does not match its header"));
        }
        let initial = (0..points).map(|_| Ok([c.f32()?, c.f32()?])).collect::<Result<_>>()?;
        let mut levels = Vec::with_capacity(n_levels);
        for _ in 0..n_levels {
            let anchors: Vec<u16> = (0..features).map(|_| c.u16()).collect::<Result<_>>()?;
            if anchors.iter().any(|&a| a as usize >= points) {
                return Err(invalid("a feature pixel is anchored to a missing point"));
            }
            let offsets = (0..features).map(|_| Ok([c.f32()?, c.f32()?])).collect::<Result<_>>()?;
            let leaf_scale = c.f32()?;
            let mut splits = Vec::with_capacity(trees * n_splits);
            let mut leaves = Vec::with_capacity(trees * n_leaves * points * 2);
            for _ in 0..trees {
                for _ in 0..n_splits {
                    let split = (c.u16()?, c.u16()?, c.i16()?);
                    if split.0 as usize >= features || split.1 as usize >= features {
                        return Err(invalid("a split reads a missing feature pixel"));
                    }
                    splits.push(split);
                }
                for _ in 0..n_leaves * points * 2 {
                    leaves.push(c.i16()?);
                }
            }
            levels.push(Level { anchors, offsets, splits, leaves, leaf_scale });
        }
        Ok(Landmarker { spec: spec.clone(), landmarks, initial, levels, depth: depth as u32 })
    }

    /// The manifest entry.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// `face` with the predictor's points added to its keypoints (image pixels). The start
    /// box comes from the detector's keypoints; a face without them is an error.
    pub fn refine(&self, image: &RgbImage, face: &Face) -> Result<Face> {
        let frame = self.face_box(face)?;
        let points = self.predict(image, &frame);
        let mut refined = face.clone();
        refined.keypoints.retain(|k| !self.landmarks.points.contains(&k.name));
        for (name, p) in self.landmarks.points.iter().zip(points) {
            let p = if self.landmarks.round { p.map(|v| (v + 0.5).floor()) } else { p };
            refined.keypoints.push(Keypoint { name: name.clone(), x: p[0], y: p[1] });
        }
        Ok(refined)
    }

    /// The unit square of the predictor's face box → image pixels, fitted from the
    /// detector's keypoints onto the manifest's template.
    fn face_box(&self, face: &Face) -> Result<Similarity> {
        let (mut from, mut to) = (Vec::new(), Vec::new());
        for (name, target) in &self.landmarks.face_box.template {
            if let Some(k) = face.keypoints.iter().find(|k| &k.name == name) {
                from.push(*target);
                to.push([k.x, k.y]);
            }
        }
        Similarity::fit(&from, &to).ok_or_else(|| {
            Error::new(ErrorKind::NoFace, format!("the face's keypoints cannot place \"{}\"'s face box", self.spec.id))
        })
    }

    /// dlib's `shape_predictor::operator()`, with its face box given as the unit square's
    /// image: each level maps the feature offsets through the similarity from the initial
    /// shape to the current one, samples the nearest pixel (0 outside the image), and adds
    /// one leaf per tree.
    fn predict(&self, image: &RgbImage, frame: &Similarity) -> Vec<[f32; 2]> {
        let mut shape = self.initial.clone();
        let (n_splits, n_leaves) = ((1usize << self.depth) - 1, 1usize << self.depth);
        let values_per_leaf = shape.len() * 2;
        let mut features = Vec::new();
        for level in &self.levels {
            let m = shape_transform(&self.initial, &shape);
            features.clear();
            features.extend(level.anchors.iter().zip(&level.offsets).map(|(&anchor, d)| {
                let s = shape[anchor as usize];
                let p = [m[0] * d[0] + m[1] * d[1] + s[0], m[2] * d[0] + m[3] * d[1] + s[1]];
                grey_at(image, frame.apply(p))
            }));
            for (tree, splits) in level.splits.chunks_exact(n_splits).enumerate() {
                let mut node = 0;
                while node < n_splits {
                    let (a, b, threshold) = splits[node];
                    node = if features[a as usize] - features[b as usize] > threshold as i32 { 2 * node + 1 } else { 2 * node + 2 };
                }
                let start = (tree * n_leaves + node - n_splits) * values_per_leaf;
                for (k, v) in level.leaves[start..start + values_per_leaf].iter().enumerate() {
                    shape[k / 2][k % 2] += *v as f32 * level.leaf_scale;
                }
            }
        }
        shape.iter().map(|&p| frame.apply(p)).collect()
    }
}

/// dlib's grey level of the pixel nearest `p` (rounding halves up), 0 outside the image.
fn grey_at(image: &RgbImage, p: [f32; 2]) -> i32 {
    let (x, y) = ((p[0] + 0.5).floor(), (p[1] + 0.5).floor());
    if x < 0.0 || y < 0.0 || x >= image.width() as f32 || y >= image.height() as f32 {
        return 0;
    }
    let [r, g, b] = image.get_pixel(x as u32, y as u32).0;
    (r as i32 + g as i32 + b as i32) / 3
}

/// The 2×2 part (row-major) of the least-squares similarity from `from` to `to`, as dlib's
/// `find_tform_between_shapes` computes it (Umeyama), in f64 then rounded to f32.
fn shape_transform(from: &[[f32; 2]], to: &[[f32; 2]]) -> [f32; 4] {
    match Similarity::fit(from, to) {
        Some(Similarity(m)) => [m[0], m[1], m[3], m[4]],
        None => [1.0, 0.0, 0.0, 1.0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_level_is_dlibs_integer_mean() {
        let image = RgbImage::from_raw(2, 1, vec![10, 20, 31, 255, 255, 254]).unwrap();
        assert_eq!(grey_at(&image, [0.4, 0.0]), 20);
        assert_eq!(grey_at(&image, [0.5, 0.0]), 254, "halves round up, as dlib's point conversion");
        assert_eq!(grey_at(&image, [-0.6, 0.0]), 0, "outside reads 0");
        assert_eq!(grey_at(&image, [0.0, 0.6]), 0);
    }

    #[test]
    fn truncated_or_foreign_files_are_refused() {
        let registry = crate::registry::Registry::builtin();
        let spec = registry.get(&registry.default_landmarker, crate::registry::ModelKind::Landmarker).unwrap();
        let err = Landmarker::load(spec, b"FVSP").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::ModelInvalid);
    }
}
