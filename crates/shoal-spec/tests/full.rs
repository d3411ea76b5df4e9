//! The complete DESIGN §4 example and the empty file: every field lands where it should.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{fixture, ok};
use shoal_spec::{
    parse_file, CallerPolicy, CheckKind, Command, EnvPart, PortRange, Priority, ServiceSpec, Spec,
    Strategy,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn design_example_parses_into_typed_values() {
    let spec = ok(&fixture("full.toml"));
    let p = &spec.platform;
    assert_eq!(p.data_dir, PathBuf::from("/app/.shoal"));
    assert_eq!(p.http.to_string(), "127.0.0.1:8500");
    assert_eq!(p.dns.to_string(), "127.0.0.1:8600");
    assert_eq!(p.gateway.to_string(), "127.0.0.1:8080");
    assert_eq!(p.statsd.to_string(), "127.0.0.1:8125");
    assert_eq!(p.domain, "shoal");
    assert_eq!(
        p.port_range,
        PortRange {
            start: 20000,
            end: 29999
        }
    );

    let s = &spec.services["profile"];
    assert_eq!(s.name, "profile");
    assert_eq!(
        s.command,
        Command::Argv(vec!["python3".into(), "profile.py".into()])
    );
    assert_eq!(s.version, "23");
    assert_eq!(s.instances, 2);
    assert_eq!(s.env["DB_USER"].parts, vec![EnvPart::Literal("app".into())]);
    assert_eq!(s.env["DB_PW"].parts, vec![EnvPart::Secret("db/pw".into())]);
    assert_eq!(
        s.env["GREETING"].parts,
        vec![EnvPart::Kv("profile/greeting".into())]
    );
    assert_eq!(s.env["GREETING"].raw, "${kv:profile/greeting}");
    assert_eq!(s.routes, vec!["/profile".to_owned()]);

    let h = s.health.as_ref().expect("health");
    assert_eq!(
        h.check,
        CheckKind::Http {
            path: "/health".into()
        }
    );
    assert_eq!(
        (h.interval, h.timeout, h.grace),
        (secs(1), Duration::from_millis(500), secs(10))
    );
    assert_eq!((h.healthy_threshold, h.unhealthy_threshold), (1, 2));
    assert_eq!(h.restart_after, Some(secs(30)));

    assert_eq!(
        (s.restart.initial, s.restart.max),
        (Duration::from_millis(100), secs(30))
    );

    let d = &s.deploy;
    assert_eq!(d.strategy, Strategy::Rolling);
    assert_eq!((d.max_surge, d.max_unavailable), (1, 0));
    assert_eq!(
        (d.min_healthy, d.drain, d.keep_previous),
        (secs(2), secs(10), secs(600))
    );
    assert_eq!((d.progress_deadline, d.auto_revert), (secs(600), true));
    assert_eq!(d.canary.steps, vec![10, 50, 100]);
    assert_eq!(d.canary.interval, secs(30));
    assert_eq!(d.canary.min_requests, 20);
    assert_eq!(
        (d.canary.max_error_rate, d.canary.max_p95_ratio),
        (0.01, 1.5)
    );

    let v22 = &s.versions["22"];
    assert_eq!(
        v22.command,
        Some(Command::Argv(vec![
            "python3".into(),
            "profile_v22.py".into()
        ]))
    );
    assert_eq!(v22.instances, Some(1));
    let runs = s.version_runs();
    assert_eq!(
        runs.iter()
            .map(|r| (r.version.as_str(), r.instances))
            .collect::<Vec<_>>(),
        [("23", 2), ("22", 1)]
    );
    assert_eq!(runs[1].env, s.env, "versions inherit the service env");

    let r = s.resilience.as_ref().expect("resilience");
    assert_eq!(r.timeout, Some(secs(2)));
    let retries = r.retries.as_ref().expect("retries");
    assert_eq!((retries.attempts, retries.budget), (2, 0.2));
    let c = r.circuit.as_ref().expect("circuit");
    assert_eq!(
        (c.error_rate, c.min_requests, c.window, c.open_for),
        (0.5, 20, secs(10), secs(5))
    );
    let fb = r.fallback.as_ref().expect("fallback");
    assert_eq!(
        (fb.status, fb.body.as_str(), fb.content_type.as_str()),
        (200, "{}", "application/json")
    );
    let l = r.limits.as_ref().expect("limits");
    assert_eq!((l.rps, l.max_inflight), (Some(1000.0), Some(200)));
    assert_eq!(
        r.callers["frontend"],
        CallerPolicy {
            priority: Priority::Critical,
            share: None
        }
    );
    assert_eq!(
        r.callers["reports"],
        CallerPolicy {
            priority: Priority::Low,
            share: Some(0.1)
        }
    );

    let sc = s.scale.as_ref().expect("scale");
    assert_eq!(
        (sc.min, sc.max, sc.up_cooldown, sc.down_stabilization),
        (1, 10, secs(5), secs(60))
    );
    let t = sc.target.as_ref().expect("target");
    assert_eq!(
        (t.rps, t.p95_ms, t.cpu, t.inflight),
        (Some(200.0), Some(150.0), Some(0.7), Some(20.0))
    );

    let f = &spec.flags["new_profile"];
    assert!(f.enabled);
    assert_eq!(f.rollout, 10.0);
    let force = f.force_on.first().expect("force_on");
    assert_eq!(
        (force.header.as_str(), force.values.clone()),
        ("X-Beta", vec!["1".to_owned()])
    );
}

#[test]
fn design_example_lists_its_sections_in_file_order() {
    let spec = ok(&fixture("full.toml"));
    let sections: Vec<String> = spec
        .sections
        .iter()
        .map(|s| format!("{} {}:{}", s.path, s.location.line, s.location.column))
        .collect();
    assert_eq!(
        sections,
        [
            "platform 1:1",
            "services.profile 10:1",
            "services.profile.env.DB_PW:secret 14:26",
            "services.profile.env.GREETING:kv 14:53",
            "services.profile.health 17:1",
            "services.profile.restart 26:1",
            "services.profile.restart.backoff 27:1",
            "services.profile.deploy 29:1",
            "services.profile.deploy.canary 35:1",
            "services.profile.versions.22 40:1",
            "services.profile.resilience 44:1",
            "services.profile.resilience.retries 46:1",
            "services.profile.resilience.circuit 47:1",
            "services.profile.resilience.fallback 48:1",
            "services.profile.resilience.limits 49:1",
            "services.profile.resilience.callers 50:1",
            "services.profile.scale 52:1",
            "services.profile.scale.target 55:1",
            "flags.new_profile 59:1",
            "flags.new_profile.force_on 62:1",
        ]
    );
    let res = spec
        .section("services.profile.resilience")
        .expect("resilience section");
    assert_eq!(res.location.to_string(), "shoal.toml:44:1");
}

#[test]
fn spec_round_trips_through_json() {
    let spec = ok(&fixture("full.toml"));
    let json = serde_json::to_string(&spec).expect("serialize");
    let back: Spec = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, spec);
    assert!(json.contains("\"strategy\":\"rolling\""), "{json}");
    assert!(json.contains("\"priority\":\"critical\""), "{json}");
}

