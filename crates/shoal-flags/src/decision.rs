//! [`Decision`] and [`Reason`]: what one evaluation of one flag answered, and why.

use serde::{Deserialize, Serialize};

/// Why a flag evaluated the way it did, in rule order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The flag is disabled: off for everyone.
    Disabled,
    /// The user key is in the deny list: off.
    Denied,
    /// A `force_on` header matched: on (whatever the rollout).
    Forced,
    /// The user key is in the allow list: on.
    Allowed,
    /// A constraint did not hold: off.
    ConstraintMiss,
    /// The rollout is 100 % (on) or 0 % (off): the same for every request that got here.
    Static,
    /// Decided by the sticky bucket of the user key against a partial rollout.
    Rollout {
        /// Whether the bucket was inside the rollout.
        on: bool,
    },
    /// A partial rollout and no user key (nor fallback key): off.
    NoUserKey,
}

impl Reason {
    /// A short lower-case name, for logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::Denied => "denied",
            Reason::Forced => "forced",
            Reason::Allowed => "allowed",
            Reason::ConstraintMiss => "constraint-miss",
            Reason::Static => "static",
            Reason::Rollout { on: true } => "rollout-in",
            Reason::Rollout { on: false } => "rollout-out",
            Reason::NoUserKey => "no-user-key",
        }
    }

    /// The OpenFeature reason: DISABLED; TARGETING_MATCH for the deny and allow lists,
    /// forcing and constraints; SPLIT for a rollout; STATIC; DEFAULT without a user key.
    pub fn ofrep(self) -> OfrepReason {
        match self {
            Reason::Disabled => OfrepReason::Disabled,
            Reason::Denied | Reason::Forced | Reason::Allowed | Reason::ConstraintMiss => {
                OfrepReason::TargetingMatch
            }
            Reason::Static => OfrepReason::Static,
            Reason::Rollout { .. } => OfrepReason::Split,
            Reason::NoUserKey => OfrepReason::Default,
        }
    }
}

/// The reasons of the OpenFeature specification, as OFREP sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepReason {
    /// The value does not depend on the request.
    Static,
    /// A rule or user targeting decided.
    TargetingMatch,
    /// A pseudorandom split (rollout, variant weights) decided.
    Split,
    /// The flag is disabled.
    Disabled,
    /// The pre-configured default value.
    Default,
    /// Unknown.
    Unknown,
    /// The evaluation failed.
    Error,
}

/// The answer of one flag for one request. Borrowed from the [`crate::FlagSet`], so making
/// one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The flag's name.
    pub flag: &'a str,
    /// The header to send: `X-Flag-<name>`.
    pub header: &'a str,
    /// The header value: `"1"` / `"0"`, or the variant name (the off variant when off).
    pub value: &'a str,
    /// Whether the request got the flag.
    pub on: bool,
    /// Why.
    pub reason: Reason,
    /// Whether the flag serves variants (else on/off).
    pub has_variants: bool,
    /// Index of `value` in the tally of the set.
    pub(crate) slot: usize,
    /// Whether the variant was picked by the bucket of a key.
    pub(crate) split: bool,
}

impl<'a> Decision<'a> {
    /// The OpenFeature variant: the value for variant flags, `on`/`off` otherwise.
    pub fn variant(&self) -> &'a str {
        match (self.has_variants, self.on) {
            (true, _) => self.value,
            (false, true) => "on",
            (false, false) => "off",
        }
    }

    /// The OpenFeature reason; a variant picked by the user's bucket is a SPLIT.
    pub fn ofrep_reason(&self) -> OfrepReason {
        if self.split && self.reason == Reason::Static {
            return OfrepReason::Split;
        }
        self.reason.ofrep()
    }
}
