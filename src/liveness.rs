//! Active liveness: a challenge of head movements that a photo or a screen held to the camera
//! cannot perform, judged frame by frame from the camera path's analyses.
//!
//! A challenge is 2–4 actions in an order the caller draws at random ([`pick_actions`]).
//! Each action is a head turn or tilt measured as the change of yaw or pitch
//! ([`crate::pipeline::quality::Quality`]) from the person's own neutral pose, taken on the
//! first frames: people's frontal poses differ by ±6° (yaw estimates of the 67 labelled shared
//! photos), so a fixed absolute angle would fail some and pass others. Between actions the head
//! must come back to neutral, so one held pose never counts twice.
//!
//! Why a held photo fails: yaw and pitch are read from where the nose tip stands among the eyes
//! and mouth, in ratios of their distances. Moving, rolling, scaling or tilting a flat picture
//! changes those ratios only through perspective (a few degrees at arm's length), while a head
//! turned by 20° moves its nose tip, 0.6 eye distances in front of the eyes, by a fifth of the
//! eye distance. What it cannot stop: a video of the person doing the same actions (a replay), a
//! 3D mask; see docs/liveness.md.
//!
//! The same face must stay in view: the embedding of every frame near the neutral pose is
//! compared with the neutral face's at the recognition model's threshold (before, between and
//! after the actions: the challenge ends back at neutral), the face's box may not jump between
//! frames, a second face in view fails the challenge, and so does losing the face for longer
//! than [`FACE_LOST_MS`]. The result carries the embeddings of the
//! frames that completed each action, so a caller can verify or enrol the live face.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::compare::Metric;
use crate::verifier::Analysis;

/// One movement asked of the person, named from their own point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Turn the head to the person's left (the image's right when the camera is not mirrored):
    /// yaw up by [`TURN_DEGREES`].
    TurnLeft,
    /// Turn the head to the person's right: yaw down by [`TURN_DEGREES`].
    TurnRight,
    /// Tilt the head back, chin up: pitch up by [`TILT_DEGREES`].
    LookUp,
    /// Tilt the head forward, chin down: pitch down by [`TILT_DEGREES`].
    LookDown,
}

/// Every action a challenge draws from.
pub const ACTIONS: [Action; 4] = [Action::TurnLeft, Action::TurnRight, Action::LookUp, Action::LookDown];

/// Yaw change (degrees) from the neutral pose that completes a turn. A printed photo tilted up
/// to ±40° and ±30° in front of the camera spans 18.1° of yaw estimates in all
/// (tests/liveness.rs); the synthetic head turned by ±24° reaches −28° and +35°.
pub const TURN_DEGREES: f32 = 20.0;
/// Pitch change (degrees) that completes a tilt. The same print spans 15.7° of pitch
/// estimates; the synthetic head tilted by ±22° reaches −19° and +24°.
pub const TILT_DEGREES: f32 = 16.0;
/// Within this much (degrees, yaw and pitch) of neutral, the head counts as back to neutral.
pub const NEUTRAL_DEGREES: f32 = 8.0;
/// Consecutive frames an action's pose must be held: one mis-placed landmark is no turn.
pub const HOLD_FRAMES: usize = 2;
/// Frames running that make the neutral pose (their median yaw and pitch): frontal, and still
/// within [`STILL_DEGREES`] of one another, so a head on its way somewhere is not taken for
/// neutral.
pub const NEUTRAL_FRAMES: usize = 3;
/// See [`NEUTRAL_FRAMES`].
pub const STILL_DEGREES: f32 = 4.0;
/// The face may be out of view this long (ms) before the challenge fails (`FACE_LOST`).
pub const FACE_LOST_MS: f64 = 1500.0;
/// A second face at least this share of the person's face area, in [`HOLD_FRAMES`] frames
/// running, fails the challenge (`SECOND_FACE`): someone else could be performing it.
pub const SECOND_FACE_AREA: f32 = 0.3;
/// Between two frames the face's box centre may move at most this share of its width: a face
/// swapped for another jumps.
pub const MAX_JUMP: f32 = 0.5;
/// Neutral means a face within this much (degrees) of frontal, yaw and pitch: a head held
/// turned is not taken for neutral (the labelled shared photos' frontal faces are within 10°).
const FRONTAL_DEGREES: f32 = 15.0;

