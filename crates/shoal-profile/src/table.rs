//! The functions of a profile by self time (samples where the function was running)
//! and total time (samples where it was anywhere on the stack), and their text table.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::folded::Folded;

/// One function's share of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRow {
    pub function: String,
    /// Samples with this function at the top of the stack.
    #[serde(rename = "self")]
    pub self_samples: u64,
    /// Samples with this function anywhere on the stack (once per stack).
    pub total: u64,
    pub self_pct: f64,
    pub total_pct: f64,
}

/// Every function, most self time first (then most total time, then by name).
pub fn functions(stacks: &Folded) -> Vec<FunctionRow> {
    let mut own: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total: BTreeMap<&str, u64> = BTreeMap::new();
    for (stack, &n) in &stacks.0 {
        let frames: Vec<&str> = stack.split(';').filter(|f| !f.is_empty()).collect();
        if let Some(leaf) = frames.last() {
            *own.entry(leaf).or_insert(0) += n;
        }
        // A recursive function counts once per sample.
        let distinct: BTreeSet<&str> = frames.into_iter().collect();
        for f in distinct {
            *total.entry(f).or_insert(0) += n;
        }
    }
    let all = stacks.total().max(1) as f64;
    let mut rows: Vec<FunctionRow> = total
        .into_iter()
        .map(|(f, t)| {
            let s = own.get(f).copied().unwrap_or(0);
            FunctionRow {
                function: f.to_string(),
                self_samples: s,
                total: t,
                self_pct: round2(s as f64 * 100.0 / all),
                total_pct: round2(t as f64 * 100.0 / all),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.self_samples
            .cmp(&a.self_samples)
            .then(b.total.cmp(&a.total))
            .then_with(|| a.function.cmp(&b.function))
    });
    rows
}

/// `v` to two decimals.
pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The rows as an aligned text table (self %, self, total %, total, function).
pub fn render(rows: &[FunctionRow]) -> String {
    let head = ["SELF%", "SELF", "TOTAL%", "TOTAL", "FUNCTION"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                format!("{:.1}", r.self_pct),
                r.self_samples.to_string(),
                format!("{:.1}", r.total_pct),
                r.total.to_string(),
                r.function.clone(),
            ]
        })
        .collect();
    aligned(&head, &cells)
}

/// Right-aligned numbers, the last column left-aligned and not padded.
pub(crate) fn aligned<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width = head.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:>w$}  ", w = width[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(head);
    for r in rows {
        out.push_str(&line(&r.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks(lines: &str) -> Folded {
        Folded::parse(lines)
    }

    #[test]
    fn self_is_the_leaf_and_total_is_anywhere_on_the_stack() {
        let rows = functions(&stacks("main;serve;rank 80\nmain;serve;parse 15\nmain 5\n"));
        let by = |f: &str| rows.iter().find(|r| r.function == f).cloned();
        assert_eq!(rows[0].function, "rank");
        assert_eq!(
            by("rank").map(|r| (r.self_samples, r.total, r.self_pct)),
            Some((80, 80, 80.0))
        );
        assert_eq!(
            by("serve").map(|r| (r.self_samples, r.total, r.total_pct)),
            Some((0, 95, 95.0))
        );
        assert_eq!(
            by("main").map(|r| (r.self_samples, r.total)),
            Some((5, 100))
        );
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn recursion_counts_once_per_sample() {
        let rows = functions(&stacks("main;fib;fib;fib 10\n"));
        let fib = rows
            .iter()
            .find(|r| r.function == "fib")
            .map(|r| (r.self_samples, r.total));
        assert_eq!(fib, Some((10, 10)));
    }

    #[test]
    fn an_empty_profile_has_no_rows() {
        assert!(functions(&Folded::default()).is_empty());
    }

    #[test]
    fn the_table_is_aligned() {
        let text = render(&functions(&stacks("main;rank 3\nmain 1\n")));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "SELF%  SELF  TOTAL%  TOTAL  FUNCTION");
        assert_eq!(lines[1], " 75.0     3    75.0      3  rank");
        assert_eq!(lines[2], " 25.0     1   100.0      4  main");
    }
}
