//! Tests of the StatsD line parser: every type, tags, sample rates, bad lines, and a
//! property test that no input panics.

use proptest::prelude::*;

use super::*;

fn ok(s: &str) -> Line<'_> {
    match parse_line(s.as_bytes()) {
        Ok(l) => l,
        Err(e) => panic!("{s:?} refused: {e}"),
    }
}

fn err(s: &str) -> LineError {
    match parse_line(s.as_bytes()) {
        Ok(l) => panic!("{s:?} accepted: {l:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_type() {
    let l = ok("api.hits:3|c");
    assert_eq!(
        (l.name, l.kind, l.first, l.rate),
        ("api.hits", Kind::Counter, 3.0, 1.0)
    );
    assert_eq!(ok("temp:-4.5|g").kind, Kind::Gauge);
    assert_eq!(ok("latency:320|ms").kind, Kind::Timer);
    assert_eq!(ok("size:12|h").kind, Kind::Histogram);
    assert_eq!(ok("size:12|d").kind, Kind::Distribution);
    let s = ok("users:ada@x:1|s");
    assert_eq!((s.kind, s.values), (Kind::Set, "ada@x:1"));
    assert_eq!(s.numbers().count(), 0);
}

#[test]
fn gauge_deltas_keep_their_sign() {
    let l = ok("g:+5|g");
    let v: Vec<_> = l.values_with_text().collect();
    assert_eq!(v, vec![("+5", 5.0)]);
    assert!(Line::is_delta("+5") && Line::is_delta("-2") && !Line::is_delta("7"));
}

#[test]
fn sample_rate_and_tags() {
    let l = ok("req:1|c|@0.1|#env:prod,region:eu,canary");
    assert!((l.rate - 0.1).abs() < 1e-12);
    let tags: Vec<_> = l.tag_pairs().collect();
    assert_eq!(
        tags,
        vec![("env", "prod"), ("region", "eu"), ("canary", "")]
    );
    let l = ok("req:1|c|#a:b|@0.5");
    assert_eq!((l.rate, l.tags), (0.5, "a:b"));
    assert_eq!(ok("t:1|ms|@1").rate, 1.0);
}

#[test]
fn dogstatsd_extensions() {
    let l = ok("d:1:2:3.5|d|#x:y");
    assert!(l.multi);
    assert_eq!(l.numbers().collect::<Vec<_>>(), vec![1.0, 2.0, 3.5]);
    assert_eq!(ok("c:1|c|c:abc123|T1700000000").first, 1.0);
    assert_eq!(ok("crlf:2|c\r").first, 2.0);
}

#[test]
fn bad_lines() {
    assert_eq!(err("novalue"), LineError::NoValue);
    assert_eq!(err(":1|c"), LineError::BadName);
    assert_eq!(err("a:1"), LineError::NoType);
    assert_eq!(err("a:1|x"), LineError::UnknownType);
    assert_eq!(err("a:abc|c"), LineError::BadValue);
    assert_eq!(err("a:|c"), LineError::BadValue);
    assert_eq!(err("a:1:x|d"), LineError::BadValue);
    assert_eq!(err("a:|s"), LineError::BadValue);
    assert_eq!(err("a:1|c|@0"), LineError::BadSampleRate);
    assert_eq!(err("a:1|c|@2"), LineError::BadSampleRate);
    assert_eq!(err("a:1|c|@x"), LineError::BadSampleRate);
    assert_eq!(err("a:1|c|zzz"), LineError::UnknownField);
    assert_eq!(err("a:1|s|@0"), LineError::BadSampleRate);
    assert_eq!(err("a\tb:1|c"), LineError::BadName);
    assert_eq!(
        parse_line(&[b'a', b':', 0xff, b'|', b'c']),
        Err(LineError::NotUtf8)
    );
    assert_eq!(
        parse_line(&vec![b'a'; MAX_LINE + 1]),
        Err(LineError::TooLong)
    );
}

#[test]
fn infinities_and_bad_rates_are_refused() {
    for line in [
        "x:inf|g",
        "x:NaN|ms",
        "x:-inf|c",
        "x:1e999|h",
        "x:1:inf|d",
        "x:+inf|g",
    ] {
        assert_eq!(err(line), LineError::NonFinite, "{line}");
    }
    // 1e-320 is in (0, 1] but 1/1e-320 overflows to +Inf.
    for line in [
        "x:1|c|@1e-320",
        "x:1|c|@0",
        "x:1|c|@1.5",
        "x:1|c|@-1",
        "x:1|ms|@NaN",
    ] {
        assert_eq!(err(line), LineError::BadSampleRate, "{line}");
    }
    // The smallest rates whose inverse is finite are accepted.
    assert_eq!(ok("x:1|c|@1e-300").rate, 1e-300);
}

#[test]
fn packets_split_on_newlines_and_skip_empty_lines() {
    let p = b"a:1|c\n\nb:2|g\r\n\n";
    let v: Vec<&[u8]> = lines(p).collect();
    assert_eq!(v, vec![&b"a:1|c"[..], &b"b:2|g\r"[..]]);
}

proptest! {
    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(l) = parse_line(&bytes) {
            let _ = l.numbers().count();
            let _ = l.tag_pairs().count();
        }
    }

    #[test]
    fn never_panics_on_statsd_like_text(s in "[a-z.:|@#,+\\-0-9eE]{0,60}") {
        if let Ok(l) = parse_line(s.as_bytes()) {
            prop_assert!(!l.name.is_empty());
            prop_assert!(l.rate > 0.0 && l.rate <= 1.0 && (1.0 / l.rate).is_finite());
            for v in l.numbers() {
                prop_assert!(v.is_finite());
            }
        }
    }

    #[test]
    fn well_formed_lines_round_trip(
        name in "[a-z][a-z0-9_.]{0,20}",
        v in -1e9f64..1e9,
        kind in prop::sample::select(vec!["c", "g", "ms", "h", "d"]),
    ) {
        let text = format!("{name}:{v}|{kind}|#k:v");
        let l = parse_line(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(l.name, name.as_str());
        prop_assert_eq!(l.first, v);
        prop_assert_eq!(l.tags, "k:v");
    }
}
