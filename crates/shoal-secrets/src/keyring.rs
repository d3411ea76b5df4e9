//! The encryption key: loaded from `SHOAL_SECRET_KEY` or `data_dir/secret.key`
//! (created with mode 0600 on first use); seals and opens secret versions.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::SecretError;

/// Environment variable holding the key as base64 of 32 bytes.
pub const KEY_ENV: &str = "SHOAL_SECRET_KEY";

/// The data key. `Debug` never prints it.
pub struct Keyring {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() != 32 {
            return Err(SecretError::Key(format!(
                "a key is 32 bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
        })
    }

    /// `SHOAL_SECRET_KEY` if set, else `data_dir/secret.key`, created if missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SecretError> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            let bytes = B64
                .decode(text.trim())
                .map_err(|_| SecretError::Key(format!("{KEY_ENV} is not base64")))?;
            return Self::from_bytes(&bytes);
        }
        let path = data_dir.join("secret.key");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o077)
                    .unwrap_or(0);
                if mode != 0 {
                    return Err(SecretError::Key(format!(
                        "{} is readable by others; run chmod 600 on it",
                        path.display()
                    )));
                }
                Self::from_bytes(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| {
                        SecretError::Key(format!("cannot create {}: {e}", path.display()))
                    })?;
                f.write_all(&key).and_then(|()| f.sync_all()).map_err(|e| {
                    SecretError::Key(format!("cannot write {}: {e}", path.display()))
                })?;
                Self::from_bytes(&key)
            }
            Err(e) => Err(SecretError::Key(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plain`, bound to `name` and `version`. Returns (nonce, ciphertext) in base64.
    pub fn seal(
        &self,
        name: &str,
        version: u32,
        plain: &[u8],
    ) -> Result<(String, String), SecretError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let aad = aad(name, version);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Key("encryption failed".into()))?;
        Ok((B64.encode(nonce_bytes), B64.encode(ct)))
    }

    /// Decrypts a version sealed by [`Keyring::seal`].
    pub fn open(
        &self,
        name: &str,
        version: u32,
        nonce: &str,
        ciphertext: &str,
    ) -> Result<Vec<u8>, SecretError> {
        let corrupt = |detail: &str| SecretError::Corrupt {
            name: name.to_string(),
            detail: detail.to_string(),
        };
        let nonce = B64
            .decode(nonce)
            .map_err(|_| corrupt("nonce is not base64"))?;
        if nonce.len() != 12 {
            return Err(corrupt("nonce length"));
        }
        let ct = B64
            .decode(ciphertext)
            .map_err(|_| corrupt("ciphertext is not base64"))?;
        let aad = aad(name, version);
        self.cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Decrypt(name.to_string()))
    }
}

fn aad(name: &str, version: u32) -> Vec<u8> {
    format!("shoal-secret\0{name}\0{version}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = Keyring::from_bytes(&[7u8; 32]).expect("key");
        let (n, c) = k.seal("db/pw", 1, b"hunter2").expect("seal");
        assert_eq!(k.open("db/pw", 1, &n, &c).expect("open"), b"hunter2");
        assert!(!c.contains("hunter2"));
        // Bound to name and version.
        assert!(matches!(
            k.open("other", 1, &n, &c),
            Err(SecretError::Decrypt(_))
        ));
        assert!(matches!(
            k.open("db/pw", 2, &n, &c),
            Err(SecretError::Decrypt(_))
        ));
        let other = Keyring::from_bytes(&[8u8; 32]).expect("key");
        assert!(matches!(
            other.open("db/pw", 1, &n, &c),
            Err(SecretError::Decrypt(_))
        ));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = Keyring::load_or_create(dir.path()).expect("create");
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (n, c) = a.seal("x", 1, b"v").expect("seal");
        let b = Keyring::load_or_create(dir.path()).expect("load");
        assert_eq!(b.open("x", 1, &n, &c).expect("open"), b"v");
        std::fs::set_permissions(
            dir.path().join("secret.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert!(Keyring::load_or_create(dir.path()).is_err());
        assert!(format!("{a:?}") == "Keyring(..)");
    }
}
