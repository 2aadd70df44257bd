//! Gallery: named identities, each enrolled from one or more embeddings, searched 1:N.
//!
//! A gallery belongs to one recognition model: embeddings of different models are not
//! comparable, so the model id and embedding size travel with it and an import made by
//! another model is refused. Import is all-or-nothing: a file is validated completely
//! before anything is returned, so a bad file never half-replaces a good gallery.
//!
//! File format (JSON), version 1:
//! `{"format": "faceverify-gallery", "format_version": 1, "model": "dlib-resnet",
//!   "embedding_size": 128, "identities": [{"name": "Ada", "embeddings": [[f32; 128], …]}]}`

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::compare::Metric;

/// The `format` field of every gallery file.
pub const FORMAT: &str = "faceverify-gallery";
/// The current `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// Longest identity name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most embeddings in one gallery (a 1 M × 128 f32 gallery is 512 MB already).
pub const MAX_EMBEDDINGS: usize = 1_000_000;

/// One person and the embeddings enrolled for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Unique, non-empty name.
    pub name: String,
    /// At least one embedding, each of the gallery's size.
    pub embeddings: Vec<Vec<f32>>,
}

/// A gallery of identities for one recognition model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gallery {
    format: String,
    format_version: u32,
    model: String,
    embedding_size: usize,
    identities: Vec<Identity>,
}

/// How close a probe is to one identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The identity's name.
    pub name: String,
    /// Distance to the closest of its embeddings.
    pub best_distance: f32,
    /// Mean distance to all of its embeddings.
    pub mean_distance: f32,
    /// Whether `best_distance` is within the threshold.
    pub verified: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::GalleryInvalid, message)
}

impl Gallery {
    /// An empty gallery for `model`, whose embeddings have `embedding_size` values.
    pub fn new(model: &str, embedding_size: usize) -> Gallery {
        Gallery {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            model: model.into(),
            embedding_size,
            identities: Vec::new(),
        }
    }

    /// Parse and fully validate a gallery file made for `model` with `embedding_size`.
    pub fn from_json(text: &str, model: &str, embedding_size: usize) -> Result<Gallery> {
        let gallery: Gallery =
            serde_json::from_str(text).map_err(|e| invalid(format!("not a gallery file: {e}")))?;
        if gallery.format != FORMAT {
            return Err(invalid(format!("format is \"{}\", expected \"{FORMAT}\"", gallery.format)));
        }
        if gallery.format_version != FORMAT_VERSION {
            return Err(invalid(format!("format version {} is not supported (this build reads {FORMAT_VERSION})", gallery.format_version)));
        }
        if gallery.model != model || gallery.embedding_size != embedding_size {
            return Err(invalid(format!(
                "made by model \"{}\" ({}-d embeddings); the loaded model is \"{model}\" ({embedding_size}-d)",
                gallery.model, gallery.embedding_size
            )));
        }
        let mut total = 0usize;
        let mut names = std::collections::HashSet::new();
        for identity in &gallery.identities {
            check_name(&identity.name)?;
            if !names.insert(identity.name.as_str()) {
                return Err(invalid(format!("identity \"{}\" appears twice", identity.name)));
            }
            if identity.embeddings.is_empty() {
                return Err(invalid(format!("identity \"{}\" has no embeddings", identity.name)));
            }
            for embedding in &identity.embeddings {
                gallery.check_embedding(embedding).map_err(|e| e.context(format!("identity \"{}\"", identity.name)))?;
            }
            total += identity.embeddings.len();
        }
        if total > MAX_EMBEDDINGS {
            return Err(invalid(format!("{total} embeddings is more than the {MAX_EMBEDDINGS} a gallery may hold")));
        }
        Ok(gallery)
    }

    /// The gallery file.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The identities, in enrolment order.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// Add `embedding` to `name`, creating the identity if it is new.
    pub fn enroll(&mut self, name: &str, embedding: Vec<f32>) -> Result<()> {
        check_name(name)?;
        self.check_embedding(&embedding)?;
        if self.identities.iter().map(|i| i.embeddings.len()).sum::<usize>() >= MAX_EMBEDDINGS {
            return Err(invalid(format!("the gallery already holds {MAX_EMBEDDINGS} embeddings")));
        }
        match self.identities.iter_mut().find(|i| i.name == name) {
            Some(identity) => identity.embeddings.push(embedding),
            None => self.identities.push(Identity { name: name.into(), embeddings: vec![embedding] }),
        }
        Ok(())
    }

