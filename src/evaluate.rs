//! Evaluate: accuracy figures for a verifier over labelled pairs, as LFW reports them.
//! Pure arithmetic on distances; reading the pairs and images is the caller's job.

use serde::Serialize;

use crate::registry::Calibration;

/// One labelled pair: its distance, or `None` when a face was not found in either image
/// (such pairs count as wrong, whatever the threshold).
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    /// Distance between the two embeddings.
    pub distance: Option<f32>,
    /// Whether the two images show the same person.
    pub same: bool,
}

/// The figures for one model and metric.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Accuracy at `threshold`.
    pub accuracy: f64,
    /// Accuracy at `threshold` with same and different pairs weighted equally.
    pub balanced_accuracy: f64,
    /// The threshold `accuracy` was measured at.
    pub threshold: f32,
    /// The threshold with the best accuracy on all pairs (optimistic).
    pub best_threshold: f32,
    /// Accuracy at `best_threshold`.
    pub best_accuracy: f64,
    /// 10-fold cross-validated accuracy: threshold picked on 9 folds, tested on the 10th.
    pub cv_accuracy: f64,
    /// Area under the ROC curve over the pairs that were scored.
    pub auc: f64,
    /// True accept rate at a false accept rate of at most 1e-3.
    #[serde(rename = "tar_at_far_1e-3")]
    pub tar_at_far_1e_3: f64,
    /// Separation d′ = (mean different − mean same) / pooled standard deviation: tells
    /// apart methods that all score 100 % on a small, easy set.
    pub d_prime: f64,
    /// Number of pairs.
    pub n_pairs: usize,
    /// Pairs where a face was not found.
    pub n_failed: usize,
}

/// Accuracy over `pairs` when distances ≤ `threshold` mean "same".
pub fn accuracy(pairs: &[Scored], threshold: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let correct = pairs.iter().filter(|p| p.distance.is_some_and(|d| (d <= threshold) == p.same)).count();
    correct as f64 / pairs.len() as f64
}

/// The threshold that maximises accuracy over `pairs`. Candidates are midpoints between
/// sorted distances; among equally good ones the middle of their range is taken, so that a
/// clean gap between same and different pairs is split down its centre, not at an edge.
pub fn best_threshold(pairs: &[Scored]) -> f32 {
    best_by(pairs, accuracy)
}