impl Action {
    /// The action's name in the API (as serialised): `turn_left`, `turn_right`, `look_up`,
    /// `look_down`.
    pub fn name(self) -> &'static str {
        match self {
            Action::TurnLeft => "turn_left",
            Action::TurnRight => "turn_right",
            Action::LookUp => "look_up",
            Action::LookDown => "look_down",
        }
    }

    /// The prompt shown to the person.
    pub fn prompt(self) -> &'static str {
        match self {
            Action::TurnLeft => "Turn your head to your left",
            Action::TurnRight => "Turn your head to your right",
            Action::LookUp => "Tilt your head up",
            Action::LookDown => "Tilt your head down",
        }
    }

    /// A pose change (degrees) in this action's direction, and the change that completes it.
    fn towards(self, yaw_change: f32, pitch_change: f32) -> (f32, f32) {
        match self {
            Action::TurnLeft => (yaw_change, TURN_DEGREES),
            Action::TurnRight => (-yaw_change, TURN_DEGREES),
            Action::LookUp => (pitch_change, TILT_DEGREES),
            Action::LookDown => (-pitch_change, TILT_DEGREES),
        }
    }
}

impl std::str::FromStr for Action {
    type Err = Error;

    /// An action by [`Action::name`]; `INVALID_INPUT` for any other name.
    fn from_str(name: &str) -> Result<Action> {
        ACTIONS.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            let names: Vec<&str> = ACTIONS.iter().map(|a| a.name()).collect();
            Error::new(ErrorKind::InvalidInput, format!("unknown liveness action \"{name}\" ({})", names.join(", ")))
        })
    }
}

/// `count` different actions (2–4) in an order drawn from `random`, the caller's random
/// bytes (the browser's `crypto.getRandomValues`): the order must be unpredictable, or a
/// recording made in advance would pass. Each draw takes 4 bytes; `INVALID_INPUT` when
/// `count` is out of range or fewer than `4 × count` bytes are given.
pub fn pick_actions(random: &[u8], count: usize) -> Result<Vec<Action>> {
    if !(2..=ACTIONS.len()).contains(&count) {
        return Err(Error::new(ErrorKind::InvalidInput, format!("a challenge has 2 to {} actions, not {count}", ACTIONS.len())));
    }
    if random.len() < 4 * count {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{} random bytes are needed to draw {count} actions", 4 * count)));
    }
    let mut pool = ACTIONS.to_vec();
    Ok(random
        .chunks_exact(4)
        .take(count)
        .map(|draw| pool.remove(u32::from_le_bytes([draw[0], draw[1], draw[2], draw[3]]) as usize % pool.len()))
        .collect())
}

/// One face in a frame, as a challenge sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FacePose {
    /// Box area, px².
    pub area: f32,
    /// Box centre, px.
    pub centre: [f32; 2],
    /// Box width, px.
    pub width: f32,
    /// Yaw and pitch, degrees ([`crate::pipeline::quality::Quality`]'s).
    pub yaw: f32,
    /// See `yaw`.
    pub pitch: f32,
}

/// What a challenge needs of one camera frame with a face in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    /// Every face in view.
    pub faces: Vec<FacePose>,
    /// Index into `faces` of the person's face (the largest the face check confirmed).
    pub chosen: usize,
    /// Its embedding.
    pub embedding: &'a [f32],
}

