//! The PostgreSQL store at scale (`make bench-db`, figures, not pass/fail), on a server the
//! benchmark starts itself (tests/pg.rs):
//! - enrolment throughput: `faceverify db enrol` over the labelled shared photos, faces/s;
//! - per gallery size: import (binary COPY), HNSW build time and index size, recall@1 and
//!   recall@10 of the index against the exact answer, and query latency p50/p99 of the index,
//!   of PostgreSQL's exhaustive scan (`--exact`) and of the browser's exact int8 search
//!   (the gallery module, run natively here), all on the same queries.
//!
//! Embeddings are synthetic but drawn like real ones: identities' centres and each photo's
//! deviation from its centre are Gaussian with the per-dimension spreads measured between and
//! within the people of tests/data/identities.csv (dlib's own embeddings), so distances of
//! same and different people come out near the real ones (printed beside them).
//!
//! usage: cargo bench --bench db -- [FACES …]   (default 100000 1000000; FACEVERIFY_CLI names
//! the CLI binary for the enrolment figure, FACEVERIFY_DB_JSON a file to write the figures to,
//! FACEVERIFY_HNSW="M EF_CONSTRUCTION" other index parameters)

#[allow(dead_code)]
#[path = "../tests/pg.rs"]
mod pg;
#[allow(dead_code)]
#[path = "../src/bin/faceverify/store.rs"]
mod store;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::gallery::Gallery;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde_json::json;

use pg::PgServer;
use store::{IndexParams, Search, Store};

/// Faces per synthetic identity, queries per size, identities a query asks for.
const FACES_PER_IDENTITY: usize = 10;
const QUERIES: usize = 1000;
const EXACT_QUERIES: usize = 100;
const K: usize = 10;
/// The index's candidate lists tried (pgvector's hnsw.ef_search).
const CANDIDATES: [usize; 4] = [100, 200, 400, 1000];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (file, person, dlib's embedding) of every labelled shared photo.
fn labelled() -> Vec<(String, String, Vec<f32>)> {
    let text = std::fs::read_to_string(root().join("tests/data/identities.csv")).expect("tests/data/identities.csv");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, person, e0) = (column("file"), column("person"), column("e0"));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let embedding = cells[e0..e0 + 128].iter().map(|v| v.parse().unwrap()).collect();
            (cells[file].to_string(), cells[person].to_string(), embedding)
        })
        .collect()
}

/// Per-dimension mean, between-identity and within-identity standard deviations.
struct Spread {
    mean: Vec<f32>,
    between: Vec<f32>,
    within: Vec<f32>,
}

fn spread(real: &[(String, String, Vec<f32>)]) -> Spread {
    let mut people: BTreeMap<&str, Vec<&Vec<f32>>> = BTreeMap::new();
    for (_, person, e) in real {
        people.entry(person).or_default().push(e);
    }
    let people: Vec<Vec<&Vec<f32>>> = people.into_values().filter(|v| v.len() >= 2).collect();
    let centre = |faces: &[&Vec<f32>]| (0..128).map(|d| faces.iter().map(|e| e[d]).sum::<f32>() / faces.len() as f32).collect::<Vec<f32>>();
    let centres: Vec<Vec<f32>> = people.iter().map(|p| centre(p)).collect();
    let mean = centre(&centres.iter().collect::<Vec<_>>());
    let between = (0..128)
        .map(|d| (centres.iter().map(|c| (c[d] - mean[d]).powi(2)).sum::<f32>() / (centres.len() - 1) as f32).sqrt())
        .collect();
    let (mut sum, mut n) = (vec![0f32; 128], 0usize);
    for (faces, c) in people.iter().zip(&centres) {
        for e in faces {
            for d in 0..128 {
                sum[d] += (e[d] - c[d]).powi(2);
            }
        }
        n += faces.len() - 1;
    }
    Spread { mean, between, within: sum.iter().map(|s| (s / n as f32).sqrt()).collect() }
}

fn draw(rng: &mut StdRng, centre: &[f32], sd: &[f32]) -> Vec<f32> {
    let normal = Normal::new(0f32, 1f32).unwrap();
    centre.iter().zip(sd).map(|(c, s)| c + s * normal.sample(rng)).collect()
}

