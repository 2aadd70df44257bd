//! Any bytes through decode, then (for small images) detect, align and embed with the real
//! models. Every outcome must be Ok or a typed error; a panic or crash is a finding.
#![no_main]

use std::sync::OnceLock;

use faceverify::pipeline::decode::decode;
use faceverify::{ErrorKind, Verifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/build/onnx");
        Verifier::from_dir(&dir, None, None).expect("models load (run `make models` first)")
    })
}

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        // Keep throughput up: big images only cost time, they take the same paths.
        Ok(image) if image.width() * image.height() <= 256 * 256 => {
            if let Err(e) = verifier().analyze(&image, faceverify::Source::Photo) {
                assert_eq!(e.kind(), ErrorKind::NoFace, "{e}");
            }
        }
        Ok(_) => {}
        Err(e) => assert!(matches!(e.kind(), ErrorKind::ImageDecode | ErrorKind::ImageTooLarge), "{e}"),
    }
});
