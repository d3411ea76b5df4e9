//! [`FlagError`]: what went wrong with a flag, said so that the user knows what to do.

use shoal_store::StoreError;

/// Everything reading, editing or storing a flag can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// The flag (as it would be after an edit) breaks rules; every problem is listed.
    #[error("invalid flag `{name}`: {}", problems.join("; "))]
    Invalid {
        /// The flag's name.
        name: String,
        /// One sentence per problem.
        problems: Vec<String>,
    },
    /// No flag has this name.
    #[error("no flag named `{name}`{}", unknown_hint(name, closest.as_deref()))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The closest existing name, when one is near.
        closest: Option<String>,
    },
    /// A command-line string (constraint, force rule, variants, rollout) is malformed.
    #[error("invalid {what} `{text}`: {problem}")]
    Syntax {
        /// What the text should have been, e.g. "constraint".
        what: &'static str,
        /// The text as given.
        text: String,
        /// What is wrong and how to write it.
        problem: String,
    },
    /// The flag was changed by someone else on every attempt.
    #[error(
        "flag `{name}` kept changing while it was being written ({attempts} attempts); try again"
    )]
    Conflict {
        /// The flag's name.
        name: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Flags kept changing while a seed from the service file was being written.
    #[error("the flags kept changing while the service file's [flags.*] were applied ({attempts} attempts); try again")]
    SeedConflict {
        /// Attempts made.
        attempts: u32,
    },
    /// A stored record is not a valid flag.
    #[error("the flag stored at `{key}` cannot be read: {message}; delete it and set it again")]
    Corrupt {
        /// The store key.
        key: String,
        /// The decoding error.
        message: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

fn unknown_hint(name: &str, closest: Option<&str>) -> String {
    match closest {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => format!(" (create it, or declare [flags.{name}] in the service file)"),
    }
}

/// The candidate nearest to `word`, if it is near enough to be a typo of it.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    let word_lc = word.to_ascii_lowercase();
    let max_edits = match word_lc.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .into_iter()
        .filter(|&c| c != word)
        .map(|c| {
            let c_lc = c.to_ascii_lowercase();
            let edits = strsim::osa_distance(&word_lc, &c_lc);
            (c, edits, strsim::jaro_winkler(&word_lc, &c_lc))
        })
        .filter(|&(_, edits, jw)| edits <= max_edits || jw >= 0.85)
        .min_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(c, _, _)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let names = ["new_profile", "beta", "checkout"];
        assert_eq!(
            closest("new_proflie", names).as_deref(),
            Some("new_profile")
        );
        assert_eq!(closest("btea", names).as_deref(), Some("beta"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(closest("beta", names), None);
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = FlagError::Unknown {
            name: "betta".into(),
            closest: Some("beta".into()),
        };
        assert_eq!(
            e.to_string(),
            "no flag named `betta` (did you mean `beta`?)"
        );
        let e = FlagError::Unknown {
            name: "x".into(),
            closest: None,
        };
        assert_eq!(
            e.to_string(),
            "no flag named `x` (create it, or declare [flags.x] in the service file)"
        );
        let e = FlagError::Invalid {
            name: "x".into(),
            problems: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.to_string(), "invalid flag `x`: a; b");
    }
}