impl<'a> Frame<'a> {
    /// The frame of a camera-path analysis; `None` when its chosen face has no quality (and so
    /// no pose: its crop lay outside the image).
    pub fn of(analysis: &'a Analysis) -> Option<Frame<'a>> {
        analysis.faces.get(analysis.chosen)?.quality.as_ref()?;
        let faces = analysis
            .faces
            .iter()
            .map(|f| {
                let (yaw, pitch) = f.quality.as_ref().map(|q| (q.yaw, q.pitch)).unwrap_or((0.0, 0.0));
                let b = &f.bbox;
                FacePose { area: b.area(), centre: [b.x + b.width / 2.0, b.y + b.height / 2.0], width: b.width, yaw, pitch }
            })
            .collect();
        Some(Frame { faces, chosen: analysis.chosen, embedding: &analysis.embedding })
    }
}

/// What one action's attempt came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    /// The action asked for.
    pub action: Action,
    /// Whether it was performed in time.
    pub passed: bool,
    /// Time from its prompt to its completion (or to the end of the challenge), ms.
    pub ms: f64,
    /// The largest change towards the target seen, degrees (yaw for turns, pitch for tilts).
    pub peak_degrees: f32,
}

/// The end of a challenge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessResult {
    /// Whether every action was performed in time by the same face, alone in view.
    pub passed: bool,
    /// Why it failed: `TIMEOUT`, `FACE_LOST`, `FACE_CHANGED`, `SECOND_FACE` or `CANCELLED`;
    /// `null` when it passed.
    pub code: Option<&'static str>,
    /// The same, for people.
    pub message: String,
    /// Each action asked for, in order; those after a failure are not attempted.
    pub actions: Vec<ActionResult>,
    /// The embedding of the neutral face (the frame that set the neutral pose); `null` when no
    /// neutral pose was taken.
    pub embedding: Option<Vec<f32>>,
    /// The embeddings of the frames that completed each action, in order.
    pub embeddings: Vec<Vec<f32>>,
    /// Frames observed.
    pub frames: usize,
    /// Time from the first frame to the end, ms.
    pub ms: f64,
}

/// Where a running challenge is, for the prompt and a progress indicator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessProgress {
    /// `running`, `passed` or `failed`.
    pub state: &'static str,
    /// Actions completed so far.
    pub completed: usize,
    /// Actions in the challenge.
    pub total: usize,
    /// The action being asked for; `null` while the neutral pose is being taken or at the end.
    pub action: Option<Action>,
    /// What to tell the person now.
    pub prompt: String,
    /// How far the current action is, in [0, 1].
    pub progress: f32,
    /// Time left for the current step, ms.
    pub remaining_ms: f64,
    /// The result, once the challenge has ended.
    pub result: Option<LivenessResult>,
}

/// What a challenge waits for next.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// A frontal face, for the neutral pose.
    Neutral,
    /// The head back within [`NEUTRAL_DEGREES`] of neutral before action `i` (or, after the
    /// last one, before the challenge passes).
    Return(usize),
    /// Action `i`.
    Act(usize),
}

/// A liveness challenge in progress: feed it every camera frame's analysis with
/// [`Challenge::observe`] until it ends.
#[derive(Debug, Clone)]
pub struct Challenge {
    actions: Vec<Action>,
    timeout_ms: f64,
    metric: Metric,
    threshold: f32,
    step: Step,
    /// When the current step began, ms (`None` until the first frame).
    step_started: Option<f64>,
    first_frame: Option<f64>,
    last_face: Option<f64>,
    last_centre: Option<FacePose>,
    neutral_poses: Vec<[f32; 2]>,
    neutral: Option<[f32; 2]>,
    reference: Option<Vec<f32>>,
    held: usize,
    rival_frames: usize,
    results: Vec<ActionResult>,
    embeddings: Vec<Vec<f32>>,
    frames: usize,
    now: f64,
    progress: f32,
    ended: Option<LivenessResult>,
}

