//! `faceverify`: the pipeline on the command line. Exit status: 0 same person (or success),
//! 1 different people, 2 error. Errors go to stderr as `faceverify: message`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use faceverify::evaluate::{best_threshold, evaluate, roc, roc_svg, Scored};
use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::decode;
use faceverify::pipeline::gallery::Gallery;
use faceverify::registry::{AlignMethod, ModelSpec};
use faceverify::{Analysis, Error, ErrorKind, Result, Verifier};
use serde_json::json;

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
        #[command(flatten)]
        decision: DecisionArgs,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// The embedding of the largest face in IMG.
    Embed {
        img: PathBuf,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Every face in IMG with its box, score and keypoints.
    Detect {
        img: PathBuf,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Accuracy over labelled pairs (CSV: file_x, file_y, and `same` or `Decision`).
    Eval {
        #[arg(long)]
        pairs: PathBuf,
        /// Folder the CSV's paths are relative to (default: the CSV's folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Metric to report; default: all of them.
        #[arg(long)]
        metric: Option<String>,
        /// Write the ROC curve of each metric as SVG (FILE.svg, or FILE-<metric>.svg for several).
        #[arg(long)]
        roc: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Choose each metric's threshold from labelled pairs and write it into the manifest.
    Calibrate {
        #[arg(long)]
        pairs: PathBuf,
        /// Folder the CSV's paths are relative to (default: the CSV's folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Only these metrics (repeatable); default: all.
        #[arg(long)]
        metric: Vec<String>,
        /// The manifest to update.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.json"))]
        manifest: PathBuf,
        #[command(flatten)]
        models: ModelArgs,
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
    fn load(&self) -> Result<Verifier> {
        let dir = self
            .models_dir
            .clone()
            .or_else(|| std::env::var_os("FACEVERIFY_MODELS").map(PathBuf::from))
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/build/onnx"));
        let verifier = Verifier::from_dir(&dir, self.detector.as_deref(), self.model.as_deref())?;
        Ok(match &self.alignment {
            Some(method) => verifier.with_alignment(method.parse()?),
            None => verifier,
        })
    }
}

fn read_image(path: &Path) -> Result<image::RgbImage> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::new(ErrorKind::ImageDecode, format!("cannot read \"{}\": {e}", path.display())))?;
    decode(&bytes).map_err(|e| e.context(format!("\"{}\"", path.display())))
}

fn analyze(verifier: &Verifier, path: &Path) -> Result<Analysis> {
    verifier.analyze(&read_image(path)?).map_err(|e| e.context(format!("\"{}\"", path.display())))
}

fn face_json(analysis: &Analysis) -> serde_json::Value {
    let face = &analysis.faces[analysis.chosen];
    json!({"box": face.bbox, "score": face.score, "landmarks": face.keypoints, "count": analysis.faces.len()})
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Verify { a, b, decision, models } => {
            let metric: Metric = decision.metric.parse()?;
            let start = Instant::now();
            let verifier = models.load()?;
            let load_ms = ms(start);
            let start = Instant::now();
            let (first, second) = (analyze(&verifier, &a)?, analyze(&verifier, &b)?);
            let analyze_ms = ms(start);
            let verdict = verifier.verify(&first.embedding, &second.embedding, metric, decision.threshold)?;
            if models.json {
                let mut out = serde_json::to_value(&verdict).unwrap_or_default();
                out["faces"] = json!([face_json(&first), face_json(&second)]);
                out["ms"] = json!({"load": load_ms, "analyze": analyze_ms});
                println!("{out}");
            } else {
                println!(
                    "{}: {} distance {:.4} (threshold {:.4}, {} on {})",
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
        Command::Match { probe, enrolled, decision, models } => {
            let metric: Metric = decision.metric.parse()?;
            let verifier = models.load()?;
            let threshold = verifier.threshold(metric, decision.threshold)?;
            let spec = verifier.embedder_spec();
            let size = spec.output.as_ref().map_or(0, |o| o.size);
            let mut gallery = Gallery::new(&spec.id, size);
            for photo in &enrolled {
                gallery.enroll("enrolled", analyze(&verifier, photo)?.embedding)?;
            }
            let probe_embedding = analyze(&verifier, &probe)?.embedding;
            let found = gallery.find(&probe_embedding, metric, threshold)?;
            let Some(best) = found.first() else {
                return Err(Error::new(ErrorKind::InvalidInput, "no photos enrolled"));
            };
            if models.json {
                println!(
                    "{}",
                    json!({"verified": best.verified, "best_distance": best.best_distance, "mean_distance": best.mean_distance,
                           "threshold": threshold, "metric": metric, "model": spec.id, "enrolled": enrolled.len()})
                );
            } else {
                println!(
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
            let analysis = analyze(&models.load()?, &img)?;
            if models.json {
                println!("{}", json!({"embedding": analysis.embedding, "face": face_json(&analysis)}));
            } else {
                let values: Vec<String> = analysis.embedding.iter().map(|v| format!("{v:.6}")).collect();
                println!("{}", values.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { img, models } => {
            let faces = models.load()?.detect(&read_image(&img)?)?;
            if models.json {
                println!("{}", json!({"faces": faces, "count": faces.len()}));
            } else {
                for face in &faces {
                    let b = face.bbox;
                    println!("{:.0},{:.0} {:.0}×{:.0} score {:.3}", b.x, b.y, b.width, b.height, face.score);
                }
            }
            Ok(if faces.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Eval { pairs, root, metric, roc, models } => {
            let metrics = match metric {
                Some(m) => vec![m.parse::<Metric>()?],
                None => Metric::ALL.to_vec(),
            };
            eval(&LabelledPairs::embed(&models.load()?, &pairs, root)?, &metrics, roc.as_deref(), models.json)
        }
        Command::Calibrate { pairs, root, metric, manifest, models } => {
            let metrics = if metric.is_empty() {
                Metric::ALL.to_vec()
            } else {
                metric.iter().map(|m| m.parse()).collect::<Result<Vec<Metric>>>()?
            };
            calibrate(&LabelledPairs::embed(&models.load()?, &pairs, root)?, &metrics, &manifest)
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
    source: String,
    model: ModelSpec,
    alignment: AlignMethod,
    rows: Vec<(String, String, bool)>,
    embeddings: HashMap<String, std::result::Result<Vec<f32>, String>>,
}

impl LabelledPairs {
    fn embed(verifier: &Verifier, pairs: &Path, root: Option<PathBuf>) -> Result<LabelledPairs> {
        let rows = read_pairs(pairs)?;
        let root = root.unwrap_or_else(|| pairs.parent().unwrap_or(Path::new(".")).to_path_buf());
        let mut embeddings = HashMap::new();
        for (x, y, _) in &rows {
            for file in [x, y] {
                if !embeddings.contains_key(file) {
                    let result = analyze(verifier, &root.join(file)).map(|a| a.embedding).map_err(|e| e.to_string());
                    embeddings.insert(file.clone(), result);
                }
            }
        }
        Ok(LabelledPairs {
            source: pairs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            model: verifier.embedder_spec().clone(),
            alignment: verifier.alignment(),
            rows,
            embeddings,
        })
    }

    fn scored(&self, metric: Metric) -> Vec<Scored> {
        self.rows
            .iter()
            .map(|(x, y, same)| {
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
}

fn eval(pairs: &LabelledPairs, metrics: &[Metric], roc_path: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let mut reports = serde_json::Map::new();
    for metric in metrics {
        let threshold = pairs.model.threshold(*metric).map(|t| t.value).unwrap_or(f32::NAN);
        let scored = pairs.scored(*metric);
        let report = evaluate(&scored, threshold);
        if let Some(path) = roc_path {
            let path = match metrics {
                [_] => path.to_path_buf(),
                _ => path.with_file_name(format!(
                    "{}-{metric}.svg",
                    path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
                )),
            };
            let title = format!("{} · {} · {metric} · {} · AUC {:.4}", pairs.model.id, pairs.alignment, pairs.source, report.auc);
            std::fs::write(&path, roc_svg(&roc(&scored), &title)).map_err(|e| {
                Error::new(ErrorKind::InvalidInput, format!("cannot write \"{}\": {e}", path.display()))
            })?;
        }
        if !as_json {
            println!(
                "{:<13} accuracy {:.4} at {:.4} · best {:.4} at {:.4} · cv {:.4} · auc {:.4} · tar@far1e-3 {:.4} · d′ {:.2} · {} pairs, {} failed",
                metric.to_string(), report.accuracy, report.threshold, report.best_accuracy, report.best_threshold,
                report.cv_accuracy, report.auc, report.tar_at_far_1e_3, report.d_prime, report.n_pairs, report.n_failed
            );
        }
        reports.insert(metric.to_string(), serde_json::to_value(report).unwrap_or_default());
    }
    if as_json {
        let out = match (metrics, reports.values().next()) {
            ([metric], Some(single)) => {
                let mut single = single.clone();
                single["metric"] = json!(metric);
                single["model"] = json!(pairs.model.id);
                single["alignment"] = json!(pairs.alignment);
                single["failed"] = json!(pairs.failed());
                single
            }
            _ => json!({"model": pairs.model.id, "alignment": pairs.alignment, "metrics": reports, "failed": pairs.failed()}),
        };
        println!("{out}");
    } else {
        for f in pairs.failed() {
            println!("failed: {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn calibrate(pairs: &LabelledPairs, metrics: &[Metric], manifest_path: &Path) -> Result<ExitCode> {
    let bad = |msg: String| Error::new(ErrorKind::InvalidInput, format!("\"{}\": {msg}", manifest_path.display()));
    let text = std::fs::read_to_string(manifest_path).map_err(|e| bad(e.to_string()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let entry = manifest["models"]
        .as_array_mut()
        .and_then(|models| models.iter_mut().find(|m| m["id"] == json!(pairs.model.id)))
        .ok_or_else(|| bad(format!("has no model \"{}\"", pairs.model.id)))?;
    for metric in metrics {
        let scored = pairs.scored(*metric);
        let threshold = best_threshold(&scored);
        let report = evaluate(&scored, threshold);
        let source = format!(
            "calibrated on {} ({} pairs, {} failed): accuracy {:.4}, middle of the best range",
            pairs.source, report.n_pairs, report.n_failed, report.accuracy
        );
        println!("{} {metric}: {threshold:.4} ({source})", pairs.model.id);
        entry["thresholds"][metric.to_string()] = json!({"value": threshold, "source": source});
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| bad(e.to_string()))? + "\n";
    std::fs::write(manifest_path, text).map_err(|e| bad(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("faceverify: {err} [{}]", err.kind().code());
            ExitCode::from(2)
        }
    }
}
