//! The five cipher suites of RFC 9605 §4.5 and their sizes.

use crate::error::SuiteError;

/// An SFrame cipher suite (RFC 9605 §8.1 registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// `AES_128_CTR_HMAC_SHA256_80` (0x0001): 80-bit tag.
    AesCtr128HmacSha256_80,
    /// `AES_128_CTR_HMAC_SHA256_64` (0x0002): 64-bit tag.
    AesCtr128HmacSha256_64,
    /// `AES_128_CTR_HMAC_SHA256_32` (0x0003): 32-bit tag, for audio where bytes matter.
    AesCtr128HmacSha256_32,
    /// `AES_128_GCM_SHA256_128` (0x0004): Conclave's default.
    AesGcm128Sha256,
    /// `AES_256_GCM_SHA512_128` (0x0005).
    AesGcm256Sha512,
}

/// The hash behind a suite's HKDF (and HMAC for the CTR suites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

impl CipherSuite {
    /// Every registered suite, in registry order.
    pub const ALL: [CipherSuite; 5] = [
        CipherSuite::AesCtr128HmacSha256_80,
        CipherSuite::AesCtr128HmacSha256_64,
        CipherSuite::AesCtr128HmacSha256_32,
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
    ];

    /// The registry value carried in key-derivation labels.
    pub const fn id(self) -> u16 {
        match self {
            CipherSuite::AesCtr128HmacSha256_80 => 0x0001,
            CipherSuite::AesCtr128HmacSha256_64 => 0x0002,
            CipherSuite::AesCtr128HmacSha256_32 => 0x0003,
            CipherSuite::AesGcm128Sha256 => 0x0004,
            CipherSuite::AesGcm256Sha512 => 0x0005,
        }
    }

    /// The registry name.
    pub const fn name(self) -> &'static str {
        match self {
            CipherSuite::AesCtr128HmacSha256_80 => "AES_128_CTR_HMAC_SHA256_80",
            CipherSuite::AesCtr128HmacSha256_64 => "AES_128_CTR_HMAC_SHA256_64",
            CipherSuite::AesCtr128HmacSha256_32 => "AES_128_CTR_HMAC_SHA256_32",
            CipherSuite::AesGcm128Sha256 => "AES_128_GCM_SHA256_128",
            CipherSuite::AesGcm256Sha512 => "AES_256_GCM_SHA512_128",
        }
    }

    /// `Nh`: output size of the suite's hash, and the size of a ratcheted base key.
    pub const fn hash_len(self) -> usize {
        match self.hash() {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }

    /// `Nk`: size of the derived `sframe_key` (encryption plus authentication key for CTR suites).
    pub const fn key_len(self) -> usize {
        match self {
            CipherSuite::AesCtr128HmacSha256_80
            | CipherSuite::AesCtr128HmacSha256_64
            | CipherSuite::AesCtr128HmacSha256_32 => 48,
            CipherSuite::AesGcm128Sha256 => 16,
            CipherSuite::AesGcm256Sha512 => 32,
        }
    }

    /// `Nka`: size of the AES key inside `sframe_key` for the CTR suites.
    pub const fn enc_key_len(self) -> Option<usize> {
        match self {
            CipherSuite::AesCtr128HmacSha256_80
            | CipherSuite::AesCtr128HmacSha256_64
            | CipherSuite::AesCtr128HmacSha256_32 => Some(16),
            CipherSuite::AesGcm128Sha256 | CipherSuite::AesGcm256Sha512 => None,
        }
    }

    /// `Nn`: nonce size (12 for every registered suite).
    pub const fn nonce_len(self) -> usize {
        NONCE_LEN
    }

    /// `Nt`: authentication tag size.
    pub const fn tag_len(self) -> usize {
        match self {
            CipherSuite::AesCtr128HmacSha256_80 => 10,
            CipherSuite::AesCtr128HmacSha256_64 => 8,
            CipherSuite::AesCtr128HmacSha256_32 => 4,
            CipherSuite::AesGcm128Sha256 | CipherSuite::AesGcm256Sha512 => 16,
        }
    }

    pub(crate) const fn hash(self) -> Hash {
        match self {
            CipherSuite::AesGcm256Sha512 => Hash::Sha512,
            _ => Hash::Sha256,
        }
    }
}

/// Nonce size (`Nn`) shared by all registered suites.
pub const NONCE_LEN: usize = 12;

impl TryFrom<u16> for CipherSuite {
    type Error = SuiteError;

    fn try_from(id: u16) -> Result<Self, SuiteError> {
        CipherSuite::ALL
            .into_iter()
            .find(|s| s.id() == id)
            .ok_or(SuiteError::Unknown(id))
    }
}

impl std::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_rejected() {
        for suite in CipherSuite::ALL {
            assert_eq!(CipherSuite::try_from(suite.id()), Ok(suite));
        }
        assert_eq!(CipherSuite::try_from(0), Err(SuiteError::Unknown(0)));
        assert_eq!(CipherSuite::try_from(6), Err(SuiteError::Unknown(6)));
    }
}
