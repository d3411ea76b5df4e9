//! Property tests: parsing never panics, on random text or on mutations of the valid DESIGN example.

mod common;

use std::path::Path;

use proptest::prelude::*;
use shoal_spec::{fuzz_parse, parse_str_with, AssumeExists, Spec};

const EXAMPLE: &str = include_str!("fixtures/full.toml");

/// Fragments that tend to reach interesting parser and validator paths.
const SNIPPETS: &[&str] = &[
    "=",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    ",",
    ".",
    "\n",
    "#",
    "${",
    "${kv:",
    "}",
    "$$",
    "0",
    "-1",
    "1e999",
    "nan",
    "inf",
    "99999999999999999999",
    "\"\"",
    "[]",
    "{}",
    "true",
    "\"0s\"",
    "\"1h30m\"",
    "\"-5s\"",
    "[[services]]\n",
    "[services.x]\n",
    "[services.x.health]\n",
    "instances = ",
    "command = ",
    "tcp = true\n",
    "exec = []\n",
    "version = \"22\"\n",
    "[services.profile.versions.23]\n",
    "steps = [100, 50]",
    "callers = { a = 1 }",
    "\"127.0.0.1:8500\"",
    "\"0.0.0.0:0\"",
    "port_range = \"1-2\"\n",
    "é",
    "\u{0}",
    "\\u0000",
    "\"\"\"",
    "'''",
    "2024-01-01T00:00:00Z",
    "a.b.c = 1\n",
    "[flags.\"\"]\n",
    "max = 0\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, snippet: usize },
    Replace { at: usize, with: char },
    SwapLines { a: usize, b: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, snippet)| Mutation::Insert { at, snippet }),
        (any::<usize>(), any::<char>()).prop_map(|(at, with)| Mutation::Replace { at, with }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn apply(src: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for m in mutations {
        let n = chars.len().max(1);
        match *m {
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Mutation::Insert { at, snippet } => {
                let at = at % (chars.len() + 1);
                let text = SNIPPETS[snippet % SNIPPETS.len()];
                chars.splice(at..at, text.chars());
            }
            Mutation::Replace { at, with } => {
                if !chars.is_empty() {
                    let at = at % chars.len();
                    chars[at] = with;
                }
            }
            Mutation::SwapLines { a, b } => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let (a, b) = (a % lines.len(), b % lines.len());
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Parses without panicking and checks the result is well-formed either way.
fn check(src: &str) {
    match parse_str_with(src, "f.toml", Path::new("/base"), &AssumeExists) {
        Ok(spec) => {
            let json = serde_json::to_string(&spec).expect("a spec serializes");
            let back: Spec = serde_json::from_str(&json).expect("a spec deserializes");
            assert_eq!(back, spec);
        }
        Err(e) => {
            assert!(
                !e.diagnostics.is_empty(),
                "a refused file has at least one diagnostic"
            );
            let lines = src.split('\n').count();
            for d in &e.diagnostics {
                assert_eq!(d.file, "f.toml");
                assert!(
                    d.line >= 1 && d.line <= lines,
                    "{d} is outside the {lines} lines of:\n{src}"
                );
                assert!(d.column >= 1, "{d}");
                assert!(!d.message.is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(src in any::<String>()) {
        check(&src);
    }

    #[test]
    fn random_toml_looking_text_never_panics(src in "[\\[\\]{}=\"'.,a-z0-9_ \\n$#:-]{0,300}") {
        check(&src);
    }

    #[test]
    fn mutated_example_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        check(&apply(EXAMPLE, &mutations));
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = fuzz_parse(&data);
    }
}

#[test]
fn example_itself_is_valid_for_the_fuzzer() {
    assert_eq!(fuzz_parse(EXAMPLE.as_bytes()), 0);
    check(EXAMPLE);
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let src = format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(fuzz_parse(src.as_bytes()) > 0);
    let src = format!("a = {}", "{ b = ".repeat(50_000));
    assert!(fuzz_parse(src.as_bytes()) > 0);
}
