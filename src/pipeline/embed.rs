//! Embed: an aligned face crop (the model's input size, RGB) → its embedding.

use image::Rgb32FImage;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::network::{output, Network};
use crate::registry::{AlignmentSpec, OutputSpec};

/// A recognition model.
pub struct Embedder {
    network: Network,
    output: OutputSpec,
    alignment: AlignmentSpec,
}

impl Embedder {
    /// Wrap a loaded recognition network; its manifest must describe the output.
    pub fn new(network: Network) -> Result<Embedder> {
        let spec = network.spec();
        let output = spec.output.clone().ok_or_else(|| {
            Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" is not an embedder", spec.id))
        })?;
        let alignment = spec.alignment.clone().ok_or_else(|| {
            Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" has no alignment", spec.id))
        })?;
        Ok(Embedder { network, output, alignment })
    }

    /// The underlying network (its manifest entry, mostly).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// How faces are cut out for this model by default.
    pub fn alignment(&self) -> &AlignmentSpec {
        &self.alignment
    }

    /// The embedding of an aligned crop (f32 samples in 0–255).
    pub fn embed(&self, crop: &Rgb32FImage) -> Result<Vec<f32>> {
        let outputs = self.network.run(crop)?;
        let values = output(&outputs, &self.output.name, self.output.size)?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::new(ErrorKind::Inference, "embedding contains NaN or infinity"));
        }
        Ok(values.to_vec())
    }
}
