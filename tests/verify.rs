//! Verification on real photos and the accuracy over pairs-dev.

use faceverify::evaluate::{evaluate, Scored};
use faceverify::pipeline::compare::Metric;
use faceverify::registry::ModelKind;
use faceverify::{ErrorKind, Source, Verifier};

use crate::{analyze, faces_dir, model_bytes, verifier, verify};

#[test]
fn same_person_pairs_verify() {
    for (a, b) in [("img1.jpg", "img2.jpg"), ("img22.jpg", "img23.jpg")] {
        let verdict = verify(a, b);
        println!("{a} {b}: {verdict:?}");
        assert!(verdict.verified, "{a} vs {b}: {verdict:?}");
    }
}

#[test]
fn different_people_do_not_verify() {
    let verdict = verify("img1.jpg", "img3.jpg");
    println!("img1 img3: {verdict:?}");
    assert!(!verdict.verified, "{verdict:?}");
}

#[test]
fn accuracy_over_pairs_dev() {
    let csv = std::fs::read_to_string(faces_dir().join("pairs-dev.csv")).unwrap();
    let mut cache = std::collections::HashMap::new();
    let mut embedding = |file: &str| {
        cache.entry(file.to_string()).or_insert_with(|| analyze(file).embedding).clone()
    };
    let mut pairs = Vec::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (a, b) = (embedding(fields[0]), embedding(fields[1]));
        pairs.push(Scored { distance: Metric::Euclidean.distance(&a, &b).ok(), same: fields[2] == "Yes" });
    }
    let threshold = verifier().embedder_spec().threshold(Metric::Euclidean).unwrap().value;
    let report = evaluate(&pairs, threshold);
    println!("pairs-dev, dlib-resnet, euclidean: {report:?}");
    assert_eq!(report.n_pairs, 180);
    assert!(report.accuracy >= 0.95, "{report:?}");
}

#[test]
fn several_faces_are_all_reported_and_the_largest_is_used() {
    let analysis = analyze("couple.jpg");
    assert!(analysis.faces.len() >= 2, "found {}", analysis.faces.len());
    let largest = analysis.faces.iter().map(|f| f.bbox.area()).fold(0.0, f32::max);
    assert_eq!(analysis.faces[analysis.chosen].bbox.area(), largest);
}

#[test]
fn no_face_in_plain_or_noise_images() {
    let plain = image::RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    let mut state = 0x2545_f491u32;
    let noise = image::RgbImage::from_fn(320, 240, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    let tiny = image::RgbImage::new(1, 1);
    for image in [plain, noise, tiny] {
        let err = verifier().analyze(&image, Source::Photo).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoFace, "{err}");
    }
}

/// A bare NO_FACE says why when it can: an image too small for any face, a face-like
/// pattern the face check refused (the other reasons: `verifier::tests`).
#[test]
fn no_face_says_why() {
    let reason = |image: &image::RgbImage| {
        let err = match verifier().analyze(image, Source::Photo) {
            Ok(found) => panic!("{}×{}: found {:?}", image.width(), image.height(), found.faces[found.chosen].bbox),
            Err(err) => err,
        };
        assert_eq!(err.kind(), ErrorKind::NoFace, "{err}");
        println!("{}×{}: {err}", image.width(), image.height());
        err.to_string()
    };
    let photo = image::open(faces_dir().join("img2.jpg")).unwrap().into_rgb8();
    let thumb = image::imageops::thumbnail(&photo, 8, 6);
    assert!(reason(&thumb).contains("the image is 8×6 px"));
    let cat = image::open(crate::root().join("target/negatives/chelsea.png")).unwrap().into_rgb8();
    assert!(reason(&cat).contains("failed the face check"));
}

