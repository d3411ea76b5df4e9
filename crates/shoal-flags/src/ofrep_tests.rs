//! Tests of OFREP: bodies parsed or refused, flags evaluated from a context, the wire form.

use serde_json::json;

use super::*;
use crate::{Constraint, Flag, Variant};

fn ctx(body: Value) -> Context {
    parse_context(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn set() -> FlagSet {
    let mut on = Flag::new("on");
    on.enabled = true;
    let off = Flag::new("off");
    let mut half = Flag::new("half");
    half.enabled = true;
    half.rollout = 50.0;
    let mut de = Flag::new("de");
    de.enabled = true;
    de.constraints = vec![
        Constraint::HeaderEquals {
            header: "X-Country".into(),
            value: "DE".into(),
        },
        Constraint::PathPrefix {
            prefix: "/shop".into(),
        },
    ];
    let mut color = Flag::new("color");
    color.enabled = true;
    color.variants = vec![
        Variant {
            name: "blue".into(),
            weight: 1,
        },
        Variant {
            name: "green".into(),
            weight: 1,
        },
    ];
    FlagSet::new(&[on, off, half, de, color])
}

#[test]
fn bodies_parse_into_contexts() {
    let c = ctx(
        json!({"context": {"targetingKey": "u1", "X-Country": "DE", "tier": 3, "beta": true, "nested": {"a": 1}, "list": [1]}}),
    );
    assert_eq!(c.targeting_key.as_deref(), Some("u1"));
    let mut attributes = c.attributes.clone();
    attributes.sort();
    assert_eq!(
        attributes,
        [
            ("X-Country".to_owned(), "DE".to_owned()),
            ("beta".to_owned(), "true".to_owned()),
            ("tier".to_owned(), "3".to_owned()),
        ]
    );
    assert_eq!(parse_context(b""), Ok(Context::default()));
    assert_eq!(parse_context(b" {} "), Ok(Context::default()));
    assert_eq!(
        parse_context(br#"{"context": null}"#),
        Ok(Context::default())
    );
}

#[test]
fn malformed_bodies_are_refused_with_the_right_code() {
    let code = |body: &[u8]| parse_context(body).map_err(|e| (e.error_code, e.error_details));
    let (c, msg) = code(b"{\"context\": ")
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(c, ErrorCode::ParseError);
    assert!(msg.starts_with("the body is not valid JSON: "), "{msg}");
    assert_eq!(
        code(b"[1]"),
        Err((ErrorCode::ParseError, "the body must be a JSON object like {\"context\": {\"targetingKey\": \"user-1\"}}, found an array".to_owned()))
    );
    assert_eq!(
        code(br#"{"context": "u1"}"#),
        Err((
            ErrorCode::InvalidContext,
            "`context` must be an object, found a string".to_owned()
        ))
    );
    assert_eq!(
        code(br#"{"context": {"targetingKey": 5}}"#),
        Err((
            ErrorCode::InvalidContext,
            "`targetingKey` must be a string, found a number".to_owned()
        ))
    );
    assert_eq!(ErrorCode::InvalidContext.status(), 400);
    assert_eq!(ErrorCode::FlagNotFound.status(), 404);
}

#[test]
fn single_flags_evaluate_from_the_context() {
    let s = set();
    let empty = Context::default();
    let one = |key: &str, c: &Context| evaluate_one(&s, key, c);
    let on = one("on", &empty).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        serde_json::to_value(&on).ok(),
        Some(json!({"key": "on", "value": true, "reason": "STATIC", "variant": "on"}))
    );
    let off = one("off", &empty).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        (off.value, off.reason, off.variant.as_str()),
        (json!(false), OfrepReason::Disabled, "off")
    );
    // Unknown flag.
    let err = one("nope", &empty).err().unwrap_or_else(|| panic!("found"));
    assert_eq!(
        serde_json::to_value(&err).ok(),
        Some(
            json!({"key": "nope", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "no flag named `nope`"})
        )
    );
    // A partial rollout needs a key.
    let err = one("half", &empty)
        .err()
        .unwrap_or_else(|| panic!("evaluated"));
    assert_eq!(
        (err.error_code, err.key.as_deref()),
        (ErrorCode::TargetingKeyMissing, Some("half"))
    );
    let by_key = one("half", &ctx(json!({"context": {"targetingKey": "u1"}})));
    let by_header = one("half", &ctx(json!({"context": {"x_user_id": "u1"}})));
    assert_eq!(by_key.map(|s| s.value), by_header.map(|s| s.value));
    // Constraints read attributes by header name, any case or snake case, and `path`.
    let de = |body| one("de", &ctx(body)).map(|s| (s.value, s.reason));
    assert_eq!(
        de(json!({"context": {"x-country": "DE", "path": "/shop/cart"}})),
        Ok((json!(true), OfrepReason::Static))
    );
    assert_eq!(
        de(json!({"context": {"x_country": "DE", "path": "/shop"}})),
        Ok((json!(true), OfrepReason::Static))
    );
    assert_eq!(
        de(json!({"context": {"x_country": "DE"}})),
        Ok((json!(false), OfrepReason::TargetingMatch))
    );
    assert_eq!(
        de(json!({"context": {"X-Country": "FR", "path": "/shop"}})),
        Ok((json!(false), OfrepReason::TargetingMatch))
    );
    // Variant flags answer the variant.
    let color = one("color", &ctx(json!({"context": {"targetingKey": "u1"}})))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(color.value, json!(color.variant));
    assert_eq!(color.reason, OfrepReason::Split);
}

#[test]
fn bulk_answers_every_flag_with_errors_inline() {
    let s = set();
    let resp = evaluate_bulk(&s, &Context::default());
    let json = serde_json::to_value(&resp).unwrap_or_default();
    let keys: Vec<&str> = json["flags"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["color", "de", "half", "off", "on"]);
    assert_eq!(
        json["flags"][2]["errorCode"],
        json!("TARGETING_KEY_MISSING")
    );
    assert_eq!(json["flags"][4]["value"], json!(true));
    // The wire form reads back.
    let back: BulkResponse = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, resp);
    assert!(matches!(back.flags[2], BulkItem::Error(_)));
}
