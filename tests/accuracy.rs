//! Accuracy against dlib's own pipeline and on labelled pairs, faces in group photos and
//! photos without faces, turned photos, confidence. The pair lists, group set and negatives
//! are made by `make fixtures` (tests/pairs.py, tests/groups.py, tests/negatives.py).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use faceverify::evaluate::{evaluate, Scored};
use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::decode;
use faceverify::{Analysis, ErrorKind, Source};

use crate::{faces_dir, read_csv, root, shared_faces, verifier};

fn analyze_path(path: &Path, source: Source) -> faceverify::Result<Analysis> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    verifier().analyze(&decode(&bytes)?, source)
}

/// The photo path's embedding of an image file, computed once per test binary.
fn embedding(path: &Path) -> Option<Vec<f32>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Option<Vec<f32>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap().get(path) {
        return hit.clone();
    }
    let result = analyze_path(path, Source::Photo).ok().map(|a| a.embedding);
    cache.lock().unwrap().insert(path.to_path_buf(), result.clone());
    result
}

#[test]
fn landmarks_and_embeddings_land_where_dlibs_do() {
    let (mut point_errors, mut distances) = (Vec::new(), Vec::new());
    for row in read_csv(&root().join("tests/data/identities.csv")) {
        let path = shared_faces().join(&row["file"]);
        let analysis = analyze_path(&path, Source::Photo).unwrap();
        let face = &analysis.faces[analysis.chosen];
        let names = ["left_eye_outer", "left_eye_inner", "right_eye_outer", "right_eye_inner", "nose_base"];
        // Both in the photo's own pixels, whatever its size.
        let theirs: Vec<[f32; 2]> =
            (0..5).map(|i| [row[&format!("x{i}")].parse().unwrap(), row[&format!("y{i}")].parse().unwrap()]).collect();
        // Inter-ocular distance: between the eyes' centres (mean of each eye's corners).
        let eye = |a: usize, b: usize| [(theirs[a][0] + theirs[b][0]) / 2.0, (theirs[a][1] + theirs[b][1]) / 2.0];
        let (left, right) = (eye(0, 1), eye(2, 3));
        let iod = ((left[0] - right[0]).powi(2) + (left[1] - right[1]).powi(2)).sqrt();
        for (name, t) in names.iter().zip(&theirs) {
            let k = face.keypoints.iter().find(|k| k.name == *name).unwrap();
            point_errors.push(((k.x - t[0]).powi(2) + (k.y - t[1]).powi(2)).sqrt() / iod);
        }
        let dlib: Vec<f32> = (0..128).map(|i| row[&format!("e{i}")].parse().unwrap()).collect();
        distances.push(Metric::Euclidean.distance(&analysis.embedding, &dlib).unwrap());
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let worst = |v: &[f32]| v.iter().cloned().fold(0.0, f32::max);
    println!(
        "{} photos: landmark error {:.4} of the inter-ocular distance (worst {:.4}); embedding distance to dlib's own {:.4} (worst {:.4})",
        distances.len(), mean(&point_errors), worst(&point_errors), mean(&distances), worst(&distances)
    );
    assert!(mean(&point_errors) < 0.02, "landmarks drifted from dlib's: {}", mean(&point_errors));
    // The goal: within 0.06 of dlib's own embedding on average (it was 0.158).
    assert!(mean(&distances) < 0.06, "embeddings drifted from dlib's: {}", mean(&distances));
}

fn scored(list: &str) -> Vec<Scored> {
    let dir = root().join("target/pairs");
    read_csv(&dir.join(list))
        .iter()
        .map(|row| {
            let (a, b) = (embedding(&dir.join(&row["file_x"])), embedding(&dir.join(&row["file_y"])));
            let distance = a.zip(b).and_then(|(a, b)| Metric::Euclidean.distance(&a, &b).ok());
            Scored { distance, same: row["same"] == "1" }
        })
        .collect()
}

#[test]
fn accuracy_on_clean_and_degraded_pairs() {
    let threshold = verifier().embedder_spec().threshold(Metric::Euclidean).unwrap().value;
    // Measured: clean 0.9905 at the shipped threshold, 0.9949 balanced (dlib's own pipeline
    // 0.9968 and 0.9950 on the same pairs); degraded 0.9781 and 0.9866 (dlib 0.9747, 0.9602).
    for (list, floor) in [("clean.csv", 0.99), ("hard.csv", 0.975)] {
        let report = evaluate(&scored(list), threshold);
        println!("{list}: {report:?}");
        assert!(report.accuracy >= floor && report.balanced_accuracy >= floor, "{list}: {report:?}");
        assert!(report.n_failed * 100 <= report.n_pairs * 2, "{list}: {} pairs without a face", report.n_failed);
    }
}

#[test]
fn every_face_in_group_photos_and_none_elsewhere() {
    let dir = root().join("target/groups");
    let mut labels: Vec<(String, Vec<[f32; 4]>)> = Vec::new();
    for row in read_csv(&dir.join("groups.csv")) {
        let face = ["x", "y", "width", "partial"].map(|k| row[k].parse::<f32>().unwrap());
        match labels.last_mut() {
            Some((file, faces)) if *file == row["file"] => faces.push(face),
            _ => labels.push((row["file"].clone(), vec![face])),
        }
    }
    for source in [Source::Photo, Source::Camera] {
        let (mut whole, mut found_whole, mut small_missed, mut partial, mut found_partial, mut false_faces) = (0, 0, 0, 0, 0, 0);
        for (file, faces) in &labels {
            let image = decode(&std::fs::read(dir.join(file)).unwrap()).unwrap();
            let detected = verifier().detect(&image, source).unwrap();
            let mut used = vec![false; detected.len()];
            for &[x, y, width, cut] in faces {
                // A face cut by the border has its box clamped: its centre moves inward and one
                // side shrinks, so the label's centre need only lie in the box, and the box's
                // longer side be the face's size within a factor of 2.
                let hit = detected.iter().enumerate().position(|(i, d)| {
                    let b = &d.bbox;
                    let (cx, cy) = (b.x + b.width / 2.0, b.y + b.height / 2.0);
                    let inside = x >= b.x - 1.0 && x <= b.x + b.width + 1.0 && y >= b.y - 1.0 && y <= b.y + b.height + 1.0;
                    let near = (cx - x).hypot(cy - y) <= 0.5 * width || (d.cut && inside);
                    !used[i] && near && (0.5..=2.0).contains(&(b.width.max(b.height) / width))
                });
                if let Some(i) = hit {
                    used[i] = true;
                }
                match (cut > 0.0, hit.is_some()) {
                    (true, found) => (partial, found_partial) = (partial + 1, found_partial + found as usize),
                    (false, found) => {
                        (whole, found_whole) = (whole + 1, found_whole + found as usize);
                        small_missed += (!found && width < 48.0) as usize;
                    }
                }
            }
            false_faces += used.iter().filter(|u| !**u).count();
        }
        let mut on_negatives = 0;
        for entry in std::fs::read_dir(root().join("target/negatives")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "png" || e == "jpg") {
                let found = verifier().detect(&decode(&std::fs::read(&path).unwrap()).unwrap(), source).unwrap();
                on_negatives += found.len();
                if source == Source::Photo {
                    assert!(found.is_empty(), "{}: {found:?}", path.display());
                    assert_eq!(analyze_path(&path, source).unwrap_err().kind(), ErrorKind::NoFace);
                }
            }
        }
        println!(
            "{source:?} path: {found_whole}/{whole} whole faces ({small_missed} of the misses under 48 px), \
             {found_partial}/{partial} cut by the border, {false_faces} false faces in the group photos, \
             {on_negatives} on photos without faces"
        );
        if source == Source::Photo {
            assert_eq!(found_whole + small_missed, whole, "a face of 48 px or more was missed");
            assert!(found_partial * 4 >= partial * 3, "faces cut by the border: {found_partial}/{partial}");
            assert_eq!(false_faces, 0);
        }
    }
}

