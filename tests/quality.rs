//! Face quality on real photos degraded the ways the users met: faces too small,
//! covered, blurred, dark, and a 16-bit file that looks black.

use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::{decode, decode_owned};
use faceverify::pipeline::quality::{ENROL_BAR, VERIFY_BAR};
use faceverify::{Analysis, ErrorKind, Source};
use image::{imageops, DynamicImage, Rgb, RgbImage};

use crate::{analyze, faces_dir, verifier};

fn photo(file: &str) -> RgbImage {
    decode(&std::fs::read(faces_dir().join(file)).unwrap()).unwrap()
}

fn analyzed(image: &RgbImage) -> Analysis {
    verifier().analyze(image, Source::Photo).unwrap()
}

fn chosen_quality(analysis: &Analysis) -> faceverify::pipeline::quality::Quality {
    analysis.faces[analysis.chosen].quality.clone().expect("every found face has a quality")
}

fn point(analysis: &Analysis, name: &str) -> [f32; 2] {
    let k = analysis.faces[analysis.chosen].keypoints.iter().find(|k| k.name == name).unwrap();
    [k.x, k.y]
}

/// Dark lenses over both eyes and a pale band from under the nose to below the chin, placed
/// from the face's own landmarks.
fn covered(file: &str) -> RgbImage {
    let mut image = photo(file);
    let clean = analyzed(&image);
    let eye = |side: &str| {
        let (o, i) = (point(&clean, &format!("{side}_eye_outer")), point(&clean, &format!("{side}_eye_inner")));
        ([(o[0] + i[0]) / 2.0, (o[1] + i[1]) / 2.0], (o[0] - i[0]).hypot(o[1] - i[1]))
    };
    let ((right, width), (left, _)) = (eye("right"), eye("left"));
    let nose = point(&clean, "nose_base");
    let b = clean.faces[clean.chosen].bbox;
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (x, y) = (x as f32, y as f32);
        let lens = [right, left].iter().any(|c| ((x - c[0]) / (0.9 * width)).powi(2) + ((y - c[1]) / (0.7 * width)).powi(2) <= 1.0);
        let band = x >= b.x && x <= b.x + b.width && y >= nose[1] + 0.15 * width && y <= b.y + b.height * 1.1;
        if lens {
            *pixel = Rgb([20, 20, 25]);
        } else if band {
            *pixel = Rgb([200, 215, 225]);
        }
    }
    image
}

#[test]
fn clean_photos_are_good_enough_to_enrol() {
    for file in ["img1.jpg", "img2.jpg", "img3.jpg", "img6.jpg"] {
        let q = chosen_quality(&analyze(file));
        assert!(q.score >= ENROL_BAR, "{file}: {q:?}");
        assert!(q.inter_ocular_distance > 40.0 && q.yaw.abs() < 30.0 && q.pitch.abs() < 25.0, "{file}: {q:?}");
    }
}

#[test]
fn faces_behind_sunglasses_and_a_mask_are_too_poor_to_decide() {
    let (a, b) = (analyzed(&covered("img1.jpg")), analyzed(&covered("img3.jpg")));
    for analysis in [&a, &b] {
        let q = chosen_quality(analysis);
        assert!(q.score < VERIFY_BAR && q.occlusion > 0.6, "{q:?}");
        assert!(q.reasons.iter().any(|r| r.code == "EYES_COVERED") && q.reasons.iter().any(|r| r.code == "MOUTH_COVERED"), "{q:?}");
        assert!(analysis.warnings.iter().any(|w| w.code == "LOW_QUALITY"));
    }
    let verdict = verifier()
        .verify(&a.embedding, &b.embedding, Metric::Euclidean, None)
        .unwrap()
        .with_quality(Some(chosen_quality(&a)), Some(chosen_quality(&b)));
    assert_eq!(verdict.warnings.iter().filter(|w| w.code == "LOW_QUALITY").count(), 2, "{:?}", verdict.warnings);
    assert!(verdict.warnings[0].message.starts_with("too poor to decide"));
}

