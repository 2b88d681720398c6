//! Frames bound to their sender (docs/E2EE.md, "Who sent a frame"): every receiver holds every
//! sender's SFrame key, so SFrame alone cannot tell a sender's frames from those of another
//! participant holding its key. Each sender therefore signs, a few times per second, the digests
//! of the frames it sent under each KID with a signing key handed to each peer over the pairwise
//! authenticated channel of the key agreement. A receiver
//!
//! - drops a frame whose digest differs from the one its sender signed for that counter (a forgery
//!   that arrives after the statement is never rendered),
//! - counts a frame it accepted before the statement as forged once the statement disagrees,
//! - drops a frame numbered more than [`SIGNED_AHEAD`] past the highest counter signed under its
//!   KID (a KID's counters start at 0), so nobody holding the key can move a replay window, or
//!   run ahead of what the sender has signed, by more than that.
//!
//! The digest covers the whole SFrame ciphertext (header, ciphertext and tag), not the tag alone:
//! whoever holds an AES-GCM key can make a second ciphertext with the same tag.
//!
//! Statement wire format (integers big-endian, no padding):
//!
//! ```text
//! statement = version (u8 = 2) || kid (u64) || first (u64) || count (u16) || count × digest (16)
//!             || signature (64)
//! signature = Ed25519(signing key, "conclave/2 frames" || everything before the signature)
//! digest    = SHA-256("conclave/2 frame" || SFrame ciphertext)[..16]
//! ```

use std::collections::BTreeMap;

use ring::digest::{Context, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use thiserror::Error;

use crate::header::{Counter, KeyId};

/// Bytes of a frame digest.
pub const DIGEST_LEN: usize = 16;
/// Bytes of a signature.
pub const SIGNATURE_LEN: usize = 64;
/// How far past the highest counter signed under a KID a frame may be numbered and still be
/// accepted before a statement covers it: half the replay window, so that a forgery accepted
/// ahead of the sender can never push the sender's genuine frames out of the window, and about
/// 6 s of media at 30 video and 50 audio frames a second, so that statements held up on a lossy
/// data channel do not silence anyone.
pub const SIGNED_AHEAD: u64 = crate::replay::REPLAY_WINDOW / 2;
/// Most frames one statement covers.
pub const MAX_STATEMENT_FRAMES: usize = 256;
/// Digests kept per KID on either side (signed ones awaiting their frame, accepted frames
/// awaiting their statement, frames sent awaiting signing).
pub const MAX_KEPT: usize = 1024;
/// Protocol version of a statement.
pub const VERSION: u8 = 2;

const FRAME_LABEL: &[u8] = b"conclave/2 frame";
const SIGN_LABEL: &[u8] = b"conclave/2 frames";
const HEAD_LEN: usize = 1 + 8 + 8 + 2;

/// Why a statement was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttestError {
    /// Not a statement: wrong length, version or count.
    #[error("malformed frame statement")]
    Malformed,
    /// The signature does not verify under the sender's signing key.
    #[error("a frame statement whose signature does not verify")]
    BadSignature,
    /// No signing key is known for the sender yet.
    #[error("a frame statement from a sender whose signing key is unknown")]
    NoSigner,
    /// The system's random number generator failed.
    #[error("no signing key: the system's random number generator failed")]
    Random,
}

/// The digest of one SFrame ciphertext.
pub fn digest(frame: &[u8]) -> [u8; DIGEST_LEN] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(FRAME_LABEL);
    ctx.update(frame);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&ctx.finish().as_ref()[..DIGEST_LEN]);
    out
}

/// A participant's signing key for one meeting.
pub struct Signer(Ed25519KeyPair);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<secret>)")
    }
}

impl Signer {
    /// A fresh key.
    pub fn generate() -> Result<Signer, AttestError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| AttestError::Random)?;
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map(Signer)
            .map_err(|_| AttestError::Random)
    }

    /// The public half, for the peers.
    pub fn public(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.public_key().as_ref());
        out
    }
}

/// What a statement says: the digests of frames `first`, `first + 1`, … under `kid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The KID the frames were sent under.
    pub kid: KeyId,
    /// The counter of the first frame covered.
    pub first: Counter,
    /// One digest per frame, in counter order.
    pub digests: Vec<[u8; DIGEST_LEN]>,
}

