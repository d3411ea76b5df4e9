//! What a health check probes (`CheckKind`) and how one run went (`CheckOutcome`).

/// How to probe an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// `GET http://<addr><path>`: 2xx passing, 429 warning, anything else critical.
    Http { path: String },
    /// A TCP connect to the instance's address: connected is passing.
    Tcp,
    /// Runs `argv` in the instance's env and directory: exit 0 passing, 1 warning, other critical.
    Exec { argv: Vec<String> },
}

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