    /// Rename an identity; false if `from` is not enrolled.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<bool> {
        check_name(to)?;
        if from != to && self.identities.iter().any(|i| i.name == to) {
            return Err(invalid(format!("identity \"{to}\" already exists")));
        }
        Ok(self.identities.iter_mut().find(|i| i.name == from).map(|i| i.name = to.into()).is_some())
    }

    /// Remove an identity; false if it was not enrolled.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.identities.len();
        self.identities.retain(|i| i.name != name);
        self.identities.len() != before
    }

    /// Every identity ranked by its best distance to `probe`, closest first.
    pub fn find(&self, probe: &[f32], metric: Metric, threshold: f32) -> Result<Vec<Match>> {
        self.check_embedding(probe).map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let mut matches = Vec::with_capacity(self.identities.len());
        for identity in &self.identities {
            let distances = identity
                .embeddings
                .iter()
                .map(|e| metric.distance(probe, e))
                .collect::<Result<Vec<f32>>>()?;
            let best = distances.iter().copied().fold(f32::INFINITY, f32::min);
            let mean = distances.iter().sum::<f32>() / distances.len() as f32;
            matches.push(Match { name: identity.name.clone(), best_distance: best, mean_distance: mean, verified: best <= threshold });
        }
        matches.sort_by(|a, b| a.best_distance.total_cmp(&b.best_distance));
        Ok(matches)
    }

    fn check_embedding(&self, embedding: &[f32]) -> Result<()> {
        if embedding.len() != self.embedding_size {
            return Err(invalid(format!("an embedding has {} values, expected {}", embedding.len(), self.embedding_size)));
        }
        if embedding.iter().any(|v| !v.is_finite()) {
            return Err(invalid("an embedding contains NaN or infinity"));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(invalid("an identity name is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!("an identity name is longer than {MAX_NAME_CHARS} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery() -> Gallery {
        let mut g = Gallery::new("m", 2);
        g.enroll("ada", vec![0.0, 1.0]).unwrap();
        g.enroll("ada", vec![0.0, 0.8]).unwrap();
        g.enroll("bob", vec![1.0, 0.0]).unwrap();
        g
    }

    #[test]
    fn find_ranks_by_best_distance_and_reports_mean() {
        let matches = gallery().find(&[0.0, 0.9], Metric::Euclidean, 0.5).unwrap();
        assert_eq!(matches[0].name, "ada");
        assert!((matches[0].best_distance - 0.1).abs() < 1e-6);
        assert!((matches[0].mean_distance - 0.1).abs() < 1e-6);
        assert!(matches[0].verified);
        assert!(!matches[1].verified);
    }

    #[test]
    fn round_trips_through_json() {
        let g = gallery();
        assert_eq!(Gallery::from_json(&g.to_json(), "m", 2).unwrap(), g);
    }

    #[test]
    fn refuses_bad_files() {
        let good = gallery().to_json();
        let cases = [
            String::new(),
            "{".into(),
            "[]".into(),
            good.replace("\"m\"", "\"other\""),
            good.replace("\"embedding_size\":2", "\"embedding_size\":3"),
            good.replace("\"format_version\":1", "\"format_version\":9"),
            good.replace("faceverify-gallery", "something-else"),
            good.replace("[1.0,0.0]", "[1.0]"),
            good.replace("[1.0,0.0]", "[1.0,\"x\"]"),
            good.replace("\"bob\"", "\"ada\""),
            good.replace("\"bob\"", "\"  \""),
            good.replace("[[1.0,0.0]]", "[]"),
        ];
        for case in cases {
            let err = Gallery::from_json(&case, "m", 2).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::GalleryInvalid, "{case}: {err}");
        }
    }

    #[test]
    fn refuses_nan_and_wrong_sizes_on_enrol() {
        let mut g = gallery();
        assert!(g.enroll("x", vec![f32::NAN, 0.0]).is_err());
        assert!(g.enroll("x", vec![0.0]).is_err());
        assert!(g.enroll("", vec![0.0, 0.0]).is_err());
        assert_eq!(g, gallery());
    }

    #[test]
    fn rename_and_remove() {
        let mut g = gallery();
        assert!(g.rename("bob", "rob").unwrap());
        assert!(g.rename("rob", "ada").is_err());
        assert!(g.remove("rob"));
        assert!(!g.remove("rob"));
        assert_eq!(g.identities().len(), 1);
    }
}
