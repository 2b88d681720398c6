//! Checks Conclave's SFrame implementation against test vectors in the RFC 9605 / working-group
//! JSON shape: arrays `header`, `sframe` and optionally `aes_ctr_hmac`, byte strings in hex,
//! `kid`/`ctr` as unsigned 64-bit numbers.
//!
//! Each vector is judged on its own: one that is malformed or disagrees is a failure with a reason,
//! and the rest are still checked.

use conclave_e2ee::{
    BaseKey, CipherSuite, Counter, Header, KeyId, KeyMaterial, NONCE_LEN, SframeKey, aead, frame,
};
use serde::Deserialize;
use serde_json::Value;

/// The outcome of a conformance run.
#[derive(Debug, Default)]
pub struct Report {
    /// Vectors that agreed in every checked value.
    pub passed: usize,
    /// Vectors that did not, in file order.
    pub failures: Vec<Failure>,
}

/// One vector that failed.
#[derive(Debug)]
pub struct Failure {
    /// Where it is in the file, e.g. `sframe[3]`.
    pub vector: String,
    /// What disagreed.
    pub reason: String,
}

/// A file that is not a vector file at all.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// Not JSON.
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but without any of the vector arrays.
    #[error("no `header`, `sframe` or `aes_ctr_hmac` array of test vectors in the file")]
    NoVectors,
    /// A vector section that is not an array.
    #[error("`{0}` must be an array of test vectors")]
    NotAnArray(&'static str),
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for failure in &self.failures {
            writeln!(f, "FAIL {}: {}", failure.vector, failure.reason)?;
        }
        write!(f, "{} passed, {} failed", self.passed, self.failures.len())
    }
}

/// Checks every vector in `json`.
pub fn check_sframe_vectors(json: &str) -> Result<Report, ConformanceError> {
    let doc: Value = serde_json::from_str(json)?;
    let sections: [(&'static str, CheckFn); 3] = [
        ("header", check_header),
        ("aes_ctr_hmac", check_aes_ctr_hmac),
        ("sframe", check_sframe),
    ];
    let mut report = Report::default();
    let mut found = false;
    for (name, check) in sections {
        let Some(section) = doc.get(name) else {
            continue;
        };
        let vectors = section
            .as_array()
            .ok_or(ConformanceError::NotAnArray(name))?;
        found = true;
        for (i, vector) in vectors.iter().enumerate() {
            match check(vector.clone()) {
                Ok(()) => report.passed += 1,
                Err(reason) => report.failures.push(Failure {
                    vector: format!("{name}[{i}]"),
                    reason,
                }),
            }
        }
    }
    if !found {
        return Err(ConformanceError::NoVectors);
    }
    Ok(report)
}

/// Checks one vector: `Err` says what disagreed.
type CheckFn = fn(Value) -> Result<(), String>;

#[derive(Deserialize)]
struct HeaderVector {
    kid: u64,
    ctr: u64,
    header: String,
}

fn check_header(v: Value) -> Result<(), String> {
    let v: HeaderVector = parse(v)?;
    let expected = unhex("header", &v.header)?;
    let header = Header::new(KeyId(v.kid), Counter(v.ctr));
    expect_eq("encoded header", &expected, &header.encode())?;
    match Header::decode(&expected) {
        Ok((decoded, used)) if decoded == header && used == expected.len() => Ok(()),
        Ok((decoded, used)) => Err(format!(
            "decoding {} gave kid {}, ctr {} from {used} bytes",
            v.header, decoded.kid.0, decoded.ctr.0
        )),
        Err(e) => Err(format!("decoding {} failed: {e}", v.header)),
    }
}

#[derive(Deserialize)]
struct AeadVector {
    cipher_suite: u16,
    key: String,
    nonce: String,
    aad: String,
    pt: String,
    ct: String,
}

fn check_aes_ctr_hmac(v: Value) -> Result<(), String> {
    let v: AeadVector = parse(v)?;
    let suite = suite(v.cipher_suite)?;
    let key = unhex("key", &v.key)?;
    let nonce: [u8; NONCE_LEN] = unhex("nonce", &v.nonce)?
        .try_into()
        .map_err(|n: Vec<u8>| format!("nonce is {} bytes, not {NONCE_LEN}", n.len()))?;
    let (aad, pt, ct) = (
        unhex("aad", &v.aad)?,
        unhex("pt", &v.pt)?,
        unhex("ct", &v.ct)?,
    );
    let sealed = aead::seal(suite, &key, &nonce, &aad, &pt).map_err(|e| e.to_string())?;
    expect_eq("ct", &ct, &sealed)?;
    match aead::open(suite, &key, &nonce, &aad, &ct).map_err(|e| e.to_string())? {
        Some(opened) => expect_eq("decrypted pt", &pt, &opened),
        None => Err("ct did not authenticate".into()),
    }
}

#[derive(Deserialize)]
struct SframeVector {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: String,
    metadata: String,
    pt: String,
    ct: String,
    sframe_secret: Option<String>,
    sframe_key: Option<String>,
    sframe_salt: Option<String>,
}

fn check_sframe(v: Value) -> Result<(), String> {
    let v: SframeVector = parse(v)?;
    let suite = suite(v.cipher_suite)?;
    let base = BaseKey::new(unhex("base_key", &v.base_key)?).map_err(|e| e.to_string())?;
    let (metadata, pt, ct) = (
        unhex("metadata", &v.metadata)?,
        unhex("pt", &v.pt)?,
        unhex("ct", &v.ct)?,
    );
    let kid = KeyId(v.kid);

    let material = KeyMaterial::derive(suite, kid, &base);
    for (name, given, derived) in [
        ("sframe_secret", &v.sframe_secret, &material.secret),
        ("sframe_key", &v.sframe_key, &material.key),
        ("sframe_salt", &v.sframe_salt, &material.salt),
    ] {
        if let Some(hex) = given {
            expect_eq(name, &unhex(name, hex)?, derived)?;
        }
    }

    let key = SframeKey::derive(suite, kid, &base);
    expect_eq(
        "ct",
        &ct,
        &frame::seal(&key, Counter(v.ctr), &metadata, &pt),
    )?;

    let (header, header_len) =
        Header::decode(&ct).map_err(|e| format!("header of ct does not parse: {e}"))?;
    if header != Header::new(kid, Counter(v.ctr)) {
        return Err(format!(
            "header of ct names kid {}, ctr {}",
            header.kid.0, header.ctr.0
        ));
    }
    let opened = frame::open(&key, &header, header_len, &metadata, &ct)
        .map_err(|e| format!("decrypting ct failed: {e}"))?;
    expect_eq("decrypted pt", &pt, &opened)
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("malformed vector: {e}"))
}

fn suite(id: u16) -> Result<CipherSuite, String> {
    CipherSuite::try_from(id).map_err(|e| e.to_string())
}

fn unhex(name: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("{name} is not hex: {e}"))
}

fn expect_eq(name: &str, expected: &[u8], actual: &[u8]) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{name} mismatch: expected {}, got {}",
        hex::encode(expected),
        hex::encode(actual)
    ))
}
