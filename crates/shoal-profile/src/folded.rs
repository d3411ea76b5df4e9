//! Folded stacks (`root;caller;leaf COUNT`), the one form every sampler's output is
//! turned into: perf's through inferno's collapse-perf, py-spy's as it comes.

use std::collections::BTreeMap;

use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;
use serde::{Deserialize, Serialize};

/// The frame that stands for the stacks left out by [`Folded::bounded`].
pub const TRUNCATED: &str = "[stacks left out to bound the profile]";

/// Samples per distinct stack; a stack is its frames root first, joined by `;`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Folded(pub BTreeMap<String, u64>);

impl Folded {
    /// Reads folded lines (`a;b;c 12`); lines without a count are skipped.
    pub fn parse(text: &str) -> Self {
        let mut out = Folded::default();
        for line in text.lines() {
            let Some((stack, n)) = line.trim_end().rsplit_once(' ') else {
                continue;
            };
            let (Ok(n), false) = (n.parse::<u64>(), stack.is_empty()) else {
                continue;
            };
            out.add(stack, n);
        }
        out
    }

    /// Folds the text of `perf script`, dropping the root frame perf adds (the thread's
    /// command name) so stacks start at the program's own first frame. Kernel frames
    /// end in `_[k]`.
    pub fn from_perf_script(reader: impl std::io::BufRead) -> std::io::Result<Self> {
        let mut options = Options::default();
        options.annotate_kernel = true;
        options.nthreads = 1;
        let mut folded = Vec::new();
        Folder::from(options).collapse(reader, &mut folded)?;
        let text = String::from_utf8_lossy(&folded);
        let mut out = Folded::default();
        for (stack, n) in Folded::parse(&text).0 {
            match stack.split_once(';') {
                Some((_comm, rest)) => out.add(rest, n),
                // A sample with no frames at all: only the command name.
                None => out.add("[unknown]", n),
            }
        }
        Ok(out)
    }

    pub fn add(&mut self, stack: &str, n: u64) {
        if n > 0 {
            *self.0.entry(stack.to_string()).or_insert(0) += n;
        }
    }

    /// Every sample.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The heaviest stacks whose text fits `max_bytes`; the samples of the others are
    /// kept, under one [`TRUNCATED`] stack, so totals stay right.
    pub fn bounded(self, max_bytes: usize) -> Self {
        if self.bytes() <= max_bytes {
            return self;
        }
        let mut stacks: Vec<(String, u64)> = self.0.into_iter().collect();
        stacks.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut out = Folded::default();
        let mut used = TRUNCATED.len() + 24;
        let mut left_out = 0;
        for (stack, n) in stacks {
            if used + stack.len() + 24 <= max_bytes {
                used += stack.len() + 24;
                out.0.insert(stack, n);
            } else {
                left_out += n;
            }
        }
        out.add(TRUNCATED, left_out);
        out
    }

    /// About what the stacks take as text.
    pub fn bytes(&self) -> usize {
        self.0.keys().map(|s| s.len() + 24).sum()
    }

    /// The folded lines, for a flame graph or for other tools.
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(|(s, n)| format!("{s} {n}")).collect()
    }
}

#[cfg(test)]
#[path = "folded_tests.rs"]
mod tests;
