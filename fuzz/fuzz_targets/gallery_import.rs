//! Any text as a gallery file: it imports, or is refused with GALLERY_INVALID; what
//! imports must survive a round trip and a search.
#![no_main]

use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::gallery::Gallery;
use faceverify::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Gallery::from_json(text, "m", 2) {
        Ok(gallery) => {
            assert_eq!(Gallery::from_json(&gallery.to_json(), "m", 2).as_ref(), Ok(&gallery));
            gallery.find(&[0.5, 0.5], Metric::Cosine, 0.3).expect("search a valid gallery");
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::GalleryInvalid, "{e}"),
    }
});