fn best_by(pairs: &[Scored], accuracy: fn(&[Scored], f32) -> f64) -> f32 {
    let mut distances: Vec<f32> = pairs.iter().filter_map(|p| p.distance).collect();
    distances.sort_by(f32::total_cmp);
    let mut candidates = vec![distances.first().map_or(0.0, |d| d - 1e-3)];
    candidates.extend(distances.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    candidates.extend(distances.last().map(|d| d + 1e-3));
    let scored: Vec<(f64, f32)> = candidates.iter().map(|&t| (accuracy(pairs, t), t)).collect();
    let best = scored.iter().map(|s| s.0).fold(f64::MIN, f64::max);
    let tied: Vec<f32> = scored.iter().filter(|s| s.0 == best).map(|s| s.1).collect();
    let (first, last) = (tied[0], tied[tied.len() - 1]);
    let middle = (first + last) / 2.0;
    if accuracy(pairs, middle) == best {
        middle
    } else {
        first
    }
}

/// Accuracy with both classes weighted equally: (TAR + TRR) / 2, i.e. the accuracy on a
/// set with as many same as different pairs (LFW's protocol), whatever the mix of `pairs`.
/// Pairs without a distance count as wrong.
pub fn balanced_accuracy(pairs: &[Scored], threshold: f32) -> f64 {
    let rate = |same: bool| {
        let class: Vec<&Scored> = pairs.iter().filter(|p| p.same == same).collect();
        let right = class.iter().filter(|p| p.distance.is_some_and(|d| (d <= threshold) == same)).count();
        if class.is_empty() { 1.0 } else { right as f64 / class.len() as f64 }
    };
    (rate(true) + rate(false)) / 2.0
}

/// The threshold that maximises [`balanced_accuracy`], chosen as [`best_threshold`] chooses
/// (the middle of the best range): an operating point that does not depend on the share of
/// same pairs in the data it was chosen on.
pub fn best_balanced_threshold(pairs: &[Scored]) -> f32 {
    best_by(pairs, balanced_accuracy)
}

/// A logistic calibration P(same | d) = σ(a + b·d) fitted by maximum likelihood (Newton's
/// method) with both classes weighted equally, so that it reads as the probability at even
/// prior odds; and its Brier score, weighted the same way. `None` without both classes.
pub fn fit_logistic(pairs: &[Scored]) -> Option<Calibration> {
    let scored: Vec<(f64, f64)> = pairs.iter().filter_map(|p| p.distance.map(|d| (d as f64, p.same as u8 as f64))).collect();
    let n_same = scored.iter().filter(|s| s.1 == 1.0).count() as f64;
    let n_different = scored.len() as f64 - n_same;
    if n_same == 0.0 || n_different == 0.0 {
        return None;
    }
    let weight = |y: f64| if y == 1.0 { 0.5 / n_same } else { 0.5 / n_different };
    // Centre and scale the distances so that Newton's steps are well conditioned.
    let mean = scored.iter().map(|s| s.0).sum::<f64>() / scored.len() as f64;
    let spread = (scored.iter().map(|s| (s.0 - mean).powi(2)).sum::<f64>() / scored.len() as f64).sqrt().max(1e-12);
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut g, mut h) = ([0.0; 2], [[0.0; 2]; 2]);
        for &(d, y) in &scored {
            let x = (d - mean) / spread;
            let p = 1.0 / (1.0 + (-(a + b * x)).exp());
            let w = weight(y);
            g[0] += w * (p - y);
            g[1] += w * (p - y) * x;
            let v = w * p * (1.0 - p);
            h[0][0] += v;
            h[0][1] += v * x;
            h[1][1] += v * x * x;
        }
        // A small L2 penalty keeps the fit finite on separable data (clean pairs).
        const RIDGE: f64 = 1e-4;
        g[0] += RIDGE * a;
        g[1] += RIDGE * b;
        h[0][0] += RIDGE;
        h[1][1] += RIDGE;
        let det = h[0][0] * h[1][1] - h[0][1] * h[0][1];
        let (da, db) = ((h[1][1] * g[0] - h[0][1] * g[1]) / det, (h[0][0] * g[1] - h[0][1] * g[0]) / det);
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    let calibration = Calibration { intercept: a - b * mean / spread, slope: b / spread, brier: 0.0 };
    let brier = scored.iter().map(|&(d, y)| weight(y) * (calibration.probability(d) - y).powi(2)).sum();
    (calibration.intercept.is_finite() && calibration.slope.is_finite()).then_some(Calibration { brier, ..calibration })
}

/// Everything in a [`Report`], with `threshold` the model's configured one.
pub fn evaluate(pairs: &[Scored], threshold: f32) -> Report {
    let best = best_threshold(pairs);
    Report {
        accuracy: accuracy(pairs, threshold),
        balanced_accuracy: balanced_accuracy(pairs, threshold),
        threshold,
        best_threshold: best,
        best_accuracy: accuracy(pairs, best),
        cv_accuracy: cross_validated(pairs, 10),
        auc: auc(pairs),
        tar_at_far_1e_3: tar_at_far(pairs, 1e-3),
        d_prime: d_prime(pairs),
        n_pairs: pairs.len(),
        n_failed: pairs.iter().filter(|p| p.distance.is_none()).count(),
    }
}

fn cross_validated(pairs: &[Scored], folds: usize) -> f64 {
    let folds = folds.min(pairs.len());
    if folds < 2 {
        return accuracy(pairs, best_threshold(pairs));
    }
    let fold_of = |i: usize| i * folds / pairs.len();
    let mut total = 0.0;
    for fold in 0..folds {
        let (test, train): (Vec<(usize, &Scored)>, Vec<(usize, &Scored)>) =
            pairs.iter().enumerate().partition(|(i, _)| fold_of(*i) == fold);
        let train: Vec<Scored> = train.into_iter().map(|(_, p)| *p).collect();
        let test: Vec<Scored> = test.into_iter().map(|(_, p)| *p).collect();
        total += accuracy(&test, best_threshold(&train)) * test.len() as f64;
    }
    total / pairs.len() as f64
}

fn d_prime(pairs: &[Scored]) -> f64 {
    let moments = |same: bool| {
        let d: Vec<f64> = pairs.iter().filter(|p| p.same == same).filter_map(|p| p.distance).map(f64::from).collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let variance = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64;
        (mean, variance)
    };
    let ((mean_same, var_same), (mean_different, var_different)) = (moments(true), moments(false));
    let separation = (mean_different - mean_same) / ((var_same + var_different) / 2.0).sqrt();
    if separation.is_finite() { separation } else { 0.0 }
}

