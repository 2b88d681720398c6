//! The receiving side of one remote participant's sender key: a key ring by generation, following
//! the sender's ratchet, with a replay window per key and a tally of everything dropped.

use std::collections::{BTreeMap, VecDeque};

use crate::attest::{self, AttestError, Attestation, Ledger, Standing, Statement};
use crate::error::{DecryptError, DropReason, KeyError};
use crate::frame;
use crate::header::{Header, KeyId};
use crate::key::{BaseKey, SframeKey};
use crate::kid::KidScheme;
use crate::replay::{Replay, ReplayWindow};
use crate::suite::CipherSuite;

/// How many ratchet steps ahead of the newest known one a frame may be (fewer if the KID layout
/// has fewer than 5 ratchet bits). Each step costs an HKDF run, and a frame that does not
/// authenticate must not buy an attacker more than this many.
pub const MAX_RATCHET_AHEAD: u64 = 16;

/// Statements kept for ratchet steps whose first frame has not come yet.
pub const MAX_EARLY_STATEMENTS: usize = 16;

/// Generations kept at once: the current one and those still inside a rekey grace period.
pub const MAX_GENERATIONS: usize = 3;

/// What happened to received frames: decrypted, or dropped and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Frames that authenticated and decrypted.
    pub decrypted: u64,
    /// Dropped: malformed header, framing or length.
    pub malformed: u64,
    /// Dropped: no key for the KID.
    pub unknown_key: u64,
    /// Dropped: replayed or too old.
    pub replayed: u64,
    /// Dropped: tag did not verify (wrong key or tampering).
    pub auth_failed: u64,
    /// Dropped: authenticated, but its sender signed another frame under the counter.
    pub forged: u64,
    /// Dropped: numbered too far past what its sender signed.
    pub unsigned: u64,
    /// Frames accepted before their statement arrived and shown by it to be forgeries.
    pub forgeries_found: u64,
    /// Statements verified and applied.
    pub statements: u64,
    /// Statements refused (malformed, bad signature, unknown signer).
    pub statements_refused: u64,
}

impl ReceiveStats {
    /// All frames dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.unknown_key
            + self.replayed
            + self.auth_failed
            + self.forged
            + self.unsigned
    }

    pub(crate) fn count(&mut self, reason: DropReason) {
        let slot = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::UnknownKey => &mut self.unknown_key,
            DropReason::Replayed => &mut self.replayed,
            DropReason::Authentication => &mut self.auth_failed,
            DropReason::Forged => &mut self.forged,
            DropReason::Unsigned => &mut self.unsigned,
        };
        *slot += 1;
    }
}

struct RxKey {
    key: SframeKey,
    window: ReplayWindow,
    ledger: Ledger,
}

impl RxKey {
    fn new(suite: CipherSuite, kid: KeyId, base: &BaseKey) -> RxKey {
        RxKey {
            key: SframeKey::derive(suite, kid, base),
            window: ReplayWindow::default(),
            ledger: Ledger::default(),
        }
    }
}

/// One generation's keys: the newest ratchet step seen and the one before it (for frames that
/// arrive late across a ratchet). Older steps are gone, as RFC 9605 §5.1 asks.
struct Generation {
    step: u64,
    base: BaseKey,
    current: RxKey,
    previous: Option<RxKey>,
}

/// Decrypts one remote participant's frames.
#[derive(Debug)]
pub struct Receiver {
    suite: CipherSuite,
    scheme: KidScheme,
    generations: BTreeMap<u64, Generation>,
    stats: ReceiveStats,
    /// The sender's public signing key, once known: from then on frames are held to its
    /// statements ([`crate::attest`]).
    signer: Option<[u8; 32]>,
    /// Verified statements for a ratchet step not derived yet.
    early: VecDeque<Statement>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("step", &self.step)
            .field("kid", &self.current.key.kid())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver with no keys yet; every frame is dropped as [`DropReason::UnknownKey`] until
    /// [`Receiver::add_key`].
    pub fn new(suite: CipherSuite, scheme: KidScheme) -> Receiver {
        Receiver {
            suite,
            scheme,
            generations: BTreeMap::new(),
            stats: ReceiveStats::default(),
            signer: None,
            early: VecDeque::new(),
        }
    }

