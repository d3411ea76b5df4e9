//! Property tests of the `filter` parser and evaluator: arbitrary text and generated
//! near-valid expressions never panic, and an accepted expression evaluates (without
//! panicking) over arbitrary JSON; a refused one always says where.

use proptest::prelude::*;
use serde_json::Value;
use shoal_consul::filter::{schema, Filter, Shape};

const SHAPES: &[&Shape] = &[
    &schema::NODE,
    &schema::AGENT_SERVICE,
    &schema::HEALTH_ENTRY,
    &schema::CHECK,
    &schema::CATALOG_SERVICE,
];

/// Pieces of expressions: selectors of every kind, operators, values, logic, and noise.
const PIECES: &[&str] = &[
    "Service.Tags",
    "Service.Meta.env",
    "Service.Meta[\"a b\"]",
    "Checks.Status",
    "Checks",
    "Node.Meta",
    "Node.Node",
    "Tags",
    "Meta.x",
    "Port",
    "Service.Port",
    "EnableTagOverride",
    "ServiceTags",
    "Status",
    "NodeMeta",
    "Nope.Nope",
    "Weights.Passing",
    "Weights",
    "==",
    "!=",
    "is empty",
    "is not empty",
    "in",
    "not in",
    "contains",
    "not contains",
    "matches",
    "not matches",
    "and",
    "or",
    "not",
    "(",
    ")",
    "[",
    "]",
    ".",
    "\"v1\"",
    "`raw`",
    "passing",
    "8080",
    "-1",
    "0.5",
    "true",
    "\"^a.*\"",
    "\"(\"",
    "\"\\x41\"",
    "\"",
    "`",
    "=",
    "!",
    "\\",
    "é",
    "08",
    "\n",
];

fn near_valid() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(PIECES), any::<bool>()), 0..24).prop_map(|parts| {
        let mut s = String::new();
        for (p, space) in parts {
            s.push_str(p);
            if space {
                s.push(' ');
            }
        }
        s
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(
                    &["Service", "Tags", "Meta", "Checks", "Status", "Node", "Port", "env", "x"][..]
                ),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn exercise(src: &str, shape: &'static Shape, data: &Value) {
    match Filter::new(src, shape) {
        Ok(f) => {
            let _ = f.matches(data);
        }
        Err(e) => {
            assert!(e.offset <= src.len(), "{e:?} for {src:?}");
            assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            assert!(!e.message.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(src in ".{0,80}", shape in 0..SHAPES.len(), data in json_value()) {
        exercise(&src, SHAPES[shape], &data);
    }

    #[test]
    fn near_valid_expressions_never_panic(src in near_valid(), shape in 0..SHAPES.len(), data in json_value()) {
        exercise(&src, SHAPES[shape], &data);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed(depth in 0usize..400, nots in 0usize..400) {
        let src = format!("{}{}Tags is empty{}", "not ".repeat(nots), "(".repeat(depth), ")".repeat(depth));
        let accepted = Filter::new(&src, &schema::AGENT_SERVICE).is_ok();
        prop_assert_eq!(accepted, depth + nots < shoal_consul::filter::MAX_DEPTH);
    }
}
