//! Detect: RGB image → faces with boxes, scores and named keypoints, in image pixels.
//!
//! The image is letterboxed (scaled to fit, centred on black) into the detector's square
//! input so that keypoint geometry is not distorted. BlazeFace regresses, per anchor, a box
//! centre offset, its size and keypoint offsets in input pixels; overlapping detections are
//! merged by score-weighted averaging (MediaPipe's weighted NMS), which steadies keypoints.

use std::collections::BTreeMap;

use image::{imageops, RgbImage};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::decode::sample_to_u8;
use crate::pipeline::network::{output, Network};
use crate::pipeline::attributes::Estimate;
use crate::pipeline::quality::Quality;
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
    /// Keypoints, in the detector's order, then the landmark model's.
    pub keypoints: Vec<Keypoint>,
    /// Whether the face runs past the image border: its box is then clamped to the image.
    pub cut: bool,
    /// How far the face can be trusted for recognition; set once the landmarks are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Attribute estimates by name (`age`, `gender`, `expression`), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, Estimate>>,
}

impl Face {
    /// The face with every coordinate multiplied by `factor` (from one image scale to another).
    pub fn scaled(&self, factor: f32) -> Face {
        self.mapped(factor, [0.0, 0.0])
    }

    /// The face in a crop of its image whose top-left corner is at `origin`.
    pub fn within(&self, origin: [f32; 2]) -> Face {
        self.mapped(1.0, [-origin[0], -origin[1]])
    }

    /// Every point p ↦ p·factor + offset.
    fn mapped(&self, factor: f32, offset: [f32; 2]) -> Face {
        let b = &self.bbox;
        let [dx, dy] = offset;
        Face {
            bbox: BoundingBox { x: b.x * factor + dx, y: b.y * factor + dy, width: b.width * factor, height: b.height * factor },
            keypoints: self.keypoints.iter().map(|k| Keypoint { name: k.name.clone(), x: k.x * factor + dx, y: k.y * factor + dy }).collect(),
            ..self.clone()
        }
    }

