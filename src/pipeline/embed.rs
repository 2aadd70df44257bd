//! Embed: an aligned face crop (the model's input size, RGB) → its embedding.

use image::Rgb32FImage;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::network::{output, Network};
use crate::registry::OutputSpec;

/// A recognition model.
pub struct Embedder {
    network: Network,
    output: OutputSpec,
}

impl Embedder {
    /// Wrap a loaded recognition network; its manifest must describe the output.
    pub fn new(network: Network) -> Result<Embedder> {
        let spec = network.spec();
        let output = spec.output.clone().ok_or_else(|| {
            Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" is not an embedder", spec.id))
        })?;
        if spec.alignment.is_none() {
            return Err(Error::new(ErrorKind::ModelInvalid, format!("model \"{}\" has no alignment", spec.id)));
        }
        Ok(Embedder { network, output })
    }

    /// The underlying network (its manifest entry, mostly).
    pub fn network(&self) -> &Network {
        &self.network
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
