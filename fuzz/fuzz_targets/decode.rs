//! Any bytes through decode alone, thousands of times faster than decode_pipeline: an
//! image or a typed error (IMAGE_DECODE, IMAGE_TOO_LARGE), never a panic.
#![no_main]

use faceverify::pipeline::decode::decode;
use faceverify::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = decode(data) {
        assert!(matches!(e.kind(), ErrorKind::ImageDecode | ErrorKind::ImageTooLarge), "{e}");
    }
});
