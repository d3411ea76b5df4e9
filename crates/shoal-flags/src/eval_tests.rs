//! Tests of evaluation: rule order, stickiness, rollout shares, variants, counters.

use proptest::prelude::{any, proptest, ProptestConfig};
use proptest::test_runner::RngSeed;

use super::*;
use crate::decision::OfrepReason;
use crate::hash::{fmix32, murmur3_32};
use crate::{ForceOn, Variant};

/// A request with headers (any case) and a path.
#[derive(Default)]
struct Req {
    headers: Vec<(&'static str, String)>,
    path: &'static str,
}

impl Req {
    fn user(key: &str) -> Self {
        Req::default().with("X-User-Id", key)
    }

    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn at(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }
}

impl Request for Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.path
    }
}

fn on_flag(name: &str, rollout: f64) -> Flag {
    let mut f = Flag::new(name);
    f.enabled = true;
    f.rollout = rollout;
    f
}

fn eval(flag: &Flag, req: &Req) -> (bool, Reason, String) {
    eval_fb(flag, req, None)
}

fn eval_fb(flag: &Flag, req: &Req, fallback: Option<&str>) -> (bool, Reason, String) {
    let set = FlagSet::new([flag]);
    match set.evaluate(0, req, fallback) {
        Some(d) => (d.on, d.reason, d.value.to_owned()),
        None => panic!("no flag"),
    }
}

fn is_on(set: &FlagSet, key: &str) -> bool {
    set.evaluate(0, &Req::user(key), None).is_some_and(|d| d.on)
}

fn beta() -> ForceOn {
    ForceOn {
        header: "X-Beta".into(),
        values: vec!["1".into(), "yes".into()],
    }
}

#[test]
fn rules_apply_in_order() {
    let mut f = on_flag("f", 0.0);
    f.force_on = vec![beta()];
    f.allow = vec!["alice".into()];
    f.deny = vec!["mallory".into()];
    f.constraints = vec![Constraint::HeaderEquals {
        header: "X-Country".into(),
        value: "DE".into(),
    }];
    let on = |r| (true, r, "1".to_owned());
    let off = |r| (false, r, "0".to_owned());
    // Forcing works at rollout 0 and without the constraint.
    assert_eq!(
        eval(&f, &Req::default().with("x-beta", "yes")),
        on(Reason::Forced)
    );
    assert_eq!(
        eval(&f, &Req::default().with("X-Beta", "no")),
        off(Reason::ConstraintMiss)
    );
    // Deny beats forcing; allow beats constraints and rollout.
    let denied = Req::user("mallory").with("X-Beta", "1");
    assert_eq!(eval(&f, &denied), off(Reason::Denied));
    assert_eq!(eval(&f, &Req::user("alice")), on(Reason::Allowed));
    assert_eq!(eval(&f, &Req::user("bob")), off(Reason::ConstraintMiss));
    let de = Req::user("bob").with("X-Country", "DE");
    assert_eq!(eval(&f, &de), off(Reason::Static));
    // Disabled beats everything.
    f.enabled = false;
    let all = Req::user("alice")
        .with("X-Beta", "1")
        .with("X-Country", "DE");
    assert_eq!(eval(&f, &all), off(Reason::Disabled));
}

#[test]
fn constraints_must_all_hold() {
    let mut f = on_flag("f", 100.0);
    f.constraints = vec![
        Constraint::HeaderIn {
            header: "X-Country".into(),
            values: vec!["DE".into(), "FR".into()],
        },
        Constraint::PathPrefix {
            prefix: "/beta/".into(),
        },
    ];
    let ok = |country: &str, path: &'static str| {
        eval(&f, &Req::user("u").with("x-country", country).at(path)).0
    };
    assert!(ok("FR", "/beta"));
    assert!(ok("DE", "/beta/x?y=1"));
    assert!(ok("DE", "/beta?y=1"));
    assert!(!ok("de", "/beta"), "values match exactly");
    assert!(!ok("IT", "/beta"));
    assert!(!ok("DE", "/betamax"), "prefixes match whole segments");
    assert!(!ok("DE", "/"));
    let mut root = on_flag("r", 100.0);
    root.constraints = vec![Constraint::PathPrefix { prefix: "/".into() }];
    assert!(eval(&root, &Req::default().at("/anything")).0);
}

