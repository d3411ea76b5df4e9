//! `ExitInfo`: how a process ended, as a code or a signal.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How a process ended: an exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl From<ExitStatus> for ExitInfo {
    fn from(status: ExitStatus) -> Self {
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => write!(f, "killed by signal {signal}"),
            (None, None) => f.write_str("exited (status unknown)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_code_or_signal() {
        let code = ExitInfo {
            code: Some(1),
            signal: None,
        };
        assert_eq!(code.to_string(), "exit code 1");
        assert!(!code.success());
        let signal = ExitInfo {
            code: None,
            signal: Some(9),
        };
        assert_eq!(signal.to_string(), "killed by signal 9");
        assert_eq!(
            ExitInfo::from(ExitStatus::from_raw(0)).to_string(),
            "exit code 0"
        );
        assert_eq!(ExitInfo::from(ExitStatus::from_raw(15)).signal, Some(15));
    }
}
