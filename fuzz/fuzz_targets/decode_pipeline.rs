//! Any bytes through decode, then (for small images) detect, align and embed with the real
//! models. Every outcome must be Ok or a typed error; a panic or crash is a finding.
#![no_main]

use std::sync::OnceLock;

use faceverify::pipeline::decode::decode;
use faceverify::registry::{ModelKind, Registry};
use faceverify::{ErrorKind, Verifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let registry = Registry::builtin();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/build/onnx");
        let read = |id: &str, kind| {
            let spec = registry.get(id, kind).expect("model in manifest");
            std::fs::read(dir.join(&spec.file)).expect("run `make models` first")
        };
        Verifier::load(
            &registry.default_detector,
            &read(&registry.default_detector, ModelKind::Detector),
            &registry.default_embedder,
            &read(&registry.default_embedder, ModelKind::Embedder),
        )
        .expect("models load")
    })
}

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        // Keep throughput up: big images only cost time, they take the same paths.
        Ok(image) if image.width() * image.height() <= 256 * 256 => {
            if let Err(e) = verifier().analyze(&image) {
                assert_eq!(e.kind(), ErrorKind::NoFace, "{e}");
            }
        }
        Ok(_) => {}
        Err(e) => assert!(matches!(e.kind(), ErrorKind::ImageDecode | ErrorKind::ImageTooLarge), "{e}"),
    }
});