#[test]
fn rollout_without_a_user_key() {
    let f = on_flag("f", 50.0);
    assert_eq!(
        eval(&f, &Req::default()),
        (false, Reason::NoUserKey, "0".into())
    );
    // An empty key is no key.
    assert_eq!(eval(&f, &Req::user("")).1, Reason::NoUserKey);
    // The fallback key (a trace id) decides like a user key would.
    let by_fallback = eval_fb(&f, &Req::default(), Some("trace-1"));
    let by_user = eval(&f, &Req::user("trace-1"));
    assert_eq!(by_fallback, by_user);
    assert!(matches!(by_fallback.1, Reason::Rollout { .. }));
    // A user key wins over the fallback.
    assert_eq!(
        eval_fb(&f, &Req::user("u-7"), Some("trace-1")),
        eval(&f, &Req::user("u-7"))
    );
    // 100 % and 0 % need no key.
    assert_eq!(
        eval(&on_flag("f", 100.0), &Req::default()),
        (true, Reason::Static, "1".into())
    );
    assert_eq!(
        eval(&on_flag("f", 0.0), &Req::default()),
        (false, Reason::Static, "0".into())
    );
}

#[test]
fn the_user_header_is_configurable_and_case_insensitive() {
    let mut f = on_flag("f", 100.0);
    f.user_header = "X-Account".into();
    f.allow = vec!["acme".into()];
    f.rollout = 0.0;
    assert_eq!(
        eval(&f, &Req::default().with("x-ACCOUNT", "acme")).1,
        Reason::Allowed
    );
    assert_eq!(eval(&f, &Req::user("acme")).1, Reason::Static);
}

#[test]
fn the_bucket_mixes_the_keys_hash_with_the_flags() {
    let set = FlagSet::new([&on_flag("checkout", 37.5)]);
    let seed = murmur3_32(b"checkout", 0);
    for i in 0..500 {
        let key = format!("user-{i}");
        let bucket = fmix32(murmur3_32(key.as_bytes(), 0) ^ seed) % 10_000;
        assert_eq!(is_on(&set, &key), bucket < 3750, "{key}");
    }
}

#[test]
fn two_flags_at_half_split_users_independently() {
    // One hash of the key serves every flag: the flags' buckets must still not move
    // together (about a quarter of users have both, a quarter neither).
    let (a, b) = (on_flag("alpha", 50.0), on_flag("beta", 50.0));
    let (sa, sb) = (FlagSet::new([&a]), FlagSet::new([&b]));
    let both = (0..4000)
        .filter(|i| {
            let k = format!("u{i}");
            is_on(&sa, &k) && is_on(&sb, &k)
        })
        .count();
    assert!((850..=1150).contains(&both), "{both} of 4000 have both");
}

#[test]
fn thirty_percent_of_a_thousand_users() {
    let set = FlagSet::new([&on_flag("new_profile", 30.0)]);
    let on = (0..1000)
        .filter(|i| is_on(&set, &format!("user-{i}")))
        .count();
    assert!((250..=350).contains(&on), "{on} of 1000 users at 30 %");
    // Sticky: the same users again, the same answers.
    let again = (0..1000)
        .filter(|i| is_on(&set, &format!("user-{i}")))
        .count();
    assert_eq!(on, again);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: RngSeed::Fixed(0x5eed),
        ..ProptestConfig::default()
    })]

    /// Raising the rollout keeps everyone who had the flag; 10,000 keys land within
    /// 2 points of the rollout.
    #[test]
    fn rollout_is_monotonic_and_fair(
        a in 0.0f64..=100.0,
        b in 0.0f64..=100.0,
        salt in any::<u64>(),
        name in "[a-z_]{1,12}",
    ) {
        let (r1, r2) = if a <= b { (a, b) } else { (b, a) };
        let low = FlagSet::new([&on_flag(&name, r1)]);
        let high = FlagSet::new([&on_flag(&name, r2)]);
        let mut on_low = 0u32;
        for i in 0..10_000 {
            let key = format!("{salt:x}-{i}");
            let (l, h) = (is_on(&low, &key), is_on(&high, &key));
            assert!(!l || h, "{key} had the flag at {r1} % but not at {r2} %");
            on_low += u32::from(l);
        }
        let share = f64::from(on_low) / 100.0;
        assert!((share - r1).abs() <= 2.0, "{share} % on at a rollout of {r1} %");
    }
}