/// Mean distance of same-person and different-person pairs.
fn pair_distances(faces: &[(usize, &[f32])]) -> (f32, f32) {
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for (i, (a, x)) in faces.iter().enumerate() {
        for (b, y) in &faces[i + 1..] {
            let d = Metric::Euclidean.distance(x, y).unwrap();
            if a == b { same.push(d) } else { different.push(d) }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    (mean(&same), mean(&different))
}

fn percentile(times: &mut [f64], p: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    times[((times.len() as f64 * p) as usize).min(times.len() - 1)]
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// `faceverify db enrol` over the labelled photos (links in DIR/<person>/), faces/s.
fn enrol_throughput(server: &PgServer, cli: &Path, real: &[(String, String, Vec<f32>)]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("faceverify-bench-enrol-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, person, _) in real {
        std::fs::create_dir_all(dir.join(person)).unwrap();
        let source = root().join("../shared/faces").join(file);
        std::os::unix::fs::symlink(&source, dir.join(person).join(file.replace('/', "_"))).unwrap();
    }
    let url = server.create_database("enrol");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(cli).args(args).env("FACEVERIFY_DATABASE_URL", &url).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    run(&["db", "init", "--json"]);
    let report = run(&["db", "enrol", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    json!({"photos": real.len(), "enrolled": report["enrolled"], "seconds": report["seconds"], "faces_per_second": report["faces_per_second"],
           "threads": std::thread::available_parallelism().map_or(1, |n| n.get())})
}

/// The index's parameters: pgvector's defaults, or FACEVERIFY_HNSW="M EF_CONSTRUCTION".
fn index_params() -> IndexParams {
    match std::env::var("FACEVERIFY_HNSW").ok().as_deref().map(|v| v.split_whitespace().map(|n| n.parse().unwrap()).collect::<Vec<u32>>()) {
        Some(v) => IndexParams { m: v[0], ef_construction: v[1] },
        None => IndexParams::default(),
    }
}

fn bench_size(server: &PgServer, faces: usize, spread: &Spread, rng: &mut StdRng) -> serde_json::Value {
    let identities = faces / FACES_PER_IDENTITY;
    let centres: Vec<Vec<f32>> = (0..identities).map(|_| draw(rng, &spread.mean, &spread.between)).collect();
    let mut gallery = Gallery::new("dlib-resnet", 128);
    for (i, centre) in centres.iter().enumerate() {
        for _ in 0..FACES_PER_IDENTITY {
            gallery.enroll(&format!("person {i}"), draw(rng, centre, &spread.within)).unwrap();
        }
    }
    let pick = Uniform::new(0, identities).unwrap();
    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|_| {
            let identity = pick.sample(rng);
            draw(rng, &centres[identity], &spread.within)
        })
        .collect();

    let url = server.create_database(&format!("synthetic_{faces}"));
    let mut store = Store::init(store::connect(&url).unwrap(), "dlib-resnet", 128, Metric::Euclidean, index_params()).unwrap();
    // A bulk load: the import builds the index once, after the rows are in.
    let start = Instant::now();
    let import = store.import(&gallery, "synthetic").unwrap();
    let import_s = start.elapsed().as_secs_f64();
    let index = import.index.expect("a bulk import rebuilds the index");
    let mut client = store::connect(&url).unwrap();
    client.batch_execute("VACUUM ANALYZE").unwrap();
    let table_bytes: i64 = client.query_one("SELECT pg_table_size('faceverify_faces_dlib_resnet')", &[]).unwrap().get(0);
    eprintln!("{faces} faces: imported in {import_s:.1} s, of which the HNSW build {:.1} s ({:.0} MB)", index.seconds, index.bytes as f64 / 1e6);

    // Ground truth: the gallery's search is exact.
    let threshold = 0.6;
    let mut gallery_ms = Vec::new();
    let truth: Vec<Vec<String>> = queries
        .iter()
        .map(|q| {
            let start = Instant::now();
            let found = gallery.find_top(q, Metric::Euclidean, threshold, K).unwrap();
            gallery_ms.push(ms(start));
            found.into_iter().map(|m| m.name).collect()
        })
        .collect();

    let mut exact_ms = Vec::new();
    let mut exact_agrees = 0;
    for (q, truth) in queries.iter().zip(&truth).take(EXACT_QUERIES) {
        let start = Instant::now();
        let found = store.find(q, K, Search::Exact, threshold).unwrap();
        exact_ms.push(ms(start));
        exact_agrees += (found.iter().map(|m| &m.name).collect::<Vec<_>>() == truth.iter().collect::<Vec<_>>()) as usize;
    }

    for q in queries.iter().take(100) {
        store.find(q, K, Search::Index { candidates: store::candidates(K) }, threshold).unwrap(); // the index into memory
    }
    let by_index: Vec<serde_json::Value> = CANDIDATES
        .iter()
        .map(|&candidates| {
            let (mut times, mut hits1, mut hits10) = (Vec::new(), 0usize, 0usize);
            for (q, truth) in queries.iter().zip(&truth) {
                let start = Instant::now();
                let found = store.find(q, K, Search::Index { candidates }, threshold).unwrap();
                times.push(ms(start));
                hits1 += (found.first().map(|m| &m.name) == truth.first()) as usize;
                let wanted: HashSet<&String> = truth.iter().collect();
                hits10 += found.iter().filter(|m| wanted.contains(&m.name)).count();
            }
            let (p50, p99) = (percentile(&mut times, 0.5), percentile(&mut times, 0.99));
            eprintln!("  {candidates} candidates: recall@1 {:.4}, recall@10 {:.4}, p50 {p50:.2} ms, p99 {p99:.2} ms",
                      hits1 as f64 / QUERIES as f64, hits10 as f64 / (QUERIES * K) as f64);
            json!({"candidates": candidates, "default": candidates == store::candidates(K),
                   "recall_at_1": hits1 as f64 / QUERIES as f64, "recall_at_10": hits10 as f64 / (QUERIES * K) as f64,
                   "ms": {"p50": p50, "p99": p99}})
        })
        .collect();
    json!({
        "faces": faces, "identities": identities, "queries": QUERIES, "k": K,
        "import_seconds": import_s - index.seconds, "import_faces_per_second": faces as f64 / (import_s - index.seconds),
        "hnsw": {"m": index_params().m, "ef_construction": index_params().ef_construction,
                 "build_seconds": index.seconds, "index_bytes": index.bytes, "table_bytes": table_bytes},
        "index": by_index,
        "exact_ms": {"p50": percentile(&mut exact_ms, 0.5), "p99": percentile(&mut exact_ms, 0.99), "queries": EXACT_QUERIES,
                     "same_top_k_as_gallery": exact_agrees},
        "gallery_ms": {"p50": percentile(&mut gallery_ms, 0.5), "p99": percentile(&mut gallery_ms, 0.99)},
    })
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
    let real = labelled();
    let spread = spread(&real);
    let mut rng = StdRng::seed_from_u64(19795);

    // How alike the synthetic distances are to the real ones.
    let mut people: Vec<&str> = real.iter().map(|r| r.1.as_str()).collect();
    people.sort();
    people.dedup();
    let index_of = |p: &str| people.iter().position(|q| *q == p).unwrap();
    let real_faces: Vec<(usize, &[f32])> = real.iter().map(|r| (index_of(&r.1), r.2.as_slice())).collect();
    let synthetic: Vec<(usize, Vec<f32>)> = (0..20)
        .flat_map(|i| {
            let centre = draw(&mut rng, &spread.mean, &spread.between);
            (0..4).map(|_| (i, draw(&mut rng, &centre, &spread.within))).collect::<Vec<_>>()
        })
        .collect();
    let synthetic_faces: Vec<(usize, &[f32])> = synthetic.iter().map(|(i, e)| (*i, e.as_slice())).collect();
    let (real_same, real_different) = pair_distances(&real_faces);
    let (synthetic_same, synthetic_different) = pair_distances(&synthetic_faces);
    eprintln!("mean euclidean distance, same / different people: real {real_same:.3} / {real_different:.3}, synthetic {synthetic_same:.3} / {synthetic_different:.3}");

    // Memory for one in-memory HNSW build of 1 M rows, and the index cached while it is read.
    let server = PgServer::start(&["maintenance_work_mem=4GB", "shared_buffers=2GB", "max_parallel_maintenance_workers=1"]);
    let version: String = {
        let mut client = store::connect(&server.url("postgres")).unwrap();
        client.batch_execute("CREATE EXTENSION vector").unwrap();
        let row = client.query_one("SELECT version(), extversion FROM pg_extension WHERE extname = 'vector'", &[]).unwrap();
        format!("{} · pgvector {}", row.get::<_, String>(0).split(" on ").next().unwrap_or(""), row.get::<_, String>(1))
    };
    let enrol = std::env::var_os("FACEVERIFY_CLI").map(|cli| enrol_throughput(&server, Path::new(&cli), &real));
    let results: Vec<serde_json::Value> = sizes.iter().map(|&n| bench_size(&server, n, &spread, &mut rng)).collect();
    let report = json!({
        "server": version, "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "distances": {"real": [real_same, real_different], "synthetic": [synthetic_same, synthetic_different]},
        "enrol": enrol, "sizes": results,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    if let Some(path) = std::env::var_os("FACEVERIFY_DB_JSON") {
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap() + "\n").unwrap();
    }
}
