//! Parses filter tokens into an [`Expr`] of [`Match`]es, with go-bexpr's grammar:
//!
//! ```text
//! or    := and ("or" and)*
//! and   := not ("and" not)*
//! not   := "not" not | "(" or ")" | match
//! match := selector ("==" | "!=" | ["not"] "contains" | ["not"] "matches") value
//!        | selector "is" ["not"] "empty"
//!        | value ["not"] "in" selector
//! selector := ident ("." ident | "[" string "]")*
//! value := string | number | selector (read as its dotted text)
//! ```
//!
//! Nesting (parentheses and `not`) is limited to [`MAX_DEPTH`] so no input can exhaust
//! the stack.

use super::ast::{Expr, Literal, Match, Op, Selector};
use super::lexer::{lex, Tok, Token};
use super::FilterError;

/// The deepest nesting of parentheses and `not` an expression may have.
pub const MAX_DEPTH: usize = 64;

/// The expression `src` as a tree.
pub fn parse(src: &str) -> Result<Expr<Match>, FilterError> {
    let tokens = lex(src)?;
    let mut p = Parser { src, tokens, at: 0 };
    let expr = p.or(0)?;
    match p.peek() {
        Tok::End => Ok(expr),
        Tok::RParen => Err(p.error_here("unmatched \")\"")),
        _ => Err(p.error_here(format!(
            "expected \"and\", \"or\" or the end of the expression, found {}",
            p.describe()
        ))),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn token(&self) -> &Token {
        // `lex` always ends with `End`, and `bump` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.at + n).min(self.tokens.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.token().clone();
        if t.tok != Tok::End {
            self.at += 1;
        }
        t
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn word_at(&self, n: usize, word: &str) -> bool {
        matches!(self.peek_at(n), Tok::Ident(w) if w == word)
    }

    fn error_here(&self, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.src, self.token().pos, msg)
    }

    fn describe(&self) -> String {
        match self.peek() {
            Tok::Ident(w) => format!("{w:?}"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Num(n) => format!("the number {n}"),
            Tok::Eq => "\"==\"".into(),
            Tok::Ne => "\"!=\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Dot => "\".\"".into(),
            Tok::End => "the end of the expression".into(),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr<Match>, FilterError> {
        let mut terms = vec![self.and(depth)?];
        while self.is_word("or") {
            self.bump();
            terms.push(self.and(depth)?);
        }
        Ok(flatten(terms, Expr::Or))
    }

    fn and(&mut self, depth: usize) -> Result<Expr<Match>, FilterError> {
        let mut terms = vec![self.not(depth)?];
        while self.is_word("and") {
            self.bump();
            terms.push(self.not(depth)?);
        }
        Ok(flatten(terms, Expr::And))
    }

    fn not(&mut self, depth: usize) -> Result<Expr<Match>, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(self.error_here(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )));
        }
        if self.is_word("not") {
            self.bump();
            return Ok(match self.not(depth + 1)? {
                Expr::Not(inner) => *inner, // not not x == x, as go-bexpr
                e => Expr::Not(Box::new(e)),
            });
        }
        if *self.peek() == Tok::LParen {
            let open = self.bump();
            let e = self.or(depth + 1)?;
            if *self.peek() != Tok::RParen {
                return Err(FilterError::new(
                    self.src,
                    open.pos,
                    format!(
                        "unmatched \"(\": found {} where \")\" was expected",
                        self.describe()
                    ),
                ));
            }
            self.bump();
            return Ok(e);
        }
        self.matching().map(Expr::Match)
    }

    fn matching(&mut self) -> Result<Match, FilterError> {
        let first = self.token().clone();
        match &first.tok {
            Tok::Ident(_) => {
                let sel = self.selector()?;
                if self.is_word("in") || (self.is_word("not") && self.word_at(1, "in")) {
                    let value = Literal {
                        raw: sel.dotted(),
                        pos: sel.pos,
                    };
                    return self.value_in(value);
                }
                self.selector_op(sel)
            }
            Tok::Str(s) | Tok::Num(s) => {
                let value = Literal {
                    raw: s.clone(),
                    pos: first.pos,
                };
                self.bump();
                if self.is_word("in") || (self.is_word("not") && self.word_at(1, "in")) {
                    self.value_in(value)
                } else {
                    Err(self.error_here(format!(
                        "expected \"in\" or \"not in\" after a value, found {}",
                        self.describe()
                    )))
                }
            }
            _ => Err(self.error_here(format!(
                "expected a selector, a value or \"(\", found {}",
                self.describe()
            ))),
        }
    }

    /// `<value> [not] in <selector>`, the value already read.
    fn value_in(&mut self, value: Literal) -> Result<Match, FilterError> {
        let op = if self.is_word("not") {
            self.bump();
            Op::NotIn
        } else {
            Op::In
        };
        self.bump(); // "in"
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Err(self.error_here(format!(
                "expected a selector after \"{}\", found {}",
                op.as_str(),
                self.describe()
            )));
        }
        let selector = self.selector()?;
        Ok(Match {
            selector,
            op,
            value: Some(value),
        })
    }

    /// The operator and value after a selector.
    fn selector_op(&mut self, selector: Selector) -> Result<Match, FilterError> {
        let expected = || {
            "expected an operator (==, !=, is empty, is not empty, contains, not contains, \
             matches, not matches, in, not in)"
        };
        let op = match self.peek().clone() {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Ident(w) => match w.as_str() {
                "contains" => Op::In,
                "matches" => Op::Matches,
                "not" if self.word_at(1, "contains") => {
                    self.bump();
                    Op::NotIn
                }
                "not" if self.word_at(1, "matches") => {
                    self.bump();
                    Op::NotMatches
                }
                "is" => {
                    self.bump();
                    let op = if self.is_word("not") {
                        self.bump();
                        Op::IsNotEmpty
                    } else {
                        Op::IsEmpty
                    };
                    if !self.is_word("empty") {
                        return Err(self.error_here(format!(
                            "expected \"empty\" after \"{}\", found {}",
                            if op == Op::IsEmpty { "is" } else { "is not" },
                            self.describe()
                        )));
                    }
                    self.bump();
                    return Ok(Match {
                        selector,
                        op,
                        value: None,
                    });
                }
                _ => {
                    return Err(self.error_here(format!(
                        "{} after the selector {:?}, found {}",
                        expected(),
                        selector.dotted(),
                        self.describe()
                    )))
                }
            },
            _ => {
                return Err(self.error_here(format!(
                    "{} after the selector {:?}, found {}",
                    expected(),
                    selector.dotted(),
                    self.describe()
                )))
            }
        };
        self.bump();
        let value = self.value(op)?;
        Ok(Match {
            selector,
            op,
            value: Some(value),
        })
    }

    fn value(&mut self, op: Op) -> Result<Literal, FilterError> {
        let t = self.token().clone();
        match t.tok {
            Tok::Str(s) | Tok::Num(s) => {
                self.bump();
                Ok(Literal { raw: s, pos: t.pos })
            }
            Tok::Ident(_) => {
                let sel = self.selector()?;
                Ok(Literal {
                    raw: sel.dotted(),
                    pos: sel.pos,
                })
            }
            _ => Err(self.error_here(format!(
                "expected a value after \"{}\", found {}",
                op.as_str(),
                self.describe()
            ))),
        }
    }

    /// `ident ("." ident | "[" string "]")*`, with no space before `.` or `[`.
    fn selector(&mut self) -> Result<Selector, FilterError> {
        let first = self.bump();
        let Tok::Ident(name) = first.tok else {
            return Err(FilterError::new(self.src, first.pos, "expected a selector"));
        };
        let mut parts = vec![name];
        loop {
            let t = self.token();
            if t.spaced {
                break;
            }
            match t.tok {
                Tok::Dot => {
                    self.bump();
                    let t = self.token().clone();
                    match t.tok {
                        Tok::Ident(name) if !t.spaced => {
                            self.bump();
                            parts.push(name);
                        }
                        _ => {
                            return Err(self.error_here(format!(
                                "expected a field name after \".\", found {}",
                                self.describe()
                            )))
                        }
                    }
                }
                Tok::LBracket => {
                    self.bump();
                    let t = self.token().clone();
                    let Tok::Str(key) = t.tok else {
                        return Err(self.error_here(format!(
                            "invalid index: expected a quoted key after \"[\", found {}",
                            self.describe()
                        )));
                    };
                    self.bump();
                    if *self.peek() != Tok::RBracket {
                        return Err(self.error_here(format!(
                            "unclosed index expression: expected \"]\", found {}",
                            self.describe()
                        )));
                    }
                    self.bump();
                    parts.push(key);
                }
                _ => break,
            }
        }
        Ok(Selector {
            parts,
            pos: first.pos,
        })
    }
}

