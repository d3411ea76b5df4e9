//! Tests of `[services.S.scale]`: defaults, every field read, every bad value refused at its `LINE:COLUMN`, older stored specs.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::{parse_str_with, AssumeExists, Spec};

const HEAD: &str = "[services.a]\ncommand = \"x\"\n";

fn parse(src: &str) -> Result<Spec, Vec<String>> {
    parse_str_with(src, "shoal.toml", Path::new("/app"), &AssumeExists).map_err(|e| {
        e.diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    })
}

/// The scale spec of service `a` given the rest of the file after its command (line 3 on).
fn scale(rest: &str) -> ScaleSpec {
    match parse(&format!("{HEAD}{rest}")) {
        Ok(spec) => match spec.services.get("a").and_then(|s| s.scale.clone()) {
            Some(sc) => sc,
            None => panic!("no scale for a"),
        },
        Err(e) => panic!("expected a valid file, got {e:#?}"),
    }
}

/// The diagnostics of a file whose lines after the command (line 3 on) are `rest`.
fn errors(rest: &str) -> Vec<String> {
    match parse(&format!("{HEAD}{rest}")) {
        Ok(_) => panic!("expected errors, the file was accepted:\n{rest}"),
        Err(e) => e,
    }
}

#[test]
fn a_bare_table_is_all_defaults() {
    let sc = scale("[services.a.scale]\n");
    assert_eq!(sc, ScaleSpec::default());
    assert_eq!(
        (sc.min, sc.max, sc.target.as_ref()),
        (1, 10, None::<&ScaleTarget>)
    );
    assert_eq!(sc.tolerance, 0.1);
    assert_eq!(sc.max_step_up, 2.0);
    assert_eq!(sc.idle_after, Duration::from_secs(300));
}

#[test]
fn every_field_is_read() {
    let sc = scale(
        r#"[services.a.scale]
min = 0
max = 8
target = { rps = 50, metric = { name = "queue_depth", per_instance = 100, kind = "rate" } }
up_cooldown = "10s"
down_stabilization = "2m"
tolerance = 0.2
max_step_up = 1.5
idle_after = "10m"
"#,
    );
    assert_eq!(
        sc,
        ScaleSpec {
            min: 0,
            max: 8,
            target: Some(ScaleTarget {
                rps: Some(50.0),
                metric: Some(MetricTarget {
                    name: "queue_depth".into(),
                    per_instance: 100.0,
                    kind: MetricKind::Rate,
                }),
                ..ScaleTarget::default()
            }),
            up_cooldown: Duration::from_secs(10),
            down_stabilization: Duration::from_secs(120),
            tolerance: 0.2,
            max_step_up: 1.5,
            idle_after: Duration::from_secs(600),
        }
    );
}

#[test]
fn a_metric_alone_is_a_target_and_its_kind_defaults_to_gauge() {
    let sc = scale(
        "[services.a.scale]\ntarget = { metric = { name = \"jobs.waiting\", per_instance = 2.5 } }\n",
    );
    let m = sc.target.and_then(|t| t.metric).expect("metric");
    assert_eq!(
        m,
        MetricTarget {
            name: "jobs.waiting".into(),
            per_instance: 2.5,
            kind: MetricKind::Gauge,
        }
    );
    assert_eq!(m.kind.as_str(), "gauge");
    assert_eq!(MetricKind::Rate.as_str(), "rate");
}

#[test]
fn the_metric_table_may_be_written_as_a_section() {
    let src = format!(
        "{HEAD}[services.a.scale.target.metric]\nname = \"queue_depth\"\nper_instance = 10\n"
    );
    let spec = parse(&src).expect("valid");
    let sc = spec.services["a"].scale.clone().expect("scale");
    let m = sc.target.and_then(|t| t.metric).expect("metric");
    assert_eq!((m.name.as_str(), m.per_instance), ("queue_depth", 10.0));
    let section = spec
        .section("services.a.scale.target.metric")
        .expect("recorded as a section");
    assert_eq!(section.location.to_string(), "shoal.toml:3:1");
}

#[test]
fn edge_values_are_accepted() {
    let sc = scale("[services.a.scale]\ntolerance = 0\nmax_step_up = 1.0001\n");
    assert_eq!((sc.tolerance, sc.max_step_up), (0.0, 1.0001));
    let sc = scale("[services.a.scale]\ntolerance = 0.999\nmax_step_up = 100\n");
    assert_eq!((sc.tolerance, sc.max_step_up), (0.999, 100.0));
    let sc = scale("[services.a.scale]\nmin = 0\nidle_after = \"1ms\"\n");
    assert_eq!(sc.idle_after, Duration::from_millis(1));
}