impl Challenge {
    /// A challenge of `actions` (2–4, no repeats), each to be done within `timeout_ms` of its
    /// prompt (the neutral pose too); the same face means embeddings within `threshold` under
    /// `metric` (the recognition model's operating point). `INVALID_INPUT` otherwise.
    pub fn new(actions: Vec<Action>, timeout_ms: f64, metric: Metric, threshold: f32) -> Result<Challenge> {
        let repeated = actions.iter().enumerate().any(|(i, a)| actions[..i].contains(a));
        if actions.len() < 2 || actions.len() > ACTIONS.len() || repeated {
            return Err(Error::new(ErrorKind::InvalidInput, format!("a challenge has 2 to {} different actions", ACTIONS.len())));
        }
        if !(timeout_ms.is_finite() && timeout_ms > 0.0) || !(threshold.is_finite() && threshold > 0.0) {
            return Err(Error::new(ErrorKind::InvalidInput, "a challenge needs a positive time limit and threshold"));
        }
        Ok(Challenge {
            actions,
            timeout_ms,
            metric,
            threshold,
            step: Step::Neutral,
            step_started: None,
            first_frame: None,
            last_face: None,
            last_centre: None,
            neutral_poses: Vec::new(),
            neutral: None,
            reference: None,
            held: 0,
            rival_frames: 0,
            results: Vec::new(),
            embeddings: Vec::new(),
            frames: 0,
            now: 0.0,
            progress: 0.0,
            ended: None,
        })
    }

    /// The actions asked for, in order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Take one frame, seen at `time_ms` (any monotonic clock, ms), or `None` when no face
    /// was found in it ([`Frame::of`] a camera-path analysis). Returns where the challenge stands; once it
    /// has ended, further frames change nothing. `INVALID_INPUT` when time runs backwards or
    /// is not finite.
    pub fn observe(&mut self, time_ms: f64, frame: Option<&Frame>) -> Result<LivenessProgress> {
        if self.ended.is_some() {
            return Ok(self.progress());
        }
        if !time_ms.is_finite() || self.first_frame.is_some_and(|_| time_ms < self.now) {
            return Err(Error::new(ErrorKind::InvalidInput, "frame times must be finite and never decrease"));
        }
        self.now = time_ms;
        self.frames += 1;
        self.first_frame.get_or_insert(time_ms);
        self.step_started.get_or_insert(time_ms);
        self.last_face.get_or_insert(time_ms);
        if let Some(frame) = frame {
            self.take(time_ms, frame)?;
        } else if time_ms - self.last_face.unwrap_or(time_ms) > FACE_LOST_MS {
            let what = if self.last_centre.is_some() { "the face left the view" } else { "no face came into view" };
            self.fail("FACE_LOST", format!("{what} for more than {:.1} s", FACE_LOST_MS / 1000.0));
        }
        if self.ended.is_none() && time_ms - self.step_started.unwrap_or(time_ms) > self.timeout_ms {
            let what = match self.step {
                Step::Neutral => "look straight at the camera".to_string(),
                Step::Return(_) => "come back to looking straight at the camera".to_string(),
                Step::Act(i) => self.actions[i].prompt().to_lowercase(),
            };
            self.fail("TIMEOUT", format!("no time left to {what} ({:.0} s)", self.timeout_ms / 1000.0));
        }
        Ok(self.progress())
    }

    /// End the challenge now, failed with `CANCELLED` (the caller stopped it).
    pub fn cancel(&mut self) -> LivenessProgress {
        if self.ended.is_none() {
            self.fail("CANCELLED", "the challenge was cancelled".into());
        }
        self.progress()
    }

