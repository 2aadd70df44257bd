//! Integration tests: the real converted models on real photos from `../shared/faces`.
//! `make test` builds the models and the format fixtures first; photos can be pointed
//! elsewhere with FACEVERIFY_FACES, fixtures with FACEVERIFY_FIXTURES.

mod accuracy;
mod attributes;
mod db;
mod liveness;
mod openface;
mod quality;
mod robustness;
mod verify;

#[allow(dead_code)] // also the database benchmark's, which uses more of it
mod pg;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::decode;
use faceverify::registry::{ModelKind, Registry};
use faceverify::{Analysis, Source, Verifier};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn faces_dir() -> PathBuf {
    std::env::var_os("FACEVERIFY_FACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/faces/deepface"))
}

/// The folder `tests/data/identities.csv` names its files from.
pub fn shared_faces() -> PathBuf {
    faces_dir().join("..")
}

/// A CSV made by the project (no quoted commas), `#` lines skipped: one map per row.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", path.display()));
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

pub fn model_bytes(kind: ModelKind) -> (String, Vec<u8>) {
    let registry = Registry::builtin();
    let id = match kind {
        ModelKind::Detector => &registry.camera_detector,
        ModelKind::Landmarker => &registry.default_landmarker,
        ModelKind::Embedder => &registry.default_embedder,
        ModelKind::Attributes => panic!("attribute models have no default"),
    };
    let spec = registry.get(id, kind).unwrap();
    let path = root().join("models/build/onnx").join(&spec.file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make models`)", path.display()));
    (spec.id.clone(), bytes)
}

pub fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| Verifier::from_dir(&root().join("models/build/onnx"), None, None).unwrap())
}

pub fn analyze(file: &str) -> Analysis {
    let bytes = std::fs::read(faces_dir().join(file)).unwrap();
    verifier().analyze(&decode(&bytes).unwrap(), Source::Photo).unwrap()
}

pub fn verify(a: &str, b: &str) -> faceverify::Verification {
    verifier().verify(&analyze(a).embedding, &analyze(b).embedding, Metric::Euclidean, None).unwrap()
}
