//! The syntax tree of a filter expression, generic over its leaves: parsed [`Match`]es,
//! then the checked matches the evaluator runs.

/// A boolean expression. `and`/`or` are n-ary so long chains never nest deeply.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<M> {
    And(Vec<Expr<M>>),
    Or(Vec<Expr<M>>),
    Not(Box<Expr<M>>),
    Match(M),
}

/// A matching operator (`contains` is `in` with its operands swapped, as in go-bexpr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    IsEmpty,
    IsNotEmpty,
    In,
    NotIn,
    Matches,
    NotMatches,
}

impl Op {
    /// How the operator reads in an expression (for error messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::IsEmpty => "is empty",
            Op::IsNotEmpty => "is not empty",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Matches => "matches",
            Op::NotMatches => "not matches",
        }
    }

    /// The answer when the selector names a map key that is not there (go-bexpr's
    /// "not present disposition"): nothing equals, contains or matches a missing value.
    pub fn when_absent(self) -> bool {
        matches!(self, Op::Ne | Op::NotIn | Op::IsEmpty | Op::NotMatches)
    }

    /// Whether the operator is the negation of its positive form.
    pub fn negated(self) -> bool {
        matches!(self, Op::Ne | Op::NotIn | Op::IsNotEmpty | Op::NotMatches)
    }
}

/// A selector: `Service.Meta.env`, `NodeMeta["a key"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub parts: Vec<String>,
    /// Byte offset of its first character.
    pub pos: usize,
}

impl Selector {
    /// The dotted form, as go-bexpr prints it.
    pub fn dotted(&self) -> String {
        self.parts.join(".")
    }
}

/// A literal value as written: a string's contents, a number's text, or a bare
/// selector's dotted form (go-bexpr reads `Status == passing` as the string "passing").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    pub raw: String,
    pub pos: usize,
}

/// One matching expression as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub selector: Selector,
    pub op: Op,
    /// `None` for `is empty` / `is not empty`.
    pub value: Option<Literal>,
}
