//! Refused files: every class of problem, reported all at once with exact `LINE:COLUMN`.

mod common;

use common::{errors, fixture, parse};

#[test]
fn every_problem_of_a_file_is_reported_at_once_in_file_order() {
    let err = parse(&fixture("many_errors.toml")).expect_err("refused");
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "shoal.toml:3:11: platform `gateway` collides with `http` (127.0.0.1:8500): both listen on TCP port 8500",
            "shoal.toml:4:14: invalid `port_range` \"30000-20000\": the first port (30000) is greater than the last (20000)",
            "shoal.toml:8:1: unknown field `instnces` in [services.web] (did you mean `instances`?)",
            "shoal.toml:9:11: invalid version \"bad version\": use 1 to 63 letters, digits, `.`, `_` or `-`",
            "shoal.toml:12:8: health `http` must be a path starting with `/` (e.g. \"/health\"), found \"health\"",
            "shoal.toml:13:1: unknown field `timout` in [services.web.health] (did you mean `timeout`?)",
            "shoal.toml:16:12: invalid `strategy` \"bluegreen\": expected one of `rolling`, `canary`, `blue-green` (did you mean `blue-green`?)",
            "shoal.toml:17:25: canary steps must be strictly increasing: 5 follows 10",
            "shoal.toml:19:11: invalid service name `Bad_Name`: use 1 to 63 lower-case letters, digits or `-`, not starting or ending with `-`",
        ]
    );
}

#[test]
fn toml_syntax_errors_have_a_location() {
    assert_eq!(
        errors(&fixture("syntax_error.toml")),
        ["3:13: invalid TOML: string values must be quoted, expected literal string"]
    );
    assert_eq!(
        errors("[services.web\n"),
        ["1:14: invalid TOML: unclosed table, expected `]`"]
    );
    assert_eq!(
        errors("a = 1\na = 2\n"),
        ["2:1: invalid TOML: duplicate key"]
    );
}

#[test]
fn unknown_fields_everywhere_with_suggestions() {
    let src = "servics = 1\n[platform]\nhtp = \"127.0.0.1:1\"\n[flags.x]\nenable = true\nzzz = 1\n";
    assert_eq!(
        errors(src),
        [
            "1:1: unknown field `servics` at the top level (did you mean `services`?)",
            "3:1: unknown field `htp` in [platform] (did you mean `http`?)",
            "5:1: unknown field `enable` in [flags.x] (did you mean `enabled`?)",
            "6:1: unknown field `zzz` in [flags.x]",
        ]
    );
    // Inside inline tables the key itself is pointed at.
    let src = "[services.a]\ncommand = \"x\"\n[services.a.resilience]\nretries = { attempts = 1, budgit = 0.1 }\n";
    assert_eq!(
        errors(src),
        ["4:27: unknown field `budgit` in [services.a.resilience.retries] (did you mean `budget`?)"]
    );
}

#[test]
fn wrong_types_point_at_the_value() {
    let src = "[services.a]\ncommand = 5\ninstances = \"2\"\nhealth = 3\nroutes = \"/a\"\n";
    assert_eq!(
        errors(src),
        [
            "2:11: `command` must be an argv array like [\"python3\", \"app.py\"] or a shell string, found an integer",
            "3:13: `instances` must be an integer, found a string",
            "4:10: `services.a.health` must be a table, found an integer",
            "5:10: `routes` must be an array of strings, found a string",
        ]
    );
    assert_eq!(
        errors("[[services]]\nx = 1\n"),
        ["1:1: `services` must be a table, found an array of tables"]
    );
}

