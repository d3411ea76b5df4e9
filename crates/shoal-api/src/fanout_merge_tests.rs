//! The merges of several nodes' answers.

use super::*;
use serde_json::json;
use shoal_errors::Source;
use shoal_logs::Stream;
use shoal_traces::Span;

fn line(seq: u64, time_ms: u64, text: &str) -> LogLine {
    LogLine {
        seq,
        time_ms,
        service: "web".into(),
        version: "1".into(),
        instance: "web-1".into(),
        stream: Stream::Stdout,
        line: text.into(),
        trace_id: None,
        fields: None,
    }
}

fn texts(lines: &[NodeLine]) -> Vec<(&str, &str)> {
    lines
        .iter()
        .map(|l| (l.node.as_str(), l.line.line.as_str()))
        .collect()
}

#[test]
fn logs_interleave_by_time_and_keep_the_most_recent() {
    let a = vec![line(1, 10, "a1"), line(2, 30, "a2"), line(3, 30, "a3")];
    let b = vec![line(7, 20, "b1"), line(8, 30, "b2"), line(9, 40, "b3")];
    let all = logs(vec![("b".into(), b.clone()), ("a".into(), a.clone())], 0);
    assert_eq!(
        texts(&all),
        [
            ("a", "a1"),
            ("b", "b1"),
            ("a", "a2"),
            ("a", "a3"),
            ("b", "b2"),
            ("b", "b3")
        ]
    );
    let last = logs(vec![("a".into(), a), ("b".into(), b)], 2);
    assert_eq!(texts(&last), [("b", "b2"), ("b", "b3")]);
    assert!(logs(Vec::new(), 5).is_empty());
}

#[test]
fn a_merged_line_is_the_line_with_its_node() {
    let all = logs(vec![("c".into(), vec![line(4, 1, "x")])], 0);
    let v = serde_json::to_value(&all).unwrap_or_default();
    assert_eq!(v[0]["node"], "c");
    assert_eq!(v[0]["seq"], 4);
    assert_eq!(v[0]["line"], "x");
}

const T: &str = "0af7651916cd43dd8448eb211c80319c";

fn span(id: &str, parent: Option<&str>, start: u64, dur: u64, service: &str) -> Span {
    Span {
        trace_id: T.into(),
        span_id: id.into(),
        parent_span_id: parent.map(str::to_string),
        start_us: start,
        duration_us: dur,
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        caller: "gateway".into(),
        service: service.into(),
        version: "1".into(),
        instance: None,
        retries: 0,
        reason: None,
        flags: None,
    }
}

#[test]
fn parts_of_a_trace_from_two_nodes_are_one_tree() {
    // b's gateway saw the first hop; a's outbound listener the call web made to api.
    let on_b = shoal_traces::assemble(vec![span("00f067aa0ba902b7", None, 1_000, 500, "web")]);
    let mut called = span(
        "00f067aa0ba902b8",
        Some("00f067aa0ba902b7"),
        1_100,
        200,
        "api",
    );
    called.status = 503;
    let on_a = shoal_traces::assemble(vec![called.clone()]);
    let parts: Vec<Trace> = [on_a, on_b.clone()].into_iter().flatten().collect();
    let t = trace(parts).expect("a trace");
    assert_eq!(t.spans.len(), 2);
    assert_eq!(
        (t.spans[0].depth, t.spans[1].depth, &t.spans[1].span),
        (0, 1, &called)
    );
    assert_eq!((t.start_us, t.duration_us, t.error), (1_000, 500, true));
    assert_eq!(t.services, ["api", "web"]);
    // The same span from two nodes is kept once.
    let twice: Vec<Trace> = [on_b.clone(), on_b].into_iter().flatten().collect();
    assert_eq!(trace(twice).map(|t| t.spans.len()), Some(1));
    assert!(trace(Vec::new()).is_none());
}

fn summary(id: &str, root: &str, start: u64, dur: u64, spans: usize, svc: &[&str]) -> TraceSummary {
    TraceSummary {
        trace_id: id.into(),
        root_service: root.into(),
        root_name: format!("GET /{root}"),
        start_us: start,
        duration_us: dur,
        span_count: spans,
        services: svc.iter().map(|s| s.to_string()).collect(),
        error: false,
    }
}

