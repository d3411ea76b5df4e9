//! Consul's `filter` query parameter: go-bexpr expressions (`Service.Tags contains "v2"
//! and Checks.Status == passing`) parsed, checked against the shape of an endpoint's
//! answer, and run over each entry of it.
//!
//! Semantics follow go-bexpr as Consul uses it: a selector that goes on past a list
//! matches if any element matches; a missing map key equals nothing (so `!=` and
//! `not in` hold); values are read as the selected field's type; `matches` is an
//! unanchored regular expression (Rust's `regex`, close to Go's RE2 syntax).
//!
//! - `lexer.rs`, `parser.rs` → `ast.rs`: the syntax, errors located by line and column.
//! - `schema.rs`: the shapes of the filtered JSON; `compile.rs`: selectors and operators
//!   checked against them; `eval.rs`: the evaluator.

mod ast;
mod compile;
mod eval;
mod lexer;
mod parser;
pub mod schema;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use parser::MAX_DEPTH;
pub use schema::Shape;

/// Why an expression was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at line {line}, column {column})")]
pub struct FilterError {
    pub message: String,
    /// Byte offset into the expression.
    pub offset: usize,
    /// 1-based line and column (in characters) of `offset`.
    pub line: usize,
    pub column: usize,
}

impl FilterError {
    fn new(src: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(src.len());
        let before = src.get(..offset).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        FilterError {
            message: message.into(),
            offset,
            line,
            column,
        }
    }
}

/// A checked filter for values of one shape.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: ast::Expr<compile::Checked>,
}

impl Filter {
    /// Parses `src` and checks it against `shape` (the shape of each filtered entry).
    pub fn new(src: &str, shape: &'static Shape) -> Result<Filter, FilterError> {
        let expr = parser::parse(src)?;
        Ok(Filter {
            expr: compile::check(expr, shape, src)?,
        })
    }

    /// Whether `entry` passes.
    pub fn matches(&self, entry: &Value) -> bool {
        eval::eval(&self.expr, entry)
    }
}

/// Whether `entry` passes an optional filter (no filter passes everything).
pub fn passes(filter: Option<&Filter>, entry: &Value) -> bool {
    filter.is_none_or(|f| f.matches(entry))
}
