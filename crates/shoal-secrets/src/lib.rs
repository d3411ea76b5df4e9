//! Secrets: AEAD encryption at rest, versions kept for a rotation grace period.
//!
//! A secret is a key `shoal/secret/<name>` whose JSON holds every live version
//! as ChaCha20-Poly1305 ciphertext (nonce per version, the name and version as
//! associated data so a ciphertext cannot be moved to another secret). The key
//! lives in `data_dir/secret.key` (0600) or comes from `SHOAL_SECRET_KEY`. Plain
//! text exists only in memory, in the API answer to an authorised `get`, and in
//! the environment of the instances that reference the secret.
//!
//! # Layout
//! - `keyring.rs`: loading or creating the encryption key; seal and open.
//! - `record.rs`: the stored record and its pure version bookkeeping.
//! - `ops.rs`: put, rotate, get, list and delete against the store.
#![forbid(unsafe_code)]

mod keyring;
mod ops;
mod record;

pub use keyring::{Keyring, KEY_ENV};
pub use ops::{delete, get, list, put, SecretInfo, SECRET_PREFIX};
pub use record::{SecretRecord, SecretVersion};

/// Errors of secret handling. None of them ever carries a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{0}` does not exist")]
    NotFound(String),
    #[error("secret name `{0}` is invalid (use letters, digits, `.`, `_`, `-` and `/`; at most 256 bytes)")]
    BadName(String),
    #[error("secret key: {0}")]
    Key(String),
    #[error("secret `{0}` cannot be decrypted with this key (was the key changed?)")]
    Decrypt(String),
    #[error("secret `{name}` record is corrupt: {detail}")]
    Corrupt { name: String, detail: String },
    #[error("secret value too large ({0} bytes; at most 64 KiB)")]
    TooLarge(usize),
    #[error("store: {0}")]
    Store(#[from] shoal_store::StoreError),
}

/// Validates a secret's name.
pub fn check_name(name: &str) -> Result<(), SecretError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SecretError::BadName(name.chars().take(64).collect()))
    }
}
