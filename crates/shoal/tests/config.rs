//! Configuration from KV and secrets: changes roll through instances one at a
//! time with zero failed requests; secrets never appear in plain text on disk
//! or in logs.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Traffic, APP, BIN, HEALTHY};
use shoal_testkit::{wait_until, Platform};

fn service(env: &str) -> String {
    format!(
        r#"
[services.web]
command = ["python3", "app.py"]
instances = 3
env = {{ GREETING = "{env}" }}
deploy = {{ drain = "2s" }}

[services.web.health]
http = "/health"
interval = "100ms"
"#
    )
}

fn greetings(p: &Platform) -> Vec<String> {
    (0..12)
        .filter_map(|_| p.gateway("web", "/").ok())
        .map(|r| r.json()["greeting"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_kv_change_rolls_every_instance_with_zero_failed_requests() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&service("${kv:web/greeting}"))
        .start()
        .expect("start");
    assert!(
        p.stderr().contains("web/greeting"),
        "the missing key is named: {}",
        p.stderr()
    );
    assert!(
        p.instances("web").is_empty(),
        "nothing starts without its config"
    );

    let out = p
        .cli(&["kv", "put", "web/greeting", "hello"])
        .expect("kv put");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = p
        .wait_healthy("web", 3, HEALTHY)
        .expect("starts once the key exists");
    assert!(greetings(&p).iter().all(|g| g == "hello"));
    let out = p.cli(&["kv", "get", "web/greeting"]).expect("kv get");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");

    let traffic = Traffic::start(&p, 4, "web", "/");
    wait_until("traffic flowing", HEALTHY, || {
        (traffic.ok.load(Ordering::Relaxed) > 50).then_some(())
    })
    .expect("traffic");
    let out = p
        .cli(&["kv", "put", "web/greeting", "bonjour"])
        .expect("kv put");
    assert!(out.status.success());
    let old: Vec<String> = first
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("").to_string())
        .collect();
    wait_until("every instance replaced", Duration::from_secs(60), || {
        let now = p.instances("web");
        let replaced = now.len() == 3
            && now.iter().all(|i| {
                !old.contains(&i["id"].as_str().unwrap_or("").to_string())
                    && i["health"] == "passing"
            });
        replaced.then_some(())
    })
    .expect("rolled");
    // Keep the traffic on a little after the last old instance left.
    let seen = traffic.ok.load(Ordering::Relaxed);
    wait_until("more traffic", HEALTHY, || {
        (traffic.ok.load(Ordering::Relaxed) > seen + 50).then_some(())
    })
    .expect("traffic");
    let (ok, failed, errors) = traffic.finish();
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during the rollout: {:?}",
        ok + failed,
        &errors[..errors.len().min(5)]
    );
    assert!(greetings(&p).iter().all(|g| g == "bonjour"));
    eprintln!("rollout under load: {ok} requests, 0 failed");
}

#[test]
fn secrets_are_encrypted_at_rest_never_logged_and_rotation_rolls() {
    const PLAIN: &str = "pl41n-s3cret-value-7f3a9";
    const ROTATED: &str = "r0tated-s3cret-value-c41b";
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&service("${secret:db/pw}"))
        .start()
        .expect("start");
    let mut put = std::process::Command::new(BIN)
        .args(["secret", "put", "db/pw"])
        .env("SHOAL_ADDR", format!("http://{}", p.http))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("secret put");
    if let Some(mut stdin) = put.stdin.take() {
        use std::io::Write;
        stdin.write_all(PLAIN.as_bytes()).expect("stdin");
    }
    assert!(put.wait_with_output().expect("wait").status.success());
    p.wait_healthy("web", 3, HEALTHY)
        .expect("starts with its secret");
    assert!(
        greetings(&p).iter().all(|g| g == PLAIN),
        "instances got the secret"
    );

    let out = p
        .cli(&["secret", "rotate", "db/pw", ROTATED])
        .expect("rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "instances use the rotated secret",
        Duration::from_secs(60),
        || {
            (p.instances("web").len() == 3 && greetings(&p).iter().all(|g| g == ROTATED))
                .then_some(())
        },
    )
    .expect("rolled to the new version");
    let out = p.cli(&["secret", "get", "db/pw"]).expect("get");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ROTATED);

    // Listings, the Consul KV view, logs and Shoal's own output never show it.
    let list = p.cli(&["secret", "list"]).expect("list");
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(list.contains("db/pw") && list.contains("1,2"), "{list}");
    let kv = p.api("GET", "/v1/kv/?recurse", None).expect("kv").text();
    let logs = p.cli(&["logs", "-n", "100000"]).expect("logs");
    let logs = String::from_utf8_lossy(&logs.stdout).to_string();
    let bad = p.cli(&["secret", "get", "../etc"]).expect("bad name");
    let bad = String::from_utf8_lossy(&bad.stderr).to_string();
    for (what, text) in [
        ("list", &list),
        ("kv", &kv),
        ("logs", &logs),
        ("stderr", &p.stderr()),
        ("error", &bad),
    ] {
        assert!(
            !text.contains(PLAIN) && !text.contains(ROTATED),
            "secret in {what}: {text}"
        );
    }
    // Nor does any file in the data dir (the store holds only ciphertext).
    let mut files = 0;
    let mut stack = vec![p.dir().join("data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            files += 1;
            for plain in [PLAIN, ROTATED] {
                assert!(
                    !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                    "plain text in {}",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 2, "looked at the store and the key file");
}
