//! The sending side of one participant's sender key: current KID, counter and ratchet.

use crate::attest::FrameLog;
use crate::error::{EncryptError, KeyError};
use crate::frame;
use crate::header::{Counter, KeyId};
use crate::key::{BaseKey, SframeKey};
use crate::kid::KidScheme;
use crate::suite::CipherSuite;

/// Encrypts a participant's outgoing frames.
///
/// A counter is never reused under one (base key, KID): it only grows, running out is
/// [`EncryptError::CounterExhausted`], and a new generation must be strictly newer than the last.
/// Audio and video from one participant share one `Sender`, so one counter covers both.
#[derive(Debug)]
pub struct Sender {
    suite: CipherSuite,
    scheme: KidScheme,
    generation: u64,
    step: u64,
    base: BaseKey,
    key: SframeKey,
    /// `None` once `u64::MAX` has been used.
    next_ctr: Option<u64>,
    /// Digests of the frames sent, for signing ([`crate::attest`]), if kept.
    log: Option<FrameLog>,
}

impl Sender {
    /// A sender starting at `generation`, ratchet step 0.
    pub fn new(
        suite: CipherSuite,
        scheme: KidScheme,
        generation: u64,
        base: BaseKey,
    ) -> Result<Sender, KeyError> {
        Sender::at_step(suite, scheme, generation, 0, base)
    }

    /// A sender whose key `base` is already at ratchet `step` of `generation` (a key handed out
    /// by key agreement after ratchet steps taken before it was used).
    pub fn at_step(
        suite: CipherSuite,
        scheme: KidScheme,
        generation: u64,
        step: u64,
        base: BaseKey,
    ) -> Result<Sender, KeyError> {
        let kid = scheme
            .kid(generation, step)
            .ok_or(KeyError::GenerationTooLarge(generation))?;
        let key = SframeKey::derive(suite, kid, &base);
        Ok(Sender {
            suite,
            scheme,
            generation,
            step,
            base,
            key,
            next_ctr: Some(0),
            log: None,
        })
    }

    /// Encrypts one frame; `metadata` is authenticated but travels separately (or not at all).
    pub fn encrypt(&mut self, metadata: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
        let ctr = self.next_ctr.ok_or(EncryptError::CounterExhausted {
            kid: self.key.kid(),
        })?;
        self.next_ctr = ctr.checked_add(1);
        let frame = frame::seal(&self.key, Counter(ctr), metadata, plaintext);
        if let Some(log) = &mut self.log {
            log.record(self.key.kid(), Counter(ctr), &frame);
        }
        Ok(frame)
    }

    /// Keeps `log` of the frames sent from now on (see [`crate::attest`]).
    pub fn keep_log(&mut self, log: FrameLog) {
        self.log = Some(log);
    }

    /// The log of frames sent, if kept (e.g. to carry it to the next sender).
    pub fn log_mut(&mut self) -> Option<&mut FrameLog> {
        self.log.as_mut()
    }

    /// Takes the log of frames sent, if kept.
    pub fn take_log(&mut self) -> Option<FrameLog> {
        self.log.take()
    }

    /// Moves to the next ratchet step (RFC 9605 §5.1), e.g. when someone joins: the new base key
    /// cannot be run backwards, so a newcomer given it cannot read earlier frames.
    ///
    /// Needs at least one ratchet bit in the KID, or receivers could not tell the steps apart.
    pub fn ratchet(&mut self) -> Result<KeyId, KeyError> {
        if self.scheme.ratchet_bits() == 0 {
            return Err(KeyError::NoRatchetBits);
        }
        self.base = self.base.ratchet(self.suite);
        self.step += 1;
        let kid = self
            .scheme
            .kid(self.generation, self.step)
            .expect("generation was checked when it was set");
        self.key = SframeKey::derive(self.suite, kid, &self.base);
        self.next_ctr = Some(0);
        Ok(kid)
    }

    /// Switches to a fresh base key under a strictly newer `generation`, e.g. when someone leaves.
    pub fn rekey(&mut self, generation: u64, base: BaseKey) -> Result<KeyId, KeyError> {
        if generation <= self.generation {
            return Err(KeyError::StaleGeneration {
                current: self.generation,
                offered: generation,
            });
        }
        let log = self.log.take();
        *self = Sender::new(self.suite, self.scheme, generation, base)?;
        self.log = log;
        Ok(self.key.kid())
    }

    /// The counter of the next frame (`None` once exhausted).
    pub fn next_counter(&self) -> Option<u64> {
        self.next_ctr
    }

    /// The KID frames are sent under now.
    pub fn kid(&self) -> KeyId {
        self.key.kid()
    }

    /// Current key generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Ratchet steps taken in this generation.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The current base key, for handing to a peer over an authenticated channel.
    pub fn base_key(&self) -> &BaseKey {
        &self.base
    }

    /// The suite in use.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    #[cfg(test)]
    pub(crate) fn set_next_counter(&mut self, ctr: u64) {
        self.next_ctr = Some(ctr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        let base = BaseKey::new(vec![1; 16]).unwrap();
        Sender::new(CipherSuite::AesGcm128Sha256, KidScheme::default(), 0, base).unwrap()
    }

    #[test]
    fn the_counter_runs_out_instead_of_wrapping() {
        let mut s = sender();
        s.set_next_counter(u64::MAX - 1);
        assert!(s.encrypt(&[], b"a").is_ok());
        assert!(s.encrypt(&[], b"b").is_ok(), "u64::MAX itself is usable");
        let kid = s.kid();
        for _ in 0..3 {
            assert_eq!(
                s.encrypt(&[], b"c"),
                Err(EncryptError::CounterExhausted { kid })
            );
        }
        // A ratchet gives a new (base key, KID) pair, whose counters start afresh.
        s.ratchet().unwrap();
        assert!(s.encrypt(&[], b"d").is_ok());
    }

    #[test]
    fn counters_increase_by_one_per_frame() {
        let mut s = sender();
        let ctrs: Vec<u64> = (0..5)
            .map(|_| {
                let f = s.encrypt(&[], b"x").unwrap();
                crate::Header::decode(&f).unwrap().0.ctr.0
            })
            .collect();
        assert_eq!(ctrs, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn rekeying_needs_a_newer_generation() {
        let mut s = sender();
        let again = BaseKey::new(vec![2; 16]).unwrap();
        assert_eq!(
            s.rekey(0, again.clone()),
            Err(KeyError::StaleGeneration {
                current: 0,
                offered: 0
            })
        );
        assert_eq!(s.rekey(1, again).unwrap(), KeyId(1 << 8));
        assert_eq!((s.generation(), s.step()), (1, 0));
    }

    #[test]
    fn ratcheting_without_ratchet_bits_is_refused() {
        let base = BaseKey::new(vec![1; 16]).unwrap();
        let scheme = KidScheme::new(0).unwrap();
        let mut s = Sender::new(CipherSuite::AesGcm128Sha256, scheme, 0, base).unwrap();
        assert_eq!(s.ratchet(), Err(KeyError::NoRatchetBits));
    }
}