    /// The sender's public signing key (handed over with its sender key on the authenticated
    /// channel). From now on its frames are held to its signed statements.
    pub fn set_signer(&mut self, public: [u8; 32]) {
        self.signer = Some(public);
    }

    /// Applies a signed statement of the sender's ([`crate::attest`]).
    pub fn attest(&mut self, bytes: &[u8]) -> Result<Attestation, AttestError> {
        let result = self.try_attest(bytes);
        match &result {
            Ok(a) => {
                self.stats.statements += 1;
                self.stats.forgeries_found += a.forged as u64;
            }
            Err(_) => self.stats.statements_refused += 1,
        }
        result
    }

    fn try_attest(&mut self, bytes: &[u8]) -> Result<Attestation, AttestError> {
        let public = self.signer.ok_or(AttestError::NoSigner)?;
        let statement = Statement::verify(bytes, &public)?;
        let (generation, _) = self.scheme.split(statement.kid);
        let Some(entry) = self.generations.get_mut(&generation) else {
            // A key we do not hold yet (its sender key may follow) or any more: kept for a while.
            self.keep_early(statement);
            return Ok(Attestation::default());
        };
        let rx = std::iter::once(&mut entry.current)
            .chain(entry.previous.as_mut())
            .find(|rx| rx.key.kid() == statement.kid);
        match rx {
            Some(rx) => Ok(rx.ledger.apply(&statement)),
            None => {
                // A ratchet step not derived yet (its first frame has not come): kept, and
                // applied when the step is.
                self.keep_early(statement);
                Ok(Attestation::default())
            }
        }
    }

    fn keep_early(&mut self, statement: Statement) {
        self.early.push_back(statement);
        while self.early.len() > MAX_EARLY_STATEMENTS {
            self.early.pop_front();
        }
    }

    /// Applies the statements kept for `rx`'s KID.
    fn catch_up(early: &mut VecDeque<Statement>, rx: &mut RxKey) {
        early.retain(|s| {
            if s.kid == rx.key.kid() {
                rx.ledger.apply(s);
                false
            } else {
                true
            }
        });
    }

    /// Installs the sender's base key for `generation` as of ratchet `step`. A newcomer receives
    /// a ratcheted key and so cannot derive the steps before it.
    ///
    /// Re-installing the same key is a no-op (its replay windows survive); a different key for a
    /// known generation is refused. Beyond [`MAX_GENERATIONS`], the oldest is forgotten.
    pub fn add_key(&mut self, generation: u64, step: u64, base: BaseKey) -> Result<(), KeyError> {
        let kid = self
            .scheme
            .kid(generation, step)
            .ok_or(KeyError::GenerationTooLarge(generation))?;
        if let Some(known) = self.generations.get(&generation) {
            if known.step == step && known.base == base {
                return Ok(());
            }
            return Err(KeyError::GenerationConflict(generation));
        }
        let mut current = RxKey::new(self.suite, kid, &base);
        Self::catch_up(&mut self.early, &mut current);
        self.generations.insert(
            generation,
            Generation {
                step,
                base,
                current,
                previous: None,
            },
        );
        while self.generations.len() > MAX_GENERATIONS {
            self.generations.pop_first();
        }
        Ok(())
    }

    /// Forgets a generation, e.g. when a rekey's grace period ends.
    pub fn remove_generation(&mut self, generation: u64) {
        self.generations.remove(&generation);
    }

