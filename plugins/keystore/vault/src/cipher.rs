//! Sealing and opening one value: XChaCha20-Poly1305 with a random 24-byte nonce per value and
//! the namespace and name bound as associated data, so a ciphertext copied to another row
//! (or another namespace) fails authentication instead of decrypting. Pure functions, no I/O.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::{Error, MasterKey, Result};

/// Versioned prefix of the associated data: a future format changes it.
const AAD_CONTEXT: &[u8] = b"tasker-keystore/value/v1\0";
/// Length of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;

/// A sealed value as stored in one row.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Ciphertext followed by the 16-byte Poly1305 tag.
    pub ciphertext: Vec<u8>,
    /// The random nonce used for this value.
    pub nonce: Vec<u8>,
    /// The key id of the master key it was sealed with.
    pub kid: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed({} bytes, kid {})",
            self.ciphertext.len(),
            self.kid
        )
    }
}

/// Encrypts `plaintext` for the row (`namespace`, `name`).
pub fn seal(key: &MasterKey, namespace: &str, name: &str, plaintext: &[u8]) -> Result<Sealed> {
    let nonce = XNonce::try_generate().map_err(|e| Error::Random(e.to_string()))?;
    let aad = associated_data(namespace, name);
    let ciphertext = cipher(key)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Encrypt {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
    Ok(Sealed {
        ciphertext,
        nonce: nonce.to_vec(),
        kid: key.kid().to_owned(),
    })
}

/// Decrypts the row (`namespace`, `name`). A row sealed under another key is reported as a
/// key mismatch (from its key id, before trying); a failed tag as tampering.
pub fn open(key: &MasterKey, namespace: &str, name: &str, sealed: &Sealed) -> Result<Vec<u8>> {
    if sealed.kid != key.kid() {
        return Err(Error::KeyMismatch {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            stored_kid: sealed.kid.clone(),
            loaded_kid: key.kid().to_owned(),
        });
    }
    let tampered = || Error::Tampered {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    if sealed.nonce.len() != NONCE_LEN {
        return Err(tampered());
    }
    let nonce = XNonce::try_from(sealed.nonce.as_slice()).map_err(|_| tampered())?;
    let aad = associated_data(namespace, name);
    cipher(key)
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| tampered())
}

fn cipher(key: &MasterKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::from(*key.bytes()))
}

/// `context || len(namespace) || namespace || len(name) || name`, lengths as 4-byte big
/// endian, so no two (namespace, name) pairs share associated data.
fn associated_data(namespace: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 8 + namespace.len() + name.len());
    aad.extend_from_slice(AAD_CONTEXT);
    for part in [namespace, name] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip_uses_a_fresh_nonce_each_time() {
        let k = key(1);
        let a = seal(&k, "global", "API_KEY", b"s3cr3t value").unwrap();
        let b = seal(&k, "global", "API_KEY", b"s3cr3t value").unwrap();
        assert_eq!(a.nonce.len(), NONCE_LEN);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(
            !a.ciphertext.windows(6).any(|w| w == b"s3cr3t"),
            "no plaintext in the ciphertext"
        );
        assert_eq!(open(&k, "global", "API_KEY", &a).unwrap(), b"s3cr3t value");
        assert_eq!(open(&k, "global", "API_KEY", &b).unwrap(), b"s3cr3t value");
        assert_eq!(
            open(&k, "n", "empty", &seal(&k, "n", "empty", b"").unwrap()).unwrap(),
            b""
        );
    }

    #[test]
    fn tampering_is_detected() {
        let k = key(2);
        let sealed = seal(&k, "global", "K", b"hunter2").unwrap();
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 0x01;
            assert!(matches!(
                open(&k, "global", "K", &bad),
                Err(Error::Tampered { .. })
            ));
        }
        let mut bad_nonce = sealed.clone();
        bad_nonce.nonce[0] ^= 0x80;
        assert!(matches!(
            open(&k, "global", "K", &bad_nonce),
            Err(Error::Tampered { .. })
        ));
        let mut short_nonce = sealed;
        short_nonce.nonce.truncate(12);
        assert!(matches!(
            open(&k, "global", "K", &short_nonce),
            Err(Error::Tampered { .. })
        ));
    }

    #[test]
    fn wrong_associated_data_fails() {
        let k = key(3);
        let sealed = seal(&k, "global", "K", b"hunter2").unwrap();
        assert!(matches!(
            open(&k, "other", "K", &sealed),
            Err(Error::Tampered { .. })
        ));
        assert!(matches!(
            open(&k, "global", "K2", &sealed),
            Err(Error::Tampered { .. })
        ));
        // Moving bytes between namespace and name must not keep the associated data equal.
        let ab = seal(&k, "ab", "c", b"v").unwrap();
        assert!(open(&k, "a", "bc", &ab).is_err());
    }

    #[test]
    fn wrong_key_is_a_clear_mismatch_not_garbage() {
        let sealed = seal(&key(4), "global", "K", b"hunter2").unwrap();
        let err = open(&key(5), "global", "K", &sealed).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }));
        let text = err.to_string();
        assert!(
            text.contains("master key does not match") && text.contains("'K'"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        // A forged key id does not help: the tag still fails.
        let mut forged = sealed;
        forged.kid = key(5).kid().to_owned();
        assert!(matches!(
            open(&key(5), "global", "K", &forged),
            Err(Error::Tampered { .. })
        ));
    }
}