fn variants(pairs: &[(&str, u32)]) -> Vec<Variant> {
    pairs
        .iter()
        .map(|&(name, weight)| Variant {
            name: name.into(),
            weight,
        })
        .collect()
}

#[test]
fn variants_split_by_weight_and_are_sticky() {
    let mut f = on_flag("color", 100.0);
    f.variants = variants(&[("blue", 1), ("never", 0), ("green", 3)]);
    let set = FlagSet::new([&f]);
    assert_eq!(set.values(0), ["blue", "never", "green", "off"]);
    let mut counts = [0u32; 3];
    for i in 0..10_000 {
        let req = Req::user(&format!("u{i}"));
        let d = set
            .evaluate(0, &req, None)
            .unwrap_or_else(|| panic!("flag"));
        assert!(d.on && d.has_variants);
        assert_eq!(d.ofrep_reason(), OfrepReason::Split);
        match d.value {
            "blue" => counts[0] += 1,
            "never" => counts[1] += 1,
            "green" => counts[2] += 1,
            other => panic!("unexpected {other}"),
        }
        let again = set.evaluate(0, &req, None).map(|d| d.value);
        assert_eq!(again, Some(d.value));
    }
    assert_eq!(counts[1], 0, "a weight of 0 is never served");
    assert!((2300..=2700).contains(&counts[0]), "{counts:?}");
    // Without a key: the first variant with weight.
    let d = set.evaluate(0, &Req::default(), None);
    assert_eq!(
        d.map(|d| (d.value, d.ofrep_reason())),
        Some(("blue", OfrepReason::Static))
    );
}

#[test]
fn variant_flags_answer_the_off_variant_when_off() {
    let mut f = on_flag("color", 0.0);
    f.variants = variants(&[("control", 1), ("treatment", 1)]);
    f.off_variant = "control".into();
    let set = FlagSet::new([&f]);
    assert_eq!(
        set.values(0),
        ["control", "treatment"],
        "no duplicate value"
    );
    let d = set.evaluate(0, &Req::user("u"), None);
    assert_eq!(
        d.map(|d| (d.on, d.value, d.variant())),
        Some((false, "control", "control"))
    );
    f.off_variant = "none".into();
    f.enabled = false;
    let set = FlagSet::new([&f]);
    let d = set.evaluate(0, &Req::user("u"), None);
    assert_eq!(
        d.map(|d| (d.value, d.ofrep_reason())),
        Some(("none", OfrepReason::Disabled))
    );
}

#[test]
fn evaluate_all_gives_headers_values_and_counts() {
    let mut forced = on_flag("b_forced", 0.0);
    forced.force_on = vec![beta()];
    let flags = [on_flag("c_all", 100.0), Flag::new("a_off"), forced];
    let set = FlagSet::new(&flags);
    assert_eq!(
        set.names().collect::<Vec<_>>(),
        ["a_off", "b_forced", "c_all"]
    );
    assert_eq!(set.index("c_all"), Some(2));
    assert_eq!(set.index("zzz"), None);
    assert_eq!(set.header_name(1), Some("X-Flag-b_forced"));
    let req = Req::user("u").with("X-Beta", "1");
    for _ in 0..3 {
        let mut seen = Vec::new();
        set.evaluate_all(&req, None, |i, d| {
            seen.push((i, d.header.to_owned(), d.value.to_owned()))
        });
        assert_eq!(
            seen,
            [
                (0, "X-Flag-a_off".to_owned(), "0".to_owned()),
                (1, "X-Flag-b_forced".to_owned(), "1".to_owned()),
                (2, "X-Flag-c_all".to_owned(), "1".to_owned()),
            ]
        );
    }
    let t = set.tally();
    assert_eq!(
        (
            t.count("a_off", "0"),
            t.count("b_forced", "1"),
            t.count("c_all", "0")
        ),
        (3, 3, 0)
    );
    assert_eq!(t.snapshot().len(), 6);
    // A new set carries the counts over.
    let next = FlagSet::new(&flags[..2]);
    next.tally().carry_from(set.tally());
    assert_eq!(next.tally().count("a_off", "0"), 3);
}