fn flatten(mut terms: Vec<Expr<Match>>, make: fn(Vec<Expr<Match>>) -> Expr<Match>) -> Expr<Match> {
    if terms.len() == 1 {
        terms.remove(0)
    } else {
        make(terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(parts: &[&str], pos: usize, op: Op, value: Option<(&str, usize)>) -> Expr<Match> {
        Expr::Match(Match {
            selector: Selector {
                parts: parts.iter().map(|s| s.to_string()).collect(),
                pos,
            },
            op,
            value: value.map(|(raw, pos)| Literal {
                raw: raw.into(),
                pos,
            }),
        })
    }

    fn ok(src: &str) -> Expr<Match> {
        parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn err(src: &str) -> FilterError {
        match parse(src) {
            Ok(e) => panic!("{src:?} parsed: {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_operator_form() {
        let s = Some;
        assert_eq!(ok("A == \"x\""), m(&["A"], 0, Op::Eq, s(("x", 5))));
        assert_eq!(ok("A!=x"), m(&["A"], 0, Op::Ne, s(("x", 3))));
        assert_eq!(ok("A is empty"), m(&["A"], 0, Op::IsEmpty, None));
        assert_eq!(ok("A is not empty"), m(&["A"], 0, Op::IsNotEmpty, None));
        assert_eq!(ok("\"x\" in A.B"), m(&["A", "B"], 7, Op::In, s(("x", 0))));
        assert_eq!(ok("x not in A"), m(&["A"], 9, Op::NotIn, s(("x", 0))));
        assert_eq!(ok("A contains `x`"), m(&["A"], 0, Op::In, s(("x", 11))));
        assert_eq!(
            ok("A not contains 5"),
            m(&["A"], 0, Op::NotIn, s(("5", 15)))
        );
        assert_eq!(
            ok("A matches \"^a\""),
            m(&["A"], 0, Op::Matches, s(("^a", 10)))
        );
        assert_eq!(
            ok("A not matches \"^a\""),
            m(&["A"], 0, Op::NotMatches, s(("^a", 14)))
        );
    }

    #[test]
    fn selectors_dotted_and_indexed() {
        let e = ok("Service.Meta[\"a b\"].c == Node.Name");
        assert_eq!(
            e,
            m(
                &["Service", "Meta", "a b", "c"],
                0,
                Op::Eq,
                Some(("Node.Name", 25))
            )
        );
        assert_eq!(
            ok("M[ \"k\" ] is empty"),
            m(&["M", "k"], 0, Op::IsEmpty, None)
        );
        assert!(err("M [\"k\"] is empty")
            .message
            .contains("expected an operator"));
        assert!(err("A. B == x").message.contains("field name"));
        assert!(err("A[k] == x").message.contains("invalid index"));
        assert!(err("A[\"k\" == x").message.contains("unclosed index"));
    }

    #[test]
    fn precedence_not_and_or() {
        let e = ok("not A == 1 and B == 2 or C == 3");
        let Expr::Or(terms) = e else {
            panic!("not an or: {e:?}")
        };
        assert_eq!(terms.len(), 2);
        let Expr::And(ref ands) = terms[0] else {
            panic!("{:?}", terms[0])
        };
        assert!(matches!(ands[0], Expr::Not(_)));
        assert_eq!(ok("not not A == 1"), m(&["A"], 8, Op::Eq, Some(("1", 13))));
        assert_eq!(ok("((A == 1))"), m(&["A"], 2, Op::Eq, Some(("1", 7))));
        let chain = vec!["A == 1"; 5000].join(" and ");
        assert!(matches!(ok(&chain), Expr::And(v) if v.len() == 5000));
    }

    #[test]
    fn errors_say_where() {
        let e = err("Service.Tags contains");
        assert_eq!(e.offset, 21);
        assert!(e.message.contains("expected a value"), "{e}");
        let e = err("(A == 1");
        assert_eq!((e.offset, e.message.contains("unmatched \"(\"")), (0, true));
        assert_eq!(err("A == 1)").message, "unmatched \")\"");
        assert!(err("A == 1 B == 2").message.contains("expected \"and\""));
        assert!(err("A is full").message.contains("expected \"empty\""));
        assert!(err("\"x\" == A").message.contains("expected \"in\""));
        assert!(err("\"x\" in \"y\"")
            .message
            .contains("expected a selector"));
        assert!(err("").message.contains("expected a selector"));
        assert!(err("A").message.contains("expected an operator"));
        assert!(err("and").message.contains("expected an operator"));
        let deep = format!("{}A == 1{}", "(".repeat(100), ")".repeat(100));
        assert!(err(&deep).message.contains("nested"));
        assert!(err(&"not ".repeat(100)).message.contains("nested"));
    }
}
