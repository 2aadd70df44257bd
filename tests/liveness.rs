//! Liveness challenges on recorded camera frames (tests/liveness_y4m.py, made by `make
//! fixtures`): a printed photo moved about in front of the camera never passes, the person
//! performing the actions does, and another person taking over is caught.

use std::path::PathBuf;
use std::sync::OnceLock;

use faceverify::liveness::{pick_actions, Challenge, FacePose, Frame, LivenessResult, TILT_DEGREES, TURN_DEGREES};
use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::decode::decode;
use faceverify::Source;
use sha2::{Digest, Sha256};

use crate::{faces_dir, root, verifier};

/// The videos' frame interval, ms (10 fps).
const FRAME_MS: f64 = 100.0;

/// One analysed frame: its faces' poses and the chosen face's embedding, or no face.
type Recorded = Option<(Vec<FacePose>, usize, Vec<f32>)>;

fn recorded(video: &str) -> Vec<Recorded> {
    let dir = std::env::var_os("FACEVERIFY_FIXTURES_WEB").map(PathBuf::from).unwrap_or_else(|| root().join("target/fixtures-web")).join("liveness").join(video);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", dir.display())).map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let image = decode(&std::fs::read(file).unwrap()).unwrap();
            let analysis = verifier().analyze(&image, Source::Camera).ok()?;
            let frame = Frame::of(&analysis)?;
            Some((frame.faces, frame.chosen, analysis.embedding.clone()))
        })
        .collect()
}

fn acting() -> &'static [Recorded] {
    static FRAMES: OnceLock<Vec<Recorded>> = OnceLock::new();
    FRAMES.get_or_init(|| recorded("acting"))
}

fn print() -> &'static [Recorded] {
    static FRAMES: OnceLock<Vec<Recorded>> = OnceLock::new();
    FRAMES.get_or_init(|| recorded("print"))
}

fn threshold() -> f32 {
    verifier().threshold(Metric::Euclidean, None).unwrap()
}

/// Play `frames` in a loop from frame `start`, as Chromium's fake camera does, until the
/// challenge ends.
fn play(challenge: &mut Challenge, frames: &[Recorded], start: usize) -> LivenessResult {
    for i in 0.. {
        let frame = frames[(start + i) % frames.len()].as_ref().map(|(faces, chosen, embedding)| Frame { faces: faces.clone(), chosen: *chosen, embedding });
        if let Some(result) = challenge.observe(i as f64 * FRAME_MS, frame.as_ref()).unwrap().result {
            return result;
        }
    }
    unreachable!()
}

/// Challenge `n` of a seeded series: 2–4 actions drawn from its own random bytes, a start
/// somewhere in the video.
fn randomised(n: u32, timeout_ms: f64, frames: usize) -> (Challenge, usize) {
    let random = Sha256::digest(n.to_le_bytes());
    let actions = pick_actions(&random, 2 + n as usize % 3).unwrap();
    let start = u32::from_le_bytes([random[16], random[17], random[18], random[19]]) as usize % frames;
    (Challenge::new(actions, timeout_ms, Metric::Euclidean, threshold()).unwrap(), start)
}

/// Yaw and pitch of the chosen face of each frame with a face.
fn poses(frames: &[Recorded]) -> Vec<(f32, f32)> {
    frames.iter().flatten().map(|(faces, chosen, _)| (faces[*chosen].yaw, faces[*chosen].pitch)).collect()
}

#[test]
fn the_pose_estimate_follows_the_performed_turns_and_tilts() {
    let poses = poses(acting());
    assert!(poses.len() >= acting().len() - 2, "a face in nearly every frame: {} of {}", poses.len(), acting().len());
    let (yaw0, pitch0) = poses[0];
    let yaw: Vec<f32> = poses.iter().map(|p| p.0 - yaw0).collect();
    let pitch: Vec<f32> = poses.iter().map(|p| p.1 - pitch0).collect();
    let max = |v: &[f32]| v.iter().copied().fold(f32::MIN, f32::max);
    let min = |v: &[f32]| v.iter().copied().fold(f32::MAX, f32::min);
    let first = &acting()[0].as_ref().unwrap().2;
    let distances: Vec<f32> = acting().iter().flatten().map(|(_, _, e)| Metric::Euclidean.distance(first, e).unwrap()).collect();
    println!(
        "acting: yaw change {:.1}..{:.1}°, pitch change {:.1}..{:.1}° (turns of ±24°, tilts of ±22° performed); embedding distance from the first frame at most {:.2}",
        min(&yaw), max(&yaw), min(&pitch), max(&pitch), max(&distances)
    );
    assert!(max(&yaw) >= TURN_DEGREES && -min(&yaw) >= TURN_DEGREES);
    assert!(max(&pitch) >= TILT_DEGREES && -min(&pitch) >= TILT_DEGREES);
}

