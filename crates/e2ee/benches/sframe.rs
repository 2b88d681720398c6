//! SFrame encrypt/decrypt per frame against bare `ring` AES-GCM on the same bytes, so the cost of
//! SFrame's header, key handling, replay window and allocation shows as a ratio.
//!
//! `cargo bench -p conclave-e2ee --bench sframe`

use std::hint::black_box;

use conclave_e2ee::{BaseKey, CipherSuite, Codec, KidScheme, Receiver, Sender};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead;

const SIZES: [(usize, &str); 3] = [(100, "100B"), (10_000, "10KB"), (100_000, "100KB")];
const SUITES: [(CipherSuite, &str); 2] = [
    (CipherSuite::AesGcm128Sha256, "suite4"),
    (CipherSuite::AesGcm256Sha512, "suite5"),
];

fn key() -> BaseKey {
    BaseKey::new(vec![0x11; 16]).unwrap()
}

fn receiver(suite: CipherSuite) -> Receiver {
    let mut rx = Receiver::new(suite, KidScheme::default());
    rx.add_key(0, 0, key()).unwrap();
    rx
}

fn ring_key(suite: CipherSuite) -> aead::LessSafeKey {
    let (alg, len) = match suite {
        CipherSuite::AesGcm256Sha512 => (&aead::AES_256_GCM, 32),
        _ => (&aead::AES_128_GCM, 16),
    };
    aead::LessSafeKey::new(aead::UnboundKey::new(alg, &vec![0x22; len]).unwrap())
}

fn nonce(n: u64) -> aead::Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_be_bytes());
    aead::Nonce::assume_unique_for_key(bytes)
}

/// An H.264-shaped access unit: SPS, PPS and one IDR slice of `len` bytes.
fn access_unit(len: usize) -> Vec<u8> {
    let mut au = vec![
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
    ];
    au.extend_from_slice(&[0, 0, 0, 1, 0x65]);
    au.extend((0..len).map(|i| (i * 131 % 251) as u8 + 1));
    au
}

fn encrypt(c: &mut Criterion) {
    for (size, size_name) in SIZES {
        let mut group = c.benchmark_group(format!("encrypt/{size_name}"));
        group.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5c; size];
        for (suite, suite_name) in SUITES {
            let mut tx = Sender::new(suite, KidScheme::default(), 0, key()).unwrap();
            group.bench_function(format!("{suite_name}/sframe"), |b| {
                b.iter(|| tx.encrypt(&[], black_box(&pt)).unwrap())
            });
            let ring = ring_key(suite);
            let mut n = 0u64;
            group.bench_function(format!("{suite_name}/ring"), |b| {
                b.iter(|| {
                    n += 1;
                    let mut buf = black_box(&pt).to_vec();
                    ring.seal_in_place_append_tag(nonce(n), aead::Aad::empty(), &mut buf)
                        .unwrap();
                    buf
                })
            });
        }
        let au = access_unit(size);
        let mut tx =
            Sender::new(CipherSuite::AesGcm128Sha256, KidScheme::default(), 0, key()).unwrap();
        group.bench_function("suite4/sframe+h264", |b| {
            b.iter(|| tx.protect(Codec::H264, black_box(&au)).unwrap())
        });
        group.finish();
    }
}

fn decrypt(c: &mut Criterion) {
    for (size, size_name) in SIZES {
        let mut group = c.benchmark_group(format!("decrypt/{size_name}"));
        group.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5c; size];
        for (suite, suite_name) in SUITES {
            let mut tx = Sender::new(suite, KidScheme::default(), 0, key()).unwrap();
            let frame = tx.encrypt(&[], &pt).unwrap();
            // A fresh receiver per frame: the same frame twice would be a replay.
            group.bench_function(format!("{suite_name}/sframe"), |b| {
                b.iter_batched_ref(
                    || receiver(suite),
                    |rx| rx.decrypt(&[], black_box(&frame)).unwrap(),
                    BatchSize::SmallInput,
                )
            });
            let ring = ring_key(suite);
            let mut sealed = pt.clone();
            ring.seal_in_place_append_tag(nonce(1), aead::Aad::empty(), &mut sealed)
                .unwrap();
            group.bench_function(format!("{suite_name}/ring"), |b| {
                b.iter(|| {
                    let mut buf = black_box(&sealed).to_vec();
                    let len = ring
                        .open_in_place(nonce(1), aead::Aad::empty(), &mut buf)
                        .unwrap()
                        .len();
                    buf.truncate(len);
                    buf
                })
            });
        }
        let mut tx =
            Sender::new(CipherSuite::AesGcm128Sha256, KidScheme::default(), 0, key()).unwrap();
        let wire = tx.protect(Codec::H264, &access_unit(size)).unwrap();
        group.bench_function("suite4/sframe+h264", |b| {
            b.iter_batched_ref(
                || receiver(CipherSuite::AesGcm128Sha256),
                |rx| rx.unprotect(Codec::H264, black_box(&wire)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, encrypt, decrypt);
criterion_main!(benches);