#[test]
fn trace_summaries_of_one_trace_on_two_nodes_are_one_row() {
    let other = "4bf92f3577b34da6a3ce929d0e0e4736";
    let a = vec![summary(T, "api", 1_100, 200, 1, &["api"])];
    let mut on_b = summary(T, "web", 1_000, 150, 2, &["web"]);
    on_b.error = true;
    let b = vec![summary(other, "web", 5_000, 10, 1, &["web"]), on_b];
    let all = trace_summaries(vec![a.clone(), b.clone()], 0);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].trace_id, other, "the latest start first");
    let t = &all[1];
    assert_eq!(
        (
            t.root_service.as_str(),
            t.start_us,
            t.duration_us,
            t.span_count
        ),
        ("web", 1_000, 300, 3)
    );
    assert_eq!(t.services, ["api", "web"]);
    assert!(t.error);
    assert_eq!(trace_summaries(vec![a, b], 1).len(), 1);
}

fn err_group(count: u64, first: u64, last: u64, instance: &str, path: &str) -> Group {
    Group {
        id: shoal_errors::group_id("web", Source::Http, "HTTP 500 GET /boom"),
        service: "web".into(),
        source: Source::Http,
        cause: "HTTP 500 GET /boom".into(),
        count,
        first_ms: first,
        last_ms: last,
        instances: [instance.to_string()].into(),
        latest: json!({ "path": path }),
    }
}

#[test]
fn one_error_group_on_several_nodes_adds_up() {
    let a = err_group(3, 100, 900, "web-a", "/boom?a");
    let b = err_group(2, 50, 1_000, "web-b", "/boom?b");
    let mut crash = err_group(1, 10, 20, "web-c", "");
    crash.id = "other".into();
    let all = error_groups(vec![vec![a], vec![crash], vec![b]], 0);
    assert_eq!(all.len(), 2);
    let g = &all[0];
    assert_eq!(
        (g.count, g.first_ms, g.last_ms),
        (5, 50, 1_000),
        "counts add, first and last of all"
    );
    assert_eq!(g.latest, json!({ "path": "/boom?b" }), "the latest example");
    assert_eq!(g.instances.len(), 2);
    assert_eq!(all[1].id, "other");
    assert_eq!(error_groups(vec![all], 1).len(), 1);
}

#[test]
fn merged_instances_stay_bounded() {
    let mut a = err_group(1, 1, 1, "x", "/");
    a.instances = (0..shoal_errors::MAX_INSTANCES)
        .map(|i| format!("a-{i}"))
        .collect();
    let g = group(a, err_group(1, 2, 2, "b-1", "/"));
    assert_eq!(g.instances.len(), shoal_errors::MAX_INSTANCES);
    assert_eq!(g.count, 2);
}

#[test]
fn the_nodes_report_reads_as_the_issue_shows_it() {
    let r = NodesReport {
        answered: vec!["a".into(), "b".into()],
        missing: vec![Missing {
            node: "c".into(),
            error: "timed out after 2s".into(),
        }],
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap_or_default(),
        json!({ "answered": ["a", "b"], "missing": [{ "node": "c", "error": "timed out after 2s" }] })
    );
}

fn event(seq: u64, time_ms: u64, message: &str) -> Event {
    Event {
        seq,
        time_ms,
        kind: shoal_events::Kind::Scaled,
        service: "web".into(),
        instance: String::new(),
        message: message.into(),
        fields: serde_json::Value::Null,
    }
}

#[test]
fn events_of_every_node_interleave_by_time_each_with_its_node() {
    let a = vec![event(1, 10, "a1"), event(2, 30, "a2")];
    let b = vec![event(7, 20, "b7"), event(8, 30, "b8")];
    let merged = events(vec![("a".into(), a.clone()), ("b".into(), b.clone())], 0);
    let said: Vec<(&str, &str)> = merged
        .iter()
        .map(|e| (e.node.as_str(), e.event.message.as_str()))
        .collect();
    assert_eq!(said, [("a", "a1"), ("b", "b7"), ("a", "a2"), ("b", "b8")]);
    let v = serde_json::to_value(&merged[1]).unwrap_or_default();
    assert_eq!(
        (v["node"].as_str(), v["seq"].as_u64()),
        (Some("b"), Some(7))
    );
    let newest = events(vec![("a".into(), a), ("b".into(), b)], 2);
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0].event.message, "a2");
}
