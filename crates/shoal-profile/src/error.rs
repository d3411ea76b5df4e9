//! Why a profile could not be taken, each said so that the user can act on it.

use crate::sampler::Language;

/// What went wrong, by cause.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("seconds must be 1 to {max} (got {got})")]
    BadSeconds { got: u64, max: u64 },
    #[error("rate must be 1 to {max} Hz (got {got}): sampling faster costs the instance more than it tells")]
    BadRate { got: u32, max: u32 },
    #[error("no sampler for this {language} process: {install}")]
    NoSampler { language: Language, install: String },
    #[error("perf may not sample other processes here: kernel.perf_event_paranoid is {0}; run `sysctl kernel.perf_event_paranoid=2` (user-space stacks) or run shoal as root")]
    PerfNotAllowed(i32),
    #[error("process {0} is gone: the instance exited or was restarted")]
    ProcessGone(u32),
    #[error("instance {0} is being profiled already; wait for that profile to finish")]
    Busy(String),
    #[error("{0} profiles are being taken on this node; wait for one to finish")]
    TooMany(usize),
    #[error("{sampler} failed: {detail}")]
    SamplerFailed { sampler: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The kind of a [`ProfileError`], for an HTTP status or an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The request itself is wrong (400).
    Invalid,
    /// The instance is not in a state that can be profiled (409).
    Conflict,
    /// This node lacks what profiling needs: a sampler, a kernel setting (422).
    Unsupported,
    /// Too many captures at once (429).
    Busy,
    /// The sampler or the disk failed (500).
    Failed,
}

impl ProfileError {
    pub fn cause(&self) -> Cause {
        match self {
            Self::BadSeconds { .. } | Self::BadRate { .. } => Cause::Invalid,
            Self::ProcessGone(_) | Self::Busy(_) => Cause::Conflict,
            Self::NoSampler { .. } | Self::PerfNotAllowed(_) => Cause::Unsupported,
            Self::TooMany(_) => Cause::Busy,
            Self::SamplerFailed { .. } | Self::Io(_) => Cause::Failed,
        }
    }
}
