//! Two profiles side by side (`shoal profile --diff A B`): which functions take a
//! bigger share of B's CPU than of A's. Shares, not samples, so profiles of different
//! lengths and rates compare.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::{aligned, round2, FunctionRow};

/// One function's change from A to B, in percentage points of each profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub function: String,
    pub self_a: f64,
    pub self_b: f64,
    pub total_a: f64,
    pub total_b: f64,
}

impl DiffRow {
    /// Change in self share, B minus A.
    pub fn self_delta(&self) -> f64 {
        round2(self.self_b - self.self_a)
    }

    /// Change in total share, B minus A.
    pub fn total_delta(&self) -> f64 {
        round2(self.total_b - self.total_a)
    }
}

/// Every function of either profile, the biggest growth in self share first (then in
/// total share, then by name); a function missing from one profile has 0 there.
pub fn diff(a: &[FunctionRow], b: &[FunctionRow]) -> Vec<DiffRow> {
    let mut rows: BTreeMap<&str, DiffRow> = BTreeMap::new();
    let blank = |f: &str| DiffRow {
        function: f.to_string(),
        self_a: 0.0,
        self_b: 0.0,
        total_a: 0.0,
        total_b: 0.0,
    };
    for r in a {
        let row = rows
            .entry(&r.function)
            .or_insert_with(|| blank(&r.function));
        row.self_a = r.self_pct;
        row.total_a = r.total_pct;
    }
    for r in b {
        let row = rows
            .entry(&r.function)
            .or_insert_with(|| blank(&r.function));
        row.self_b = r.self_pct;
        row.total_b = r.total_pct;
    }
    let mut out: Vec<DiffRow> = rows.into_values().collect();
    out.sort_by(|x, y| {
        y.self_delta()
            .total_cmp(&x.self_delta())
            .then(y.total_delta().total_cmp(&x.total_delta()))
            .then_with(|| x.function.cmp(&y.function))
    });
    out
}

/// The rows that grew (self or total share up by at least `min` points).
pub fn grown(rows: &[DiffRow], min: f64) -> Vec<DiffRow> {
    rows.iter()
        .filter(|r| r.self_delta() >= min || r.total_delta() >= min)
        .cloned()
        .collect()
}

/// The rows as an aligned table: self A, self B, change; total A, total B, change.
pub fn render(rows: &[DiffRow]) -> String {
    let head = [
        "SELF% A", "SELF% B", "CHANGE", "TOTAL% A", "TOTAL% B", "CHANGE", "FUNCTION",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                format!("{:.1}", r.self_a),
                format!("{:.1}", r.self_b),
                format!("{:+.1}", r.self_delta()),
                format!("{:.1}", r.total_a),
                format!("{:.1}", r.total_b),
                format!("{:+.1}", r.total_delta()),
                r.function.clone(),
            ]
        })
        .collect();
    aligned(&head, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folded::Folded;
    use crate::table::functions;

    fn table(text: &str) -> Vec<FunctionRow> {
        functions(&Folded::parse(text))
    }

    #[test]
    fn functions_that_grew_come_first() {
        let v1 = table("main;serve;parse 80\nmain;serve;rank 20\n");
        let v2 = table("main;serve;parse 40\nmain;serve;rank 50\nmain;serve;log 10\n");
        let rows = diff(&v1, &v2);
        assert_eq!(rows[0].function, "rank");
        assert_eq!(
            (rows[0].self_a, rows[0].self_b, rows[0].self_delta()),
            (20.0, 50.0, 30.0)
        );
        assert_eq!(rows[1].function, "log");
        assert_eq!(rows[1].self_a, 0.0);
        let last = rows.last().map(|r| (r.function.as_str(), r.self_delta()));
        assert_eq!(last, Some(("parse", -40.0)));
        let up: Vec<String> = grown(&rows, 0.5).into_iter().map(|r| r.function).collect();
        assert_eq!(up, ["rank", "log"]);
    }

    #[test]
    fn a_profile_against_itself_changes_nothing() {
        let v1 = table("main;a 3\nmain;b 1\n");
        let rows = diff(&v1, &v1);
        assert!(rows
            .iter()
            .all(|r| r.self_delta() == 0.0 && r.total_delta() == 0.0));
        assert!(grown(&rows, 0.01).is_empty());
    }

    #[test]
    fn the_table_signs_changes() {
        let text = render(&diff(&table("a 1\nb 1\n"), &table("a 3\nb 1\n")));
        let second = text.lines().nth(1).unwrap_or_default().to_string();
        assert!(second.contains("+25.0") && second.ends_with('a'), "{text}");
        assert!(text.contains("-25.0"), "{text}");
    }
}
