//! `conclave conformance sframe` on the RFC 9605 vectors, and on corrupted copies of them: the
//! runner must notice every kind of corruption, name the vector, and exit non-zero.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const RFC_VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/sframe-rfc9605.json"
);

fn run(file: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave"))
        .args(["conformance", "sframe"])
        .arg(file)
        .output()
        .expect("conclave runs")
}

fn rfc() -> Value {
    serde_json::from_str(&std::fs::read_to_string(RFC_VECTORS).unwrap()).unwrap()
}

fn write_temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("conclave-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Flips the lowest bit of the last hex digit of a string field.
fn flip_hex(v: &mut Value) {
    let s = v.as_str().unwrap().to_owned();
    let (head, last) = s.split_at(s.len() - 1);
    let digit = u8::from_str_radix(last, 16).unwrap() ^ 1;
    *v = Value::String(format!("{head}{digit:x}"));
}

#[test]
fn the_rfc_vectors_all_pass() {
    let out = run(RFC_VECTORS.as_ref());
    let text = stdout(&out);
    let doc = rfc();
    let total: usize = ["header", "aes_ctr_hmac", "sframe"]
        .iter()
        .map(|k| doc[k].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 289 + 3 + 5);
    assert_eq!(text.trim(), format!("{total} passed, 0 failed"));
    assert!(out.status.success());
}

#[test]
fn every_corrupted_field_fails_its_vector_and_only_it() {
    let cases: &[(&str, usize, &str)] = &[
        ("sframe", 0, "ct"),
        ("sframe", 1, "pt"),
        ("sframe", 2, "base_key"),
        ("sframe", 3, "metadata"),
        ("sframe", 4, "sframe_salt"),
        ("sframe", 4, "sframe_key"),
        ("sframe", 0, "sframe_secret"),
        ("header", 17, "header"),
        ("header", 288, "header"),
        ("aes_ctr_hmac", 1, "ct"),
        ("aes_ctr_hmac", 2, "aad"),
    ];
    for &(section, index, field) in cases {
        let mut doc = rfc();
        flip_hex(&mut doc[section][index][field]);
        let path = write_temp("corrupt.json", &doc.to_string());
        let out = run(&path);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{section}[{index}].{field}: {text}"
        );
        let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert_eq!(fails.len(), 1, "{text}");
        assert!(
            fails[0].starts_with(&format!("FAIL {section}[{index}]: ")),
            "{}",
            fails[0]
        );
        assert_eq!(text.lines().last().unwrap(), "296 passed, 1 failed");
    }
}

#[test]
fn a_wrong_kid_or_counter_or_suite_fails() {
    for (section, field, value) in [
        ("sframe", "kid", Value::from(292u64)),
        ("sframe", "ctr", Value::from(17768u64)),
        ("sframe", "cipher_suite", Value::from(9u64)),
        ("header", "ctr", Value::from(1u64)),
    ] {
        let mut doc = rfc();
        doc[section][2][field] = value;
        let out = run(&write_temp("field.json", &doc.to_string()));
        assert_eq!(out.status.code(), Some(1), "{section}.{field}");
        assert!(stdout(&out).contains(&format!("FAIL {section}[2]")));
    }
}

#[test]
fn any_file_of_the_same_shape_works() {
    // A subset, reordered, with extra fields and without the optional intermediate values.
    let doc = rfc();
    let mut sframe: Vec<Value> = doc["sframe"].as_array().unwrap().clone();
    sframe.reverse();
    for v in &mut sframe {
        let o = v.as_object_mut().unwrap();
        o.remove("sframe_secret");
        o.remove("sframe_key");
        o.insert("comment".into(), "extra fields are ignored".into());
    }
    let small = serde_json::json!({ "sframe": sframe, "header": [doc["header"][100]] });
    let out = run(&write_temp("small.json", &small.to_string()));
    assert_eq!(stdout(&out).trim(), "6 passed, 0 failed");
    assert!(out.status.success());
}

#[test]
fn a_malformed_vector_fails_alone() {
    let mut doc = rfc();
    doc["sframe"][1]["ct"] = Value::from("not hex");
    doc["header"][0] = serde_json::json!({ "kid": -1 });
    let out = run(&write_temp("malformed.json", &doc.to_string()));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("FAIL sframe[1]: ct is not hex"), "{text}");
    assert!(text.contains("FAIL header[0]: malformed vector"), "{text}");
    assert_eq!(text.lines().last().unwrap(), "295 passed, 2 failed");
}

#[test]
fn files_that_are_not_vector_files_are_refused_with_a_message() {
    for (name, contents) in [
        ("broken.json", "{ \"sframe\": ["),
        ("empty.json", "{}"),
        ("wrong.json", "{ \"sframe\": 3 }"),
    ] {
        let out = run(&write_temp(name, contents));
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is not an SFrame vector file"),
            "{name}: {err}"
        );
    }
    let out = run("/nonexistent/vectors.json".as_ref());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
