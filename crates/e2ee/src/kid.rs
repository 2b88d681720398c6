//! How Conclave lays out a KID for the sender-key scheme of RFC 9605 §5.1:
//! `KID = (key_generation << R) + (ratchet_step % 2^R)`.

use crate::error::KeyError;
use crate::header::KeyId;

/// The split of a KID into key generation and ratchet step, `R` low bits for the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KidScheme {
    ratchet_bits: u8,
}

impl Default for KidScheme {
    /// Eight ratchet bits: 256 steps before the step field wraps, generations up to 2^56.
    fn default() -> Self {
        KidScheme { ratchet_bits: 8 }
    }
}

impl KidScheme {
    /// A scheme with `ratchet_bits` (`R`) for the ratchet step: 0 (no ratchet) or 2..=32. One
    /// bit cannot tell the next step from the previous one, which receivers keep for late frames.
    pub fn new(ratchet_bits: u8) -> Result<Self, KeyError> {
        if ratchet_bits == 1 || ratchet_bits > 32 {
            return Err(KeyError::RatchetBits(ratchet_bits));
        }
        Ok(KidScheme { ratchet_bits })
    }

    /// `R`.
    pub fn ratchet_bits(self) -> u8 {
        self.ratchet_bits
    }

    /// Number of distinct ratchet steps a KID can name (`2^R`).
    pub fn steps(self) -> u64 {
        1 << self.ratchet_bits
    }

    /// The KID for `generation` at `step`; `None` if the generation does not fit in `64 - R` bits.
    pub fn kid(self, generation: u64, step: u64) -> Option<KeyId> {
        let r = u32::from(self.ratchet_bits);
        if r > 0 && generation >> (64 - r) != 0 {
            return None;
        }
        let gen_part = generation.checked_shl(r).unwrap_or(0);
        Some(KeyId(gen_part | (step & (self.steps() - 1))))
    }

    /// The generation and the low `R` bits of the ratchet step named by `kid`.
    pub fn split(self, kid: KeyId) -> (u64, u64) {
        let r = u32::from(self.ratchet_bits);
        (
            kid.0.checked_shr(r).unwrap_or(0),
            kid.0 & (self.steps() - 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_layout_follows_rfc_9605_section_5_1() {
        let s = KidScheme::new(4).unwrap();
        assert_eq!(s.kid(3, 5), Some(KeyId(0x35)));
        assert_eq!(s.kid(3, 0x15), Some(KeyId(0x35)), "step is sent mod 2^R");
        assert_eq!(s.split(KeyId(0x35)), (3, 5));
        assert_eq!(s.kid(1 << 60, 0), None, "generation must fit in 64-R bits");
        assert_eq!(s.kid((1 << 60) - 1, 15), Some(KeyId(u64::MAX)));
    }

    #[test]
    fn zero_ratchet_bits_make_the_kid_the_generation() {
        let s = KidScheme::new(0).unwrap();
        assert_eq!(s.kid(u64::MAX, 9), Some(KeyId(u64::MAX)));
        assert_eq!(s.split(KeyId(42)), (42, 0));
        assert!(KidScheme::new(33).is_err());
        assert!(KidScheme::new(1).is_err());
        assert!(KidScheme::new(2).is_ok());
    }
}
