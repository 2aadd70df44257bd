//! Attributes: an aligned face crop → estimates of how the face looks (apparent age, gender,
//! expression), each from a manifest entry of kind `attributes` whose `outputs` say what
//! every output tensor holds. A model is loaded only when one of its attributes is asked for.

use std::collections::BTreeMap;

use image::Rgb32FImage;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::network::{output, Network};
use crate::registry::{AlignmentSpec, AttributeOutput, AttributeType};

/// One attribute's estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// `value` outputs: the number (e.g. apparent age), in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
    /// The value's unit (e.g. "years").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `probabilities` outputs: the most probable label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its probability in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f32>,
    /// Every label's probability (they sum to 1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probabilities: BTreeMap<String, f32>,
    /// The manifest id of the model that estimated it.
    pub model: String,
}

/// A loaded attribute model.
pub struct AttributeModel {
    network: Network,
    alignment: AlignmentSpec,
}

impl AttributeModel {
    /// Wrap a loaded network whose manifest entry lists its outputs and alignment.
    pub fn new(network: Network) -> Result<AttributeModel> {
        let spec = network.spec();
        if spec.outputs.is_empty() {
            return Err(Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" lists no attribute outputs", spec.id)));
        }
        let alignment = spec
            .alignment
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" has no alignment", spec.id)))?;
        Ok(AttributeModel { network, alignment })
    }

    /// The manifest id.
    pub fn id(&self) -> &str {
        &self.network.spec().id
    }

    /// The network (its manifest entry, mostly).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// How faces are cut out for this model.
    pub fn alignment(&self) -> &AlignmentSpec {
        &self.alignment
    }

    /// Whether the model estimates `attribute`.
    pub fn estimates(&self, attribute: &str) -> bool {
        self.network.spec().outputs.iter().any(|o| o.attribute == attribute)
    }

    /// The estimates of the `wanted` attributes this model makes, from an aligned crop of
    /// the model's input size (f32 samples in 0–255).
    pub fn estimate(&self, crop: &Rgb32FImage, wanted: &[String]) -> Result<Vec<(String, Estimate)>> {
        let outputs = self.network.run(crop)?;
        let spec = self.network.spec();
        spec.outputs
            .iter()
            .filter(|o| wanted.contains(&o.attribute))
            .map(|o| Ok((o.attribute.clone(), read(o, &outputs, &spec.id)?)))
            .collect()
    }
}

fn read(spec: &AttributeOutput, outputs: &[(String, tract_nnef::prelude::Tensor)], model: &str) -> Result<Estimate> {
    let bad = |what: &str| Error::new(ErrorKind::Inference, format!("model \"{model}\" output \"{}\" {what}", spec.name));
    let empty = Estimate { value: None, unit: None, label: None, probability: None, probabilities: BTreeMap::new(), model: model.into() };
    match spec.kind {
        AttributeType::Value => {
            let v = output(outputs, &spec.name, 1)?[0];
            if !v.is_finite() {
                return Err(bad("is not a number"));
            }
            Ok(Estimate { value: Some(v), unit: spec.unit.clone(), ..empty })
        }
        AttributeType::Probabilities => {
            let p = output(outputs, &spec.name, spec.labels.len())?;
            if p.iter().any(|v| !v.is_finite() || *v < -1e-4) || (p.iter().sum::<f32>() - 1.0).abs() > 1e-3 {
                return Err(bad("is not a probability distribution"));
            }
            let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).ok_or_else(|| bad("is empty"))?;
            Ok(Estimate {
                label: Some(spec.labels[best].clone()),
                probability: Some(p[best]),
                probabilities: spec.labels.iter().cloned().zip(p.iter().copied()).collect(),
                ..empty
            })
        }
    }
}
