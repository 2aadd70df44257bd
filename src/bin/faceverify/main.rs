//! `faceverify`: the pipeline on the command line. Exit status: 0 same person (or success),
//! 1 different people, 2 error. Errors go to stderr as `faceverify: message`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use faceverify::evaluate::{balanced_accuracy, best_balanced_threshold, evaluate, fit_logistic, roc, roc_svg, Scored};
use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::{decode_owned, Decoded};
use faceverify::pipeline::quality::ENROL_BAR;
use faceverify::pipeline::gallery::Gallery;
use faceverify::pipeline::detect::Face;
use faceverify::pipeline::network::to_nnef;
use faceverify::registry::{AlignMethod, ModelSpec, Registry};
use faceverify::{Analysis, Error, ErrorKind, Result, Source, Verifier};
use serde_json::json;

/// `println!` for results: when stdout is closed early (`faceverify embed … | head`), the
/// program ends quietly with success, as Unix tools do, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => { $crate::emit(format_args!($($arg)*)) };
}

mod db;
mod store;

fn emit(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(line).and_then(|_| stdout.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("faceverify: cannot write the output: {e}");
        std::process::exit(2);
    }
}

#[derive(Parser)]
#[command(version, about = "Face verification: detect, align, embed, compare")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Are the largest faces in A and B the same person?
    Verify {
        a: PathBuf,
        b: PathBuf,
        #[command(flatten)]
        decision: DecisionArgs,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Is PROBE the person enrolled from several photos? Reports best and mean distance.
    Match {
        probe: PathBuf,
        /// A photo of the enrolled person (repeat for several).
        #[arg(long = "enrol", required = true)]
        enrolled: Vec<PathBuf>,
        /// Refuse an enrolment photo whose face quality (0–1) is below this (LOW_QUALITY).
        #[arg(long, default_value_t = ENROL_BAR)]
        min_quality: f32,
        #[command(flatten)]
        decision: DecisionArgs,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// The embedding of the largest face in each IMG (with --json, one JSON line per image;
    /// an image that fails gives a line with its error and the others go on).
    Embed {
        #[arg(required = true)]
        img: Vec<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Every face in IMG with its box, score and keypoints.
    Detect {
        img: PathBuf,
        /// Use the live camera's path (the camera detector, upright only) instead of the
        /// photo path.
        #[arg(long)]
        camera: bool,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Every face in IMG with its box, keypoints, quality and, when asked, attributes
    /// (apparent age, gender, expression: estimates of appearance, see docs/attributes.md).
    Analyze {
        img: PathBuf,
        /// Attributes to estimate, comma-separated: age, gender, expression.
        #[arg(long, value_delimiter = ',')]
        attributes: Vec<String>,
        /// Use the live camera's path (the camera detector, upright only).
        #[arg(long)]
        camera: bool,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Accuracy over labelled pairs (CSVs: file_x, file_y, and `same` or `Decision`).
    Eval {
        /// A pair list (repeat to pool several).
        #[arg(long, required = true)]
        pairs: Vec<PathBuf>,
        /// Folder the CSVs' paths are relative to (default: each CSV's folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Write every pair's distance per metric to this CSV.
        #[arg(long)]
        distances: Option<PathBuf>,
        /// Metric to report; default: all of them.
        #[arg(long)]
        metric: Option<String>,
        /// Write the ROC curve of each metric as SVG (FILE.svg, or FILE-<metric>.svg for several).
        #[arg(long)]
        roc: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Galleries of any size in PostgreSQL with pgvector: init, enrol, find, import, export,
    /// index (docs/database.md).
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Choose the model's operating point and confidence calibration from labelled pairs
    /// and write them into the manifest: the threshold with the best balanced accuracy over
    /// all the pairs given (the middle of the best range), for euclidean and for cosine
    /// (euclidean_l2 and angular are derived from cosine's, so the three agree), and a
    /// logistic fit of P(same | distance) per metric at even prior odds. Balanced, because
    /// the share of same pairs in labelled data is not the one a model meets: a threshold
    /// tuned to a mix of 6 % same pairs is too strict for LFW's 50 %.
    Calibrate {
        /// A pair list (repeat to pool several).
        #[arg(long, required = true)]
        pairs: Vec<PathBuf>,
        /// Folder the CSVs' paths are relative to (default: each CSV's folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// The manifest to update.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.json"))]
        manifest: PathBuf,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Write a model's ONNX file as tract's NNEF, the file the browser downloads (the
    /// manifest's `nnef`); models/build.py runs it at build time.
    Nnef {
        /// Model id (see models/manifest.json).
        id: String,
        /// The model's converted ONNX file.
        onnx: PathBuf,
        /// Where to write the NNEF tar.
        out: PathBuf,
    },
}

/// How "same person" is decided.
#[derive(Args)]
struct DecisionArgs {
    /// Distance metric: cosine, euclidean, euclidean_l2, angular.
    #[arg(long, default_value = "euclidean")]
    metric: String,
    /// Accept at or below this (best) distance instead of the model's threshold.
    #[arg(long)]
    threshold: Option<f32>,
}

#[derive(Args)]
struct ModelArgs {
    /// Recognition model id (see models/manifest.json).
    #[arg(long)]
    model: Option<String>,
    /// Detector model id.
    #[arg(long)]
    detector: Option<String>,
    /// How faces are cut out: box, eye_rotation, similarity [default: the model's].
    #[arg(long)]
    alignment: Option<String>,
    /// Folder with the converted .onnx files [env: FACEVERIFY_MODELS].
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ModelArgs {
    fn dir(&self) -> PathBuf {
        self.models_dir
            .clone()
            .or_else(|| std::env::var_os("FACEVERIFY_MODELS").map(PathBuf::from))
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/build/onnx"))
    }

    fn load(&self) -> Result<Verifier> {
        let verifier = Verifier::from_dir(&self.dir(), self.detector.as_deref(), self.model.as_deref())?;
        Ok(match &self.alignment {
            Some(method) => verifier.with_alignment(method.parse()?),
            None => verifier,
        })
    }
}

fn read_image(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::new(ErrorKind::ImageDecode, format!("cannot read \"{}\": {e}", path.display())))?;
    decode_owned(bytes).map_err(|e| e.context(format!("\"{}\"", path.display())))
}

/// The photo's analysis; its warnings go to stderr (and, with `--json`, into the output).
fn analyze(verifier: &Verifier, path: &Path) -> Result<Analysis> {
    let analysis = verifier.analyze_decoded(&read_image(path)?, Source::Photo).map_err(|e| e.context(format!("\"{}\"", path.display())))?;
    for warning in &analysis.warnings {
        eprintln!("faceverify: warning: \"{}\": {} [{}]", path.display(), warning.message, warning.code);
    }
    Ok(analysis)
}

fn face_json(analysis: &Analysis) -> serde_json::Value {
    let face = &analysis.faces[analysis.chosen];
    json!({"box": face.bbox, "score": face.score, "landmarks": face.keypoints, "cut": face.cut, "quality": face.quality,
           "count": analysis.faces.len(), "rotation": analysis.rotation, "warnings": analysis.warnings})
}

/// One face for people: box, detector score, quality, and attributes when estimated.
fn face_line(face: &Face) -> String {
    let b = face.bbox;
    let quality = face.quality.as_ref().map(|q| format!(" quality {:.2}", q.score)).unwrap_or_default();
    let estimates: Vec<String> = face.attributes.iter().flatten().map(|(name, e)| match (&e.label, e.value) {
        (Some(label), _) => format!("{name} {label} ({:.0} %)", e.probability.unwrap_or(0.0) * 100.0),
        (None, Some(v)) => format!("{name} {v:.0}{}", e.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()),
        _ => name.clone(),
    }).collect();
    let estimates = if estimates.is_empty() { String::new() } else { format!(" · {}", estimates.join(", ")) };
    format!("{:.0},{:.0} {:.0}×{:.0} score {:.3}{quality}{estimates}", b.x, b.y, b.width, b.height, face.score)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Why a command failed: the library's error, with its code, or the database's (`DATABASE`).
enum Failure {
    Core(Error),
    Database(store::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Core(e)
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Failure {
        Failure::Database(e)
    }
}

fn run(cli: Cli) -> std::result::Result<ExitCode, Failure> {
    match cli.command {
        Command::Verify { a, b, decision, models } => {
            let metric: Metric = decision.metric.parse()?;
            let start = Instant::now();
            let verifier = models.load()?;
            let load_ms = ms(start);
            let start = Instant::now();
            let (first, second) = (analyze(&verifier, &a)?, analyze(&verifier, &b)?);
            let analyze_ms = ms(start);
            let verdict = verifier
                .verify(&first.embedding, &second.embedding, metric, decision.threshold)?
                .with_quality(first.faces[first.chosen].quality.clone(), second.faces[second.chosen].quality.clone());
            if models.json {
                let mut out = serde_json::to_value(&verdict).unwrap_or_default();
                out["faces"] = json!([face_json(&first), face_json(&second)]);
                out["ms"] = json!({"load": load_ms, "analyze": analyze_ms});
                out!("{out}");
            } else {
                out!(
                    "{}{}: {} distance {:.4} (threshold {:.4}, {} on {})",
                    if verdict.warnings.is_empty() { "" } else { "too poor to decide, leaning to " },
                    if verdict.verified { "same person" } else { "different people" },
                    metric,
                    verdict.distance,
                    verdict.threshold,
                    metric,
                    verdict.model
                );
            }
            Ok(if verdict.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Match { probe, enrolled, min_quality, decision, models } => {
            let metric: Metric = decision.metric.parse()?;
            let verifier = models.load()?;
            let threshold = verifier.threshold(metric, decision.threshold)?;
            let spec = verifier.embedder_spec();
            let size = spec.output.as_ref().map_or(0, |o| o.size);
            let mut gallery = Gallery::new(&spec.id, size);
            for photo in &enrolled {
                let analysis = analyze(&verifier, photo)?;
                if let Some(quality) = &analysis.faces[analysis.chosen].quality {
                    quality.admit(min_quality).map_err(|e| e.context(format!("\"{}\"", photo.display())))?;
                }
                gallery.enroll("enrolled", analysis.embedding)?;
            }
            let probe_embedding = analyze(&verifier, &probe)?.embedding;
            let found = gallery.find(&probe_embedding, metric, threshold)?;
            let Some(best) = found.first() else {
                return Err(Error::new(ErrorKind::InvalidInput, "no photos enrolled").into());
            };
            if models.json {
                out!(
                    "{}",
                    json!({"verified": best.verified, "best_distance": best.best_distance, "mean_distance": best.mean_distance,
                           "threshold": threshold, "metric": metric, "model": spec.id, "enrolled": enrolled.len()})
                );
            } else {
                out!(
                    "{}: best {metric} distance {:.4}, mean {:.4} over {} photos (threshold {threshold:.4}, on the best)",
                    if best.verified { "same person" } else { "different people" },
                    best.best_distance,
                    best.mean_distance,
                    enrolled.len()
                );
            }
            Ok(if best.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Embed { img, models } => {
            let verifier = models.load()?;
            let mut failed = None;
            for path in &img {
                match (analyze(&verifier, path), models.json) {
                    (Ok(analysis), true) => out!(
                        "{}",
                        json!({"file": path, "embedding": analysis.embedding, "face": face_json(&analysis)})
                    ),
                    (Ok(analysis), false) => {
                        let values: Vec<String> = analysis.embedding.iter().map(|v| format!("{v:.6}")).collect();
                        out!("{}", values.join(" "));
                    }
                    (Err(e), true) => {
                        out!("{}", json!({"file": path, "error": e.to_string(), "code": e.kind().code()}));
                        failed = Some(e);
                    }
                    (Err(e), false) => return Err(e.into()),
                }
            }
            match failed {
                Some(e) if img.len() == 1 => Err(e.into()),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Detect { img, camera, models } => {
            let source = if camera { Source::Camera } else { Source::Photo };
            let faces = models.load()?.detect_decoded(&read_image(&img)?, source)?;
            if models.json {
                out!("{}", json!({"faces": faces, "count": faces.len()}));
            } else {
                for face in &faces {
                    out!("{}", face_line(face));
                }
            }
            Ok(if faces.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Analyze { img, attributes, camera, models } => {
            let mut verifier = models.load()?;
            verifier.load_attributes_from_dir(&models.dir(), &attributes)?;
            let source = if camera { Source::Camera } else { Source::Photo };
            let decoded = read_image(&img)?;
            let context = |e: Error| e.context(format!("\"{}\"", img.display()));
            let mut analysis = verifier.analyze_decoded(&decoded, source).map_err(context)?;
            verifier.estimate_attributes(&decoded.image, &mut analysis.faces, analysis.rotation, &attributes).map_err(context)?;
            if models.json {
                out!("{}", json!({"faces": analysis.faces, "chosen": analysis.chosen, "rotation": analysis.rotation, "warnings": analysis.warnings}));
            } else {
                for face in &analysis.faces {
                    out!("{}", face_line(face));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { pairs, root, distances, metric, roc, models } => {
            let metrics = match metric {
                Some(m) => vec![m.parse::<Metric>()?],
                None => Metric::ALL.to_vec(),
            };
            let pairs = LabelledPairs::embed(&models.load()?, &pairs, root)?;
            if let Some(path) = distances {
                pairs.write_distances(&path)?;
            }
            Ok(eval(&pairs, &metrics, roc.as_deref(), models.json)?)
        }
        Command::Calibrate { pairs, root, manifest, models } => {
            Ok(calibrate(&LabelledPairs::embed(&models.load()?, &pairs, root)?, &manifest)?)
        }
        Command::Db { command } => db::run(command),
        Command::Nnef { id, onnx, out } => {
            let spec = Registry::builtin().models.iter().find(|m| m.id == id).ok_or_else(|| {
                Error::new(ErrorKind::UnknownModel, format!("unknown model \"{id}\" (see models/manifest.json)"))
            })?;
            let io = |path: &Path, e: std::io::Error| Error::new(ErrorKind::InvalidInput, format!("\"{}\": {e}", path.display()));
            let tar = to_nnef(spec, &std::fs::read(&onnx).map_err(|e| io(&onnx, e))?)?;
            std::fs::write(&out, tar).map_err(|e| io(&out, e))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads `file_x,file_y,<same|Decision>` rows.
fn read_pairs(path: &Path) -> Result<Vec<(String, String, bool)>> {
    let bad = |msg: String| Error::new(ErrorKind::InvalidInput, format!("\"{}\": {msg}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (x, y) = column("file_x").zip(column("file_y")).ok_or_else(|| bad("needs columns file_x and file_y".into()))?;
    let label = column("same").or_else(|| column("Decision")).ok_or_else(|| bad("needs a column same or Decision".into()))?;
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let same = match field(label).to_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            other => return Err(bad(format!("row {}: label \"{other}\" is not 1/0, true/false or Yes/No", line + 2))),
        };
        rows.push((field(x), field(y), same));
    }
    Ok(rows)
}

/// Labelled pairs with the embedding (or the error) of every image they name.
struct LabelledPairs {
    /// The pair lists' file names, and all of them joined by " + ".
    lists: Vec<String>,
    source: String,
    model: ModelSpec,
    alignment: AlignMethod,
    /// Image paths (as resolved), the label, and the index of the list the pair is from.
    rows: Vec<(PathBuf, PathBuf, bool, usize)>,
    embeddings: HashMap<PathBuf, std::result::Result<Vec<f32>, String>>,
}

impl LabelledPairs {
    fn embed(verifier: &Verifier, lists: &[PathBuf], root: Option<PathBuf>) -> Result<LabelledPairs> {
        let mut rows = Vec::new();
        for (i, list) in lists.iter().enumerate() {
            let dir = root.clone().unwrap_or_else(|| list.parent().unwrap_or(Path::new(".")).to_path_buf());
            rows.extend(read_pairs(list)?.into_iter().map(|(x, y, same)| (dir.join(x), dir.join(y), same, i)));
        }
        let mut embeddings = HashMap::new();
        for (x, y, _, _) in &rows {
            for file in [x, y] {
                if !embeddings.contains_key(file) {
                    let result = analyze(verifier, file).map(|a| a.embedding).map_err(|e| e.to_string());
                    embeddings.insert(file.clone(), result);
                }
            }
        }
        let names: Vec<String> = lists.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
        Ok(LabelledPairs {
            source: names.join(" + "),
            lists: names,
            model: verifier.embedder_spec().clone(),
            alignment: verifier.alignment(),
            rows,
            embeddings,
        })
    }

    fn scored(&self, metric: Metric) -> Vec<Scored> {
        self.scored_in(metric, None)
    }

    /// The pairs of list `list` (all lists when `None`), scored by `metric`.
    fn scored_in(&self, metric: Metric, list: Option<usize>) -> Vec<Scored> {
        self.rows
            .iter()
            .filter(|row| list.is_none_or(|l| row.3 == l))
            .map(|(x, y, same, _)| {
                let distance = match (&self.embeddings[x], &self.embeddings[y]) {
                    (Ok(a), Ok(b)) => metric.distance(a, b).ok(),
                    _ => None,
                };
                Scored { distance, same: *same }
            })
            .collect()
    }

    fn failed(&self) -> Vec<String> {
        let mut failed: Vec<String> = self.embeddings.values().filter_map(|r| r.as_ref().err().cloned()).collect();
        failed.sort();
        failed
    }

    /// One row per pair: both files, the label, and the distance by every metric (empty
    /// where a face was not found).
    fn write_distances(&self, path: &Path) -> Result<()> {
        let bad = |e: String| Error::new(ErrorKind::InvalidInput, format!("cannot write \"{}\": {e}", path.display()));
        let mut writer = csv::Writer::from_path(path).map_err(|e| bad(e.to_string()))?;
        let mut header = vec!["file_x".to_string(), "file_y".into(), "same".into()];
        header.extend(Metric::ALL.iter().map(|m| m.to_string()));
        writer.write_record(&header).map_err(|e| bad(e.to_string()))?;
        let scored: Vec<Vec<Scored>> = Metric::ALL.iter().map(|&m| self.scored(m)).collect();
        for (i, (x, y, same, _)) in self.rows.iter().enumerate() {
            let mut record = vec![x.display().to_string(), y.display().to_string(), (*same as u8).to_string()];
            record.extend(scored.iter().map(|s| s[i].distance.map(|d| d.to_string()).unwrap_or_default()));
            writer.write_record(&record).map_err(|e| bad(e.to_string()))?;
        }
        writer.flush().map_err(|e| bad(e.to_string()))
    }
}

/// Reports per pair list (and pooled, for several), per metric; text or one JSON object
/// `{model, alignment, lists: {name: {metric: report}}, failed}`.
fn eval(pairs: &LabelledPairs, metrics: &[Metric], roc_path: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let mut groups: Vec<(String, Option<usize>)> = pairs.lists.iter().enumerate().map(|(i, name)| (name.clone(), Some(i))).collect();
    if pairs.lists.len() > 1 {
        groups.push((pairs.source.clone(), None));
    }
    let mut lists = serde_json::Map::new();
    for (name, list) in &groups {
        let mut reports = serde_json::Map::new();
        if !as_json {
            out!("{name}:");
        }
        for metric in metrics {
            let threshold = pairs.model.threshold(*metric).map(|t| t.value).unwrap_or(f32::NAN);
            let scored = pairs.scored_in(*metric, *list);
            let report = evaluate(&scored, threshold);
            if let (Some(path), None) = (roc_path, list) {
                let path = match metrics {
                    [_] => path.to_path_buf(),
                    _ => path.with_file_name(format!(
                        "{}-{metric}.svg",
                        path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
                    )),
                };
                let title = format!("{} · {} · {metric} · {name} · AUC {:.4}", pairs.model.id, pairs.alignment, report.auc);
                std::fs::write(&path, roc_svg(&roc(&scored), &title)).map_err(|e| {
                    Error::new(ErrorKind::InvalidInput, format!("cannot write \"{}\": {e}", path.display()))
                })?;
            }
            if !as_json {
                out!(
                    "  {:<13} accuracy {:.4} at {:.4} (balanced {:.4}) · best {:.4} at {:.4} · cv {:.4} · auc {:.4} · tar@far1e-3 {:.4} · d′ {:.2} · {} pairs, {} failed",
                    metric.to_string(), report.accuracy, report.threshold, report.balanced_accuracy, report.best_accuracy,
                    report.best_threshold, report.cv_accuracy, report.auc, report.tar_at_far_1e_3, report.d_prime,
                    report.n_pairs, report.n_failed
                );
            }
            reports.insert(metric.to_string(), serde_json::to_value(report).unwrap_or_default());
        }
        lists.insert(name.clone(), serde_json::Value::Object(reports));
    }
    if as_json {
        out!("{}", json!({"model": pairs.model.id, "alignment": pairs.alignment, "lists": lists, "failed": pairs.failed()}));
    } else {
        for f in pairs.failed() {
            out!("failed: {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn calibrate(pairs: &LabelledPairs, manifest_path: &Path) -> Result<ExitCode> {
    let bad = |msg: String| Error::new(ErrorKind::InvalidInput, format!("\"{}\": {msg}", manifest_path.display()));
    let text = std::fs::read_to_string(manifest_path).map_err(|e| bad(e.to_string()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let entry = manifest["models"]
        .as_array_mut()
        .and_then(|models| models.iter_mut().find(|m| m["id"] == json!(pairs.model.id)))
        .ok_or_else(|| bad(format!("has no model \"{}\"", pairs.model.id)))?;
    let euclidean = best_balanced_threshold(&pairs.scored(Metric::Euclidean));
    let cosine = best_balanced_threshold(&pairs.scored(Metric::Cosine));
    for metric in Metric::ALL {
        let threshold = match metric {
            Metric::Euclidean => euclidean,
            other => other.from_cosine(cosine).unwrap_or(cosine),
        };
        let scored = pairs.scored(metric);
        let report = evaluate(&scored, threshold);
        let calibration = fit_logistic(&scored).ok_or_else(|| bad("the pairs need both same and different pairs".into()))?;
        let mut source = format!(
            "best balanced accuracy (same and different pairs weighted equally) on {} ({} pairs, {} same, {} failed), the middle of the best range: {:.4} ({:.4} unweighted)",
            pairs.source,
            report.n_pairs,
            scored.iter().filter(|p| p.same).count(),
            report.n_failed,
            report.balanced_accuracy,
            report.accuracy
        );
        if metric != Metric::Euclidean && metric != Metric::Cosine {
            source += "; derived from the cosine threshold";
        }
        if let Some(published) = pairs.model.published.as_ref().filter(|p| p.metric == metric) {
            source += &format!(
                "; the authors' {} ({}) scores {:.4} here ({:.4} balanced)",
                published.value,
                published.source,
                evaluate(&scored, published.value).accuracy,
                balanced_accuracy(&scored, published.value)
            );
        }
        out!("{} {metric}: {threshold:.4}, P(same) = σ({:.3} {:+.3}·d), Brier {:.4} ({source})",
                 pairs.model.id, calibration.intercept, calibration.slope, calibration.brier);
        entry["thresholds"][metric.to_string()] = json!({"value": threshold, "source": source, "calibration": calibration});
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| bad(e.to_string()))? + "\n";
    std::fs::write(manifest_path, text).map_err(|e| bad(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(Failure::Core(err)) => {
            eprintln!("faceverify: {err} [{}]", err.kind().code());
            ExitCode::from(2)
        }
        Err(Failure::Database(err)) => {
            eprintln!("faceverify: {err} [DATABASE]");
            ExitCode::from(2)
        }
    }
}