    /// Generations currently held.
    pub fn generations(&self) -> impl Iterator<Item = u64> + '_ {
        self.generations.keys().copied()
    }

    /// Decrypts one SFrame ciphertext; `metadata` must equal what the sender authenticated.
    /// A dropped frame is counted in [`Receiver::stats`].
    pub fn decrypt(&mut self, metadata: &[u8], frame: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let result = self.try_decrypt(metadata, frame);
        match &result {
            Ok(_) => self.stats.decrypted += 1,
            Err(e) => self.stats.count(e.reason()),
        }
        result
    }

    /// Counts a frame dropped before it reached [`Receiver::decrypt`] (e.g. broken framing).
    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.stats.count(reason);
    }

    /// Counts a frame decrypted outside [`Receiver::decrypt`].
    pub(crate) fn count_decrypted(&mut self) {
        self.stats.decrypted += 1;
    }

    /// Tally of decrypted and dropped frames.
    pub fn stats(&self) -> ReceiveStats {
        self.stats
    }

    /// Steps ahead a frame may be: [`MAX_RATCHET_AHEAD`], and never so far that its KID could be
    /// the step behind the current one (`2^R - 1` ahead wraps around to it).
    fn max_ratchet_ahead(&self) -> u64 {
        MAX_RATCHET_AHEAD.min(self.scheme.steps().saturating_sub(2))
    }

    pub(crate) fn try_decrypt(
        &mut self,
        metadata: &[u8],
        frame: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        let (header, header_len) = Header::decode(frame)?;
        let (generation, step_bits) = self.scheme.split(header.kid);
        let suite = self.suite;
        let max_ahead = self.max_ratchet_ahead();
        let unknown = DecryptError::UnknownKey { kid: header.kid };
        let signed = self.signer.is_some();
        let entry = self
            .generations
            .get_mut(&generation)
            .ok_or(unknown.clone())?;

        for rx in std::iter::once(&mut entry.current).chain(entry.previous.as_mut()) {
            if rx.key.kid() == header.kid {
                return open_checked(rx, &header, header_len, metadata, frame, signed);
            }
        }

        // A newer ratchet step: derive it on trial, and keep it only if the frame authenticates.
        let mask = self.scheme.steps() - 1;
        let ahead = step_bits.wrapping_sub(entry.step) & mask;
        if ahead == 0 || ahead > max_ahead {
            return Err(unknown);
        }
        let mut before = entry.base.clone();
        for _ in 1..ahead {
            before = before.ratchet(suite);
        }
        let base = before.ratchet(suite);
        let mut candidate = RxKey::new(suite, header.kid, &base);
        Self::catch_up(&mut self.early, &mut candidate);
        let plaintext = open_checked(&mut candidate, &header, header_len, metadata, frame, signed)?;

        let new_step = entry.step + ahead;
        let previous = if ahead == 1 {
            std::mem::replace(&mut entry.current, candidate)
        } else {
            entry.current = candidate;
            let kid = self
                .scheme
                .kid(generation, new_step - 1)
                .expect("generation fits: it came from a KID");
            RxKey::new(suite, kid, &before)
        };
        entry.previous = Some(previous);
        entry.step = new_step;
        entry.base = base;
        Ok(plaintext)
    }
}

/// Replay check, authenticate and decrypt, hold it to its sender's statements (if `signed`),
/// then record the counter.
fn open_checked(
    rx: &mut RxKey,
    header: &Header,
    header_len: usize,
    metadata: &[u8],
    frame: &[u8],
    signed: bool,
) -> Result<Vec<u8>, DecryptError> {
    let replayed = |_: Replay| DecryptError::Replayed {
        kid: header.kid,
        ctr: header.ctr,
    };
    rx.window.check(header.ctr.0).map_err(replayed)?;
    let ctr = header.ctr.0;
    let fingerprint = signed.then(|| attest::digest(frame));
    if let Some(d) = &fingerprint
        && rx.ledger.check(ctr, d) == Standing::TooFarAhead
    {
        return Err(DecryptError::Unsigned {
            kid: header.kid,
            ctr: header.ctr,
        });
    }
    let plaintext = frame::open(&rx.key, header, header_len, metadata, frame)?;
    if let Some(d) = fingerprint {
        if rx.ledger.check(ctr, &d) == Standing::Forged {
            return Err(DecryptError::Forged {
                kid: header.kid,
                ctr: header.ctr,
            });
        }
        rx.ledger.accepted(ctr, d);
    }
    rx.window.record(ctr);
    Ok(plaintext)
}
