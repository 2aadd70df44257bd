//! OpenFace nn4.small2 converted from random weights (tests/test_openface.py writes the ONNX
//! files, the input and the numpy and onnxruntime outputs): the same files under tract.

use std::path::PathBuf;

use tract_onnx::prelude::*;

fn fixture_dir() -> PathBuf {
    std::env::var_os("FACEVERIFY_OPENFACE_DIR").map(PathBuf::from).unwrap_or_else(|| crate::root().join("target/openface"))
}

fn floats(name: &str) -> Vec<f32> {
    let path = fixture_dir().join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make test`: tests/test_openface.py writes it)", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn nn4_small2_under_tract_matches_numpy_and_onnxruntime() {
    let input = floats("input.f32");
    let expected = floats("expected.f32");
    for source in ["t7", "csv"] {
        let plan = tract_onnx::onnx()
            .model_for_path(fixture_dir().join(format!("nn4.small2-{source}.onnx")))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .unwrap();
        let tensor = tract_ndarray::Array4::from_shape_vec((1, 3, 96, 96), input.clone()).unwrap().into_tensor();
        let outputs = plan.run(tvec!(tensor.into())).unwrap();
        let embedding: Vec<f32> = outputs[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        let vs_numpy = max_abs_diff(&embedding, &expected);
        let vs_onnxruntime = max_abs_diff(&embedding, &floats(&format!("onnxruntime-{source}.f32")));
        println!("{source}: tract vs numpy {vs_numpy:.2e}, tract vs onnxruntime {vs_onnxruntime:.2e}");
        assert_eq!(embedding.len(), 128);
        assert!(vs_numpy <= 1e-4 && vs_onnxruntime <= 1e-4, "{source}: {vs_numpy} {vs_onnxruntime}");
    }
}

/// The browser reads NNEF only: once a user's OpenFace file is converted, `make models-update`
/// writes its NNEF file (cross-map LRN and L2 pooling included), which must give the ONNX
/// file's outputs to the bit.
#[test]
fn nn4_small2_as_nnef_is_its_onnx_network() {
    use faceverify::pipeline::network::{to_nnef, Network};
    use faceverify::registry::{ModelFile, Registry};
    use sha2::{Digest, Sha256};
    let hex = |bytes: &[u8]| Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let onnx = std::fs::read(fixture_dir().join("nn4.small2-t7.onnx")).unwrap();
    // The entry as the manifest has it (not offered until its user file is converted).
    let mut spec = Registry::builtin().models.iter().find(|m| m.id == "openface-nn4.small2").unwrap().clone();
    spec.sha256 = hex(&onnx);
    let tar = to_nnef(&spec, &onnx).unwrap();
    spec.nnef = Some(ModelFile { file: "openface-nn4.small2.nnef.tar".into(), sha256: hex(&tar), bytes: Some(tar.len() as u64) });
    let image = image::RgbImage::from_fn(96, 96, |x, y| image::Rgb([(x * 2) as u8, (y * 2) as u8, ((x + y) % 256) as u8]));
    let from_onnx = Network::load(&spec, &onnx).unwrap().run(&image).unwrap();
    let from_nnef = Network::load(&spec, &tar).unwrap().run(&image).unwrap();
    let bits = |t: &Tensor| t.to_plain_array_view::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(from_onnx.len(), from_nnef.len());
    for ((name, a), (_, b)) in from_onnx.iter().zip(&from_nnef) {
        assert!(bits(a) == bits(b), "output {name}: NNEF and ONNX differ");
    }
}
