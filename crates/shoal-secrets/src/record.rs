//! The stored form of a secret and its pure version bookkeeping.

use serde::{Deserialize, Serialize};

/// One encrypted version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    pub version: u32,
    pub nonce: String,
    pub ciphertext: String,
    pub created_ms: u64,
    /// When a newer version replaced this one; pruned after the grace period.
    pub retired_ms: Option<u64>,
}

/// `shoal/secret/<name>`: every live version, newest last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub versions: Vec<SecretVersion>,
}

impl SecretRecord {
    pub fn current(&self) -> Option<&SecretVersion> {
        self.versions.iter().rev().find(|v| v.retired_ms.is_none())
    }

    pub fn next_version(&self) -> u32 {
        self.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1
    }

    /// Adds `new` as the current version: the previous one is retired at `now_ms`,
    /// and versions retired longer than `grace_ms` ago are dropped.
    pub fn push(&mut self, new: SecretVersion, now_ms: u64, grace_ms: u64) {
        for v in &mut self.versions {
            if v.retired_ms.is_none() {
                v.retired_ms = Some(now_ms);
            }
        }
        self.versions.retain(|v| {
            v.retired_ms
                .is_none_or(|r| now_ms.saturating_sub(r) <= grace_ms)
        });
        self.versions.push(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: u32) -> SecretVersion {
        SecretVersion {
            version,
            nonce: String::new(),
            ciphertext: String::new(),
            created_ms: 0,
            retired_ms: None,
        }
    }

    #[test]
    fn rotation_keeps_the_previous_version_for_the_grace_period() {
        let mut r = SecretRecord::default();
        assert_eq!(r.next_version(), 1);
        r.push(v(1), 1_000, 600_000);
        assert_eq!(r.current().map(|v| v.version), Some(1));
        r.push(v(2), 2_000, 600_000);
        assert_eq!(r.current().map(|v| v.version), Some(2));
        assert_eq!(r.versions.len(), 2);
        assert_eq!(r.versions[0].retired_ms, Some(2_000));
        // Past the grace period the retired version is dropped on the next rotation.
        r.push(v(3), 700_000, 600_000);
        let kept: Vec<u32> = r.versions.iter().map(|v| v.version).collect();
        assert_eq!(kept, vec![2, 3]);
    }
}