#[test]
fn turned_photos_are_found_turned_and_still_verify() {
    let upright = decode(&std::fs::read(faces_dir().join("img2.jpg")).unwrap()).unwrap();
    let reference = verifier().analyze(&upright, Source::Photo).unwrap();
    assert_eq!(reference.rotation, 0);
    let other = analyze_path(&faces_dir().join("img1.jpg"), Source::Photo).unwrap();
    // The photo as a camera without an orientation tag stores it: turned the other way.
    for (turned, needs) in [
        (image::imageops::rotate90(&upright), 270),
        (image::imageops::rotate180(&upright), 180),
        (image::imageops::rotate270(&upright), 90),
    ] {
        let analysis = verifier().analyze(&turned, Source::Photo).unwrap();
        let to_upright = Metric::Euclidean.distance(&analysis.embedding, &reference.embedding).unwrap();
        let verdict = verifier().verify(&analysis.embedding, &other.embedding, Metric::Euclidean, None).unwrap();
        println!("turned, found at {}°: {to_upright:.4} from the upright photo's embedding; vs img1 {verdict:?}", analysis.rotation);
        assert_eq!(analysis.rotation, needs);
        assert!(to_upright < 1e-3, "{to_upright}");
        assert!(verdict.verified);
        // Boxes are in the turned image's own pixels, inside it.
        let face = &analysis.faces[analysis.chosen];
        assert!(face.bbox.x >= 0.0 && face.bbox.x + face.bbox.width <= turned.width() as f32);
    }
}