#[test]
fn bad_pacing_values_are_refused_where_they_are() {
    let cases = [
        (
            "tolerance = 1",
            "4:13: `tolerance` must be at least 0 and less than 1, found 1",
        ),
        (
            "tolerance = -0.1",
            "4:13: `tolerance` must be at least 0 and less than 1, found -0.1",
        ),
        (
            "tolerance = \"10%\"",
            "4:13: `tolerance` must be a number, found a string",
        ),
        (
            "tolerance = nan",
            "4:13: `tolerance` must be a finite number",
        ),
        (
            "max_step_up = 1",
            "4:15: `max_step_up` must be greater than 1, found 1",
        ),
        (
            "max_step_up = 0.5",
            "4:15: `max_step_up` must be greater than 1, found 0.5",
        ),
        (
            "max_step_up = inf",
            "4:15: `max_step_up` must be a finite number",
        ),
        (
            "max_step_up = true",
            "4:15: `max_step_up` must be a number, found a boolean",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(
            errors(&format!("[services.a.scale]\n{line}\n")),
            [want],
            "{line}"
        );
    }
}

#[test]
fn bad_idle_after_values_are_refused_where_they_are() {
    let cases = [
        (
            "idle_after = \"0s\"",
            "5:14: `idle_after` must be longer than zero",
        ),
        (
            "idle_after = 300",
            "5:14: `idle_after` must be a duration string like \"10s\", found an integer",
        ),
    ];
    for (line, want) in cases {
        let rest = format!("[services.a.scale]\nmin = 0\n{line}\n");
        assert_eq!(errors(&rest), [want], "{line}");
    }
    let e = errors("[services.a.scale]\nmin = 0\nidle_after = \"soon\"\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("5:14: invalid duration \"soon\" for `idle_after`: "),
        "{e:?}"
    );
}

#[test]
fn idle_after_needs_min_zero() {
    assert_eq!(
        errors("[services.a.scale]\nidle_after = \"1m\"\n"),
        [
            "4:1: `idle_after` applies only with `min = 0` (scale to zero), but `min` is 1: \
          set `min = 0` or remove `idle_after`"
        ]
    );
    // Wherever `min` is written.
    assert_eq!(
        errors("[services.a.scale]\nidle_after = \"1m\"\nmin = 2\n"),
        [
            "4:1: `idle_after` applies only with `min = 0` (scale to zero), but `min` is 2: \
          set `min = 0` or remove `idle_after`"
        ]
    );
    let sc = scale("[services.a.scale]\nidle_after = \"1m\"\nmin = 0\n");
    assert_eq!(sc.idle_after, Duration::from_secs(60));
    // A bad `min` is reported once, not again through `idle_after`.
    assert_eq!(
        errors("[services.a.scale]\nmin = -1\nidle_after = \"1m\"\n"),
        ["4:7: `min` must be between 0 and 10000, found -1"]
    );
}

/// `rest` as the value of `metric` in `[services.a.scale.target]` (line 4, value at column 10).
fn metric_errors(value: &str) -> Vec<String> {
    errors(&format!("[services.a.scale.target]\nmetric = {value}\n"))
}

#[test]
fn bad_metric_names_are_refused_where_they_are() {
    let bad_name = |name: &str| {
        format!(
            "4:19: invalid StatsD metric name {name:?} for `name`: use 1 to 200 characters \
             without spaces, control characters, `:` or `|` (e.g. \"queue_depth\")"
        )
    };
    for name in [
        "queue depth",
        "queue:depth",
        "queue|depth",
        "tab\there",
        &"q".repeat(201),
    ] {
        let value = format!("{{ name = {name:?}, per_instance = 1 }}");
        assert_eq!(metric_errors(&value), [bad_name(name)], "{name:?}");
    }
    assert_eq!(
        metric_errors("{ name = \"\", per_instance = 1 }"),
        ["4:19: `name` must not be empty"]
    );
    assert_eq!(
        metric_errors("{ name = 5, per_instance = 1 }"),
        ["4:19: `name` must be a string, found an integer"]
    );
    let longest = "q".repeat(200);
    let sc = scale(&format!(
        "[services.a.scale.target]\nmetric = {{ name = {longest:?}, per_instance = 1 }}\n"
    ));
    assert_eq!(
        sc.target.and_then(|t| t.metric).map(|m| m.name),
        Some(longest)
    );
}

