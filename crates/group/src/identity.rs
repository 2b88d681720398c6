//! A participant's identity: the X25519 key pair its handshakes prove. By default a fresh pair
//! per meeting (nothing stored); a user who wants verification to carry across meetings keeps
//! the secret half in the OS keyring and loads it with [`Identity::from_secret`].

use ring::rand::{SecureRandom, SystemRandom};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::SetupError;

/// An identity key pair. The secret is zeroized on drop and never printed.
#[derive(Clone)]
pub struct Identity {
    secret: StaticSecret,
    public: [u8; 32],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &hex_prefix(&self.public))
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}

impl Identity {
    /// A fresh identity from the system's randomness.
    pub fn generate() -> Result<Identity, SetupError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| SetupError::Random)?;
        Ok(Identity::from_secret(&bytes[..]).expect("32 bytes"))
    }

    /// The identity whose secret half is `secret` (as stored by [`Identity::secret_bytes`]).
    pub fn from_secret(secret: &[u8]) -> Result<Identity, SetupError> {
        let bytes: [u8; 32] = secret.try_into().map_err(|_| SetupError::IdentityLength)?;
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret).to_bytes();
        Ok(Identity { secret, public })
    }

    /// The public half: what safety numbers and the group code are made of.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The secret half, for storing in the OS keyring.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_is_the_rfc7748_one_and_the_secret_stays_hidden() {
        // RFC 7748 §6.1, Alice's key pair.
        let secret =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap();
        let id = Identity::from_secret(&secret).unwrap();
        assert_eq!(
            hex::encode(id.public()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(&id.secret_bytes()[..], &secret[..]);
        let shown = format!("{id:?}");
        assert!(
            shown.contains("redacted") && !shown.contains("77076d"),
            "{shown}"
        );
        assert_eq!(
            Identity::from_secret(&[0; 31]).unwrap_err(),
            SetupError::IdentityLength
        );
        assert_ne!(
            Identity::generate().unwrap().public(),
            Identity::generate().unwrap().public()
        );
    }
}
