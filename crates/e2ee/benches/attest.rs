//! What binding frames to their sender costs (`conclave_e2ee::attest`), side by side with the
//! same work without it: encrypting with the frame log against without, decrypting with the
//! sender's signing key known against without, and signing and verifying one statement.
//!
//! `cargo bench -p conclave-e2ee --bench attest -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use conclave_e2ee::{
    BaseKey, CipherSuite, FrameLog, KeyId, KidScheme, Receiver, Sender, Signer, Statement,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// A 720p video frame at 1.6 Mbit/s and 30 fps, and an Opus frame at 32 kbit/s.
const SIZES: [(usize, &str); 2] = [(6_700, "video-6.7KB"), (80, "audio-80B")];
const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

fn key() -> BaseKey {
    BaseKey::new(vec![0x11; 16]).unwrap()
}

fn frames(c: &mut Criterion) {
    for (size, name) in SIZES {
        let pt = vec![0x5c; size];
        let mut group = c.benchmark_group(format!("attest/encrypt/{name}"));
        let mut plain = Sender::new(SUITE, KidScheme::default(), 0, key()).unwrap();
        group.bench_function("without", |b| {
            b.iter(|| plain.encrypt(&[], black_box(&pt)).unwrap())
        });
        let mut logged = Sender::new(SUITE, KidScheme::default(), 0, key()).unwrap();
        logged.keep_log(FrameLog::default());
        let signer = Signer::generate().unwrap();
        let mut n = 0u32;
        group.bench_function("with-log", |b| {
            b.iter(|| {
                n += 1;
                // Drained as often as the client does (about every 8 frames).
                if n.is_multiple_of(8) {
                    black_box(logged.log_mut().unwrap().statements(&signer));
                }
                logged.encrypt(&[], black_box(&pt)).unwrap()
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("attest/decrypt/{name}"));
        let mut tx = Sender::new(SUITE, KidScheme::default(), 0, key()).unwrap();
        let frame = tx.encrypt(&[], &pt).unwrap();
        for (label, signed) in [("without", false), ("with-signer", true)] {
            group.bench_function(label, |b| {
                b.iter_batched_ref(
                    || {
                        let mut rx = Receiver::new(SUITE, KidScheme::default());
                        rx.add_key(0, 0, key()).unwrap();
                        if signed {
                            rx.set_signer(signer.public());
                        }
                        rx
                    },
                    |rx| rx.decrypt(&[], black_box(&frame)).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

fn statements(c: &mut Criterion) {
    let signer = Signer::generate().unwrap();
    // 100 ms of a sender at 30 video and 50 audio frames a second.
    let statement = Statement {
        kid: KeyId(1),
        first: conclave_e2ee::Counter(0),
        digests: vec![[7; 16]; 8],
    };
    let bytes = statement.sign(&signer);
    let mut group = c.benchmark_group("attest/statement-8-frames");
    group.bench_function("sign", |b| b.iter(|| black_box(&statement).sign(&signer)));
    let public = signer.public();
    group.bench_function("verify", |b| {
        b.iter(|| Statement::verify(black_box(&bytes), &public).unwrap())
    });
    group.finish();
}

criterion_group!(benches, frames, statements);
criterion_main!(benches);