#[test]
fn bad_metric_fields_are_refused_where_they_are() {
    let cases: [(&str, &[&str]); 7] = [
        (
            "{ name = \"q\", per_instance = 0 }",
            &["4:39: `per_instance` must be greater than 0, found 0"],
        ),
        (
            "{ name = \"q\", per_instance = -5 }",
            &["4:39: `per_instance` must be greater than 0, found -5"],
        ),
        (
            "{ name = \"q\", per_instance = 1, kind = \"rates\" }",
            &["4:49: invalid `kind` \"rates\": expected one of `gauge`, `rate` (did you mean `rate`?)"],
        ),
        (
            "{ name = \"q\", per_instance = 1, kind = 1 }",
            &["4:49: `kind` must be a string, found an integer"],
        ),
        (
            "{ name = \"q\", per_instanse = 1 }",
            &[
                "4:1: missing field `per_instance` in [services.a.scale.target.metric]",
                "4:24: unknown field `per_instanse` in [services.a.scale.target.metric] (did you mean `per_instance`?)",
            ],
        ),
        (
            "{ kind = \"gauge\" }",
            &[
                "4:1: missing field `name` in [services.a.scale.target.metric]",
                "4:1: missing field `per_instance` in [services.a.scale.target.metric]",
            ],
        ),
        (
            "\"queue_depth\"",
            &["4:10: `services.a.scale.target.metric` must be a table, found a string"],
        ),
    ];
    for (value, want) in cases {
        assert_eq!(metric_errors(value), want, "{value}");
    }
}

#[test]
fn every_problem_of_a_scale_table_is_reported_at_once() {
    let rest = r#"[services.a.scale]
min = 1
tolerance = 2
max_step_up = 1
idle_after = "5m"
target = { metric = { name = "a b", per_instance = 0 } }
"#;
    assert_eq!(
        errors(rest),
        [
            "5:13: `tolerance` must be at least 0 and less than 1, found 2",
            "6:15: `max_step_up` must be greater than 1, found 1",
            "7:1: `idle_after` applies only with `min = 0` (scale to zero), but `min` is 1: \
             set `min = 0` or remove `idle_after`",
            "8:30: invalid StatsD metric name \"a b\" for `name`: use 1 to 200 characters \
             without spaces, control characters, `:` or `|` (e.g. \"queue_depth\")",
            "8:52: `per_instance` must be greater than 0, found 0",
        ]
    );
}

#[test]
fn unknown_scale_fields_suggest_the_new_names() {
    assert_eq!(
        errors("[services.a.scale]\ntolerence = 0.1\n"),
        ["4:1: unknown field `tolerence` in [services.a.scale] (did you mean `tolerance`?)"]
    );
    assert_eq!(
        errors("[services.a.scale]\nidle = \"5m\"\n"),
        ["4:1: unknown field `idle` in [services.a.scale] (did you mean `idle_after`?)"]
    );
}

#[test]
fn metric_names() {
    for ok in [
        "queue_depth",
        "jobs.waiting",
        "a",
        "q-1",
        "café",
        "x,tag=v",
        &"q".repeat(200),
    ] {
        assert!(is_metric_name(ok), "{ok:?}");
    }
    for bad in [
        "",
        " ",
        "a b",
        "a:b",
        "a|b",
        "a\nb",
        "a\u{7}b",
        "a\u{a0}b",
        &"q".repeat(201),
    ] {
        assert!(!is_metric_name(bad), "{bad:?}");
    }
}

#[test]
fn an_older_stored_spec_decodes_with_the_new_defaults() {
    let old = r#"{
        "min": 2, "max": 6,
        "target": { "rps": 200.0, "p95_ms": null, "cpu": 0.7, "inflight": null },
        "up_cooldown": { "secs": 5, "nanos": 0 },
        "down_stabilization": { "secs": 60, "nanos": 0 }
    }"#;
    let sc: ScaleSpec = serde_json::from_str(old).expect("an older spec decodes");
    assert_eq!(
        sc,
        ScaleSpec {
            min: 2,
            max: 6,
            target: Some(ScaleTarget {
                rps: Some(200.0),
                cpu: Some(0.7),
                ..ScaleTarget::default()
            }),
            ..ScaleSpec::default()
        }
    );
    let no_kind: MetricTarget =
        serde_json::from_str(r#"{ "name": "q", "per_instance": 3.0 }"#).expect("kind defaults");
    assert_eq!(no_kind.kind, MetricKind::Gauge);
}

#[test]
fn a_new_spec_round_trips() {
    let sc = scale(
        "[services.a.scale]\nmin = 0\ntarget = { metric = { name = \"q\", per_instance = 4, kind = \"rate\" } }\ntolerance = 0.05\nmax_step_up = 3\nidle_after = \"90s\"\n",
    );
    let json = serde_json::to_string(&sc).expect("encodes");
    assert!(json.contains(r#""kind":"rate""#), "{json}");
    let back: ScaleSpec = serde_json::from_str(&json).expect("decodes");
    assert_eq!(back, sc);
}