#[test]
fn empty_file_is_all_defaults() {
    let spec = ok("");
    assert_eq!(spec, Spec::empty(Path::new("/app")));
    assert_eq!(spec.platform.data_dir, PathBuf::from("/app/.shoal"));
    assert_eq!(spec.platform.http.to_string(), "127.0.0.1:8500");
    assert_eq!(spec.platform.port_range.to_string(), "20000-29999");
    assert!(spec.services.is_empty() && spec.flags.is_empty() && spec.sections.is_empty());
    // Comments and whitespace only: the same.
    assert_eq!(ok("# nothing here\n\n   \n"), spec);
}

#[test]
fn minimal_service_gets_every_default() {
    let spec = ok("[services.web]\ncommand = \"python3 -m http.server $PORT\"\n");
    let web = &spec.services["web"];
    let mut expected =
        ServiceSpec::new("web", Command::Shell("python3 -m http.server $PORT".into()));
    expected.name = "web".into();
    assert_eq!(web, &expected);
    assert_eq!(web.version, "1");
    assert_eq!(web.instances, 1);
    assert_eq!(web.deploy.strategy, Strategy::Rolling);
    assert_eq!(web.deploy.canary.steps, vec![10, 50, 100]);
    assert_eq!(
        web.command.argv(),
        ["sh", "-c", "python3 -m http.server $PORT"]
    );
}

#[test]
fn real_machine_check_accepts_the_design_example_from_disk() {
    // The default resolver looks at the real PATH; python3 is present where Shoal is built.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shoal.toml");
    std::fs::write(&path, fixture("full.toml")).expect("write");
    let spec = match parse_file(&path) {
        Ok(spec) => spec,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(spec.base_dir, dir.path());
    assert_eq!(spec.platform.data_dir, dir.path().join(".shoal"));
}

#[test]
fn unreadable_file_is_an_error() {
    let err = parse_file(Path::new("/definitely/not/here/shoal.toml")).expect_err("must fail");
    assert_eq!(err.diagnostics.len(), 1);
    let d = &err.diagnostics[0];
    assert_eq!(
        (d.file.as_str(), d.line, d.column),
        ("/definitely/not/here/shoal.toml", 1, 1)
    );
    assert!(
        d.message.starts_with("cannot read the service file"),
        "{}",
        d.message
    );
}

#[test]
fn versions_override_command_instances_and_env() {
    let spec = ok(r#"
[services.api]
command = ["python3", "api.py"]
version = 23
instances = 3
env = { MODE = "fast", DB = "${kv:db}" }
[services.api.versions.22]
env = { MODE = "slow" }
[services.api.versions."21-rc.1"]
command = "python3 old.py"
instances = 0
"#);
    let api = &spec.services["api"];
    assert_eq!(
        api.version, "23",
        "an integer version is taken as its label"
    );
    let runs = api.version_runs();
    let labels: Vec<&str> = runs.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(labels, ["23", "21-rc.1", "22"]);
    assert_eq!(runs[1].command, Command::Shell("python3 old.py".into()));
    assert_eq!(runs[1].instances, 0);
    assert_eq!(runs[2].command, api.command, "command is inherited");
    assert_eq!(runs[2].instances, 3, "instances are inherited");
    assert_eq!(runs[2].env["MODE"].raw, "slow");
    assert_eq!(runs[2].env["DB"].parts, vec![EnvPart::Kv("db".into())]);
    assert!(api.version_run("99").is_none());
    let paths: Vec<&str> = spec.sections.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "services.api",
            "services.api.env.DB:kv",
            "services.api.versions.22",
            "services.api.versions.21-rc.1"
        ]
    );
}
