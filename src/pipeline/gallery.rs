//! Gallery: named identities, each enrolled from one or more embeddings, searched 1:N.
//!
//! A gallery belongs to one recognition model: embeddings of different models are not
//! comparable, so the model id and embedding size travel with it and an import made by
//! another model is refused. Import is all-or-nothing: a file is validated completely
//! before anything is returned, so a bad file never half-replaces a good gallery.
//!
//! File format (JSON), version 1:
//! `{"format": "faceverify-gallery", "format_version": 1, "model": "dlib-resnet",
//!   "embedding_size": 128, "identities": [{"name": "Ada", "embeddings": [[f32; 128], …]}]}`

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::compare::{check_embedding, Metric};

/// The `format` field of every gallery file.
pub const FORMAT: &str = "faceverify-gallery";
/// The current `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// Longest identity name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most embeddings in one gallery (1 M × 128-d is 512 MB of f32 rows plus 148 MB of int8
/// codes and row facts already).
pub const MAX_EMBEDDINGS: usize = 1_000_000;

/// One person and the embeddings enrolled for them, as stored in a gallery file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Unique, non-empty name.
    pub name: String,
    /// At least one embedding, each of the gallery's size.
    pub embeddings: Vec<Vec<f32>>,
}

/// The gallery file.
#[derive(Serialize, Deserialize)]
struct GalleryFile {
    format: String,
    format_version: u32,
    model: String,
    embedding_size: usize,
    identities: Vec<Identity>,
}

/// A gallery of identities for one recognition model.
///
/// Embeddings live in one flat row-major f32 matrix, and again as int8 codes (a scale per
/// row). A search reads the codes — a quarter of the bytes — to bound every row's distance,
/// and reads f32 rows only for identities whose bound could still put them among the
/// results: exact results at a fraction of the memory traffic, whatever the gallery size.
#[derive(Debug, Clone, PartialEq)]
pub struct Gallery {
    model: String,
    embedding_size: usize,
    names: Vec<String>,
    /// Name → index into `names`.
    index: HashMap<String, usize>,
    /// One embedding per row.
    rows: Vec<f32>,
    /// The same rows as int8 codes: row ≈ scale · code.
    codes: Vec<i8>,
    /// Per-row facts the search needs, in row order.
    stats: Vec<RowStats>,
    /// The identity (index into `names`) of each row.
    owners: Vec<usize>,
}

/// What a search needs to know about one row besides its values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RowStats {
    /// row ≈ scale · code.
    scale: f32,
    /// ‖row − scale · code‖: how far the code is from the row.
    residual: f32,
    /// ‖scale · code‖.
    code_norm: f32,
    /// ‖row‖².
    squared_norm: f32,
    /// 1 / ‖row‖ (0 for a zero row, whose cosine is 0 by the metric's convention).
    inverse_norm: f32,
}

/// An identity's name and how many embeddings it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentitySummary {
    /// The identity's name.
    pub name: String,
    /// Number of embeddings enrolled.
    pub count: usize,
}

/// How close a probe is to one identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The identity's name.
    pub name: String,
    /// Distance to the closest of its embeddings.
    pub best_distance: f32,
    /// Mean distance to all of its embeddings.
    pub mean_distance: f32,
    /// Whether `best_distance` is within the threshold.
    pub verified: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::GalleryInvalid, message)
}

impl Gallery {
    /// An empty gallery for `model`, whose embeddings have `embedding_size` values.
    pub fn new(model: &str, embedding_size: usize) -> Gallery {
        Gallery {
            model: model.into(),
            embedding_size,
            names: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
            codes: Vec::new(),
            stats: Vec::new(),
            owners: Vec::new(),
        }
    }

