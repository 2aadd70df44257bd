//! faceverify: face verification that runs anywhere Rust does, the browser included.
//!
//! # Brief overview
//! An image goes through [`pipeline::decode`], [`pipeline::detect`], [`pipeline::align`] and
//! [`pipeline::embed`]; [`pipeline::compare`] turns two embeddings into a distance, and
//! [`Verifier`] ties the stages together. Every model-specific number comes from the model
//! manifest ([`registry`]). Inference is tract-onnx; nothing here touches the network, the
//! file system or the browser: callers hand in bytes.
//!
//! # Example
//! ```no_run
//! use faceverify::{pipeline::{compare::Metric, decode::decode}, Verifier};
//! # fn main() -> faceverify::Result<()> {
//! let detector = std::fs::read("models/build/onnx/blazeface-back.onnx").unwrap();
//! let embedder = std::fs::read("models/build/onnx/dlib-resnet.onnx").unwrap();
//! let verifier = Verifier::load("blazeface-back", &detector, "dlib-resnet", &embedder)?;
//! let a = verifier.analyze(&decode(&std::fs::read("a.jpg").unwrap())?)?;
//! let b = verifier.analyze(&decode(&std::fs::read("b.jpg").unwrap())?)?;
//! let verdict = verifier.verify(&a.embedding, &b.embedding, Metric::Euclidean, None)?;
//! println!("same person: {}", verdict.verified);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod pipeline;
pub mod registry;
pub mod evaluate;
mod verifier;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, ErrorKind, Result};
pub use verifier::{Analysis, Source, Verification, Verifier};