    fn take(&mut self, time_ms: f64, frame: &Frame) -> Result<()> {
        let Some(face) = frame.faces.get(frame.chosen) else {
            return Err(Error::new(ErrorKind::InvalidInput, "the frame's chosen face is not among its faces"));
        };
        self.last_face = Some(time_ms);
        let rival = frame.faces.iter().enumerate().any(|(i, f)| i != frame.chosen && f.area >= SECOND_FACE_AREA * face.area);
        self.rival_frames = if rival { self.rival_frames + 1 } else { 0 };
        if self.rival_frames >= HOLD_FRAMES {
            return Ok(self.fail("SECOND_FACE", "another face came into view: only the person being checked may be in the picture".into()));
        }
        if let Some(last) = self.last_centre.replace(*face) {
            let jump = (face.centre[0] - last.centre[0]).hypot(face.centre[1] - last.centre[1]);
            if jump > MAX_JUMP * last.width.max(face.width) {
                return Ok(self.fail("FACE_CHANGED", format!("the face jumped {jump:.0} px between two frames: it may have been swapped")));
            }
        }
        let pose = [face.yaw, face.pitch];
        let Some(neutral) = self.neutral else {
            let frontal = pose[0].abs() <= FRONTAL_DEGREES && pose[1].abs() <= FRONTAL_DEGREES;
            let still = |p: &[f32; 2]| (p[0] - pose[0]).abs() <= STILL_DEGREES && (p[1] - pose[1]).abs() <= STILL_DEGREES;
            if !frontal || !self.neutral_poses.iter().all(still) {
                self.neutral_poses.clear();
            }
            if frontal {
                self.neutral_poses.push(pose);
                if self.neutral_poses.len() == NEUTRAL_FRAMES {
                    self.neutral = Some([0, 1].map(|k| median(self.neutral_poses.iter().map(|p| p[k]).collect())));
                    // The neutral face is the reference the rest of the challenge is held to.
                    self.reference = Some(frame.embedding.to_vec());
                    self.next_step(Step::Act(0), time_ms);
                }
            }
            return Ok(());
        };
        let (yaw_change, pitch_change) = (pose[0] - neutral[0], pose[1] - neutral[1]);
        let at_neutral = yaw_change.abs() <= NEUTRAL_DEGREES && pitch_change.abs() <= NEUTRAL_DEGREES;
        // Identity is checked on frames near neutral, where the recognition model's threshold
        // holds (a turned face's embedding moves further; tests/liveness.rs). Every action is
        // between two such checks, and the box may not jump in between.
        if at_neutral {
            if let Some(reference) = &self.reference {
                let distance = self.metric.distance(reference, frame.embedding)?;
                if distance > self.threshold {
                    return Ok(self.fail(
                        "FACE_CHANGED",
                        format!("the face in view changed (distance {distance:.2} from the neutral face's, over {:.2})", self.threshold),
                    ));
                }
            }
        }
        match self.step {
            // The neutral pose is set before any other step.
            Step::Neutral => {}
            Step::Return(i) => {
                if at_neutral && i == self.actions.len() {
                    self.end(true, None, "every action was performed by the same face".into());
                } else if at_neutral {
                    self.next_step(Step::Act(i), time_ms);
                }
            }
            Step::Act(i) => {
                let action = self.actions[i];
                let (change, target) = action.towards(yaw_change, pitch_change);
                self.progress = (change / target).clamp(0.0, 1.0);
                let result = self.attempt(i);
                result.peak_degrees = result.peak_degrees.max(change);
                self.held = if self.progress >= 1.0 { self.held + 1 } else { 0 };
                if self.held >= HOLD_FRAMES {
                    let result = self.attempt(i);
                    result.passed = true;
                    self.embeddings.push(frame.embedding.to_vec());
                    self.next_step(Step::Return(i + 1), time_ms);
                }
            }
        }
        Ok(())
    }

    /// The result record of action `i`, created on its first frame; its time runs to now.
    fn attempt(&mut self, i: usize) -> &mut ActionResult {
        let started = self.step_started.unwrap_or(self.now);
        if self.results.len() <= i {
            self.results.push(ActionResult { action: self.actions[i], passed: false, ms: 0.0, peak_degrees: 0.0 });
        }
        let result = &mut self.results[i];
        result.ms = self.now - started;
        result
    }

    fn next_step(&mut self, step: Step, time_ms: f64) {
        self.step = step;
        self.step_started = Some(time_ms);
        self.held = 0;
        self.progress = 0.0;
        if let Step::Act(i) = step {
            self.attempt(i);
        }
    }

