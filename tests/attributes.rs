//! Attributes on real photos: face-api's age/gender and expression nets, converted, fed
//! dlib's face chip at 112 px (docs/attributes.md).

use faceverify::pipeline::decode::decode;
use faceverify::registry::Registry;
use faceverify::{ErrorKind, Source, Verifier};

use crate::{faces_dir, root};

fn with_attributes() -> Verifier {
    let dir = root().join("models/build/onnx");
    let mut verifier = Verifier::from_dir(&dir, None, None).unwrap();
    verifier.load_attributes_from_dir(&dir, &["age", "gender", "expression"].map(String::from)).unwrap();
    verifier
}

#[test]
fn each_face_of_a_couple_gets_age_gender_and_expression() {
    let verifier = with_attributes();
    let image = decode(&std::fs::read(faces_dir().join("couple.jpg")).unwrap()).unwrap();
    let mut analysis = verifier.analyze(&image, Source::Photo).unwrap();
    let wanted = ["age", "gender", "expression"].map(String::from);
    verifier.estimate_attributes(&image, &mut analysis.faces, analysis.rotation, &wanted).unwrap();
    assert_eq!(analysis.faces.len(), 2);
    let mut genders = Vec::new();
    for face in &analysis.faces {
        let a = face.attributes.as_ref().unwrap();
        let age = a["age"].value.unwrap();
        assert!((18.0..80.0).contains(&age), "adults: {age}");
        let p: f32 = a["expression"].probabilities.values().sum();
        assert!((p - 1.0).abs() < 1e-3 && a["expression"].probabilities.len() == 7);
        genders.push(a["gender"].label.clone().unwrap());
    }
    genders.sort();
    assert_eq!(genders, ["female", "male"]);
}

#[test]
fn unknown_or_unloaded_attributes_are_typed_errors() {
    let err = Registry::builtin().attribute_models(&["height".to_string()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("unknown attribute \"height\" (known: age, gender, expression)"), "{err}");
    let verifier = crate::verifier();
    let image = decode(&std::fs::read(faces_dir().join("img1.jpg")).unwrap()).unwrap();
    let mut analysis = verifier.analyze(&image, Source::Photo).unwrap();
    let err = verifier.estimate_attributes(&image, &mut analysis.faces, 0, &["age".to_string()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"faceapi-age-gender\" is not loaded"), "{err}");
    let mut v = Verifier::from_dir(&root().join("models/build/onnx"), None, None).unwrap();
    let err = v.load_attributes("faceapi-age-gender", b"not a model").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ModelInvalid);
}