    /// Parse and fully validate a gallery file made for `model` with `embedding_size`.
    pub fn from_json(text: &str, model: &str, embedding_size: usize) -> Result<Gallery> {
        let file: GalleryFile = serde_json::from_str(text).map_err(|e| invalid(format!("not a gallery file: {e}")))?;
        if file.format != FORMAT {
            return Err(invalid(format!("format is \"{}\", expected \"{FORMAT}\"", file.format)));
        }
        if file.format_version != FORMAT_VERSION {
            return Err(invalid(format!("format version {} is not supported (this build reads {FORMAT_VERSION})", file.format_version)));
        }
        if file.model != model || file.embedding_size != embedding_size {
            return Err(invalid(format!(
                "made by model \"{}\" ({}-d embeddings); the loaded model is \"{model}\" ({embedding_size}-d)",
                file.model, file.embedding_size
            )));
        }
        let total: usize = file.identities.iter().map(|i| i.embeddings.len()).sum();
        if total > MAX_EMBEDDINGS {
            return Err(invalid(format!("{total} embeddings is more than the {MAX_EMBEDDINGS} a gallery may hold")));
        }
        let mut gallery = Gallery::new(model, embedding_size);
        for identity in file.identities {
            if gallery.index.contains_key(&identity.name) {
                return Err(invalid(format!("identity \"{}\" appears twice", identity.name)));
            }
            if identity.embeddings.is_empty() {
                return Err(invalid(format!("identity \"{}\" has no embeddings", identity.name)));
            }
            for embedding in identity.embeddings {
                gallery.enroll(&identity.name, embedding).map_err(|e| e.context(format!("identity \"{}\"", identity.name)))?;
            }
        }
        Ok(gallery)
    }