#[test]
fn durations_addresses_and_port_ranges() {
    let src = r#"
[platform]
http = "localhost:8500"
dns = "127.0.0.1:99999"
port_range = "80-90"
[services.a]
command = "x"
[services.a.health]
tcp = true
interval = "10"
timeout = 5
grace = "soon"
restart_after = "0s"
"#;
    let e = errors(src);
    assert_eq!(e.len(), 7, "{e:#?}");
    assert_eq!(e[0], "3:8: invalid address \"localhost:8500\" for `http`: write IP:PORT, e.g. \"127.0.0.1:8500\"");
    assert!(
        e[1].starts_with("4:7: invalid address \"127.0.0.1:99999\""),
        "{}",
        e[1]
    );
    assert_eq!(
        e[2],
        "5:14: invalid `port_range` \"80-90\": `80` is not a port between 1024 and 65535"
    );
    assert!(
        e[3].starts_with("10:12: invalid duration \"10\" for `interval`: "),
        "{}",
        e[3]
    );
    assert_eq!(
        e[4],
        "11:11: `timeout` must be a duration string like \"10s\", found an integer"
    );
    assert!(
        e[5].starts_with("12:9: invalid duration \"soon\" for `grace`"),
        "{}",
        e[5]
    );
    assert_eq!(e[6], "13:17: `restart_after` must be longer than zero");
    // "1h30m" style durations are fine.
    let spec = common::ok(
        "[services.a]\ncommand = \"x\"\n[services.a.deploy]\nkeep_previous = \"1h30m\"\n",
    );
    assert_eq!(spec.services["a"].deploy.keep_previous.as_secs(), 5400);
}

#[test]
fn listeners_collide_only_on_a_shared_protocol() {
    // http (TCP) and statsd (UDP) may share a port; dns (UDP+TCP) may not share with either.
    let src = "[platform]\nhttp = \"127.0.0.1:9000\"\nstatsd = \"127.0.0.1:9000\"\n";
    assert!(parse(src).is_ok());
    let src = "[platform]\nstatsd = \"0.0.0.0:9000\"\ndns = \"127.0.0.1:9000\"\n";
    assert_eq!(
        errors(src),
        ["3:7: platform `dns` collides with `statsd` (0.0.0.0:9000): both listen on UDP port 9000"]
    );
    // Different addresses, or port 0 (ephemeral), never collide.
    let src = "[platform]\nhttp = \"127.0.0.1:0\"\ndns = \"127.0.0.1:0\"\ngateway = \"127.0.0.2:8500\"\nstatsd = \"127.0.0.1:0\"\n";
    assert!(parse(src).is_ok());
    // A listener inside the instance port range.
    let src = "[platform]\ngateway = \"127.0.0.1:20080\"\n";
    assert_eq!(
        errors(src),
        ["2:11: platform `gateway` port 20080 lies inside `port_range` 20000-29999, whose ports go to instances"]
    );
}

#[test]
fn numbers_out_of_range() {
    let src = r#"
[services.a]
command = "x"
instances = 20000
[services.a.health]
exec = ["./check"]
healthy_threshold = 0
[services.a.resilience]
retries = { budget = 1.5 }
circuit = { error_rate = 0 }
fallback = { status = 700 }
[flags.f]
rollout = 101
"#;
    assert_eq!(
        errors(src),
        [
            "4:13: `instances` must be between 0 and 10000, found 20000",
            "7:21: `healthy_threshold` must be between 1 and 1000, found 0",
            "9:22: `budget` must be between 0 and 1, found 1.5",
            "10:26: `error_rate` must be greater than 0 and at most 1, found 0",
            "11:23: `status` must be between 100 and 599, found 700",
            "13:11: `rollout` must be between 0 and 100, found 101",
        ]
    );
    let spec = common::ok("[services.a]\ncommand = \"x\"\ninstances = 0\n");
    assert_eq!(spec.services["a"].instances, 0);
}

