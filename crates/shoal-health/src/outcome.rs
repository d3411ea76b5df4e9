//! What a health check probes (`CheckKind`) and how one run went (`CheckOutcome`).

/// How to probe an instance: the service file's check kind (one type for both).
pub use shoal_spec::CheckKind;

/// The result of one check run. The text is a short reason or output snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    Passing,
    Warning(String),
    Critical(String),
}

impl CheckOutcome {
    /// The reason or output snippet; empty for `Passing`.
    pub fn output(&self) -> &str {
        match self {
            CheckOutcome::Passing => "",
            CheckOutcome::Warning(s) | CheckOutcome::Critical(s) => s,
        }
    }

    /// Whether the outcome counts towards becoming healthy (passing or warning).
    pub fn is_ok(&self) -> bool {
        !matches!(self, CheckOutcome::Critical(_))
    }
}