    /// The gallery file.
    pub fn to_json(&self) -> String {
        let mut identities: Vec<Identity> =
            self.names.iter().map(|name| Identity { name: name.clone(), embeddings: Vec::new() }).collect();
        for (row, &owner) in self.rows.chunks_exact(self.embedding_size.max(1)).zip(&self.owners) {
            identities[owner].embeddings.push(row.to_vec());
        }
        let file = GalleryFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            model: self.model.clone(),
            embedding_size: self.embedding_size,
            identities,
        };
        serde_json::to_string(&file).unwrap_or_default()
    }

    /// The identities, in enrolment order, with their number of embeddings.
    pub fn identities(&self) -> Vec<IdentitySummary> {
        let mut counts = vec![0; self.names.len()];
        for &owner in &self.owners {
            counts[owner] += 1;
        }
        self.names.iter().zip(counts).map(|(name, count)| IdentitySummary { name: name.clone(), count }).collect()
    }

    /// Every embedding with its identity's name, in enrolment order.
    pub fn embeddings(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.rows.chunks_exact(self.embedding_size.max(1)).zip(&self.owners).map(|(row, &owner)| (self.names[owner].as_str(), row))
    }

    /// The recognition model the gallery belongs to, and its embedding size.
    pub fn model(&self) -> (&str, usize) {
        (&self.model, self.embedding_size)
    }

    /// How many embeddings the gallery holds.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Add `embedding` to `name`, creating the identity if it is new.
    pub fn enroll(&mut self, name: &str, embedding: Vec<f32>) -> Result<()> {
        check_name(name)?;
        self.check_embedding(&embedding)?;
        if self.owners.len() >= MAX_EMBEDDINGS {
            return Err(invalid(format!("the gallery already holds {MAX_EMBEDDINGS} embeddings")));
        }
        let owner = match self.index.get(name) {
            Some(&owner) => owner,
            None => {
                self.names.push(name.into());
                self.index.insert(name.into(), self.names.len() - 1);
                self.names.len() - 1
            }
        };
        self.stats.push(quantize(&embedding, &mut self.codes));
        self.rows.extend_from_slice(&embedding);
        self.owners.push(owner);
        Ok(())
    }

    /// Rename an identity; false if `from` is not enrolled.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<bool> {
        check_name(to)?;
        if from != to && self.index.contains_key(to) {
            return Err(invalid(format!("identity \"{to}\" already exists")));
        }
        let Some(owner) = self.index.remove(from) else { return Ok(false) };
        self.names[owner] = to.into();
        self.index.insert(to.into(), owner);
        Ok(true)
    }

    /// Remove an identity; false if it was not enrolled.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(gone) = self.index.remove(name) else { return false };
        let mut kept = Gallery { names: std::mem::take(&mut self.names), ..Gallery::new(&self.model, self.embedding_size) };
        let size = self.embedding_size.max(1);
        let rows = self.rows.chunks_exact(size).zip(self.codes.chunks_exact(size));
        for ((row, codes), (&owner, stats)) in rows.zip(self.owners.iter().zip(&self.stats)) {
            if owner != gone {
                kept.rows.extend_from_slice(row);
                kept.codes.extend_from_slice(codes);
                kept.owners.push(owner - (owner > gone) as usize);
                kept.stats.push(*stats);
            }
        }
        kept.names.remove(gone);
        kept.index = kept.names.iter().enumerate().map(|(i, name)| (name.clone(), i)).collect();
        *self = kept;
        true
    }

    /// Every identity ranked by its best distance to `probe`, closest first.
    pub fn find(&self, probe: &[f32], metric: Metric, threshold: f32) -> Result<Vec<Match>> {
        self.find_top(probe, metric, threshold, usize::MAX)
    }

    /// The `limit` identities closest to `probe` (by best distance), closest first. An exact
    /// search: every embedding is considered.
    ///
    /// Rows are ranked by a key that orders them as the metric's distance does (squared
    /// difference, or the negated cosine). A first pass over the int8 codes gives each row's
    /// key within a proven error bound; identities whose lower bound lies above the
    /// `limit`-th smallest upper bound cannot be among the results, and only the others'
    /// f32 rows are read to rank them exactly. The winners then get their best and mean
    /// distances from [`Metric::distance`], exactly those of a pairwise comparison.
    pub fn find_top(&self, probe: &[f32], metric: Metric, threshold: f32, limit: usize) -> Result<Vec<Match>> {
        self.check_embedding(probe).map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let limit = limit.min(self.names.len());
        if limit == 0 {
            return Ok(Vec::new());
        }
        let candidates = self.candidates(probe, metric, limit);
        let size = self.embedding_size.max(1);
        let mut best_key = vec![f32::INFINITY; self.names.len()];
        let mut rows_of: HashMap<usize, Vec<&[f32]>> = HashMap::new();
        for ((row, &owner), stats) in self.rows.chunks_exact(size).zip(&self.owners).zip(&self.stats) {
            if candidates[owner] {
                let key = if metric.uses_dot() { -dot(probe, row) * stats.inverse_norm } else { squared_difference(probe, row) };
                best_key[owner] = best_key[owner].min(key);
                rows_of.entry(owner).or_default().push(row);
            }
        }
        let mut ranked: Vec<usize> = rows_of.keys().copied().collect();
        let by_key = |a: &usize, b: &usize| best_key[*a].total_cmp(&best_key[*b]).then(a.cmp(b));
        if limit < ranked.len() {
            ranked.select_nth_unstable_by(limit, by_key);
            ranked.truncate(limit);
        }
        // Ties then keep enrolment order, whatever order the map gave.
        ranked.sort_unstable_by(by_key);
        // Exact distances of the winners' rows.
        let mut matches = ranked
            .into_iter()
            .map(|i| {
                let list = rows_of[&i].iter().map(|row| metric.distance(probe, row)).collect::<Result<Vec<f32>>>()?;
                let best = list.iter().copied().fold(f32::INFINITY, f32::min);
                let mean = (list.iter().map(|&d| d as f64).sum::<f64>() / list.len() as f64) as f32;
                Ok(Match { name: self.names[i].clone(), best_distance: best, mean_distance: mean, verified: best <= threshold })
            })
            .collect::<Result<Vec<Match>>>()?;
        matches.sort_by(|a, b| a.best_distance.total_cmp(&b.best_distance));
        Ok(matches)
    }

    /// Which identities could be among the `limit` closest to `probe`, from the int8 codes.
    ///
    /// With row a ≈ â = s·q and probe p ≈ p̂, |a·p − â·p̂| ≤ ‖a − â‖·‖p‖ + ‖â‖·‖p − p̂‖, so each
    /// row's key (‖a‖² − 2a·p, the squared difference less the constant ‖p‖², or −a·p / ‖a‖)
    /// is known to within a bound; a little more covers f32 rounding in both passes.
    fn candidates(&self, probe: &[f32], metric: Metric, limit: usize) -> Vec<bool> {
        let probe = Code::of(probe);
        let mut lower = vec![f32::INFINITY; self.names.len()];
        let mut upper = vec![f32::INFINITY; self.names.len()];
        let size = self.embedding_size.max(1);
        for ((codes, &owner), stats) in self.codes.chunks_exact(size).zip(&self.owners).zip(&self.stats) {
            let (key, error) = bounded_key(metric, codes, stats, &probe);
            lower[owner] = lower[owner].min(key - error);
            upper[owner] = upper[owner].min(key + error);
        }
        // The limit-th smallest upper bound: at least `limit` identities are within it.
        let mut uppers = upper.clone();
        let (_, &mut cutoff, _) = uppers.select_nth_unstable_by(limit - 1, f32::total_cmp);
        lower.iter().map(|&l| l <= cutoff).collect()
    }

    fn check_embedding(&self, embedding: &[f32]) -> Result<()> {
        if embedding.is_empty() || embedding.len() != self.embedding_size {
            return Err(invalid(format!("an embedding has {} values, expected {}", embedding.len(), self.embedding_size)));
        }
        check_embedding(embedding).map_err(|e| invalid(e.to_string()))
    }
}

