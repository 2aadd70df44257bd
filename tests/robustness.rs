//! Bad and unusual input: every image format users send, and random bytes, sizes and
//! gallery files, none of which may panic. Each failure must be a typed error.

use std::path::PathBuf;

use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::decode;
use faceverify::pipeline::gallery::Gallery;
use faceverify::ErrorKind;
use proptest::prelude::*;

use crate::{faces_dir, root, verifier};

fn fixtures_dir() -> PathBuf {
    std::env::var_os("FACEVERIFY_FIXTURES").map(PathBuf::from).unwrap_or_else(|| root().join("target/fixtures"))
}

fn embedding_of(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", path.display()));
    let image = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    verifier().analyze(&image, faceverify::Source::Photo).unwrap_or_else(|e| panic!("{}: {e}", path.display())).embedding
}

#[test]
fn every_format_decodes_to_the_same_face() {
    let dir = fixtures_dir();
    let reference = embedding_of(&dir.join("jpeg-baseline.jpg"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "expected every fixture in {}", dir.display());
    for file in files {
        let distance = Metric::Euclidean.distance(&reference, &embedding_of(&file)).unwrap();
        println!("{}: distance to baseline JPEG {distance:.4}", file.display());
        // Greyscale, 256-colour and 1-bit versions lose colour, so allow them more; all
        // must still be the same person by a wide margin.
        assert!(distance < 0.3, "{}: {distance}", file.display());
    }
}

#[test]
fn what_transparent_pixels_hide_does_not_matter() {
    let dir = fixtures_dir().join("cutouts");
    let reference = embedding_of(&dir.join("hiding-black.png"));
    let baseline = embedding_of(&fixtures_dir().join("jpeg-baseline.jpg"));
    for hidden in ["white", "noise", "original", "other-face"] {
        let distance = Metric::Euclidean.distance(&reference, &embedding_of(&dir.join(format!("hiding-{hidden}.png")))).unwrap();
        println!("cut-out hiding {hidden}: {distance:.4} from the one hiding black");
        assert!(distance <= 0.02, "{hidden}: {distance}");
    }
    let to_baseline = Metric::Euclidean.distance(&reference, &baseline).unwrap();
    assert!(to_baseline < 0.3, "the cut-out is still the person: {to_baseline}");
    let invisible = std::fs::read(fixtures_dir().join("bad/png-fully-transparent.png")).unwrap();
    assert_eq!(decode(&invisible).unwrap_err().kind(), ErrorKind::NoFace);
}

#[test]
fn a_file_cut_short_is_an_image_decode_error_in_every_format() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for cut in [bytes.len() / 2, 600] {
            match decode(&bytes[..cut.min(bytes.len() - 1)]) {
                Err(e) => assert_eq!(e.kind(), ErrorKind::ImageDecode, "{} cut at {cut}: {e}", file.display()),
                Ok(image) => panic!("{} cut at {cut} decoded ({}×{})", file.display(), image.width(), image.height()),
            }
        }
    }
}

/// Each EXIF orientation (1–8) turns its stored pixels upright exactly once: same size, no
/// turn needed by the detector (which would also find a sideways face, hiding a missed tag),
/// the same box and embedding as the untagged photo.
#[test]
fn every_exif_orientation_is_applied_once() {
    let dir = fixtures_dir().join("exif");
    let analyze = |n: u8| {
        let path = dir.join(format!("orientation-{n}.jpg"));
        let image = decode(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", path.display()))).unwrap();
        let analysis = verifier().analyze(&image, faceverify::Source::Photo).unwrap();
        (image.dimensions(), analysis)
    };
    let (size, upright) = analyze(1);
    let reference = &upright.faces[upright.chosen].bbox;
    for n in 2..=8 {
        let (dimensions, analysis) = analyze(n);
        let bbox = &analysis.faces[analysis.chosen].bbox;
        let distance = Metric::Euclidean.distance(&upright.embedding, &analysis.embedding).unwrap();
        println!("orientation {n}: {dimensions:?}, turned {}°, box at ({:.1}, {:.1}), {distance:.4} from orientation 1", analysis.rotation, bbox.x, bbox.y);
        assert_eq!(dimensions, size, "orientation {n}");
        assert_eq!(analysis.rotation, 0, "orientation {n}");
        assert!((bbox.x - reference.x).abs() < 3.0 && (bbox.y - reference.y).abs() < 3.0, "orientation {n}: {bbox:?} vs {reference:?}");
        // Mirrored faces (2, 4, 5, 7) are another face to the network unless mirrored back.
        assert!(distance < 0.05, "orientation {n}: {distance}");
    }
}

fn some_jpeg() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(faces_dir().join("img3.jpg")).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Err(e) = decode(&bytes) {
            prop_assert!(matches!(e.kind(), ErrorKind::ImageDecode | ErrorKind::ImageTooLarge), "{e}");
        }
    }

    #[test]
    fn corrupted_and_truncated_jpegs_never_panic(
        cut in 0usize..60_000,
        flips in proptest::collection::vec((0usize..60_000, any::<u8>()), 0..16),
    ) {
        let mut bytes = some_jpeg().to_vec();
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(cut.max(1).min(bytes.len()));
        match decode(&bytes) {
            Ok(image) => {
                if let Err(e) = verifier().analyze(&image, faceverify::Source::Photo) {
                    prop_assert_eq!(e.kind(), ErrorKind::NoFace, "{}", e);
                }
            }
            Err(e) => prop_assert!(matches!(e.kind(), ErrorKind::ImageDecode | ErrorKind::ImageTooLarge), "{e}"),
        }
    }

    #[test]
    fn random_gallery_text_never_panics(text in ".{0,400}") {
        if let Err(e) = Gallery::from_json(&text, "dlib-resnet", 128) {
            prop_assert_eq!(e.kind(), ErrorKind::GalleryInvalid);
        }
    }
}

proptest! {
    // Each case runs the detector (and the embedder when a face is found): fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_image_size_runs_the_pipeline(width in 1u32..700, height in 1u32..700, seed in any::<u32>()) {
        let mut state = seed | 1;
        let image = image::RgbImage::from_fn(width, height, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
        });
        if let Err(e) = verifier().analyze(&image, faceverify::Source::Photo) {
            prop_assert_eq!(e.kind(), ErrorKind::NoFace, "{}", e);
        }
    }
}