    fn fail(&mut self, code: &'static str, message: String) {
        if let Step::Act(i) = self.step {
            self.attempt(i);
        }
        self.end(false, Some(code), message);
    }

    fn end(&mut self, passed: bool, code: Option<&'static str>, message: String) {
        self.ended = Some(LivenessResult {
            passed,
            code,
            message,
            actions: self.results.clone(),
            embedding: self.reference.clone(),
            embeddings: self.embeddings.clone(),
            frames: self.frames,
            ms: self.now - self.first_frame.unwrap_or(self.now),
        });
    }

    /// Where the challenge stands.
    pub fn progress(&self) -> LivenessProgress {
        let completed = self.results.iter().filter(|r| r.passed).count();
        let total = self.actions.len();
        if let Some(result) = &self.ended {
            return LivenessProgress {
                state: if result.passed { "passed" } else { "failed" },
                completed,
                total,
                action: None,
                prompt: if result.passed { "Passed: you are live.".into() } else { format!("Failed: {}.", result.message) },
                progress: if result.passed { 1.0 } else { 0.0 },
                remaining_ms: 0.0,
                result: Some(result.clone()),
            };
        }
        let remaining_ms = (self.timeout_ms - (self.now - self.step_started.unwrap_or(self.now))).max(0.0);
        let (action, prompt) = match self.step {
            Step::Neutral => (None, "Look straight at the camera".to_string()),
            Step::Return(_) => (None, "Now look straight at the camera again".to_string()),
            Step::Act(i) => (Some(self.actions[i]), self.actions[i].prompt().to_string()),
        };
        LivenessProgress { state: "running", completed, total, action, prompt, progress: self.progress, remaining_ms, result: None }
    }
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: [f32; 2] = [1.0, 0.0];
    const SOMEONE_ELSE: [f32; 2] = [0.0, 1.0];

    fn pose(yaw: f32, pitch: f32) -> FacePose {
        FacePose { area: 10_000.0, centre: [320.0, 240.0], width: 100.0, yaw, pitch }
    }

    fn challenge(actions: &[Action]) -> Challenge {
        Challenge::new(actions.to_vec(), 5000.0, Metric::Euclidean, 0.6).unwrap()
    }

    /// Feed `poses` (yaw, pitch) of one face, 100 ms apart from `start`; the last progress.
    fn run(c: &mut Challenge, start: f64, poses: &[(f32, f32)], who: [f32; 2]) -> LivenessProgress {
        let mut last = c.progress();
        for (i, &(yaw, pitch)) in poses.iter().enumerate() {
            let frame = Frame { faces: vec![pose(yaw, pitch)], chosen: 0, embedding: &who };
            last = c.observe(start + 100.0 * i as f64, Some(&frame)).unwrap();
        }
        last
    }

    #[test]
    fn the_actions_asked_for_pass_in_order_from_a_neutral_pose_that_is_not_frontal() {
        // This person holds the head 7° to one side and 5° down when looking at the camera.
        let mut c = challenge(&[Action::TurnLeft, Action::LookDown]);
        let mut poses = vec![(7.0, -5.0); 3];
        poses.extend([(12.0, -5.0), (20.0, -5.0), (28.0, -5.0), (28.5, -4.0)]);
        poses.extend([(15.0, -5.0), (8.0, -5.0), (7.0, -8.0), (7.0, -15.0), (7.0, -21.0), (6.0, -22.0)]);
        assert_eq!(run(&mut c, 0.0, &poses, ME).state, "running", "it ends back at neutral");
        let end = run(&mut c, 1400.0, &[(7.0, -10.0)], ME);
        assert_eq!(end.state, "passed", "{end:?}");
        let result = end.result.unwrap();
        assert_eq!(result.actions.iter().map(|a| (a.action, a.passed)).collect::<Vec<_>>(), [(Action::TurnLeft, true), (Action::LookDown, true)]);
        assert_eq!(result.actions[0].peak_degrees, 21.5, "28.5° from a neutral of 7°");
        assert_eq!(result.embeddings.len(), 2);
        assert_eq!(result.embedding.as_deref(), Some(&ME[..]));
    }