    /// The face with its box clamped to a `width`×`height` image, `cut` when that moved an
    /// edge by half a pixel or more. Keypoints stay where they are (an ear may be outside).
    pub fn clamped(&self, width: u32, height: u32) -> Face {
        let b = &self.bbox;
        let (x0, y0) = (b.x.max(0.0), b.y.max(0.0));
        let (x1, y1) = ((b.x + b.width).min(width as f32), (b.y + b.height).min(height as f32));
        let moved = [x0 - b.x, y0 - b.y, b.x + b.width - x1, b.y + b.height - y1].iter().any(|&d| d >= 0.5);
        Face {
            bbox: BoundingBox { x: x0, y: y0, width: (x1 - x0).max(0.0), height: (y1 - y0).max(0.0) },
            cut: self.cut || moved,
            ..self.clone()
        }
    }
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
        let input = spec.input()?;
        let anchors = match &spec.decoder {
            Some(DecoderSpec::Blazeface { anchor_grids, .. }) => anchor_centres(anchor_grids, input.width, input.height),
            Some(DecoderSpec::Mmod { .. }) => Vec::new(),
            None => return Err(Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" is not a detector", spec.id))),
        };
        Ok(Detector { network, anchors })
    }

    /// The underlying network (its manifest entry, mostly).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Faces in `image`, best first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let whole = BoundingBox { x: 0.0, y: 0.0, width: image.width() as f32, height: image.height() as f32 };
        self.detect_in(image, &whole)
    }

    /// Faces in a photo, best first: the whole image with a mirrored margin of
    /// [`PHOTO_MARGIN`] around it (a face cut by the border is seen whole, and the mirror
    /// images of faces, centred outside the photo, are dropped), then, for a detector whose
    /// manifest sets `tile_min`, overlapping tiles of half the photo's longer side (half a tile
    /// apart) when they are at least that large: a face too small for the detector's input in
    /// the whole photo is twice as large in a tile.
    pub fn detect_photo(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let (width, height) = (image.width() as f32, image.height() as f32);
        let margin = PHOTO_MARGIN * width.max(height);
        let extended = BoundingBox { x: -margin, y: -margin, width: width + 2.0 * margin, height: height + 2.0 * margin };
        // The whole (mirrored margin) first, then the tiles; each region's detections are
        // independent of the others', so they run in parallel.
        let mut regions = vec![(extended, true)];
        let tile = (width.max(height) / 2.0).floor();
        if let Some(DecoderSpec::Blazeface { tile_min: Some(tile_min), .. }) = &self.network.spec().decoder {
            if tile >= *tile_min as f32 {
                regions.extend(tile_origins(width, height, tile).into_iter().map(|(x, y)| (BoundingBox { x, y, width: tile, height: tile }, false)));
            }
        }
        let mut faces = Vec::new();
        for (i, found) in crate::par::map(&regions, |(region, mirror)| self.detect_region(image, region, *mirror)).into_iter().enumerate() {
            // Mirror images of faces, centred outside the photo, are dropped.
            faces.extend(found?.into_iter().filter(|f| {
                let (cx, cy) = (f.bbox.x + f.bbox.width / 2.0, f.bbox.y + f.bbox.height / 2.0);
                let slack = 0.1 * f.bbox.width;
                i > 0 || (cx >= -slack && cy >= -slack && cx <= width + slack && cy <= height + slack)
            }));
        }
        Ok(suppress_overlaps(faces, 0.3))
    }

    /// Faces in `region` of `image` (image pixels; parts outside the image read black),
    /// the region letterboxed into the detector's input. Coordinates are the image's.
    pub fn detect_in(&self, image: &RgbImage, region: &BoundingBox) -> Result<Vec<Face>> {
        self.detect_region(image, region, false)
    }

    fn detect_region(&self, image: &RgbImage, region: &BoundingBox, mirror: bool) -> Result<Vec<Face>> {
        let spec = self.network.spec();
        let input = spec.input()?;
        if image.width() == 0 || image.height() == 0 || !(region.area() >= 1.0) {
            return Err(Error::new(ErrorKind::NoFace, "the image is empty"));
        }
        let letterbox = Letterbox::fit(region, input.width, input.height);
        let outputs = crate::par::unthreaded(|| self.network.run(&letterbox.apply(image, mirror)))?;
        match &spec.decoder {
            Some(DecoderSpec::Blazeface { scores, regressors, keypoints, min_score, iou_threshold, .. }) => {
                let n = self.anchors.len();
                let stride = 4 + 2 * keypoints.len();
                let logits = output(&outputs, scores, n)?;
                let values = output(&outputs, regressors, n * stride)?;
                let mut candidates = Vec::new();
                for (i, (&logit, anchor)) in logits.iter().zip(&self.anchors).enumerate() {
                    let score = sigmoid(logit);
                    let r = &values[i * stride..(i + 1) * stride];
                    if !(score >= *min_score) || !r.iter().all(|v| v.is_finite()) {
                        continue;
                    }
                    let (ax, ay) = (anchor[0] * input.width as f32, anchor[1] * input.height as f32);
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
                    candidates.push(Face { bbox, score, keypoints: points, cut: false, quality: None, attributes: None });
                }
                Ok(weighted_nms(candidates, *iou_threshold))
            }
            Some(DecoderSpec::Mmod { scores, stride, offset, window, min_score, iou_threshold }) => {
                // A score map of the input cut by the strided convolutions: as many cells as fit.
                let cells = |size: u32| (0..3).fold(size as i64, |s, _| (s - 5) / 2 + 1).max(0) as usize;
                let (cols, rows) = (cells(input.width), cells(input.height));
                let map = output(&outputs, scores, cols * rows)?;
                let side = *window as f32 / letterbox.scale;
                let mut faces = Vec::new();
                for (i, &score) in map.iter().enumerate() {
                    if !(score > *min_score) {
                        continue;
                    }
                    let (x, y) = ((i % cols) as f32, (i / cols) as f32);
                    let (cx, cy) = letterbox.to_image(x * *stride as f32 + offset, y * *stride as f32 + offset);
                    let bbox = BoundingBox { x: cx - side / 2.0, y: cy - side / 2.0, width: side, height: side };
                    faces.push(Face { bbox, score, keypoints: Vec::new(), cut: false, quality: None, attributes: None });
                }
                Ok(suppress_overlaps(faces, *iou_threshold))
            }
            None => Err(Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" is not a detector", spec.id))),
        }
    }
}

/// The mirrored margin around a photo, as a share of its longer side.
const PHOTO_MARGIN: f32 = 0.1;

/// Top-left corners of square tiles of `tile` pixels covering a `width`×`height` image,
/// half a tile apart, the last row and column flush with the far edges.
fn tile_origins(width: f32, height: f32, tile: f32) -> Vec<(f32, f32)> {
    let starts = |extent: f32| {
        let mut starts: Vec<f32> = Vec::new();
        let last = (extent - tile).max(0.0);
        let mut at = 0.0;
        while at < last {
            starts.push(at);
            at += tile / 2.0;
        }
        starts.push(last);
        starts
    };
    let (xs, ys) = (starts(width), starts(height));
    ys.iter().flat_map(|&y| xs.iter().map(move |&x| (x, y))).collect()
}