#[test]
fn a_printed_photo_moved_about_fails_every_one_of_50_randomised_challenges() {
    let frames = print();
    let poses = poses(frames);
    let spread = |values: Vec<f32>| {
        let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        hi - lo
    };
    let (yaw, pitch) = (spread(poses.iter().map(|p| p.0).collect()), spread(poses.iter().map(|p| p.1).collect()));
    println!("print tilted ±40°/±30°: face in {} of {} frames, yaw range {yaw:.1}°, pitch range {pitch:.1}°", poses.len(), frames.len());
    // Whatever frames make its neutral, no frame of the print is an action away from them.
    assert!(yaw < TURN_DEGREES && pitch < TILT_DEGREES);
    let mut codes = std::collections::BTreeMap::new();
    let mut actions_done = 0;
    for n in 0..50 {
        let (mut challenge, start) = randomised(n, 5000.0, frames.len());
        let result = play(&mut challenge, frames, start);
        assert!(!result.passed, "challenge {n} ({:?}) passed on a print: {result:?}", challenge.actions());
        actions_done += result.actions.iter().filter(|a| a.passed).count();
        *codes.entry(result.code.unwrap_or("")).or_insert(0) += 1;
    }
    println!("50 challenges on the print: 0 passed, {actions_done} single actions passed, ends {codes:?}");
    assert_eq!(actions_done, 0, "not one action performed by a flat photo");
}

#[test]
fn the_person_performing_the_actions_passes_every_randomised_challenge() {
    let frames = acting();
    for n in 0..20 {
        // The video shows all four actions in 7.8 s: any next action comes within 6 s.
        let (mut challenge, start) = randomised(n, 8_000.0, frames.len());
        let result = play(&mut challenge, frames, start);
        assert!(result.passed, "challenge {n} ({:?}) failed: {result:?}", challenge.actions());
        assert_eq!(result.embeddings.len(), challenge.actions().len());
        assert!(result.embedding.is_some());
    }
}

#[test]
fn someone_else_taking_over_the_challenge_is_caught() {
    let frames = acting();
    let (mut challenge, _) = randomised(7, 12_000.0, frames.len());
    let image = decode(&std::fs::read(faces_dir().join("img13.jpg")).unwrap()).unwrap();
    let other = verifier().analyze(&image, Source::Camera).unwrap();
    for (i, frame) in frames[..5].iter().enumerate() {
        let (faces, chosen, embedding) = frame.as_ref().unwrap();
        challenge.observe(i as f64 * FRAME_MS, Some(&Frame { faces: faces.clone(), chosen: *chosen, embedding })).unwrap();
    }
    let end = challenge.observe(500.0, Frame::of(&other).as_ref()).unwrap();
    assert_eq!(end.result.unwrap().code, Some("FACE_CHANGED"));
}

#[test]
fn a_second_person_in_view_fails_the_challenge() {
    let (mut challenge, _) = randomised(3, 12_000.0, 1);
    let image = decode(&std::fs::read(faces_dir().join("couple.jpg")).unwrap()).unwrap();
    let couple = verifier().analyze(&image, Source::Camera).unwrap();
    let frame = Frame::of(&couple).unwrap();
    assert!(frame.faces.len() >= 2, "couple.jpg shows two faces");
    let mut end = None;
    for i in 0..3 {
        end = challenge.observe(i as f64 * FRAME_MS, Some(&frame)).unwrap().result;
    }
    assert_eq!(end.unwrap().code, Some("SECOND_FACE"));
}