/// Probability that a random same pair is closer than a random different pair (ties half).
fn auc(pairs: &[Scored]) -> f64 {
    let same: Vec<f32> = pairs.iter().filter(|p| p.same).filter_map(|p| p.distance).collect();
    let different: Vec<f32> = pairs.iter().filter(|p| !p.same).filter_map(|p| p.distance).collect();
    if same.is_empty() || different.is_empty() {
        return 0.0;
    }
    let mut wins = 0.0;
    for s in &same {
        for d in &different {
            wins += if s < d { 1.0 } else if s == d { 0.5 } else { 0.0 };
        }
    }
    wins / (same.len() * different.len()) as f64
}

/// The largest share of same pairs accepted while accepting at most `far` of different ones.
fn tar_at_far(pairs: &[Scored], far: f64) -> f64 {
    let mut different: Vec<f32> = pairs.iter().filter(|p| !p.same).filter_map(|p| p.distance).collect();
    let n_same = pairs.iter().filter(|p| p.same).count();
    if different.is_empty() || n_same == 0 {
        return 0.0;
    }
    different.sort_by(f32::total_cmp);
    let allowed = (far * different.len() as f64).floor() as usize;
    // Accept distances strictly below the (allowed+1)-th closest different pair.
    let limit = different.get(allowed).copied().unwrap_or(f32::INFINITY);
    let accepted = pairs.iter().filter(|p| p.same && p.distance.is_some_and(|d| d < limit)).count();
    accepted as f64 / n_same as f64
}

/// The ROC curve over the scored pairs: (false accept rate, true accept rate) at every
/// distinct threshold, from (0, 0) to (1, 1).
pub fn roc(pairs: &[Scored]) -> Vec<(f64, f64)> {
    let mut scored: Vec<(f32, bool)> = pairs.iter().filter_map(|p| p.distance.map(|d| (d, p.same))).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_same = scored.iter().filter(|s| s.1).count().max(1) as f64;
    let n_different = scored.iter().filter(|s| !s.1).count().max(1) as f64;
    let (mut accepted_same, mut accepted_different) = (0.0, 0.0);
    let mut points = vec![(0.0, 0.0)];
    for (i, (distance, same)) in scored.iter().enumerate() {
        if *same {
            accepted_same += 1.0;
        } else {
            accepted_different += 1.0;
        }
        // One point per threshold: ties move together.
        if scored.get(i + 1).is_none_or(|next| next.0 != *distance) {
            points.push((accepted_different / n_different, accepted_same / n_same));
        }
    }
    points
}