#[test]
fn decisions_map_to_openfeature() {
    let d = |reason, on| Decision {
        flag: "f",
        header: "X-Flag-f",
        value: if on { "1" } else { "0" },
        on,
        reason,
        has_variants: false,
        slot: 0,
        split: false,
    };
    assert_eq!(
        d(Reason::Disabled, false).ofrep_reason(),
        OfrepReason::Disabled
    );
    assert_eq!(
        d(Reason::Forced, true).ofrep_reason(),
        OfrepReason::TargetingMatch
    );
    assert_eq!(
        d(Reason::ConstraintMiss, false).ofrep_reason(),
        OfrepReason::TargetingMatch
    );
    assert_eq!(
        d(Reason::Rollout { on: true }, true).ofrep_reason(),
        OfrepReason::Split
    );
    assert_eq!(d(Reason::Static, true).ofrep_reason(), OfrepReason::Static);
    assert_eq!(
        d(Reason::NoUserKey, false).ofrep_reason(),
        OfrepReason::Default
    );
    assert_eq!(
        (
            d(Reason::Static, true).variant(),
            d(Reason::Static, false).variant()
        ),
        ("on", "off")
    );
    assert_eq!(Reason::Rollout { on: false }.as_str(), "rollout-out");
}

#[test]
fn odd_flags_compile_without_panicking() {
    let mut f = on_flag("x", f64::NAN);
    f.variants = variants(&[("a", 0)]);
    let mut g = on_flag("x", 1e9);
    g.user_header = String::new();
    let set = FlagSet::new([&f, &g]);
    assert_eq!(set.len(), 1, "one flag per name");
    let d = set.evaluate(0, &Req::user("u"), None);
    assert_eq!(d.map(|d| (d.on, d.reason)), Some((false, Reason::Static)));
    assert!(set.evaluate(5, &Req::default(), None).is_none());
    assert!(FlagSet::default().is_empty());
    let set = FlagSet::new([&g]);
    assert_eq!(
        set.evaluate(0, &Req::default(), None).map(|d| d.on),
        Some(true)
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(0x5eed),
        ..ProptestConfig::default()
    })]

    /// `write_all` writes exactly what the decisions of `evaluate_all` say, in order,
    /// within the sizes `written_len` gives, and counts the same.
    #[test]
    fn write_all_writes_what_evaluate_all_decides(
        rollouts in proptest::collection::vec(0.0f64..=100.0, 1..8),
        user in proptest::option::of("u[0-9]{1,2}"),
        beta in any::<bool>(),
        fallback in proptest::option::of("[0-9a-f]{32}"),
    ) {
        let flags: Vec<Flag> = rollouts
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let mut f = on_flag(&format!("f{i}"), r);
                f.enabled = i % 5 != 4;
                f.deny = vec!["u1".into()];
                f.allow = vec!["u2".into()];
                if i % 2 == 0 {
                    f.force_on = vec![ForceOn { header: "X-Beta".into(), values: vec!["1".into()] }];
                }
                if i % 3 == 0 {
                    f.variants = variants(&[("blue", 1), ("green", 2)]);
                }
                f
            })
            .collect();
        let set = FlagSet::new(&flags);
        let mut req = Req::default().at("/x");
        if let Some(u) = &user {
            req = req.with("X-User-Id", u);
        }
        if beta {
            req = req.with("x-beta", "1");
        }
        let (mut want_lines, mut want_text) = (String::new(), Vec::new());
        set.evaluate_all(&req, fallback.as_deref(), |_, d| {
            want_lines.push_str(&format!("{}: {}\r\n", d.header, d.value));
            want_text.push(format!("{}={}", d.flag, d.value));
        });
        let (mut lines, mut text) = (Vec::new(), String::new());
        set.write_all(&req, fallback.as_deref(), &mut lines, Some(&mut text));
        assert_eq!(String::from_utf8_lossy(&lines), want_lines);
        assert_eq!(text, want_text.join(","));
        let (lines_len, text_len) = set.written_len();
        assert!(lines.len() <= lines_len && text.len() <= text_len);
        let counted: u64 = set.tally().snapshot().iter().map(|(_, _, n)| n).sum();
        assert_eq!(counted, 2 * flags.len() as u64);
    }
}