#[test]
fn a_thumbnail_face_is_too_small_and_says_how_small() {
    let image = photo("img2.jpg");
    let scale = 64.0 / image.width().max(image.height()) as f32;
    let thumbnail = imageops::thumbnail(&image, (image.width() as f32 * scale) as u32, (image.height() as f32 * scale) as u32);
    match verifier().analyze(&thumbnail, Source::Photo) {
        Ok(analysis) => {
            let q = chosen_quality(&analysis);
            assert!(q.score < VERIFY_BAR, "{q:?}");
            let small = q.reasons.iter().find(|r| r.code == "SMALL_FACE").expect("SMALL_FACE");
            assert!(small.message.contains("px between the eyes, 40 wanted"), "{}", small.message);
            let err = q.admit(ENROL_BAR).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::LowQuality);
            assert!(err.to_string().contains("face too small"), "{err}");
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::NoFace, "{e}"),
    }
}

#[test]
fn a_blurred_face_is_refused_for_enrolment() {
    let blurred = imageops::blur(&photo("img6.jpg"), 6.0);
    let q = chosen_quality(&analyzed(&blurred));
    let err = q.admit(ENROL_BAR).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LowQuality);
    assert!(err.to_string().contains("blurred: sharpness"), "{err}");
}

#[test]
fn a_drawing_of_a_face_is_not_enrolled() {
    // A child's drawing: a round face, dot eyes, a nose line and a smile, in felt pen on paper.
    let mut drawing = RgbImage::from_pixel(400, 400, Rgb([250, 250, 245]));
    let ring = |x: f32, y: f32, cx: f32, cy: f32, r: f32, w: f32| ((x - cx).hypot(y - cy) - r).abs() <= w;
    for (x, y, pixel) in drawing.enumerate_pixels_mut() {
        let (x, y) = (x as f32, y as f32);
        let face = ring(x, y, 200.0, 200.0, 120.0, 4.0);
        let eyes = (x - 155.0).hypot(y - 170.0) < 14.0 || (x - 245.0).hypot(y - 170.0) < 14.0;
        let nose = (x - 200.0).abs() < 3.0 && (185.0..235.0).contains(&y);
        let smile = ring(x, y, 200.0, 215.0, 55.0, 3.5) && y > 240.0;
        if face || eyes || nose || smile {
            *pixel = Rgb([40, 60, 160]);
        }
    }
    match verifier().analyze(&drawing, Source::Photo) {
        Ok(analysis) => {
            let err = chosen_quality(&analysis).admit(ENROL_BAR).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::LowQuality, "{err}");
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::NoFace, "{e}"),
    }
}

#[test]
fn a_16_bit_png_that_looks_black_is_stretched_and_reported_dark() {
    // Samples 0–255 of 65535: cut to 8 bits, the photo would be 0 and 1.
    let grey = DynamicImage::ImageRgb8(photo("img2.jpg")).to_luma16();
    let dark = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(grey.width(), grey.height(), |x, y| {
        image::Luma([grey.get_pixel(x, y).0[0] / 256])
    });
    let mut png = Vec::new();
    DynamicImage::ImageLuma16(dark).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let decoded = decode_owned(png).unwrap();
    let analysis = verifier().analyze_decoded(&decoded, Source::Photo).unwrap();
    let q = chosen_quality(&analysis);
    assert!(q.luminance_mean < 0.01, "exposure as given: {q:?}");
    assert!(q.reasons.iter().any(|r| r.code == "UNDEREXPOSED"), "{q:?}");
    let same = verifier().verify(&analysis.embedding, &analyze("img2.jpg").embedding, Metric::Euclidean, None).unwrap();
    assert!(same.distance < 0.45, "the stretched photo is still the same face: {}", same.distance);
}

#[test]
fn an_underexposed_camera_frame_is_found_and_reported_dark() {
    let image = photo("img5.jpg");
    let rgba: Vec<u8> = image.pixels().flat_map(|p| [p.0[0] / 7, p.0[1] / 7, p.0[2] / 7, 255]).collect();
    let frame = faceverify::pipeline::decode::from_rgba(rgba, image.width(), image.height()).unwrap();
    assert!(frame.levels.gain > 3.0, "{:?}", frame.levels);
    let analysis = verifier().analyze_decoded(&frame, Source::Camera).unwrap();
    let q = chosen_quality(&analysis);
    assert!(q.luminance_mean < 0.12, "{q:?}");
}
