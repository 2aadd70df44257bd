//! `faceverify db …`: galleries too big for one device, in PostgreSQL with pgvector
//! (docs/database.md). Glue between the pipeline and [`crate::store`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use faceverify::pipeline::decode::decode_owned;
use faceverify::pipeline::gallery::{check_name, Gallery};
use faceverify::pipeline::quality::ENROL_BAR;
use faceverify::{Error, ErrorKind, Source, Verifier};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::store::{self, IndexParams, NewFace, Search, Store};
use crate::{Failure, ModelArgs};

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create the schema for the recognition model (tables, HNSW index); safe to repeat.
    Init {
        #[command(flatten)]
        db: DbArgs,
        /// Distance the index is built for: euclidean or cosine.
        #[arg(long, default_value = "euclidean")]
        metric: String,
        #[command(flatten)]
        index: IndexArgs,
    },
    /// Enrol every photo of DIR/<person>/<photo> (deeper folders count for their person):
    /// the largest face of each, on all cores. Files already enrolled (by sha256) are
    /// skipped, so an interrupted run resumes; bad files are reported and skipped.
    Enrol {
        #[command(flatten)]
        db: DbArgs,
        dir: PathBuf,
        /// Refuse a face whose quality (0–1) is below this (LOW_QUALITY).
        #[arg(long, default_value_t = ENROL_BAR)]
        min_quality: f32,
    },
    /// The identities nearest the largest face in PHOTO, with distances and the verdict
    /// at the model's threshold. Exit status 0 when the nearest is the same person.
    Find {
        #[command(flatten)]
        db: DbArgs,
        photo: PathBuf,
        /// How many identities.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
        k: u16,
        /// Compare with every face (a sequential scan) instead of searching the index.
        #[arg(long)]
        exact: bool,
        /// Nearest faces the index reads to rank the identities (1–1000): more is slower and
        /// misses less [default: 40 per identity asked for, at least 400].
        #[arg(long, conflicts_with = "exact", value_parser = clap::value_parser!(u16).range(1..=1000))]
        candidates: Option<u16>,
        /// Accept at or below this distance instead of the model's threshold.
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Add a gallery file (the browser's format) to the database, all or nothing.
    Import {
        #[command(flatten)]
        db: DbArgs,
        file: PathBuf,
    },
    /// Write the model's faces as a gallery file the browser imports.
    Export {
        #[command(flatten)]
        db: DbArgs,
        file: PathBuf,
    },
    /// Rebuild the HNSW index (after a bulk load, or with other parameters).
    Index {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        index: IndexArgs,
    },
}

#[derive(Args)]
pub struct DbArgs {
    /// The database: postgresql://user:password@host:port/dbname or key=value pairs. Prefer
    /// the environment variable: a password on the command line is visible to other users.
    #[arg(long, env = "FACEVERIFY_DATABASE_URL", hide_env_values = true)]
    url: String,
    #[command(flatten)]
    models: ModelArgs,
}

#[derive(Args)]
pub struct IndexArgs {
    /// HNSW links per node (2–100) [default: the index's own, else 16].
    #[arg(long)]
    m: Option<u32>,
    /// HNSW candidate list while building (2·m–1000) [default: the index's own, else 64].
    #[arg(long)]
    ef_construction: Option<u32>,
}

impl IndexArgs {
    /// The parameters asked for, the others from `current`.
    fn params(&self, current: IndexParams) -> IndexParams {
        IndexParams { m: self.m.unwrap_or(current.m), ef_construction: self.ef_construction.unwrap_or(current.ef_construction) }
    }
}

impl DbArgs {
    /// The pipeline and the store of its recognition model.
    fn open(&self) -> Result<(Verifier, Store), Failure> {
        let verifier = self.models.load()?;
        let (model, size) = embedder(&verifier);
        let store = Store::open(store::connect(&self.url)?, &model, size)?;
        Ok((verifier, store))
    }
}

fn embedder(verifier: &Verifier) -> (String, usize) {
    let spec = verifier.embedder_spec();
    (spec.id.clone(), spec.output.as_ref().map_or(0, |o| o.size))
}

pub fn run(command: DbCommand) -> Result<ExitCode, Failure> {
    match command {
        DbCommand::Init { db, metric, index } => {
            let (model, size) = embedder(&db.models.load()?);
            let mut store = Store::init(store::connect(&db.url)?, &model, size, metric.parse()?, index.params(IndexParams::default()))?;
            let (identities, faces) = store.counts()?;
            if db.models.json {
                out!("{}", json!({"model": model, "embedding_size": size, "metric": store.metric(), "identities": identities, "faces": faces}));
            } else {
                out!("{}: model {model} ({size}-d, {} distance) ready, {faces} faces of {identities} identities", store::redacted(&db.url), store.metric());
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Enrol { db, dir, min_quality } => {
            let (verifier, mut store) = db.open()?;
            enrol(&verifier, &mut store, &dir, min_quality, db.models.json)
        }
        DbCommand::Find { db, photo, k, exact, candidates, threshold } => {
            let (verifier, mut store) = db.open()?;
            let metric = store.metric();
            let threshold = verifier.threshold(metric, threshold)?;
            let probe = crate::analyze(&verifier, &photo)?.embedding;
            let search = match (exact, candidates) {
                (true, _) => Search::Exact,
                (false, n) => Search::Index { candidates: n.map_or_else(|| store::candidates(k as usize), usize::from) },
            };
            let matches = store.find(&probe, k as usize, search, threshold)?;
            if db.models.json {
                out!("{}", json!({"matches": matches, "threshold": threshold, "metric": metric, "model": verifier.embedder_spec().id, "exact": exact}));
            } else {
                for (rank, m) in matches.iter().enumerate() {
                    out!(
                        "{}. {}: {} distance {:.4}, mean {:.4} · {}",
                        rank + 1,
                        m.name,
                        metric,
                        m.best_distance,
                        m.mean_distance,
                        if m.verified { "same person" } else { "different people" }
                    );
                }
                out!("(threshold {threshold:.4} on the best; {})", if exact { "every face compared" } else { "HNSW index" });
            }
            Ok(if matches.first().is_some_and(|m| m.verified) { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        DbCommand::Import { db, file } => {
            let (verifier, mut store) = db.open()?;
            let (model, size) = embedder(&verifier);
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::new(ErrorKind::GalleryInvalid, format!("cannot read \"{}\": {e}", file.display())))?;
            // Validated whole before anything is written: a bad file changes nothing.
            let gallery = Gallery::from_json(&text, &model, size).map_err(|e| e.context(format!("\"{}\"", file.display())))?;
            let report = store.import(&gallery, &file.display().to_string())?;
            let (identities, faces) = store.counts()?;
            let index_seconds = report.index.as_ref().map(|i| i.seconds);
            if db.models.json {
                out!(
                    "{}",
                    json!({"identities_created": report.identities_created, "faces_added": report.faces_added,
                           "index_rebuilt_seconds": index_seconds, "identities": identities, "faces": faces})
                );
            } else {
                out!(
                    "imported {} of {} embeddings ({} new identities; the others were there already): {faces} faces of {identities} identities now{}",
                    report.faces_added,
                    gallery.len(),
                    report.identities_created,
                    index_seconds.map(|s| format!("; HNSW index rebuilt in {s:.1} s")).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Export { db, file } => {
            let (_, mut store) = db.open()?;
            let gallery = store.export()?;
            let bad = |e: std::io::Error| Error::new(ErrorKind::InvalidInput, format!("cannot write \"{}\": {e}", file.display()));
            // A new or regular file is written beside the target and renamed (an interrupted
            // export leaves no half file), through a link to where it points; anything else (a
            // pipe, /dev/stdout) is written as it is.
            let target = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            match std::fs::metadata(&target) {
                Ok(meta) if !meta.is_file() => std::fs::write(&target, gallery.to_json()).map_err(bad)?,
                _ => {
                    let partial = target.with_extension("partial");
                    std::fs::write(&partial, gallery.to_json()).map_err(bad)?;
                    std::fs::rename(&partial, &target).map_err(bad)?;
                }
            }
            if db.models.json {
                out!("{}", json!({"identities": gallery.identities().len(), "faces": gallery.len()}));
            } else {
                out!("exported {} embeddings of {} identities to \"{}\"", gallery.len(), gallery.identities().len(), file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Index { db, index } => {
            let (_, mut store) = db.open()?;
            let params = index.params(store.index_params());
            let report = store.build_index(params)?;
            if db.models.json {
                out!("{}", json!({"seconds": report.seconds, "bytes": report.bytes, "m": params.m, "ef_construction": params.ef_construction}));
            } else {
                out!("HNSW index (m = {}, ef_construction = {}) built in {:.1} s, {:.1} MB", params.m, params.ef_construction, report.seconds, report.bytes as f64 / 1e6);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A photo to enrol: its person, path, and path as shown (relative to the enrolled folder).
struct Photo {
    person: String,
    path: PathBuf,
    shown: String,
}

/// What became of one photo.
enum Outcome {
    Face(NewFace),
    AlreadyEnrolled,
    Failed(String, Error),
}

/// Files as shown, with why each was refused.
type Refused = Vec<(String, Error)>;

/// The photos under `dir/<person>/`, in name order, and the files that are not in a
/// person's folder. Hidden files and folders are left out.
fn photos_in(dir: &Path) -> Result<(Vec<Photo>, Refused), Failure> {
    if !dir.is_dir() {
        return Err(Error::new(ErrorKind::InvalidInput, format!("\"{}\" is not a folder", dir.display())).into());
    }
    let (mut photos, mut misplaced) = (Vec::new(), Vec::new());
    let walk = walkdir::WalkDir::new(dir).follow_links(true).min_depth(1).sort_by_file_name();
    let hidden = |e: &walkdir::DirEntry| e.file_name().to_string_lossy().starts_with('.');
    for entry in walk.into_iter().filter_entry(|e| !hidden(e)) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let shown = e.path().map(|p| p.display().to_string()).unwrap_or_else(|| dir.display().to_string());
                misplaced.push((shown, Error::new(ErrorKind::ImageDecode, format!("cannot read: {e}"))));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let shown = relative.display().to_string();
        let mut parts = relative.components();
        match (parts.next(), parts.next()) {
            (Some(person), Some(_)) => {
                let person = person.as_os_str().to_string_lossy().into_owned();
                // Refused per file, so one badly named folder does not stop the run.
                match check_name(&person) {
                    Ok(()) => photos.push(Photo { person, path: entry.into_path(), shown }),
                    Err(e) => misplaced.push((shown, Error::new(ErrorKind::InvalidInput, format!("the folder's name: {e}")))),
                }
            }
            _ => misplaced.push((shown, Error::new(ErrorKind::InvalidInput, "not in a person's folder (DIR/<person>/<photo>)"))),
        }
    }
    Ok((photos, misplaced))
}

fn embed_photo(verifier: &Verifier, photo: &Photo, enrolled: &HashSet<[u8; 32]>, min_quality: f32) -> Outcome {
    let attempt = || -> Result<Option<NewFace>, Error> {
        let bytes = std::fs::read(&photo.path).map_err(|e| Error::new(ErrorKind::ImageDecode, format!("cannot read: {e}")))?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        if enrolled.contains(&sha256) {
            return Ok(None);
        }
        let analysis = verifier.analyze_decoded(&decode_owned(bytes)?, Source::Photo)?;
        if let Some(warning) = analysis.warnings.iter().find(|w| w.code == "SIMILAR_FACES") {
            // Which of the faces is the folder's person is a guess: enrol none.
            return Err(Error::new(ErrorKind::InvalidInput, format!("{} [{}]", warning.message, warning.code)));
        }
        let face = &analysis.faces[analysis.chosen];
        if let Some(quality) = &face.quality {
            quality.admit(min_quality)?;
        }
        let b = face.bbox;
        Ok(Some(NewFace {
            person: photo.person.clone(),
            quality: face.quality.as_ref().map(|q| q.score),
            bbox: [b.x, b.y, b.width, b.height],
            embedding: analysis.embedding,
            source_file: photo.shown.clone(),
            sha256,
        }))
    };
    match attempt() {
        Ok(Some(face)) => Outcome::Face(face),
        Ok(None) => Outcome::AlreadyEnrolled,
        Err(e) => Outcome::Failed(photo.shown.clone(), e),
    }
}

/// Faces are committed in batches of this many, or after this long: what a killed run loses.
const BATCH: usize = 32;
const BATCH_TIME: Duration = Duration::from_secs(2);

fn enrol(verifier: &Verifier, store: &mut Store, dir: &Path, min_quality: f32, as_json: bool) -> Result<ExitCode, Failure> {
    if !(0.0..=1.0).contains(&min_quality) {
        return Err(Error::new(ErrorKind::InvalidInput, format!("--min-quality must be within 0–1, not {min_quality}")).into());
    }
    let start = Instant::now();
    let (photos, misplaced) = photos_in(dir)?;
    let enrolled = store.enrolled_files()?;
    let (people_before, _) = store.counts()?;
    let bar = ProgressBar::new(photos.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} photos · {per_sec} · ETA {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed: Refused = Vec::new();
    let report = |bar: &ProgressBar, shown: &str, e: &Error| bar.suspend(|| eprintln!("faceverify: skipped \"{shown}\": {e} [{}]", e.kind().code()));
    for (shown, e) in misplaced {
        report(&bar, &shown, &e);
        failed.push((shown, e));
    }
    let (mut added, mut skipped, mut duplicates) = (0u64, 0u64, 0u64);
    let (sender, faces) = mpsc::sync_channel::<Outcome>(2 * BATCH);
    std::thread::scope(|scope| -> Result<(), Failure> {
        let enrolled = &enrolled;
        // The pipeline on every core; this thread writes to the database.
        scope.spawn(move || {
            // A send fails once this thread stopped listening (a database error): then stop too.
            let _ = photos.par_iter().try_for_each_with(sender, |sender, photo| sender.send(embed_photo(verifier, photo, enrolled, min_quality)));
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut since = Instant::now();
        let mut commit = |batch: &mut Vec<NewFace>| -> Result<(), Failure> {
            let n = store.add(batch)?;
            duplicates += batch.len() as u64 - n;
            added += n;
            batch.clear();
            Ok(())
        };
        for outcome in faces {
            match outcome {
                Outcome::Face(face) => batch.push(face),
                Outcome::AlreadyEnrolled => skipped += 1,
                Outcome::Failed(shown, e) => {
                    report(&bar, &shown, &e);
                    failed.push((shown, e));
                }
            }
            bar.inc(1);
            if batch.len() >= BATCH || (!batch.is_empty() && since.elapsed() >= BATCH_TIME) {
                commit(&mut batch)?;
                since = Instant::now();
            }
        }
        commit(&mut batch)
    })?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let (people, faces) = store.counts()?;
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, e) in &failed {
        *by_code.entry(e.kind().code()).or_default() += 1;
    }
    let rate = added as f64 / seconds.max(1e-9);
    if as_json {
        let failures: Vec<_> = failed.iter().map(|(file, e)| json!({"file": file, "error": e.to_string(), "code": e.kind().code()})).collect();
        out!(
            "{}",
            json!({"enrolled": added, "already_enrolled": skipped, "duplicates": duplicates, "failed": failures,
                   "new_identities": people - people_before, "identities": people, "faces": faces, "seconds": seconds, "faces_per_second": rate})
        );
    } else {
        let codes: Vec<String> = by_code.iter().map(|(code, n)| format!("{n} {code}")).collect();
        out!(
            "enrolled {added} faces in {seconds:.1} s ({rate:.1} faces/s, {} new identities); {skipped} already enrolled; {duplicates} duplicate files; {} failed{}",
            people - people_before,
            failed.len(),
            if codes.is_empty() { String::new() } else { format!(" ({})", codes.join(", ")) }
        );
        out!("{faces} faces of {people} identities in the database");
    }
    Ok(ExitCode::SUCCESS)
}