/// A confirming detection must overlap the candidate at least this much.
const CONFIRM_IOU: f32 = 0.3;
/// The candidate's box is looked at as this many times the confirming detector's window.
const CONFIRM_SCALES: [f32; 3] = [1.0, 0.7, 1.4];

impl Detector {
    /// Look again at a face `candidate` that another detector found: this detector's best
    /// score for a face overlapping it, looking at a square around the candidate scaled so
    /// that the face fills the detector's window (for dlib's MMOD net: 200 px input, 80 px
    /// window, so 2.5 times the face), then [`CONFIRM_SCALES`] times that. `None`: not a
    /// face to this detector. A second, differently trained opinion rejects the animals and
    /// patterns that BlazeFace takes for faces (a cat, a coffee cup, a motorbike, a raccoon
    /// on the shared test images).
    pub fn confirm(&self, image: &RgbImage, candidate: &Face) -> Result<Option<f32>> {
        let spec = self.network.spec();
        let fill = match &spec.decoder {
            Some(DecoderSpec::Mmod { window, .. }) => spec.input()?.width as f32 / *window as f32,
            _ => 2.5,
        };
        let b = &candidate.bbox;
        let (cx, cy) = (b.x + b.width / 2.0, b.y + b.height / 2.0);
        // A detector's box is not the face's size to the pixel: the face is tried as the
        // window's size, then larger and smaller (a face cut by the border, say).
        for scale in CONFIRM_SCALES {
            let side = fill * scale * b.width.max(b.height);
            let region = BoundingBox { x: cx - side / 2.0, y: cy - side / 2.0, width: side, height: side };
            let best = self
                .detect_region(image, &region, true)?
                .into_iter()
                .filter(|f| f.bbox.iou(b) >= CONFIRM_IOU)
                .map(|f| f.score)
                .max_by(f32::total_cmp);
            if best.is_some() {
                return Ok(best);
            }
        }
        Ok(None)
    }
}

/// Keep the best-scored of faces that overlap by more than `iou_threshold`, best first.
pub fn suppress_overlaps(mut faces: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= iou_threshold) {
            kept.push(face);
        }
    }
    kept
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

/// `i` folded into 0..n by mirroring at the ends without repeating the edge (numpy's
/// "reflect"), repeatedly for indices far outside.
fn reflect(i: i64, n: i64) -> i64 {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    if m < n { m } else { period - m }
}

/// Scale-to-fit placement of an image region inside a model input, and its inverse.
struct Letterbox {
    /// The region, image pixels.
    region: BoundingBox,
    scale: f32,
    offset: (f32, f32),
    input: (u32, u32),
}

impl Letterbox {
    fn fit(region: &BoundingBox, input_w: u32, input_h: u32) -> Letterbox {
        let scale = (input_w as f32 / region.width).min(input_h as f32 / region.height);
        let (w, h) = ((region.width * scale).round().clamp(1.0, input_w as f32), (region.height * scale).round().clamp(1.0, input_h as f32));
        let offset = (((input_w as f32 - w) / 2.0).floor(), ((input_h as f32 - h) / 2.0).floor());
        Letterbox { region: *region, scale, offset, input: (input_w, input_h) }
    }

    /// The model input: the part of the region inside the image, resized; the rest of the
    /// region mirrors it when `mirror` (a face cut by the image border is completed by its
    /// mirror image, as a CNN's reflect padding does), else black.
    fn apply(&self, image: &RgbImage, mirror: bool) -> RgbImage {
        let mut canvas = RgbImage::new(self.input.0, self.input.1);
        let r = &self.region;
        let (x0, y0) = (r.x.max(0.0).floor(), r.y.max(0.0).floor());
        let x1 = (r.x + r.width).min(image.width() as f32).ceil();
        let y1 = (r.y + r.height).min(image.height() as f32).ceil();
        if x1 <= x0 || y1 <= y0 {
            return canvas;
        }
        let (w, h) = (((x1 - x0) * self.scale).round().max(1.0) as u32, ((y1 - y0) * self.scale).round().max(1.0) as u32);
        let resized = resize_part(image, [x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32], w, h);
        let (dx, dy) = (self.offset.0 + ((x0 - r.x) * self.scale).round(), self.offset.1 + ((y0 - r.y) * self.scale).round());
        imageops::replace(&mut canvas, &resized, dx as i64, dy as i64);
        if mirror {
            // The region's extent in the input, and the pasted part's.
            let (rx0, ry0) = (self.offset.0 as i64, self.offset.1 as i64);
            let (rx1, ry1) = (rx0 + (r.width * self.scale).round() as i64, ry0 + (r.height * self.scale).round() as i64);
            let (px0, py0, pw, ph) = (dx as i64, dy as i64, w as i64, h as i64);
            for y in ry0.max(0)..ry1.min(self.input.1 as i64) {
                for x in rx0.max(0)..rx1.min(self.input.0 as i64) {
                    let (sx, sy) = (px0 + reflect(x - px0, pw), py0 + reflect(y - py0, ph));
                    if (sx, sy) != (x, y) && sx >= 0 && sy >= 0 && sx < self.input.0 as i64 && sy < self.input.1 as i64 {
                        let pixel = *canvas.get_pixel(sx as u32, sy as u32);
                        canvas.put_pixel(x as u32, y as u32, pixel);
                    }
                }
            }
        }
        canvas
    }

    fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.offset.0) / self.scale + self.region.x, (y - self.offset.1) / self.scale + self.region.y)
    }
}

/// The part `[x, y, width, height]` (whole pixels, inside the image) of `image` resized to
/// `width`×`height`: `image::imageops::resize` with its Triangle filter, byte for byte — the
/// detectors' calibration and docs/accuracy.md were measured on its output, and a resampler
/// that rounds differently (fast_image_resize) moved pair distances by 0.004 (median) and 15
/// of 6,776 verdicts (docs/performance.md). The same weights and the same f32 operations in
/// the same order, but over rows of the raw buffer instead of image's per-pixel generic
/// access, which was a quarter of a photo's analysis natively.
fn resize_part(image: &RgbImage, part: [u32; 4], width: u32, height: u32) -> RgbImage {
    let [x, y, w, h] = part;
    if (w, h) == (width, height) {
        return imageops::crop_imm(image, x, y, w, h).to_image();
    }
    let stride = 3 * image.width() as usize;
    let rows = image.as_raw().chunks_exact(stride).skip(y as usize).take(h as usize);
    let rows: Vec<&[u8]> = rows.map(|row| &row[3 * x as usize..3 * (x + w) as usize]).collect();
    // Vertically first, into f32 rows of the part's width, as image does.
    let mut tall = vec![0f32; 3 * w as usize * height as usize];
    for (out_y, out) in tall.chunks_exact_mut(3 * w as usize).enumerate() {
        let (first, weights) = triangle_weights(out_y as u32, h, height);
        for (row, weight) in rows[first..].iter().zip(&weights) {
            for (sum, &sample) in out.iter_mut().zip(row.iter()) {
                *sum += sample as f32 * weight;
            }
        }
    }
    let taps: Vec<(usize, Vec<f32>)> = (0..width).map(|out_x| triangle_weights(out_x, w, width)).collect();
    let mut resized = RgbImage::new(width, height);
    for (out, row) in resized.as_mut().chunks_exact_mut(3 * width as usize).zip(tall.chunks_exact(3 * w as usize)) {
        for (pixel, (first, weights)) in out.chunks_exact_mut(3).zip(&taps) {
            let mut sum = [0f32; 3];
            for (source, weight) in row[3 * first..].chunks_exact(3).zip(weights) {
                for c in 0..3 {
                    sum[c] += source[c] * weight;
                }
            }
            for c in 0..3 {
                pixel[c] = sample_to_u8(sum[c]);
            }
        }
    }
    resized
}

