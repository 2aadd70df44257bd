//! The pipeline stages, one module each, in the order an image goes through them. None of
//! them knows about the browser, files or the command line: bytes and pixels in, data out.

pub mod align;
pub mod attributes;
pub mod compare;
pub mod decode;
pub mod detect;
pub mod embed;
pub mod gallery;
pub mod landmarks;
pub mod network;
pub mod quality;