#[test]
fn canary_steps_and_deploy_rules() {
    let bad = |steps: &str| {
        errors(&format!(
            "[services.a]\ncommand = \"x\"\n[services.a.deploy]\ncanary = {{ steps = {steps} }}\n"
        ))
    };
    assert_eq!(
        bad("[10, 50]"),
        ["4:25: canary steps must end at 100 (all traffic on the new version)"]
    );
    assert_eq!(
        bad("[0, 100]"),
        ["4:21: canary step must be a percent between 1 and 100, found `0`"]
    );
    assert_eq!(
        bad("[50, 50, 100]"),
        ["4:25: canary steps must be strictly increasing: 50 follows 50"]
    );
    assert_eq!(
        bad("[]"),
        ["4:20: canary steps must end at 100 (all traffic on the new version)"]
    );
    let src =
        "[services.a]\ncommand = \"x\"\n[services.a.deploy]\nmax_surge = 0\nmax_unavailable = 0\n";
    assert_eq!(
        errors(src),
        ["5:19: `max_surge` and `max_unavailable` are both 0: a rollout could never make progress"]
    );
    let spec = common::ok("[services.a]\ncommand = \"x\"\n[services.a.deploy]\nstrategy = \"blue-green\"\nmax_surge = 0\nmax_unavailable = 1\n");
    assert_eq!(
        spec.services["a"].deploy.strategy,
        shoal_spec::Strategy::BlueGreen
    );
}

#[test]
fn scale_bounds_and_instances() {
    let src =
        "[services.a]\ncommand = \"x\"\ninstances = 12\n[services.a.scale]\nmin = 2\nmax = 10\n";
    assert_eq!(
        errors(src),
        ["3:13: `instances` (12) must be within scale bounds 2..=10"]
    );
    let src = "[services.a]\ncommand = \"x\"\n[services.a.scale]\nmin = 5\nmax = 3\ntarget = {}\n";
    assert_eq!(
        errors(src),
        [
            "5:7: scale `max` (3) must be at least `min` (5)",
            "6:1: [services.a.scale.target] is empty: give at least one of `rps`, `p95_ms`, `cpu`, `inflight`",
        ]
    );
    // Without an explicit count, instances start inside the bounds.
    let spec = common::ok("[services.a]\ncommand = \"x\"\n[services.a.scale]\nmin = 3\nmax = 6\n");
    assert_eq!(spec.services["a"].instances, 3);
}

#[test]
fn names_versions_and_routes() {
    let src = r#"
[services.-web]
command = "x"
[services.api]
command = "x"
version = "1"
routes = ["/api", "api", "/api"]
[services.api.versions.1]
instances = 1
[services.api.versions."a b"]
instances = 1
[services.b]
command = "x"
routes = ["/api"]
"#;
    assert_eq!(
        errors(src),
        [
            "2:11: invalid service name `-web`: use 1 to 63 lower-case letters, digits or `-`, not starting or ending with `-`",
            "7:19: invalid route \"api\": a route is a path prefix starting with `/`, like \"/profile\"",
            "7:26: route \"/api\" is listed twice",
            "8:24: version `1` is the service's current `version`; [versions.1] is for other versions",
            "10:24: invalid version label `a b`: use 1 to 63 letters, digits, `.`, `_` or `-`",
            "14:11: route \"/api\" is already routed to service `api`",
        ]
    );
}

#[test]
fn health_needs_exactly_one_check() {
    let base = "[services.a]\ncommand = \"x\"\n[services.a.health]\n";
    assert_eq!(
        errors(&format!("{base}interval = \"1s\"\n")),
        ["3:1: [services.a.health] needs a check: `http = \"/health\"`, `tcp = true` or `exec = [\"./check\"]`"]
    );
    assert_eq!(
        errors(&format!("{base}http = \"/h\"\ntcp = true\n")),
        ["5:1: `tcp` conflicts with `http`: a health check has exactly one of `http`, `tcp`, `exec`"]
    );
    assert_eq!(
        errors(&format!("{base}exec = [\"./nope\"]\n")),
        ["4:9: health check program `./nope` not found (no executable file at /app/./nope)"]
    );
    let spec = common::ok(&format!("{base}exec = [\"./check\", \"--quick\"]\n"));
    let check = spec.services["a"].health.as_ref().map(|h| h.check.clone());
    assert_eq!(
        check,
        Some(shoal_spec::CheckKind::Exec {
            argv: vec!["./check".into(), "--quick".into()]
        })
    );
}

