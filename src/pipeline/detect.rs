//! Detect: RGB image → faces with boxes, scores and named keypoints, in image pixels.
//!
//! The image is letterboxed (scaled to fit, centred on black) into the detector's square
//! input so that keypoint geometry is not distorted. BlazeFace regresses, per anchor, a box
//! centre offset, its size and keypoint offsets in input pixels; overlapping detections are
//! merged by score-weighted averaging (MediaPipe's weighted NMS), which steadies keypoints.

use image::{imageops, RgbImage};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::network::{output, Network};
use crate::registry::{AnchorGrid, DecoderSpec};

/// An axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundingBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl BoundingBox {
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        let intersection = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - intersection;
        if union > 0.0 {
            intersection / union
        } else {
            0.0
        }
    }
}

/// A named facial keypoint in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keypoint {
    /// Name from the detector's manifest ("right_eye" is the subject's right).
    pub name: String,
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
}

/// One detected face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Face {
    /// Where the face is.
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// Keypoints, in the detector's order.
    pub keypoints: Vec<Keypoint>,
}

/// A face detector and its decoding rules.
pub struct Detector {
    network: Network,
    anchors: Vec<[f32; 2]>,
}

impl Detector {
    /// Wrap a loaded detector network; its manifest must describe a decoder.
    pub fn new(network: Network) -> Result<Detector> {
        let spec = network.spec();
        let Some(DecoderSpec::Blazeface { anchor_grids, .. }) = &spec.decoder else {
            return Err(Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" is not a detector", spec.id)));
        };
        let anchors = anchor_centres(anchor_grids, spec.input.width, spec.input.height);
        Ok(Detector { network, anchors })
    }

    /// Faces in `image`, best first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let spec = self.network.spec();
        let Some(DecoderSpec::Blazeface { scores, regressors, keypoints, min_score, iou_threshold, .. }) =
            &spec.decoder
        else {
            return Err(Error::new(ErrorKind::ModelInvalid, "detector without decoder"));
        };
        let (input_w, input_h) = (spec.input.width, spec.input.height);
        if image.width() == 0 || image.height() == 0 {
            return Err(Error::new(ErrorKind::NoFace, "the image is empty"));
        }
        let letterbox = Letterbox::fit(image.width(), image.height(), input_w, input_h);
        let outputs = self.network.run(&letterbox.apply(image))?;
        let n = self.anchors.len();
        let stride = 4 + 2 * keypoints.len();
        let logits = output(&outputs, scores, n)?;
        let values = output(&outputs, regressors, n * stride)?;

        let mut candidates = Vec::new();
        for (i, (&logit, anchor)) in logits.iter().zip(&self.anchors).enumerate() {
            let score = sigmoid(logit);
            if !(score >= *min_score) {
                continue;
            }
            let r = &values[i * stride..(i + 1) * stride];
            if !r.iter().all(|v| v.is_finite()) {
                continue;
            }
            let (ax, ay) = (anchor[0] * input_w as f32, anchor[1] * input_h as f32);
            let (cx, cy) = letterbox.to_image(ax + r[0], ay + r[1]);
            let (w, h) = (r[2] / letterbox.scale, r[3] / letterbox.scale);
            let bbox = BoundingBox { x: cx - w / 2.0, y: cy - h / 2.0, width: w, height: h };
            let points = keypoints
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    let (x, y) = letterbox.to_image(ax + r[4 + 2 * k], ay + r[5 + 2 * k]);
                    Keypoint { name: name.clone(), x, y }
                })
                .collect();
            candidates.push(Face { bbox, score, keypoints: points });
        }
        Ok(weighted_nms(candidates, *iou_threshold))
    }
}

/// Centres of every anchor, normalised to [0, 1], in output order: grid by grid, row by
/// row, `per_cell` identical centres per cell (BlazeFace anchors have a fixed size).
fn anchor_centres(grids: &[AnchorGrid], width: u32, height: u32) -> Vec<[f32; 2]> {
    let mut anchors = Vec::new();
    for grid in grids {
        let (cols, rows) = (width.div_ceil(grid.stride), height.div_ceil(grid.stride));
        for y in 0..rows {
            for x in 0..cols {
                let centre = [(x as f32 + 0.5) / cols as f32, (y as f32 + 0.5) / rows as f32];
                anchors.extend(std::iter::repeat_n(centre, grid.per_cell as usize));
            }
        }
    }
    anchors
}

fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp())
}

/// Greedy NMS where each kept face is the score-weighted mean of the faces it suppresses.
fn weighted_nms(mut faces: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = Vec::new();
    while !faces.is_empty() {
        let top = faces.remove(0);
        let (overlapping, rest): (Vec<Face>, Vec<Face>) =
            faces.into_iter().partition(|f| f.bbox.iou(&top.bbox) > iou_threshold);
        faces = rest;
        kept.push(blend(top, overlapping));
    }
    kept
}

fn blend(top: Face, overlapping: Vec<Face>) -> Face {
    let mut group = overlapping;
    group.insert(0, top.clone());
    let total: f32 = group.iter().map(|f| f.score).sum();
    if !(total > 0.0) {
        return top;
    }
    let mut merged = top;
    let mean = |get: &dyn Fn(&Face) -> f32| group.iter().map(|f| get(f) * f.score).sum::<f32>() / total;
    merged.bbox = BoundingBox {
        x: mean(&|f| f.bbox.x),
        y: mean(&|f| f.bbox.y),
        width: mean(&|f| f.bbox.width),
        height: mean(&|f| f.bbox.height),
    };
    for (k, point) in merged.keypoints.iter_mut().enumerate() {
        point.x = mean(&|f| f.keypoints[k].x);
        point.y = mean(&|f| f.keypoints[k].y);
    }
    merged
}

/// Scale-to-fit placement of an image inside a model input, and its inverse.
struct Letterbox {
    scale: f32,
    offset: (f32, f32),
    size: (u32, u32),
    input: (u32, u32),
}

impl Letterbox {
    fn fit(width: u32, height: u32, input_w: u32, input_h: u32) -> Letterbox {
        let scale = (input_w as f32 / width as f32).min(input_h as f32 / height as f32);
        let size = (
            ((width as f32 * scale).round() as u32).clamp(1, input_w),
            ((height as f32 * scale).round() as u32).clamp(1, input_h),
        );
        let offset = ((input_w - size.0) as f32 / 2.0, (input_h - size.1) as f32 / 2.0);
        Letterbox { scale, offset: (offset.0.floor(), offset.1.floor()), size, input: (input_w, input_h) }
    }

    fn apply(&self, image: &RgbImage) -> RgbImage {
        let resized = imageops::resize(image, self.size.0, self.size.1, imageops::FilterType::Triangle);
        let mut canvas = RgbImage::new(self.input.0, self.input.1);
        imageops::replace(&mut canvas, &resized, self.offset.0 as i64, self.offset.1 as i64);
        canvas
    }

    fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.offset.0) / self.scale, (y - self.offset.1) / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face {
            bbox: BoundingBox { x, y: 0.0, width: 10.0, height: 10.0 },
            score,
            keypoints: vec![Keypoint { name: "nose".into(), x: x + 5.0, y: 5.0 }],
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = face(0.0, 1.0).bbox;
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&face(20.0, 1.0).bbox), 0.0);
        assert!((a.iou(&face(5.0, 1.0).bbox) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn nms_merges_overlaps_and_keeps_separate_faces() {
        let faces = weighted_nms(vec![face(0.0, 0.9), face(1.0, 0.9), face(50.0, 0.8)], 0.3);
        assert_eq!(faces.len(), 2);
        assert!((faces[0].bbox.x - 0.5).abs() < 1e-6);
        assert!((faces[0].keypoints[0].x - 5.5).abs() < 1e-6);
        assert_eq!(faces[1].bbox.x, 50.0);
    }

    #[test]
    fn anchors_follow_mediapipe_layout() {
        let grids = [AnchorGrid { stride: 16, per_cell: 2 }, AnchorGrid { stride: 32, per_cell: 6 }];
        let anchors = anchor_centres(&grids, 256, 256);
        assert_eq!(anchors.len(), 896);
        assert_eq!(anchors[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(anchors[1], anchors[0]);
        assert_eq!(anchors[512], [0.5 / 8.0, 0.5 / 8.0]);
    }

    #[test]
    fn letterbox_round_trips() {
        let lb = Letterbox::fit(400, 200, 256, 256);
        assert_eq!(lb.size, (256, 128));
        let (x, y) = lb.to_image(128.0, 64.0 + lb.offset.1);
        assert!((x - 200.0).abs() < 1e-3 && (y - 100.0).abs() < 1e-3);
    }
}