#[test]
fn faces_of_similar_size_are_warned_about() {
    let photo = image::open(faces_dir().join("img2.jpg")).unwrap().into_rgb8();
    let single = verifier().analyze(&photo, Source::Photo).unwrap();
    assert_eq!(single.warnings, vec![]);
    // The photo twice, side by side: two faces of one size.
    let mut twice = image::RgbImage::new(photo.width() * 2, photo.height());
    image::imageops::replace(&mut twice, &photo, 0, 0);
    image::imageops::replace(&mut twice, &photo, photo.width() as i64, 0);
    let analysis = verifier().analyze(&twice, Source::Photo).unwrap();
    println!("{:?}", analysis.warnings);
    assert_eq!(analysis.faces.len(), 2);
    assert_eq!(analysis.warnings.len(), 1);
    assert_eq!(analysis.warnings[0].code, "SIMILAR_FACES");
    assert!(analysis.warnings[0].message.starts_with("2 faces"), "{:?}", analysis.warnings);
}

#[test]
fn embeddings_are_deterministic() {
    assert_eq!(analyze("img2.jpg").embedding, analyze("img2.jpg").embedding);
}

#[test]
fn swapped_model_bytes_are_refused() {
    let (detector_id, detector) = model_bytes(ModelKind::Detector);
    let (landmarker_id, landmarker) = model_bytes(ModelKind::Landmarker);
    let (embedder_id, embedder) = model_bytes(ModelKind::Embedder);
    let load = |d: &[u8], l: &[u8], e: &[u8]| {
        Verifier::load(&[(detector_id.as_str(), d), (landmarker_id.as_str(), l), (embedder_id.as_str(), e)])
    };
    assert!(load(&detector, &landmarker, &embedder).is_ok());
    for (d, l, e) in [(&embedder, &landmarker, &detector), (&detector, &embedder, &landmarker)] {
        assert_eq!(load(d, l, e).err().unwrap().kind(), ErrorKind::ModelInvalid);
    }
    let mut corrupt = embedder.clone();
    corrupt.truncate(1000);
    assert_eq!(load(&detector, &landmarker, &corrupt).err().unwrap().kind(), ErrorKind::ModelInvalid);
    let err = Verifier::load(&[(detector_id.as_str(), &detector[..]), (embedder_id.as_str(), &embedder[..])]).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "no landmarker: {err}");
}

#[test]
fn missing_models_and_unknown_ids_are_typed_errors() {
    let err = Verifier::from_dir(std::path::Path::new("/nonexistent"), None, None).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelInvalid);
    assert!(err.to_string().contains("make models"), "{err}");
    let dir = crate::root().join("models/build/onnx");
    let err = Verifier::from_dir(&dir, None, Some("no-such-model")).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::UnknownModel);
}

/// The browser's NNEF files (the only files its wasm reads) are their ONNX files' networks: written again from the ONNX file
/// they are the same bytes (what the manifest pins), and on a real photo they give the same
/// outputs to the bit. Another model's NNEF file is refused by sha256, with both files named.
#[test]
fn nnef_files_are_their_onnx_networks() {
    use faceverify::pipeline::network::{to_nnef, Network};
    let dir = crate::root().join("models/build/onnx");
    let registry = faceverify::registry::Registry::builtin();
    // Every model the browser may load (OpenFace once its user file is converted: tests/openface.rs).
    let with_nnef: Vec<_> = registry.models.iter().filter(|m| m.nnef.is_some() && !m.sha256.is_empty()).collect();
    assert_eq!(with_nnef.len(), registry.models.iter().filter(|m| m.input.is_some() && !m.sha256.is_empty()).count(), "every network has its NNEF file");
    let photo = faceverify::pipeline::decode::decode(&std::fs::read(faces_dir().join("img1.jpg")).unwrap()).unwrap();
    for spec in &with_nnef {
        let nnef_file = spec.nnef.as_ref().unwrap();
        let onnx = std::fs::read(dir.join(&spec.file)).unwrap();
        let nnef = std::fs::read(dir.join(&nnef_file.file)).unwrap_or_else(|e| panic!("{}: {e} (run `make models`)", nnef_file.file));
        assert!(to_nnef(spec, &onnx).unwrap() == nnef, "{}: written again, the NNEF file differs", spec.id);
        let input = spec.input().unwrap();
        let image = image::imageops::resize(&photo, input.width, input.height, image::imageops::FilterType::Triangle);
        let from_onnx = Network::load(spec, &onnx).unwrap().run(&image).unwrap();
        let from_nnef = Network::load(spec, &nnef).unwrap().run(&image).unwrap();
        assert_eq!(from_onnx.len(), from_nnef.len());
        for ((name_a, a), (name_b, b)) in from_onnx.iter().zip(&from_nnef) {
            assert_eq!(name_a, name_b, "{}", spec.id);
            let bits = |t: &tract_onnx::prelude::Tensor| t.to_plain_array_view::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert!(bits(a) == bits(b), "{} output {name_a}: NNEF and ONNX differ", spec.id);
        }
    }
    let (back, front) = (registry.get("blazeface-back", ModelKind::Detector).unwrap(), registry.get("blazeface-front", ModelKind::Detector).unwrap());
    let err = Network::load(back, &std::fs::read(dir.join(&front.nnef.as_ref().unwrap().file)).unwrap()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelInvalid);
    assert!(err.to_string().contains("blazeface-back.nnef.tar"), "{err}");
}