    #[test]
    fn a_turn_the_other_way_or_a_single_frame_does_not_count() {
        let mut c = challenge(&[Action::TurnLeft, Action::TurnRight]);
        // Right instead of left, then one frame of left (a landmark glitch), for 6 s.
        let mut poses = vec![(0.0, 0.0); 3];
        poses.extend(std::iter::repeat_n((-30.0, 0.0), 20));
        poses.extend([(30.0, 0.0), (0.0, 0.0)]);
        poses.extend(std::iter::repeat_n((0.0, 0.0), 40));
        let end = run(&mut c, 0.0, &poses, ME);
        assert_eq!((end.state, end.result.as_ref().unwrap().code), ("failed", Some("TIMEOUT")), "{end:?}");
        assert!(!end.result.unwrap().actions[0].passed);
    }

    #[test]
    fn one_held_pose_never_completes_two_actions() {
        // Turned left and held: the second action waits for a return to neutral first.
        let mut c = challenge(&[Action::TurnLeft, Action::LookUp]);
        let mut poses = vec![(0.0, 0.0); 3];
        poses.extend(std::iter::repeat_n((25.0, 20.0), 70));
        let end = run(&mut c, 0.0, &poses, ME);
        let result = end.result.unwrap();
        assert_eq!(result.code, Some("TIMEOUT"));
        assert_eq!(result.actions.iter().filter(|a| a.passed).count(), 1);
        assert!(result.message.contains("looking straight"), "{}", result.message);
    }

    #[test]
    fn another_face_taking_over_fails_the_challenge() {
        let mut c = challenge(&[Action::TurnLeft, Action::TurnRight]);
        run(&mut c, 0.0, &[(0.0, 0.0); 4], ME);
        // Turned, the face is held to its box's path; back at neutral, to its embedding.
        assert_eq!(run(&mut c, 400.0, &[(25.0, 0.0); 3], SOMEONE_ELSE).state, "running");
        let end = run(&mut c, 700.0, &[(2.0, 0.0)], SOMEONE_ELSE);
        let result = end.result.unwrap();
        assert_eq!(result.code, Some("FACE_CHANGED"));
        assert!(result.message.contains("distance 1.41"), "{}", result.message);
        let mut c = challenge(&[Action::TurnLeft, Action::TurnRight]);
        run(&mut c, 0.0, &[(0.0, 0.0); 4], ME);
        let elsewhere = Frame { faces: vec![FacePose { centre: [400.0, 240.0], ..pose(25.0, 0.0) }], chosen: 0, embedding: &ME };
        let result = c.observe(500.0, Some(&elsewhere)).unwrap().result.unwrap();
        assert_eq!(result.code, Some("FACE_CHANGED"));
        assert!(result.message.contains("jumped 80 px"), "{}", result.message);
    }

    #[test]
    fn a_second_face_in_view_for_two_frames_fails_it_one_frame_does_not() {
        let mut c = challenge(&[Action::TurnLeft, Action::TurnRight]);
        run(&mut c, 0.0, &[(0.0, 0.0); 3], ME);
        let two = |area: f32| Frame { faces: vec![pose(0.0, 0.0), FacePose { area, ..pose(0.0, 0.0) }], chosen: 0, embedding: &ME };
        // A small face far behind is no rival; a near one once is a false detection at most.
        assert_eq!(c.observe(300.0, Some(&two(1000.0))).unwrap().state, "running");
        assert_eq!(c.observe(400.0, Some(&two(1000.0))).unwrap().state, "running");
        assert_eq!(c.observe(500.0, Some(&two(5000.0))).unwrap().state, "running");
        let end = c.observe(600.0, Some(&two(5000.0))).unwrap();
        assert_eq!(end.result.unwrap().code, Some("SECOND_FACE"));
    }