/// The ROC curve as a small standalone SVG, captioned with `title`.
pub fn roc_svg(points: &[(f64, f64)], title: &str) -> String {
    let (size, margin) = (400.0, 40.0);
    let x = |far: f64| margin + far * size;
    let y = |tar: f64| margin + (1.0 - tar) * size;
    let path: Vec<String> = points.iter().map(|&(far, tar)| format!("{:.2},{:.2}", x(far), y(tar))).collect();
    let escaped = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{w}" viewBox="0 0 {w} {w}" font-family="sans-serif" font-size="12">
<rect x="{m}" y="{m}" width="{size}" height="{size}" fill="none" stroke="#888"/>
<line x1="{m}" y1="{bottom}" x2="{right}" y2="{m}" stroke="#ccc" stroke-dasharray="4"/>
<polyline points="{path}" fill="none" stroke="#0a6" stroke-width="2"/>
<text x="{m}" y="{title_y}">{escaped}</text>
<text x="{mid}" y="{label_y}" text-anchor="middle">false accept rate</text>
<text x="12" y="{mid}" text-anchor="middle" transform="rotate(-90 12 {mid})">true accept rate</text>
</svg>
"##,
        w = size + 2.0 * margin,
        m = margin,
        bottom = margin + size,
        right = margin + size,
        path = path.join(" "),
        title_y = margin - 12.0,
        mid = margin + size / 2.0,
        label_y = margin + size + 28.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(distance: f32, same: bool) -> Scored {
        Scored { distance: Some(distance), same }
    }

    #[test]
    fn separable_pairs_score_perfectly() {
        // Same pairs at 0.00..0.09, different ones at 1.00..1.09, interleaved across folds.
        let pairs: Vec<Scored> =
            (0..20).map(|i| pair((i / 2) as f32 / 100.0 + (i % 2) as f32, i % 2 == 0)).collect();
        let report = evaluate(&pairs, 0.5);
        assert_eq!(report.accuracy, 1.0);
        assert_eq!(report.auc, 1.0);
        assert_eq!(report.tar_at_far_1e_3, 1.0);
        assert!((report.best_threshold - 0.545).abs() < 1e-6, "{}", report.best_threshold);
        assert_eq!(report.cv_accuracy, 1.0);
        // Means 1.0 apart, each class's spread 0.01·√(99/12).
        assert!((report.d_prime - 1.0 / (0.01 * (99.0f64 / 12.0).sqrt())).abs() < 1e-3, "{}", report.d_prime);
    }

    #[test]
    fn roc_runs_from_origin_to_one_and_never_decreases() {
        let pairs = [pair(0.1, true), pair(0.2, false), pair(0.3, true), pair(0.3, false), pair(0.9, false)];
        let points = roc(&pairs);
        assert_eq!(points.first(), Some(&(0.0, 0.0)));
        assert_eq!(points.last(), Some(&(1.0, 1.0)));
        assert!(points.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1));
        // The tie at 0.3 is one point, not two.
        assert_eq!(points.len(), 5);
        let svg = roc_svg(&points, "a <b>");
        assert!(svg.starts_with("<svg") && svg.contains("a &lt;b&gt;"));
    }

    #[test]
    fn failures_count_as_wrong() {
        let pairs = [pair(0.1, true), pair(0.9, false), Scored { distance: None, same: true }];
        let report = evaluate(&pairs, 0.5);
        assert!((report.accuracy - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(report.n_failed, 1);
    }

    #[test]
    fn balanced_accuracy_weighs_classes_equally() {
        // 1 same pair at 2.5 among 9 different ones at 1..9: rejecting all is 90 % right
        // but 50 % balanced.
        let mut pairs = vec![pair(2.5, true)];
        pairs.extend((1..10).map(|i| pair(i as f32, false)));
        assert!((accuracy(&pairs, 0.5) - 0.9).abs() < 1e-9);
        assert!((balanced_accuracy(&pairs, 0.5) - 0.5).abs() < 1e-9);
        // The balanced operating point accepts the same pair; the plain one rejects all.
        assert!(best_balanced_threshold(&pairs) >= 2.5);
        assert!(best_threshold(&pairs) < 1.0);
    }

    #[test]
    fn logistic_fit_recovers_a_known_calibration() {
        // Distances on a grid, labelled by their true probability σ(6 − 10·d) as fractions.
        let mut pairs = Vec::new();
        for i in 0..=100 {
            let d = i as f32 / 100.0;
            let p = 1.0 / (1.0 + (-(6.0 - 10.0 * d as f64)).exp());
            let same = (p * 200.0).round() as usize;
            pairs.extend(std::iter::repeat_n(pair(d, true), same));
            pairs.extend(std::iter::repeat_n(pair(d, false), 200 - same));
        }
        let c = fit_logistic(&pairs).unwrap();
        // Balanced weighting shifts the intercept by the log of the class ratio.
        let n_same = pairs.iter().filter(|p| p.same).count() as f64;
        let shift = (n_same / (pairs.len() as f64 - n_same)).ln();
        assert!((c.slope + 10.0).abs() < 0.1, "{c:?}");
        assert!((c.intercept + shift - 6.0).abs() < 0.1, "{c:?}");
        assert!(c.brier > 0.0 && c.brier < 0.25);
    }

    #[test]
    fn logistic_fit_of_separable_pairs_stays_finite() {
        let pairs = [pair(0.1, true), pair(0.2, true), pair(0.8, false), pair(0.9, false)];
        let c = fit_logistic(&pairs).unwrap();
        assert!(c.probability(0.1) > 0.9 && c.probability(0.9) < 0.1, "{c:?}");
        assert!(fit_logistic(&[pair(0.1, true)]).is_none());
    }

    #[test]
    fn inverted_scores_have_zero_auc() {
        let pairs = [pair(0.9, true), pair(0.1, false)];
        assert_eq!(auc(&pairs), 0.0);
        assert_eq!(tar_at_far(&pairs, 1e-3), 0.0);
    }
}
