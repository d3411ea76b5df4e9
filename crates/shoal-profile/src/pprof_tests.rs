//! pprof: decoded back, every sample and frame is where profile.proto says.

use std::io::Read;

use flate2::read::GzDecoder;
use prost::Message;

use super::*;

fn meta(comments: &[String]) -> PprofMeta<'_> {
    PprofMeta {
        rate_hz: 100,
        started_ms: 1_700_000_000_000,
        duration_ms: 5_000,
        comments,
    }
}

fn decode(gz: &[u8]) -> proto::Profile {
    let mut raw = Vec::new();
    let read = GzDecoder::new(gz).read_to_end(&mut raw);
    assert!(read.is_ok(), "{read:?}");
    proto::Profile::decode(raw.as_slice()).unwrap_or_default()
}

#[test]
fn stacks_come_back_leaf_first_with_counts_and_cpu_time() {
    let stacks =
        Folded::parse("main;serve;rank 7\nmain;serve 3\n<module> (app.py);hot (app.py) 2\n");
    let comments = vec!["service=publications version=3".to_string()];
    let gz = encode(&stacks, &meta(&comments)).unwrap_or_default();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
    let p = decode(&gz);
    let s = |i: i64| p.string_table.get(i as usize).cloned().unwrap_or_default();
    assert_eq!(p.string_table[0], "");
    assert_eq!(p.period, 10_000_000);
    assert_eq!(p.duration_nanos, 5_000_000_000);
    assert_eq!(s(p.comment[0]), "service=publications version=3");
    let types: Vec<(String, String)> = p
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    assert_eq!(
        types,
        [
            ("samples".into(), "count".into()),
            ("cpu".into(), "nanoseconds".into())
        ]
    );
    let name_of = |loc: u64| {
        let l = p
            .location
            .iter()
            .find(|l| l.id == loc)
            .map(|l| l.line[0].function_id);
        let f = p.function.iter().find(|f| Some(f.id) == l);
        f.map(|f| (s(f.name), s(f.filename))).unwrap_or_default()
    };
    let mut seen: Vec<(Vec<String>, i64, i64)> = p
        .sample
        .iter()
        .map(|x| {
            (
                x.location_id.iter().map(|&l| name_of(l).0).collect(),
                x.value[0],
                x.value[1],
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (vec!["hot".into(), "<module>".into()], 2, 20_000_000),
            (
                vec!["rank".into(), "serve".into(), "main".into()],
                7,
                70_000_000
            ),
            (vec!["serve".into(), "main".into()], 3, 30_000_000),
        ]
    );
    // One function per distinct frame; Python frames keep their file.
    assert_eq!(p.function.len(), 5);
    let hot = p
        .function
        .iter()
        .find(|f| s(f.name) == "hot")
        .map(|f| s(f.filename));
    assert_eq!(hot.as_deref(), Some("app.py"));
}

#[test]
fn only_python_frames_are_split_into_name_and_file() {
    assert_eq!(split_frame("hot (app.py)"), ("hot", "app.py"));
    assert_eq!(
        split_frame("<impl Foo for (A)>::f"),
        ("<impl Foo for (A)>::f", "")
    );
    assert_eq!(split_frame("f (x)"), ("f (x)", ""));
}

#[test]
fn an_empty_profile_is_a_valid_one() {
    let p = decode(&encode(&Folded::default(), &meta(&[])).unwrap_or_default());
    assert!(p.sample.is_empty() && p.function.is_empty());
    assert_eq!(p.sample_type.len(), 2);
}