    #[test]
    fn the_face_may_leave_the_view_briefly_but_not_for_long() {
        let mut c = challenge(&[Action::TurnLeft, Action::TurnRight]);
        run(&mut c, 0.0, &[(0.0, 0.0); 3], ME);
        assert_eq!(c.observe(1000.0, None).unwrap().state, "running");
        run(&mut c, 1100.0, &[(0.0, 0.0)], ME);
        assert_eq!(c.observe(2500.0, None).unwrap().state, "running");
        let end = c.observe(2700.0, None).unwrap();
        assert_eq!(end.result.unwrap().code, Some("FACE_LOST"));
        // Ended: later frames change nothing.
        assert_eq!(run(&mut c, 3000.0, &[(30.0, 0.0); 5], ME).result.unwrap().code, Some("FACE_LOST"));
    }

    #[test]
    fn no_frontal_face_times_out_and_cancel_ends_it() {
        let mut c = challenge(&[Action::LookUp, Action::LookDown]);
        let end = run(&mut c, 0.0, &[(40.0, 0.0); 52], ME);
        assert_eq!(end.result.as_ref().unwrap().code, Some("TIMEOUT"));
        assert_eq!(end.result.unwrap().embedding, None, "never frontal: no neutral face");
        let mut c = challenge(&[Action::LookUp, Action::LookDown]);
        run(&mut c, 0.0, &[(0.0, 0.0); 5], ME);
        let end = c.cancel();
        assert_eq!((end.state, end.result.unwrap().code), ("failed", Some("CANCELLED")));
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let invalid = |r: Result<Challenge>| assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
        invalid(Challenge::new(vec![Action::TurnLeft], 1000.0, Metric::Euclidean, 0.6));
        invalid(Challenge::new(vec![Action::TurnLeft, Action::TurnLeft], 1000.0, Metric::Euclidean, 0.6));
        invalid(Challenge::new(vec![Action::TurnLeft, Action::LookUp], f64::NAN, Metric::Euclidean, 0.6));
        invalid(Challenge::new(vec![Action::TurnLeft, Action::LookUp], 1000.0, Metric::Euclidean, 0.0));
        let mut c = challenge(&[Action::TurnLeft, Action::LookUp]);
        run(&mut c, 1000.0, &[(0.0, 0.0); 3], ME);
        assert_eq!(c.observe(900.0, None).unwrap_err().kind(), ErrorKind::InvalidInput, "time ran backwards");
        assert_eq!(c.observe(f64::INFINITY, None).unwrap_err().kind(), ErrorKind::InvalidInput);
        let stray = Frame { faces: vec![], chosen: 0, embedding: &ME };
        assert_eq!(c.observe(1300.0, Some(&stray)).unwrap_err().kind(), ErrorKind::InvalidInput);
        let wrong_size = Frame { faces: vec![pose(0.0, 0.0)], chosen: 0, embedding: &[0.0; 3] };
        assert_eq!(c.observe(1400.0, Some(&wrong_size)).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!("blink".parse::<Action>().unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(pick_actions(&[0; 8], 1).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(pick_actions(&[0; 7], 2).unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn picked_actions_differ_and_follow_the_random_bytes() {
        let all = pick_actions(&[3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], 4).unwrap();
        assert_eq!(all, [Action::LookDown, Action::TurnLeft, Action::LookUp, Action::TurnRight]);
        for seed in 0u8..=255 {
            let picked = pick_actions(&[seed; 12], 3).unwrap();
            assert!(picked.iter().enumerate().all(|(i, a)| !picked[..i].contains(a)));
        }
        for action in ACTIONS {
            assert_eq!(action.name().parse::<Action>().unwrap(), action);
            assert_eq!(serde_json::to_value(action).unwrap(), action.name());
        }
    }
}
