//! Applying [`crate::GroupEvent::SendKey`] to an SFrame [`Sender`]: the next ratchet step of the
//! current generation is taken in place, anything else starts a sender at the new key.

use conclave_e2ee::{BaseKey, CipherSuite, KeyError, KidScheme, Sender};

/// Moves `sender` (or creates it) to `generation`/`step` with `key`. A key that is not newer
/// than the sender's own — the same one again, or an older one — is refused: starting a sender
/// at it would count its frames from 0 again under a key that has already been used, and so
/// repeat nonces. (A fresh meeting starts from no sender.)
pub fn apply(
    sender: &mut Option<Sender>,
    suite: CipherSuite,
    scheme: KidScheme,
    generation: u64,
    step: u64,
    key: BaseKey,
) -> Result<(), KeyError> {
    if let Some(s) = sender.as_ref()
        && (generation, step) <= (s.generation(), s.step())
    {
        return Err(KeyError::StaleGeneration {
            current: s.generation(),
            offered: generation,
        });
    }
    if let Some(s) = sender.as_mut()
        && s.generation() == generation
        && s.step() < step
        && step - s.step() <= 16
    {
        while s.step() < step {
            s.ratchet()?;
        }
        if *s.base_key() == key {
            return Ok(());
        }
    }
    // The log of frames sent (for signing) goes on with the next key: the last frames under
    // the old one are still to be signed.
    let log = sender.as_mut().and_then(Sender::take_log);
    let mut next = Sender::at_step(suite, scheme, generation, step, key)?;
    if let Some(log) = log {
        next.keep_log(log);
    }
    *sender = Some(next);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratchet_step_is_taken_in_place_and_a_new_generation_replaces_the_sender() {
        let suite = CipherSuite::AesGcm128Sha256;
        let scheme = KidScheme::default();
        let k0 = BaseKey::new(vec![1; 32]).unwrap();
        let mut sender = None;
        apply(&mut sender, suite, scheme, 1, 0, k0.clone()).unwrap();
        let s = sender.as_ref().unwrap();
        assert_eq!((s.generation(), s.step()), (1, 0));
        apply(&mut sender, suite, scheme, 1, 1, k0.ratchet(suite)).unwrap();
        let s = sender.as_ref().unwrap();
        assert_eq!((s.generation(), s.step()), (1, 1));
        assert_eq!(*s.base_key(), k0.ratchet(suite));
        let k2 = BaseKey::new(vec![2; 32]).unwrap();
        apply(&mut sender, suite, scheme, 2, 3, k2.clone()).unwrap();
        let s = sender.as_ref().unwrap();
        assert_eq!((s.generation(), s.step(), s.base_key()), (2, 3, &k2));
    }

    #[test]
    fn the_same_or_an_older_key_again_never_restarts_the_counter() {
        let suite = CipherSuite::AesGcm128Sha256;
        let scheme = KidScheme::default();
        let k = BaseKey::new(vec![1; 32]).unwrap();
        let mut sender = None;
        apply(&mut sender, suite, scheme, 1, 0, k.clone()).unwrap();
        apply(&mut sender, suite, scheme, 1, 1, k.ratchet(suite)).unwrap();
        let first = sender.as_mut().unwrap().encrypt(&[], b"frame").unwrap();
        for (generation, step, key) in [(1, 1, k.ratchet(suite)), (1, 0, k.clone())] {
            assert!(matches!(
                apply(&mut sender, suite, scheme, generation, step, key),
                Err(KeyError::StaleGeneration { .. })
            ));
        }
        // The counter went on: the next frame is not sealed with the first one's nonce.
        let second = sender.as_mut().unwrap().encrypt(&[], b"frame").unwrap();
        assert_ne!(first, second);
    }
}