impl Statement {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN + self.digests.len() * DIGEST_LEN);
        out.push(VERSION);
        out.extend_from_slice(&self.kid.0.to_be_bytes());
        out.extend_from_slice(&self.first.0.to_be_bytes());
        let n = u16::try_from(self.digests.len()).expect("at most MAX_STATEMENT_FRAMES");
        out.extend_from_slice(&n.to_be_bytes());
        for d in &self.digests {
            out.extend_from_slice(d);
        }
        out
    }

    /// The signed wire bytes.
    pub fn sign(&self, signer: &Signer) -> Vec<u8> {
        let mut out = self.body();
        let mut message = SIGN_LABEL.to_vec();
        message.extend_from_slice(&out);
        out.extend_from_slice(signer.0.sign(&message).as_ref());
        out
    }

    /// Parses and verifies wire bytes under the sender's public signing key.
    pub fn verify(bytes: &[u8], public: &[u8; 32]) -> Result<Statement, AttestError> {
        let statement = Statement::parse(bytes)?;
        let (body, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
        let mut message = SIGN_LABEL.to_vec();
        message.extend_from_slice(body);
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&message, signature)
            .map_err(|_| AttestError::BadSignature)?;
        Ok(statement)
    }

    /// Parses wire bytes without checking the signature.
    pub fn parse(bytes: &[u8]) -> Result<Statement, AttestError> {
        if bytes.len() < HEAD_LEN + SIGNATURE_LEN || bytes[0] != VERSION {
            return Err(AttestError::Malformed);
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let kid = KeyId(u64_at(1));
        let first = Counter(u64_at(9));
        let n = usize::from(u16::from_be_bytes([bytes[17], bytes[18]]));
        if n == 0
            || n > MAX_STATEMENT_FRAMES
            || bytes.len() != HEAD_LEN + n * DIGEST_LEN + SIGNATURE_LEN
            || first.0.checked_add(n as u64).is_none()
        {
            return Err(AttestError::Malformed);
        }
        let digests = bytes[HEAD_LEN..HEAD_LEN + n * DIGEST_LEN]
            .chunks_exact(DIGEST_LEN)
            .map(|c| {
                let mut d = [0u8; DIGEST_LEN];
                d.copy_from_slice(c);
                d
            })
            .collect();
        Ok(Statement {
            kid,
            first,
            digests,
        })
    }
}

/// The sending side: digests of frames sent and not yet signed.
#[derive(Debug, Default)]
pub struct FrameLog {
    /// Per KID in the order used: (kid, counter of the first digest, digests).
    runs: Vec<(KeyId, u64, Vec<[u8; DIGEST_LEN]>)>,
}

impl FrameLog {
    /// Records frame `ctr` under `kid` (counters of one KID arrive in order).
    pub fn record(&mut self, kid: KeyId, ctr: Counter, frame: &[u8]) {
        let d = digest(frame);
        match self.runs.last_mut() {
            Some((k, first, digests)) if *k == kid && *first + digests.len() as u64 == ctr.0 => {
                digests.push(d);
                if digests.len() > MAX_KEPT {
                    // Nobody drains the log: keep the newest.
                    digests.remove(0);
                    *first += 1;
                }
            }
            _ => {
                self.runs.push((kid, ctr.0, vec![d]));
                if self.runs.len() > 4 {
                    self.runs.remove(0);
                }
            }
        }
    }

    /// Signed statements covering every frame recorded since the last call.
    pub fn statements(&mut self, signer: &Signer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (kid, first, digests) in self.runs.drain(..) {
            for (i, chunk) in digests.chunks(MAX_STATEMENT_FRAMES).enumerate() {
                let statement = Statement {
                    kid,
                    first: Counter(first + (i * MAX_STATEMENT_FRAMES) as u64),
                    digests: chunk.to_vec(),
                };
                out.push(statement.sign(signer));
            }
        }
        out
    }
}

/// What a statement changed at a receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attestation {
    /// Frames the statement covered.
    pub covered: usize,
    /// Frames accepted earlier that the statement shows to be forgeries.
    pub forged: usize,
}

/// What a receiver knows about one KID's frames.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Highest counter covered by a statement.
    signed_upto: Option<u64>,
    /// Signed digests of frames not seen yet.
    signed: BTreeMap<u64, [u8; DIGEST_LEN]>,
    /// Digests of frames accepted before a statement covered them.
    unconfirmed: BTreeMap<u64, [u8; DIGEST_LEN]>,
}

/// A frame's standing before it is decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Signed (or not yet due): decrypt it.
    Fine,
    /// Numbered too far past what its sender signed.
    TooFarAhead,
    /// Its sender signed another frame under this counter.
    Forged,
}

