//! Diagnostics: `FILE:LINE:COLUMN: message` errors, byte offset → line/column, and "did you mean" suggestions.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A place in a service file (1-based line and column, columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The file name as given to the parser (e.g. `shoal.toml`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem found in a service file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file name as given to the parser.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column (in characters) of the offending key or value.
    pub column: usize,
    /// What is wrong, and what would be right when we can tell.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem of a refused service file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub struct SpecErrors {
    /// The problems, sorted by line then column; never empty.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets of a source text to 1-based line and character column.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based (line, column) of `offset`; offsets past the end clamp to the end.
    pub(crate) fn line_col(&self, src: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(src.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = match src.get(start..offset) {
            Some(text) => text.chars().count(),
            // Not on a char boundary: count the bytes instead of failing.
            None => offset - start,
        };
        (line, column + 1)
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo:
/// one or two edits away (one for short words), or very similar by Jaro-Winkler.
pub(crate) fn suggest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_lc = word.to_ascii_lowercase();
    let len = word_lc.chars().count();
    let max_edits = match len {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .into_iter()
        .filter(|&c| c != word)
        .map(|c| {
            let c_lc = c.to_ascii_lowercase();
            (
                c,
                strsim::osa_distance(&word_lc, &c_lc),
                strsim::jaro_winkler(&word_lc, &c_lc),
            )
        })
        .filter(|&(_, edits, jw)| {
            (edits > 0 && edits <= max_edits) || jw >= 0.85 || (edits == 0 && len > 0)
        })
        .min_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(c, _, _)| c)
}

/// ` (did you mean `X`?)` or nothing.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    match suggest(word, candidates) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let src = "ab\nçd = 1\n\nx";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(src, 0), (1, 1));
        assert_eq!(idx.line_col(src, 1), (1, 2));
        assert_eq!(idx.line_col(src, 3), (2, 1));
        // `d` follows a two-byte character: column 2, not 3.
        assert_eq!(idx.line_col(src, 5), (2, 2));
        assert_eq!(idx.line_col(src, 11), (3, 1));
        assert_eq!(idx.line_col(src, 12), (4, 1));
        assert_eq!(idx.line_col(src, 999), (4, 2));
        // Inside a multi-byte character: no panic.
        assert_eq!(idx.line_col(src, 4), (2, 2));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        let fields = ["instances", "command", "version", "versions", "env"];
        assert_eq!(suggest("instnces", fields), Some("instances"));
        assert_eq!(suggest("comand", fields), Some("command"));
        assert_eq!(suggest("Version", fields), Some("version"));
        assert_eq!(suggest("zzz", fields), None);
        assert_eq!(
            did_you_mean("tpc", ["tcp", "http", "exec"]),
            " (did you mean `tcp`?)"
        );
        assert_eq!(did_you_mean("banana", ["tcp", "http", "exec"]), "");
    }

    #[test]
    fn errors_display_one_per_line() {
        let d = |line| Diagnostic {
            file: "f.toml".into(),
            line,
            column: 3,
            message: "bad".into(),
        };
        let e = SpecErrors {
            diagnostics: vec![d(1), d(2)],
        };
        assert_eq!(e.to_string(), "f.toml:1:3: bad\nf.toml:2:3: bad");
    }
}