/// Σ f(aᵢ, bᵢ) in eight independent f32 lanes: a shape LLVM turns into SIMD (f32x4 × 2 in
/// wasm) without reassociation flags, which one running sum would forbid.
#[inline(always)]
fn lanes8(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| f(*x, *y)).sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += f(x[i], y[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    lanes8(a, b, |x, y| x * y)
}

fn squared_difference(a: &[f32], b: &[f32]) -> f32 {
    lanes8(a, b, |x, y| (x - y) * (x - y))
}

/// A probe's int8 code and stats.
struct Code {
    codes: Vec<i8>,
    stats: RowStats,
    norm: f32,
}

impl Code {
    fn of(row: &[f32]) -> Code {
        let mut codes = Vec::with_capacity(row.len());
        let stats = quantize(row, &mut codes);
        Code { codes, stats, norm: stats.squared_norm.sqrt() }
    }
}

/// A row's search key from its int8 code, and a bound on how far the true key can be.
#[inline(always)]
fn bounded_key(metric: Metric, codes: &[i8], stats: &RowStats, probe: &Code) -> (f32, f32) {
    let approx_dot = stats.scale * probe.stats.scale * dot_i8(codes, &probe.codes) as f32;
    let rounding = 1e-5 * (stats.squared_norm + stats.code_norm * probe.norm + probe.stats.squared_norm);
    let error = stats.residual * probe.norm + stats.code_norm * probe.stats.residual + rounding;
    if metric.uses_dot() {
        (-approx_dot * stats.inverse_norm, error * stats.inverse_norm + rounding)
    } else {
        (stats.squared_norm - 2.0 * approx_dot, 2.0 * error + rounding)
    }
}

/// Append `row`'s int8 code (symmetric, scale = max |x| / 127) to `codes`; return its stats.
fn quantize(row: &[f32], codes: &mut Vec<i8>) -> RowStats {
    let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let (mut residual, mut code_norm) = (0f64, 0f64);
    for &x in row {
        let code = (x / scale).round().clamp(-127.0, 127.0);
        codes.push(code as i8);
        let approx = code as f64 * scale as f64;
        residual += (x as f64 - approx).powi(2);
        code_norm += approx * approx;
    }
    let squared_norm = dot(row, row);
    let norm = squared_norm.sqrt();
    RowStats {
        scale,
        residual: residual.sqrt() as f32,
        code_norm: code_norm.sqrt() as f32,
        squared_norm,
        inverse_norm: if norm > 0.0 { 1.0 / norm } else { 0.0 },
    }
}

/// Σ aᵢbᵢ of two int8 codes, exactly. Integer sums may be reordered freely, so LLVM
/// vectorises this plain form natively; wasm gets the explicit version below.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// Σ aᵢbᵢ of two int8 codes with simd128's `i32x4.dot_i16x8_s`: 16 codes per step, where
/// LLVM's own vectorisation of the plain form widens to i32 before multiplying.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let (chunks_a, chunks_b) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(&x, &y)| x as i32 * y as i32).sum();
    let mut acc = i32x4_splat(0);
    for (x, y) in chunks_a.zip(chunks_b) {
        // SAFETY: each chunk is exactly 16 bytes, and wasm loads need no alignment.
        let (x, y) = unsafe { (v128_load(x.as_ptr().cast()), v128_load(y.as_ptr().cast())) };
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y)));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y)));
    }
    i32x4_extract_lane::<0>(acc) + i32x4_extract_lane::<1>(acc) + i32x4_extract_lane::<2>(acc) + i32x4_extract_lane::<3>(acc) + tail
}

