//! faceverify: face verification that runs anywhere Rust does, the browser included.
//!
//! # Brief overview
//! An image goes through [`pipeline::decode`], [`pipeline::detect`],
//! [`pipeline::landmarks`], [`pipeline::align`] and [`pipeline::embed`];
//! [`pipeline::compare`] turns two embeddings into a distance, and [`Verifier`] ties the
//! stages together. Every model-specific number comes from the model
//! manifest ([`registry`]). Inference is tract-onnx; nothing here touches the network, the
//! file system or the browser: callers hand in bytes.
//!
//! # Example
//! ```no_run
//! use faceverify::{pipeline::{compare::Metric, decode::decode}, registry::Registry, Source, Verifier};
//! # fn main() -> faceverify::Result<()> {
//! // The default set: detectors, the face check, the landmarker, the recognition model.
//! let files: Vec<(String, Vec<u8>)> = Registry::builtin()
//!     .model_set(None, None)?
//!     .iter()
//!     .map(|spec| (spec.id.clone(), std::fs::read(format!("models/build/onnx/{}", spec.file)).unwrap()))
//!     .collect();
//! let models: Vec<(&str, &[u8])> = files.iter().map(|(id, bytes)| (id.as_str(), &bytes[..])).collect();
//! let verifier = Verifier::load(&models)?;
//! let a = verifier.analyze(&decode(&std::fs::read("a.jpg").unwrap())?, Source::Photo)?;
//! let b = verifier.analyze(&decode(&std::fs::read("b.jpg").unwrap())?, Source::Photo)?;
//! let verdict = verifier.verify(&a.embedding, &b.embedding, Metric::Euclidean, None)?;
//! println!("same person: {} (P = {:?})", verdict.verified, verdict.confidence);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod pipeline;
pub mod registry;
pub mod evaluate;
pub mod liveness;
mod par;
mod verifier;

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod gemm;

pub use error::{Error, ErrorKind, Result};
pub use verifier::{Analysis, Source, Verification, Verifier, Warning, MIN_FACE_PX};