#[test]
fn commands_must_exist() {
    let cmd = |c: &str| errors(&format!("[services.a]\ncommand = {c}\n"));
    assert_eq!(
        cmd("[\"foo\", \"x\"]"),
        ["2:12: command `foo` not found (not on PATH)"]
    );
    assert_eq!(
        cmd("[\"bin/run\"]"),
        ["2:12: command `bin/run` not found (no executable file at /app/bin/run)"]
    );
    assert_eq!(
        cmd("[]"),
        ["2:11: `command` must not be empty: give at least the program"]
    );
    assert_eq!(cmd("\"  \""), ["2:11: `command` must not be empty"]);
    assert_eq!(
        cmd("[\"python3\", 3]"),
        ["2:23: `command` must contain only strings, found integer"]
    );
    assert_eq!(
        errors("[services.a]\ninstances = 1\n"),
        ["1:1: missing field `command` in [services.a]"]
    );
    // A string command needs `sh`.
    let no_sh = common::Stub {
        on_path: vec![],
        files: vec![],
    };
    let err = shoal_spec::parse_str_with(
        "[services.a]\ncommand = \"run\"\n",
        "f.toml",
        std::path::Path::new("/"),
        &no_sh,
    )
    .expect_err("no sh");
    assert_eq!(err.to_string(), "f.toml:2:11: `sh` not found (not on PATH), needed to run a string command; use an argv array");
}

#[test]
fn env_names_and_templates() {
    let src = r#"[services.a]
command = "x"
env = { "1X" = "a", PORT = "1", OK = "pre ${kv:a/b} post", BAD = "x${vault:k}", OPEN = 'ab${kv:x', N = 3, T = [1] }
"#;
    assert_eq!(
        errors(src),
        [
            "3:9: invalid env name `1X`: use letters, digits and `_`, not starting with a digit",
            "3:21: env `PORT` is set by Shoal for every instance; choose another name",
            "3:68: env `BAD`: malformed reference `${vault:k}`: write `${kv:KEY}` or `${secret:NAME}` (`$$` for a literal `$`)",
            "3:91: env `OPEN`: unclosed `${`: write `${kv:KEY}` or `${secret:NAME}` (`$$` for a literal `$`)",
            "3:111: env `T` must be a string, number or boolean, found an array",
        ]
    );
    // An escaped string cannot be mapped char by char: the value start is reported.
    let src = "[services.a]\ncommand = \"x\"\nenv = { B = \"\\t${nope}\" }\n";
    assert_eq!(
        errors(src),
        ["3:13: env `B`: malformed reference `${nope}`: write `${kv:KEY}` or `${secret:NAME}` (`$$` for a literal `$`)"]
    );
}

#[test]
fn callers_and_flags() {
    let src = r#"[services.frontend]
command = "x"
[services.api]
command = "x"
[services.api.resilience]
callers = { frontnd = "high", batch = "urgent", other = { priority = "low", share = 0.8, x = 1 }, more = { share = 0.5 } }
[flags."bad name"]
[flags.beta]
force_on = { header = "X Beta" }
"#;
    assert_eq!(
        errors(src),
        [
            "6:1: caller shares add up to 1.3, more than 1 (the whole capacity)",
            "6:13: unknown caller `frontnd`: no such service in this file (did you mean `frontend`?)",
            "6:39: invalid `batch` \"urgent\": expected one of `critical`, `high`, `normal`, `low`",
            "6:90: unknown field `x` in [services.api.resilience.callers.other]",
            "7:8: invalid flag name `bad name`: use 1 to 64 letters, digits, `_` or `-`",
            "9:1: missing field `values` in [flags.beta.force_on]",
            "9:23: invalid header name \"X Beta\" in `force_on`",
        ]
    );
}