/// Refuse a name no gallery may hold (`GALLERY_INVALID`): blank, or longer than
/// [`MAX_NAME_CHARS`] characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(invalid("an identity name is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!("an identity name is longer than {MAX_NAME_CHARS} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery() -> Gallery {
        let mut g = Gallery::new("m", 2);
        g.enroll("ada", vec![0.0, 1.0]).unwrap();
        g.enroll("ada", vec![0.0, 0.8]).unwrap();
        g.enroll("bob", vec![1.0, 0.0]).unwrap();
        g
    }

    #[test]
    fn find_ranks_by_best_distance_and_reports_mean() {
        let matches = gallery().find(&[0.0, 0.9], Metric::Euclidean, 0.5).unwrap();
        assert_eq!(matches[0].name, "ada");
        assert!((matches[0].best_distance - 0.1).abs() < 1e-6);
        assert!((matches[0].mean_distance - 0.1).abs() < 1e-6);
        assert!(matches[0].verified);
        assert!(!matches[1].verified);
    }

    #[test]
    fn round_trips_through_json() {
        let g = gallery();
        assert_eq!(Gallery::from_json(&g.to_json(), "m", 2).unwrap(), g);
    }

    #[test]
    fn refuses_bad_files() {
        let good = gallery().to_json();
        let cases = [
            String::new(),
            "{".into(),
            "[]".into(),
            good.replace("\"m\"", "\"other\""),
            good.replace("\"embedding_size\":2", "\"embedding_size\":3"),
            good.replace("\"format_version\":1", "\"format_version\":9"),
            good.replace("faceverify-gallery", "something-else"),
            good.replace("[1.0,0.0]", "[1.0]"),
            good.replace("[1.0,0.0]", "[1.0,\"x\"]"),
            good.replace("\"bob\"", "\"ada\""),
            good.replace("\"bob\"", "\"  \""),
            good.replace("[[1.0,0.0]]", "[]"),
            good.replace("[1.0,0.0]", "[0.0,0.0]"),
            good.replace("[1.0,0.0]", "[1e30,0.0]"),
        ];
        for case in cases {
            let err = Gallery::from_json(&case, "m", 2).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::GalleryInvalid, "{case}: {err}");
        }
    }

    #[test]
    fn refuses_nan_zero_huge_and_wrong_sizes_on_enrol() {
        let mut g = gallery();
        assert!(g.enroll("x", vec![f32::NAN, 0.0]).is_err());
        assert!(g.enroll("x", vec![0.0, 0.0]).is_err());
        assert!(g.enroll("x", vec![1e9, 0.0]).is_err());
        assert_eq!(g.find(&[0.0, 0.0], Metric::Euclidean, 0.5).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(g.enroll("x", vec![0.0]).is_err());
        assert!(g.enroll("", vec![0.0, 0.0]).is_err());
        assert_eq!(g, gallery());
    }

    #[test]
    fn rename_and_remove() {
        let mut g = gallery();
        assert!(g.rename("bob", "rob").unwrap());
        assert!(g.rename("rob", "ada").is_err());
        assert!(g.remove("rob"));
        assert!(!g.remove("rob"));
        assert_eq!(g.identities(), vec![IdentitySummary { name: "ada".into(), count: 2 }]);
        assert_eq!(g.find(&[0.0, 0.9], Metric::Euclidean, 0.5).unwrap().len(), 1);
        let mut again = Gallery::new("m", 2);
        again.enroll("ada", vec![0.0, 1.0]).unwrap();
        again.enroll("ada", vec![0.0, 0.8]).unwrap();
        assert_eq!(g, again, "removal leaves the same state as never enrolling");
    }

    /// Deterministic uniform vectors in ±range/2.
    fn uniform_rows(count: usize, size: usize, seed: u64, range: impl Fn(usize) -> f32) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        (0..count).map(|i| (0..size).map(|_| next() * range(i)).collect()).collect()
    }

    /// Vectors with very different ranges, near-zero rows and outliers.
    fn varied_rows(count: usize, size: usize, seed: u64) -> Vec<Vec<f32>> {
        uniform_rows(count, size, seed, |i| [1e-3, 0.1, 1.0, 30.0][i % 4])
            .into_iter()
            .enumerate()
            .map(|(i, mut row)| {
                match i % 7 {
                    0 => row.iter_mut().for_each(|x| *x *= 1e-2),
                    1 => row[i % size] = 50.0,
                    _ => {}
                }
                row
            })
            .collect()
    }

    #[test]
    fn int8_key_bounds_hold_for_every_row() {
        let rows = varied_rows(400, 128, 7);
        for probe in varied_rows(12, 128, 99) {
            let code = Code::of(&probe);
            for row in &rows {
                let mut codes = Vec::new();
                let stats = quantize(row, &mut codes);
                for metric in [Metric::Euclidean, Metric::Cosine] {
                    let (key, error) = bounded_key(metric, &codes, &stats, &code);
                    let exact_dot: f64 = row.iter().zip(&probe).map(|(&a, &b)| a as f64 * b as f64).sum();
                    let exact = if metric.uses_dot() {
                        -exact_dot * stats.inverse_norm as f64
                    } else {
                        stats.squared_norm as f64 - 2.0 * exact_dot
                    };
                    assert!((key as f64 - exact).abs() <= error as f64, "{metric}: {key} vs {exact} ± {error}");
                }
            }
        }
    }

    #[test]
    fn int8_filter_keeps_results_exact_and_prunes() {
        let rows = varied_rows(3000, 128, 3);
        let mut g = Gallery::new("m", 128);
        for (i, row) in rows.iter().enumerate() {
            g.enroll(&format!("p{}", i % 1000), row.clone()).unwrap();
        }
        for (n, probe) in varied_rows(6, 128, 11).into_iter().enumerate() {
            for metric in Metric::ALL {
                let mut brute: Vec<(f32, usize)> = (0..1000)
                    .map(|owner| {
                        let best = (owner..3000).step_by(1000).map(|r| metric.distance(&probe, &rows[r]).unwrap()).fold(f32::INFINITY, f32::min);
                        (best, owner)
                    })
                    .collect();
                brute.sort_by(|a, b| a.0.total_cmp(&b.0));
                let found = g.find_top(&probe, metric, 0.5, 5).unwrap();
                let distances: Vec<f32> = found.iter().map(|m| m.best_distance).collect();
                let expected: Vec<f32> = brute[..5].iter().map(|b| b.0).collect();
                assert_eq!(distances, expected, "{metric}, probe {n}");
            }
        }
    }

    #[test]
    fn int8_filter_prunes_embedding_like_rows() {
        // Rows of one range, as a model's embeddings are (the benchmark's random gallery).
        let rows = uniform_rows(5000, 128, 5, |_| 0.2);
        let mut g = Gallery::new("m", 128);
        for (i, row) in rows.iter().enumerate() {
            g.enroll(&format!("p{i}"), row.clone()).unwrap();
        }
        for probe in uniform_rows(10, 128, 13, |_| 0.2) {
            for metric in [Metric::Euclidean, Metric::Cosine] {
                let left = g.candidates(&probe, metric, 5).iter().filter(|&&c| c).count();
                println!("{metric}: {left} of {} identities ranked exactly", rows.len());
                assert!(left < 50, "{metric}: {left} of {} identities left to rank exactly", rows.len());
            }
        }
    }

    #[test]
    fn search_agrees_with_metric_distance_and_limits() {
        let mut g = Gallery::new("m", 20);
        let vector = |seed: usize| (0..20).map(|i| ((i * 7 + seed * 13) % 17) as f32 / 17.0 - 0.4).collect::<Vec<f32>>();
        for n in 0..50 {
            g.enroll(&format!("p{}", n % 10), vector(n)).unwrap();
        }
        let probe = vector(3);
        for metric in Metric::ALL {
            let all = g.find(&probe, metric, 0.5).unwrap();
            assert_eq!(all.len(), 10);
            for m in &all {
                let owner: usize = m.name[1..].parse().unwrap();
                let expected = (0..50).filter(|n| n % 10 == owner).map(|n| metric.distance(&probe, &vector(n)).unwrap()).fold(f32::INFINITY, f32::min);
                assert!((m.best_distance - expected).abs() < 1e-5, "{metric} {}: {} vs {expected}", m.name, m.best_distance);
            }
            assert!(all.windows(2).all(|w| w[0].best_distance <= w[1].best_distance));
            assert_eq!(g.find_top(&probe, metric, 0.5, 3).unwrap(), all[..3].to_vec());
        }
    }
}