/// The first source sample and the normalised weights of output sample `out` when `from`
/// samples are resampled to `to` with a triangle filter widened by the shrink factor
/// (image's `vertical_sample` and `horizontal_sample`, operation for operation).
fn triangle_weights(out: u32, from: u32, to: u32) -> (usize, Vec<f32>) {
    let ratio = from as f32 / to as f32;
    // The filter's support (1) times the shrink factor, at least 1.
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let centre = (out as f32 + 0.5) * ratio;
    let left = ((centre - sratio).floor() as i64).clamp(0, from as i64 - 1);
    let right = ((centre + sratio).ceil() as i64).clamp(left + 1, from as i64);
    let centre = centre - 0.5;
    let mut weights: Vec<f32> = (left..right)
        .map(|i| {
            let t = ((i as f32 - centre) / sratio).abs();
            if t < 1.0 { 1.0 - t } else { 0.0 }
        })
        .collect();
    let sum: f32 = weights.iter().fold(0.0, |a, &w| a + w);
    for w in weights.iter_mut() {
        *w /= sum;
    }
    (left as usize, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face {
            bbox: BoundingBox { x, y: 0.0, width: 10.0, height: 10.0 },
            score,
            keypoints: vec![Keypoint { name: "nose".into(), x: x + 5.0, y: 5.0 }],
            cut: false,
            quality: None,
            attributes: None,
        }
    }

    #[test]
    fn faces_scale_and_clamp_to_the_image() {
        let f = face(-4.0, 0.9).scaled(2.0);
        assert_eq!((f.bbox.x, f.bbox.width, f.keypoints[0].x), (-8.0, 20.0, 2.0));
        let c = f.clamped(100, 100);
        assert!(c.cut && c.bbox.x == 0.0 && c.bbox.width == 12.0, "{c:?}");
        let inside = face(10.0, 0.9).clamped(100, 100);
        assert!(!inside.cut && inside.bbox == face(10.0, 0.9).bbox);
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
        let whole = BoundingBox { x: 0.0, y: 0.0, width: 400.0, height: 200.0 };
        let lb = Letterbox::fit(&whole, 256, 256);
        assert_eq!(lb.offset, (0.0, 64.0));
        let (x, y) = lb.to_image(128.0, 64.0 + lb.offset.1);
        assert!((x - 200.0).abs() < 1e-3 && (y - 100.0).abs() < 1e-3);
        // A region hanging over the image's top-left corner: its origin maps back to it.
        let region = BoundingBox { x: -50.0, y: -20.0, width: 100.0, height: 100.0 };
        let lb = Letterbox::fit(&region, 128, 128);
        let (x, y) = lb.to_image(0.0, 0.0);
        assert!((x + 50.0).abs() < 1e-3 && (y + 20.0).abs() < 1e-3);
        let mut image = RgbImage::new(60, 60);
        image.put_pixel(0, 0, image::Rgb([255, 255, 255]));
        // Image pixel (0, 0) lands on input pixel (50, 20) · 1.28 = (64, 25.6), rounded.
        assert!(lb.apply(&image, false).get_pixel(64, 26)[0] > 0);
    }

    #[test]
    fn tiles_cover_the_image_half_a_tile_apart() {
        assert_eq!(tile_origins(1600.0, 1000.0, 800.0), [
            (0.0, 0.0), (400.0, 0.0), (800.0, 0.0),
            (0.0, 200.0), (400.0, 200.0), (800.0, 200.0),
        ]);
        assert_eq!(tile_origins(500.0, 500.0, 800.0), [(0.0, 0.0)]);
    }

    #[test]
    fn resize_is_images_byte_for_byte() {
        // Noise (the worst case for rounding), parts at every offset, shrunk, grown and kept.
        let mut state = 12345u32;
        let image = RgbImage::from_fn(97, 61, |_, _| {
            let mut next = || {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            };
            image::Rgb([next(), next(), next()])
        });
        for (part, size) in [
            ([0, 0, 97, 61], (13, 8)),
            ([5, 3, 80, 50], (31, 19)),
            ([17, 9, 40, 40], (128, 128)),
            ([1, 2, 60, 33], (60, 16)),
            ([0, 0, 97, 61], (97, 61)),
            ([96, 60, 1, 1], (3, 2)),
        ] {
            let [x, y, w, h] = part;
            let expected = imageops::resize(&*imageops::crop_imm(&image, x, y, w, h), size.0, size.1, imageops::FilterType::Triangle);
            assert!(resize_part(&image, part, size.0, size.1) == expected, "{part:?} → {size:?}");
        }
    }

    #[test]
    fn mirror_fill_reflects_without_repeating_the_edge() {
        assert_eq!((-3..8).map(|i| reflect(i, 4)).collect::<Vec<_>>(), [3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        // The right half of a region beyond a 2-px-wide image mirrors its columns.
        let image = RgbImage::from_fn(2, 4, |x, _| image::Rgb([100 * x as u8 + 50, 0, 0]));
        let region = BoundingBox { x: 0.0, y: 0.0, width: 4.0, height: 4.0 };
        let input = Letterbox::fit(&region, 4, 4).apply(&image, true);
        let row: Vec<u8> = (0..4).map(|x| input.get_pixel(x, 1)[0]).collect();
        assert_eq!(row, [50, 150, 50, 150]);
        let black = Letterbox::fit(&region, 4, 4).apply(&image, false);
        assert_eq!(black.get_pixel(3, 1)[0], 0);
    }
}