#[test]
fn port_range_must_fit_every_instance() {
    let src = |n: u32| {
        format!("[platform]\nport_range = \"20000-20003\"\n[services.a]\ncommand = \"x\"\ninstances = {n}\n")
    };
    // 3 instances + 1 surge fit in 4 ports; 4 + 1 do not.
    assert!(parse(&src(3)).is_ok());
    assert_eq!(
        errors(&src(4)),
        ["2:14: `port_range` 20000-20003 holds 4 ports but the services may run up to 5 instances at once \
          (instances or scale.max, plus other versions and max_surge); widen the range"]
    );
}

#[test]
fn protocol_is_http1_or_h2c() {
    let ok = parse("[services.grpc]\ncommand = \"x\"\nprotocol = \"h2c\"\n").expect("h2c is valid");
    assert_eq!(ok.services["grpc"].protocol, shoal_spec::Protocol::H2c);
    let plain = parse("[services.web]\ncommand = \"x\"\n").expect("valid");
    assert_eq!(plain.services["web"].protocol, shoal_spec::Protocol::Http1);
    assert_eq!(
        errors("[services.grpc]\ncommand = \"x\"\nprotocol = \"h2\"\n"),
        ["3:12: invalid `protocol` \"h2\": expected one of `http1`, `h2c` (did you mean `h2c`?)"]
    );
}

#[test]
fn cluster_keys_of_the_platform() {
    let ok = parse(
        "[platform]\nstore = \"etcd://10.0.0.1:2379,10.0.0.2:2379\"\nnode = \"m1\"\nadvertise = \"10.0.0.1\"\nlabels = { disk = \"ssd\" }\n",
    )
    .expect("accepted");
    assert_eq!(ok.platform.node.as_deref(), Some("m1"));
    assert_eq!(ok.platform.labels["disk"], "ssd");
    assert_eq!(
        errors(
            "[platform]\nstore = \"http://x:2379\"\nadvertise = \"host\"\nlabels = { disk = 1 }\n"
        ),
        [
            "2:9: `store` must be etcd://HOST:PORT[,HOST:PORT...], got \"http://x:2379\"",
            "3:13: invalid address \"host\" for `advertise`: write an IP, e.g. \"10.0.0.1\"",
            "4:19: `disk` must be a string, found an integer",
        ]
    );
}

#[test]
fn resources_and_constraints_of_a_service() {
    let ok = parse(
        "[services.db]\ncommand = \"x\"\nresources = { cpu = 0.5, memory = \"1GiB\" }\nconstraints = { disk = \"ssd\" }\n\n[services.web]\ncommand = \"x\"\nresources = { cpu = \"250m\", memory = 64 }\n",
    )
    .expect("accepted");
    let db = &ok.services["db"];
    assert_eq!(
        (db.resources.cpu_millis, db.resources.memory_mb),
        (500, 1024)
    );
    assert_eq!(db.constraints["disk"], "ssd");
    assert_eq!(ok.services["web"].resources.cpu_millis, 250);
    assert_eq!(
        errors("[services.db]\ncommand = \"x\"\nresources = { cpu = \"lots\", memory = \"1TB\", gpu = 1 }\n"),
        [
            "3:21: invalid `cpu` \"lots\": write cores (0.5) or millicores (\"500m\")",
            "3:38: invalid `memory` \"1TB\": write \"256MiB\", \"1GiB\" or a number of MiB",
            "3:45: unknown field `gpu` in [services.db.resources] (did you mean `cpu`?)",
        ]
    );
}

#[test]
fn chaos_and_allow_external_are_booleans() {
    let spec = common::ok(
        "[platform]\nchaos = true\n\n[services.web]\ncommand = \"x\"\nallow_external = true\n",
    );
    assert!(spec.platform.chaos);
    assert!(spec.services["web"].allow_external);
    let spec = common::ok("[services.web]\ncommand = \"x\"\n");
    assert!(!spec.platform.chaos && !spec.services["web"].allow_external);
    let errs = errors(
        "[platform]\nchaos = \"yes\"\n\n[services.web]\ncommand = \"x\"\nallow_external = 1\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("2:9: `chaos` must be true or false"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("6:18: `allow_external` must be true or false"),
        "{errs:?}"
    );
}
