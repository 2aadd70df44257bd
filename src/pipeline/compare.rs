//! Compare: distances between embeddings. Smaller always means more alike, so every metric
//! shares one rule: distance ≤ threshold ⇒ same person.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// How two embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// 1 − cosine similarity, in [0, 2].
    Cosine,
    /// Euclidean distance of the raw embeddings (dlib's native metric).
    Euclidean,
    /// Euclidean distance after L2-normalising both, in [0, 2].
    EuclideanL2,
    /// Angle between the embeddings divided by π, in [0, 1].
    Angular,
}

impl Metric {
    /// Every metric, in a stable order.
    pub const ALL: [Metric; 4] = [Metric::Cosine, Metric::Euclidean, Metric::EuclideanL2, Metric::Angular];

    /// The distance between `a` and `b`; both must have the same length and each be a
    /// usable embedding ([`check_embedding`]).
    pub fn distance(self, a: &[f32], b: &[f32]) -> Result<f32> {
        if a.len() != b.len() || a.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("embeddings of length {} and {} cannot be compared", a.len(), b.len()),
            ));
        }
        check_embedding(a)?;
        check_embedding(b)?;
        let sum = |f: &dyn Fn(f64, f64) -> f64| a.iter().zip(b).map(|(x, y)| f(*x as f64, *y as f64)).sum::<f64>();
        self.from_sums(Sums {
            dot: sum(&|x, y| x * y),
            squared_norm_a: sum(&|x, _| x * x),
            squared_norm_b: sum(&|_, y| y * y),
            squared_difference: sum(&|x, y| (x - y).powi(2)),
        })
    }

    /// The distance under this metric of a pair at cosine distance `cosine`, for the
    /// metrics that are functions of the angle alone (cosine, euclidean_l2, angular): a
    /// threshold converted this way gives the same verdict on every pair. `None` for
    /// euclidean, which depends on the lengths too.
    pub fn from_cosine(self, cosine: f32) -> Option<f32> {
        let c = cosine.clamp(0.0, 2.0) as f64;
        match self {
            Metric::Cosine => Some(c as f32),
            Metric::EuclideanL2 => Some((2.0 * c).sqrt() as f32),
            Metric::Angular => Some(((1.0 - c).acos() / std::f64::consts::PI) as f32),
            Metric::Euclidean => None,
        }
    }

    /// Whether the metric is made from the dot product and norms rather than the squared
    /// difference: a search ranks by the one its metric needs.
    pub fn uses_dot(self) -> bool {
        self != Metric::Euclidean
    }

    /// The distance from the sums it is made of.
    fn from_sums(self, sums: Sums) -> Result<f32> {
        let parts = [sums.dot, sums.squared_norm_a, sums.squared_norm_b, sums.squared_difference];
        if parts.iter().any(|v| !v.is_finite()) {
            return Err(Error::new(ErrorKind::InvalidInput, "embedding contains NaN or infinity"));
        }
        let norms = (sums.squared_norm_a * sums.squared_norm_b).sqrt();
        let cosine = if norms > 0.0 { (sums.dot / norms).clamp(-1.0, 1.0) } else { 0.0 };
        let distance = match self {
            Metric::Cosine => 1.0 - cosine,
            Metric::Euclidean => sums.squared_difference.max(0.0).sqrt(),
            Metric::EuclideanL2 => (2.0 - 2.0 * cosine).max(0.0).sqrt(),
            Metric::Angular => cosine.acos() / std::f64::consts::PI,
        };
        Ok(distance as f32)
    }
}

/// Largest magnitude of an embedding's component: real models' are of order 1 (dlib's) to 10
/// (FaceRes's); beyond this a vector was not made by a model.
pub const MAX_COMPONENT: f32 = 1e4;

/// Refuse a vector that no model makes (`INVALID_INPUT`): empty, holding NaN or infinity,
/// all zeros (its norm under 1e-6: every metric would call two such vectors identical, or
/// divide by zero), or with a component beyond ±[`MAX_COMPONENT`]. Embeddings come from
/// callers (the JS API, gallery files), not only from the pipeline.
pub fn check_embedding(v: &[f32]) -> Result<()> {
    let invalid = |why: &str| Err(Error::new(ErrorKind::InvalidInput, format!("the embedding {why}")));
    if v.is_empty() {
        return invalid("is empty");
    }
    if v.iter().any(|x| !x.is_finite()) {
        return invalid("contains NaN or infinity");
    }
    if v.iter().any(|x| x.abs() > MAX_COMPONENT) {
        return invalid(&format!("has a component beyond ±{MAX_COMPONENT}: not a model's"));
    }
    if v.iter().map(|&x| x as f64 * x as f64).sum::<f64>() < 1e-12 {
        return invalid("is all zeros");
    }
    Ok(())
}

/// The sums every metric is computed from.
struct Sums {
    /// Σ aᵢbᵢ
    dot: f64,
    /// Σ aᵢ²
    squared_norm_a: f64,
    /// Σ bᵢ²
    squared_norm_b: f64,
    /// Σ (aᵢ − bᵢ)²
    squared_difference: f64,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
            Metric::EuclideanL2 => "euclidean_l2",
            Metric::Angular => "angular",
        })
    }
}

impl FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Metric> {
        Metric::ALL.into_iter().find(|m| m.to_string() == s).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("unknown metric \"{s}\" (known: cosine, euclidean, euclidean_l2, angular)"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_of_known_vectors() {
        let (a, b) = ([1.0, 0.0], [0.0, 2.0]);
        assert!((Metric::Cosine.distance(&a, &b).unwrap() - 1.0).abs() < 1e-6);
        assert!((Metric::Euclidean.distance(&a, &b).unwrap() - 5f32.sqrt()).abs() < 1e-6);
        assert!((Metric::EuclideanL2.distance(&a, &b).unwrap() - 2f32.sqrt()).abs() < 1e-6);
        assert!((Metric::Angular.distance(&a, &b).unwrap() - 0.5).abs() < 1e-6);
        for metric in Metric::ALL {
            assert!(metric.distance(&a, &a).unwrap().abs() < 1e-6, "{metric}");
        }
    }

    #[test]
    fn bad_embeddings_are_errors() {
        assert!(Metric::Cosine.distance(&[1.0], &[1.0, 2.0]).is_err());
        assert!(Metric::Euclidean.distance(&[f32::NAN], &[1.0]).is_err());
        assert!(Metric::Cosine.distance(&[], &[]).is_err());
        // Two all-zero vectors are not "identical faces" under any metric.
        for metric in Metric::ALL {
            for (a, b) in [([0.0, 0.0], [0.0, 0.0]), ([0.0, 0.0], [1.0, 0.0]), ([1e-9, 0.0], [1.0, 0.0]), ([1e5, 0.0], [1.0, 0.0]), ([f32::INFINITY, 0.0], [1.0, 0.0])] {
                let err = metric.distance(&a, &b).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{metric} {a:?}: {err}");
            }
        }
        assert!(check_embedding(&[0.3, -1.2, MAX_COMPONENT]).is_ok());
    }

    #[test]
    fn names_round_trip() {
        for metric in Metric::ALL {
            assert_eq!(metric.to_string().parse::<Metric>().unwrap(), metric);
        }
        assert!("manhattan".parse::<Metric>().is_err());
    }
}