#[test]
fn faces_are_reported_in_the_callers_pixels() {
    // The same photo at 2× and ½× (past the 2048-px working size and below it).
    let photo = decode(&std::fs::read(shared_faces().join("deepface/img20.jpg")).unwrap()).unwrap();
    let base = verifier().analyze(&photo, Source::Photo).unwrap();
    let face = |a: &Analysis| a.faces[a.chosen].clone();
    for factor in [2.0f32, 0.5] {
        let (w, h) = ((photo.width() as f32 * factor) as u32, (photo.height() as f32 * factor) as u32);
        let resized = image::imageops::resize(&photo, w, h, image::imageops::FilterType::Triangle);
        let scaled = face(&verifier().analyze(&resized, Source::Photo).unwrap());
        let ratio = scaled.bbox.width / face(&base).bbox.width;
        println!("photo at {factor}×: box {ratio:.3}× as wide");
        assert!((ratio / factor - 1.0).abs() < 0.05, "{factor}: {ratio}");
        let k = |f: &faceverify::pipeline::detect::Face, n: &str| f.keypoints.iter().find(|k| k.name == n).map(|k| (k.x, k.y)).unwrap();
        let (a, b) = (k(&scaled, "nose_base"), k(&face(&base), "nose_base"));
        assert!((a.0 / factor - b.0).abs() < 3.0 && (a.1 / factor - b.1).abs() < 3.0, "{a:?} vs {b:?} × {factor}");
    }
    // A face run past the border is clamped and flagged.
    let b = face(&base).bbox;
    let cropped = image::imageops::crop_imm(&photo, (b.x + b.width * 0.3) as u32, 0, photo.width() - (b.x + b.width * 0.3) as u32, photo.height()).to_image();
    if let Ok(analysis) = verifier().analyze(&cropped, Source::Photo) {
        let cut = face(&analysis);
        assert!(cut.cut && cut.bbox.x >= 0.0, "{cut:?}");
    }
}

#[test]
fn verdicts_carry_a_calibrated_confidence() {
    let embed = |f: &str| embedding(&faces_dir().join(f)).unwrap();
    let same = verifier().verify(&embed("img1.jpg"), &embed("img2.jpg"), Metric::Euclidean, None).unwrap();
    let different = verifier().verify(&embed("img1.jpg"), &embed("img3.jpg"), Metric::Euclidean, None).unwrap();
    println!("same {same:?}, different {different:?}");
    assert!(same.confidence.unwrap() > 0.95 && different.confidence.unwrap() < 0.05);
    let spec = verifier().embedder_spec();
    for metric in Metric::ALL {
        let threshold = spec.threshold(metric).unwrap();
        let confidence = |d: f32| threshold.confidence(d).unwrap();
        let t = threshold.value;
        assert!(confidence(0.5 * t) > confidence(t) && confidence(t) > confidence(1.5 * t), "{metric}");
        // At the operating point the calibration is undecided (the threshold balances both kinds
        // of error, the calibration weighs both classes equally).
        assert!((0.2..0.8).contains(&confidence(t)), "{metric}: {}", confidence(t));
    }
}
