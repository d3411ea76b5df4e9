//! Property tests: the body normaliser and the registration parsers never panic, whatever
//! bytes or JSON they are fed, and normalising is idempotent.

use proptest::prelude::*;
use serde_json::{Map, Value};
use shoal_consul::{normalize, parse_body, parse_check_register, parse_go_duration, parse_service};

/// Field names clients send, in several spellings, plus noise.
const NAMES: &[&str] = &[
    "Name",
    "name",
    "ID",
    "id",
    "Port",
    "port",
    "Tags",
    "Address",
    "Meta",
    "Check",
    "Checks",
    "check",
    "HTTP",
    "http",
    "TCP",
    "TTL",
    "ttl",
    "Interval",
    "Timeout",
    "Status",
    "ServiceID",
    "service_id",
    "DeregisterCriticalServiceAfter",
    "Header",
    "Weights",
    "Passing",
    "Args",
    "CheckID",
    "Notes",
    "SuccessBeforePassing",
    "EnableTagOverride",
    "x",
    "",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9:/._ -]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("10s"),
            Just("1m30s"),
            Just("http://127.0.0.1:1/h"),
            Just("127.0.0.1:80"),
            Just("passing"),
            Just("-1s"),
            Just("1.5.5s")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..8).prop_map(|kvs| {
                Value::Object(
                    kvs.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = parse_body(&bytes) {
            let _ = parse_service(&v, 0);
            let _ = parse_check_register(&v);
        }
    }

    #[test]
    fn json_ish_text_never_panics(text in r#"[\{\}\[\]":,a-zA-Z0-9 ._/-]{0,200}"#) {
        if let Ok(v) = parse_body(text.as_bytes()) {
            let _ = parse_service(&v, 0);
            let _ = parse_check_register(&v);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_normalising_is_idempotent(v in json_value()) {
        let n = normalize(v);
        prop_assert_eq!(normalize(n.clone()), n.clone());
        let _ = parse_service(&n, 0);
        let _ = parse_check_register(&n);
        if let Value::Object(m) = &n {
            let _ = parse_service(&Value::Object(m.clone()), u64::MAX);
        }
    }

    #[test]
    fn durations_never_panic(text in "[0-9.a-zµ+-]{0,20}") {
        let _ = parse_go_duration(&text);
    }
}
