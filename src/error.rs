//! The one error type of the crate. Every failure a caller can cause (bad bytes, no face,
//! a model that does not match its manifest) is an [`Error`] with a stable [`ErrorKind`];
//! the wasm edge turns the kind's [`ErrorKind::code`] into the JS error's `name`.

use std::fmt;

/// What went wrong, coarse enough for a caller to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not an image in a supported format, or are truncated.
    ImageDecode,
    /// The image claims dimensions beyond the decode limits.
    ImageTooLarge,
    /// No face was found in the image.
    NoFace,
    /// Model bytes are not a loadable ONNX model, or do not match the manifest.
    ModelInvalid,
    /// The requested model is not in the registry.
    UnknownModel,
    /// The model ran but failed or produced output of the wrong shape.
    Inference,
    /// A gallery file is malformed, or was made by another model.
    GalleryInvalid,
    /// An argument is out of range or unknown (pixel buffer size, embedding length, metric).
    InvalidInput,
    /// A face is below the quality bar asked for (enrolment): the message says why.
    LowQuality,
}

impl ErrorKind {
    /// Stable, SCREAMING_SNAKE code shared by the CLI, the wasm API and the UI.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::ImageDecode => "IMAGE_DECODE",
            ErrorKind::ImageTooLarge => "IMAGE_TOO_LARGE",
            ErrorKind::NoFace => "NO_FACE",
            ErrorKind::ModelInvalid => "MODEL_INVALID",
            ErrorKind::UnknownModel => "UNKNOWN_MODEL",
            ErrorKind::Inference => "INFERENCE",
            ErrorKind::GalleryInvalid => "GALLERY_INVALID",
            ErrorKind::InvalidInput => "INVALID_INPUT",
            ErrorKind::LowQuality => "LOW_QUALITY",
        }
    }
}

/// An error with its kind and a lowercase, human message that names the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    /// The kind, for callers that branch on it.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The same error with `context` put in front of the message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(ErrorKind::NoFace.code(), "NO_FACE");
        assert_eq!(ErrorKind::ImageDecode.code(), "IMAGE_DECODE");
        assert_eq!(ErrorKind::ImageTooLarge.code(), "IMAGE_TOO_LARGE");
        assert_eq!(ErrorKind::ModelInvalid.code(), "MODEL_INVALID");
        assert_eq!(ErrorKind::GalleryInvalid.code(), "GALLERY_INVALID");
    }

    #[test]
    fn context_keeps_kind() {
        let err = Error::new(ErrorKind::NoFace, "no face found").context("\"a.jpg\"");
        assert_eq!(err.kind(), ErrorKind::NoFace);
        assert_eq!(err.to_string(), "\"a.jpg\": no face found");
    }
}