#[test]
fn several_photos_per_identity_report_best_and_mean() {
    let spec = verifier().embedder_spec();
    let threshold = spec.threshold(Metric::Euclidean).unwrap().value;
    let mut gallery = faceverify::pipeline::gallery::Gallery::new(&spec.id, 128);
    for photo in ["img1.jpg", "img4.jpg", "img5.jpg"] {
        gallery.enroll("angelina", analyze(photo).embedding).unwrap();
    }
    gallery.enroll("other", analyze("img3.jpg").embedding).unwrap();
    let matches = gallery.find(&analyze("img2.jpg").embedding, Metric::Euclidean, threshold).unwrap();
    println!("img2 against the gallery: {matches:?}");
    assert_eq!(matches[0].name, "angelina");
    assert!(matches[0].verified && matches[0].best_distance <= matches[0].mean_distance);
    assert!(!matches[1].verified);
}

#[test]
fn every_recognition_model_ranks_a_same_pair_closer_than_a_different_one() {
    let dir = crate::root().join("models/build/onnx");
    let registry = faceverify::registry::Registry::builtin();
    for spec in registry.offered().models.iter().filter(|m| m.kind == ModelKind::Embedder) {
        let verifier = Verifier::from_dir(&dir, None, Some(&spec.id)).unwrap();
        let embed = |file: &str| {
            let bytes = std::fs::read(faces_dir().join(file)).unwrap();
            verifier.analyze(&faceverify::pipeline::decode::decode(&bytes).unwrap(), Source::Photo).unwrap().embedding
        };
        let (a, b, c) = (embed("img1.jpg"), embed("img2.jpg"), embed("img3.jpg"));
        assert_eq!(a.len(), spec.output.as_ref().unwrap().size, "{}", spec.id);
        let same = verifier.verify(&a, &b, Metric::Cosine, None).unwrap();
        let different = verifier.verify(&a, &c, Metric::Cosine, None).unwrap();
        println!("{}: same {same:?}, different {different:?}", spec.id);
        assert!(same.distance < different.distance, "{}: {same:?} {different:?}", spec.id);
    }
}

#[test]
fn the_cli_ends_quietly_when_its_output_is_closed() {
    // `faceverify embed IMG --json | true`: the reader is gone before anything is written.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faceverify"))
        .args(["embed", "--json"])
        .arg(faces_dir().join("img1.jpg"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.is_empty(), "{:?}: {stderr}", output.status);
}

#[test]
fn vectors_no_model_makes_are_refused() {
    for bad in [vec![0.0; 128], vec![f32::NAN; 128], vec![1e9; 128]] {
        let err = verifier().verify(&bad, &bad, Metric::Euclidean, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}
