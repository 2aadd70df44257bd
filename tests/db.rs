//! `faceverify db` against a real PostgreSQL with pgvector (tests/pg.rs): enrolment of a
//! folder tree with bad files in it, search by index and exhaustively, export and import
//! both ways, refusals that change nothing, a killed enrolment resumed, and the password
//! never shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use faceverify::pipeline::gallery::Gallery;
use serde_json::Value;

use crate::pg::PgServer;
use crate::{read_csv, root, shared_faces};

fn cli(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faceverify"))
        .args(["db"])
        .args(args)
        .env("FACEVERIFY_DATABASE_URL", url)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(out.status.code().unwrap_or(2) < 2, "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Every labelled photo of the people with three or more, as DIR/<person>/<photo> (links to
/// the shared photos), one photo per person held out as a probe; and three files that must
/// be refused. Returns (photos that will be enrolled, probes as (person, photo)).
fn folder_tree(dir: &Path) -> (usize, Vec<(String, PathBuf)>) {
    let mut by_person: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for row in read_csv(&root().join("tests/data/identities.csv")) {
        by_person.entry(row["person"].clone()).or_default().push(shared_faces().join(&row["file"]));
    }
    let (mut enrolled, mut probes) = (0, Vec::new());
    // Someone no probe shows, for the folder with the odd name.
    let stranger = by_person.values().find(|p| p.len() < 3).unwrap()[0].clone();
    for (person, mut photos) in by_person.into_iter().filter(|(_, p)| p.len() >= 3) {
        probes.push((person.clone(), photos.pop().unwrap()));
        std::fs::create_dir_all(dir.join(&person)).unwrap();
        for photo in &photos {
            std::os::unix::fs::symlink(photo, dir.join(&person).join(photo.file_name().unwrap())).unwrap();
            enrolled += 1;
        }
    }
    // A name that would end the statement if it were pasted into SQL.
    let quoted = dir.join("Robert'); DROP TABLE faceverify_identities;--");
    std::fs::create_dir_all(&quoted).unwrap();
    std::os::unix::fs::symlink(&stranger, quoted.join("photo.jpg")).unwrap();
    std::fs::write(dir.join("Katy Perry/broken.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    std::fs::write(dir.join("loose.jpg"), b"a file outside every person's folder").unwrap();
    // A folder no identity may be named after: refused, the run goes on.
    std::fs::create_dir_all(dir.join("   ")).unwrap();
    std::os::unix::fs::symlink(&stranger, dir.join("   ").join("photo.jpg")).unwrap();
    std::fs::write(dir.join("Katy Perry/.DS_Store"), b"hidden: not a photo, not reported").unwrap();
    (enrolled + 1 - BELOW_THE_BAR.len(), probes)
}

/// Labelled photos whose face is under the enrolment quality bar (0.5).
const BELOW_THE_BAR: [&str; 1] = ["Jack Dorsey/img59.jpg"];

fn counts(url: &str) -> (i64, i64) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let row = client.query_one("SELECT (SELECT count(*) FROM faceverify_identities), (SELECT count(*) FROM faceverify_faces_dlib_resnet)", &[]).unwrap();
    (row.get(0), row.get(1))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faceverify-db-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn enrol_find_export_import_round_trip() {
    let server = PgServer::start(&[]);
    let url = server.url("postgres");
    let work = temp_dir("round-trip");
    let photos = work.join("people");
    let (expected, probes) = folder_tree(&photos);

    // init twice: the second finds everything in place.
    for _ in 0..2 {
        let init = json(&cli(&url, &["init", "--json"]));
        assert_eq!((init["embedding_size"].as_u64(), init["metric"].as_str()), (Some(128), Some("euclidean")));
    }
    let refused = cli(&url, &["init", "--metric", "cosine"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already set up here with 128-d embeddings by euclidean"));

    let enrol = cli(&url, &["enrol", "--json", photos.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&enrol.stderr).into_owned();
    let report = json(&enrol);
    let failed: BTreeMap<String, String> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_string(), f["code"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(failed.get("Katy Perry/broken.jpg").map(String::as_str), Some("IMAGE_DECODE"), "{failed:?}");
    assert_eq!(failed.get("loose.jpg").map(String::as_str), Some("INVALID_INPUT"), "{failed:?}");
    assert!(stderr.contains("skipped \"Katy Perry/broken.jpg\""), "{stderr}");
    assert!(!stderr.contains("DS_Store"));
    for file in BELOW_THE_BAR {
        assert_eq!(failed.get(file).map(String::as_str), Some("LOW_QUALITY"), "{failed:?}");
    }
    assert_eq!(failed.get("   /photo.jpg").map(String::as_str), Some("INVALID_INPUT"), "{failed:?}");
    assert_eq!(failed.len(), 3 + BELOW_THE_BAR.len(), "only those fail: {failed:?}");
    assert_eq!(report["enrolled"].as_u64(), Some(expected as u64));
    assert_eq!(report["already_enrolled"].as_u64(), Some(0));
    let people = probes.len() as i64 + 1;
    assert_eq!(counts(&url), (people, expected as i64));

    // The held-out photo of each person finds that person first, by the index and exhaustively.
    for (person, photo) in &probes {
        let approximate = json(&cli(&url, &["find", "--json", "--k", "3", photo.to_str().unwrap()]));
        let exact = json(&cli(&url, &["find", "--json", "--k", "3", "--exact", photo.to_str().unwrap()]));
        assert_eq!(approximate["matches"][0]["name"].as_str(), Some(person.as_str()), "{approximate}");
        assert_eq!(approximate["matches"][0]["verified"], Value::Bool(true), "{approximate}");
        assert_eq!(approximate["matches"], exact["matches"], "the index finds what a full scan does at this size");
        assert_eq!(approximate["matches"].as_array().unwrap().len(), 3);
        let nearest = approximate["matches"][0]["best_distance"].as_f64().unwrap();
        let next = approximate["matches"][1]["best_distance"].as_f64().unwrap();
        assert!(next > nearest && nearest > 0.0, "{approximate}");
    }

    // A rebuild keeps the parameters it is not given.
    let rebuilt = json(&cli(&url, &["index", "--json", "--m", "24"]));
    assert_eq!((rebuilt["m"].as_u64(), rebuilt["ef_construction"].as_u64()), (Some(24), Some(64)));
    let rebuilt = json(&cli(&url, &["index", "--json"]));
    assert_eq!((rebuilt["m"].as_u64(), rebuilt["ef_construction"].as_u64()), (Some(24), Some(64)));

    // Export, then import into an empty database: the same faces, the same answers.
    let exported = work.join("gallery.json");
    let export = json(&cli(&url, &["export", "--json", exported.to_str().unwrap()]));
    assert_eq!(export["faces"].as_u64(), Some(expected as u64));
    // Through a link, the file it points to is written and the link stays.
    let link = work.join("link.json");
    std::os::unix::fs::symlink(&exported, &link).unwrap();
    json(&cli(&url, &["export", "--json", link.to_str().unwrap()]));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let gallery = Gallery::from_json(&std::fs::read_to_string(&exported).unwrap(), "dlib-resnet", 128).unwrap();
    assert_eq!(gallery.len(), expected);
    let copy = server.create_database("copy");
    assert!(cli(&copy, &["init"]).status.success());
    let import = json(&cli(&copy, &["import", "--json", exported.to_str().unwrap()]));
    assert_eq!((import["faces_added"].as_u64(), import["identities_created"].as_i64()), (Some(expected as u64), Some(people)));
    assert_eq!(counts(&copy), counts(&url));
    let again = json(&cli(&copy, &["import", "--json", exported.to_str().unwrap()]));
    assert_eq!((again["faces_added"].as_u64(), again["identities_created"].as_u64()), (Some(0), Some(0)), "importing twice adds nothing");
    let (person, photo) = &probes[1];
    let found = json(&cli(&copy, &["find", "--json", photo.to_str().unwrap()]));
    assert_eq!(found["matches"][0]["name"].as_str(), Some(person.as_str()));

    // Refused files change nothing: truncated, another model's, a NaN in the last embedding.
    let text = std::fs::read_to_string(&exported).unwrap();
    let last = text.rfind(']').unwrap();
    let bad_files = [
        ("truncated", text[..text.len() / 2].to_string()),
        ("other-model", text.replacen("\"model\":\"dlib-resnet\"", "\"model\":\"facenet512\"", 1)),
        ("nan", format!("{}{}", &text[..last - 2], "null]]}]}")),
    ];
    let before = counts(&copy);
    for (name, contents) in bad_files {
        let path = work.join(format!("{name}.json"));
        std::fs::write(&path, contents).unwrap();
        let out = cli(&copy, &["import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("[GALLERY_INVALID]"), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(counts(&copy), before, "{name}");
    }

    // A wrong password: a clear error, and no password (neither) in any output.
    let wrong = url.replace(&server.password, "not-the-password");
    let out = cli(&wrong, &["find", probes[0].1.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("password authentication failed") && stderr.contains("[DATABASE]"), "{stderr}");
    assert!(stderr.contains(&format!("faceverify@127.0.0.1:{}/postgres", server.port)), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_faceverify")).args(["db", "init", "--url", &url]).output().unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !shown.contains(&server.password), "{shown}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_killed_enrolment_resumes_where_it_stopped() {
    let server = PgServer::start(&[]);
    let url = server.url("postgres");
    let work = temp_dir("resume");
    let (expected, _) = folder_tree(&work);
    json(&cli(&url, &["init", "--json"]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_faceverify"))
        .args(["db", "enrol", work.to_str().unwrap()])
        .env("FACEVERIFY_DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL: no chance to clean up) once its first batch is committed.
    let start = Instant::now();
    while counts_or_zero(&url) == 0 {
        assert!(start.elapsed() < Duration::from_secs(120), "no batch committed in 2 minutes");
        assert!(child.try_wait().unwrap().is_none(), "enrolment ended before it could be killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, kept) = counts(&url);
    assert!(kept > 0 && (kept as usize) < expected, "killed after {kept} of {expected}");
    let resumed = json(&cli(&url, &["enrol", "--json", work.to_str().unwrap()]));
    println!("killed enrolment: {kept} of {expected} faces committed; resumed: {} skipped, {} enrolled", resumed["already_enrolled"], resumed["enrolled"]);
    assert_eq!(resumed["already_enrolled"].as_i64(), Some(kept));
    assert_eq!(resumed["enrolled"].as_i64(), Some(expected as i64 - kept));
    assert_eq!(counts(&url).1, expected as i64);
    let _ = std::fs::remove_dir_all(&work);
}

fn counts_or_zero(url: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.query_one("SELECT count(*) FROM faceverify_faces_dlib_resnet", &[]).map(|r| r.get(0)).unwrap_or(0)
}