impl Ledger {
    /// Whether frame `ctr` with `digest` may be decrypted.
    pub(crate) fn check(&self, ctr: u64, digest: &[u8; DIGEST_LEN]) -> Standing {
        if let Some(signed) = self.signed.get(&ctr) {
            return if signed == digest {
                Standing::Fine
            } else {
                Standing::Forged
            };
        }
        if self.signed_upto.is_some_and(|upto| ctr <= upto) {
            // Covered by a statement, yet not among the digests kept: a frame accepted before
            // (the replay window refuses a copy) or one whose statement never reached us.
            return Standing::Fine;
        }
        let base = self.signed_upto.unwrap_or(0);
        if ctr > base.saturating_add(SIGNED_AHEAD) {
            return Standing::TooFarAhead;
        }
        Standing::Fine
    }

    /// A frame was accepted (authenticated, not replayed).
    pub(crate) fn accepted(&mut self, ctr: u64, digest: [u8; DIGEST_LEN]) {
        if self.signed.remove(&ctr).is_none() {
            self.unconfirmed.insert(ctr, digest);
            while self.unconfirmed.len() > MAX_KEPT {
                self.unconfirmed.pop_first();
            }
        }
    }

    /// Applies a verified statement.
    pub(crate) fn apply(&mut self, statement: &Statement) -> Attestation {
        let mut result = Attestation::default();
        for (i, d) in statement.digests.iter().enumerate() {
            let ctr = statement.first.0 + i as u64;
            result.covered += 1;
            match self.unconfirmed.remove(&ctr) {
                Some(seen) if seen != *d => result.forged += 1,
                Some(_) => {}
                None => {
                    self.signed.insert(ctr, *d);
                }
            }
        }
        let last = statement.first.0 + statement.digests.len() as u64 - 1;
        self.signed_upto = Some(self.signed_upto.map_or(last, |u| u.max(last)));
        while self.signed.len() > MAX_KEPT {
            self.signed.pop_first();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_verifies_only_under_its_signers_key_and_unaltered() {
        let signer = Signer::generate().unwrap();
        let other = Signer::generate().unwrap();
        let mut log = FrameLog::default();
        for ctr in 0..300u64 {
            log.record(KeyId(5), Counter(ctr), &ctr.to_be_bytes());
        }
        log.record(KeyId(6), Counter(0), b"next key");
        let statements = log.statements(&signer);
        assert_eq!(statements.len(), 3, "256 + 44 under KID 5, 1 under KID 6");
        assert!(log.statements(&signer).is_empty(), "drained");
        let s = Statement::verify(&statements[1], &signer.public()).unwrap();
        assert_eq!(
            (s.kid, s.first, s.digests.len()),
            (KeyId(5), Counter(256), 44)
        );
        assert_eq!(s.digests[0], digest(&256u64.to_be_bytes()));
        assert_eq!(
            Statement::verify(&statements[1], &other.public()),
            Err(AttestError::BadSignature)
        );
        let mut altered = statements[1].clone();
        altered[HEAD_LEN] ^= 1;
        assert_eq!(
            Statement::verify(&altered, &signer.public()),
            Err(AttestError::BadSignature)
        );
        for bad in [&statements[1][..40], &[3u8; 100][..]] {
            assert_eq!(
                Statement::verify(bad, &signer.public()),
                Err(AttestError::Malformed)
            );
        }
    }

    #[test]
    fn the_ledger_drops_what_contradicts_a_statement_and_finds_what_got_through() {
        let mut ledger = Ledger::default();
        let genuine = |ctr: u64| digest(&[ctr as u8, 1]);
        let forged = |ctr: u64| digest(&[ctr as u8, 2]);
        // Before any statement: accepted optimistically, but only SIGNED_AHEAD from 0.
        assert_eq!(ledger.check(3, &forged(3)), Standing::Fine);
        ledger.accepted(3, forged(3));
        ledger.accepted(4, genuine(4));
        assert_eq!(
            ledger.check(SIGNED_AHEAD + 1, &genuine(0)),
            Standing::TooFarAhead
        );
        let statement = Statement {
            kid: KeyId(1),
            first: Counter(0),
            digests: (0..10).map(genuine).collect(),
        };
        assert_eq!(
            ledger.apply(&statement),
            Attestation {
                covered: 10,
                forged: 1
            }
        );
        // Signed and not yet seen: only the genuine one passes.
        assert_eq!(ledger.check(7, &forged(7)), Standing::Forged);
        assert_eq!(ledger.check(7, &genuine(7)), Standing::Fine);
        ledger.accepted(7, genuine(7));
        assert_eq!(ledger.check(8, &forged(8)), Standing::Forged);
        // The window of what may run ahead moves with the statements.
        assert_eq!(ledger.check(9 + SIGNED_AHEAD, &genuine(0)), Standing::Fine);
        assert_eq!(
            ledger.check(10 + SIGNED_AHEAD, &genuine(0)),
            Standing::TooFarAhead
        );
    }
}
