//! Native reference timings (`make bench` runs this beside the browser figures):
//! median ms of detect and embed, and of the whole pipeline on a 640×480 frame, by the
//! camera path (its detector, upright only) and by the photo path.
//! usage: cargo bench --bench native -- IMAGE [RUNS]

use std::time::{Duration, Instant};

use faceverify::pipeline::decode::decode;
use faceverify::{Source, Verifier};
use image::imageops::{overlay, resize, FilterType};

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_secs(1) {
        f();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let image_path = args.first().expect("usage: native IMAGE [RUNS]");
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(30);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/build/onnx");
    let load_start = Instant::now();
    let verifier = Verifier::from_dir(&dir, None, None).expect("models load (run `make models` first)");
    let load_ms = load_start.elapsed().as_secs_f64() * 1000.0;

    let photo = decode(&std::fs::read(image_path).expect("image readable")).expect("image decodes");
    // A 640×480 frame with the photo fitted in, aspect kept, as a webcam frame would be.
    let scale = (640.0 / photo.width() as f32).min(480.0 / photo.height() as f32);
    let (w, h) = ((photo.width() as f32 * scale) as u32, (photo.height() as f32 * scale) as u32);
    let mut frame = image::RgbImage::new(640, 480);
    overlay(&mut frame, &resize(&photo, w, h, FilterType::Triangle), ((640 - w) / 2) as i64, ((480 - h) / 2) as i64);
    let crop = verifier.analyze(&frame, Source::Camera).expect("a face in the frame").aligned;

    let detect = median_ms(runs, || drop(verifier.detect(&frame, Source::Camera)));
    let photo_detect = median_ms(runs, || drop(verifier.detect(&frame, Source::Photo)));
    let embed = median_ms(runs, || drop(verifier.embed_aligned(&crop)));
    let pipeline = median_ms(runs, || drop(verifier.analyze(&frame, Source::Camera)));
    let photo_pipeline = median_ms(runs, || drop(verifier.analyze(&frame, Source::Photo)));
    println!(
        "{}",
        serde_json::json!({"load_ms": load_ms, "detect_ms": detect, "photo_detect_ms": photo_detect, "embed_ms": embed,
                           "pipeline_ms": pipeline, "photo_pipeline_ms": photo_pipeline, "runs": runs})
    );
}
