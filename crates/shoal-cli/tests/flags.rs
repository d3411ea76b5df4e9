//! `shoal flag list/get/set/delete` against the real API on 127.0.0.1:0 over a real
//! embedded store, the arguments read by clap as the binary reads them.

mod common;

use common::{platform_with, Platform};

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Parser;
use shoal_cli::{flag, FlagCommand};

async fn platform() -> Platform {
    let counts: shoal_api::FlagCounts = Arc::new(|| {
        BTreeMap::from([(
            "new_profile".to_owned(),
            BTreeMap::from([("1".to_owned(), 1204), ("0".to_owned(), 2811)]),
        )])
    });
    platform_with(Some(counts)).await
}

/// `shoal flag ...` as the binary parses it.
#[derive(Parser, Debug)]
#[command(name = "flag")]
struct Cli {
    #[command(subcommand)]
    command: FlagCommand,
}

impl Platform {
    /// Runs `shoal flag ARGS`: what it prints, or the error and the exit code.
    async fn run(&self, args: &[&str]) -> Result<String, (String, u8)> {
        let cli = Cli::try_parse_from(std::iter::once("flag").chain(args.iter().copied()))
            .map_err(|e| (e.to_string(), 2))?;
        flag(&self.client, &cli.command, false)
            .await
            .map_err(|e| (e.to_string(), e.exit_code()))
    }

    async fn ok(&self, args: &[&str]) -> String {
        self.run(args)
            .await
            .unwrap_or_else(|(e, code)| panic!("{args:?}: exit {code}: {e}"))
    }

    async fn fails(&self, args: &[&str]) -> (String, u8) {
        match self.run(args).await {
            Ok(out) => panic!("{args:?} succeeded: {out}"),
            Err(e) => e,
        }
    }

    /// The stored record, as bytes (to prove nothing was written).
    async fn stored(&self, name: &str) -> Option<Vec<u8>> {
        let kv = self
            .store
            .get(&shoal_catalog::flag_key(name))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        kv.map(|kv| kv.value.to_vec())
    }
}

#[tokio::test]
async fn flags_are_set_listed_shown_and_deleted() {
    let p = platform().await;
    assert!(p.ok(&["list"]).await.starts_with("no flags yet"));
    let out = p
        .ok(&[
            "set",
            "new_profile",
            "--create",
            "--on",
            "--rollout",
            "30",
            "--force",
            "X-Beta=1",
        ])
        .await;
    assert_eq!(
        out,
        "new_profile: on, rollout 30%, force X-Beta=1 (version 1)\n"
    );
    let out = p.ok(&["set", "new_profile", "--rollout", "60%"]).await;
    assert_eq!(
        out,
        "new_profile: on, rollout 60%, force X-Beta=1 (version 2)\n"
    );
    p.ok(&[
        "set",
        "checkout",
        "--create",
        "--variants",
        "blue:50,green:50",
        "--constraint",
        "header:X-Country in DE,FR",
        "--allow",
        "u1,u2",
    ])
    .await;

    let table = p.ok(&["list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(lines[0]), "NAME STATE ROLLOUT RULES LAST MIN");
    assert_eq!(
        words(lines[1]),
        "checkout off blue:50 green:50 allow 2, header:X-Country in DE,FR -"
    );
    assert_eq!(
        words(lines[2]),
        "new_profile on 60% force X-Beta=1 1 204 on / 2 811 off"
    );

    let one = p.ok(&["get", "new_profile"]).await;
    assert!(one.starts_with("new_profile: on\n"), "{one}");
    assert!(
        one.contains("  rollout      60% of users, by X-User-Id\n"),
        "{one}"
    );
    assert!(
        one.contains("  last minute  1 204 on / 2 811 off\n"),
        "{one}"
    );
    assert!(one.contains("the API; version 2"), "{one}");

    let json = flag(
        &p.client,
        &FlagCommand::Get {
            name: "checkout".into(),
        },
        true,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["variants"][1]["name"], "green");
    assert!(v["constraints"][0]["in"].is_array(), "{v}");

    assert_eq!(p.ok(&["delete", "checkout"]).await, "checkout: deleted\n");
    assert_eq!(p.stored("checkout").await, None);
}

#[tokio::test]
async fn a_bad_rollout_is_refused_here_and_changes_nothing() {
    let p = platform().await;
    p.ok(&["set", "new_profile", "--create", "--rollout", "30"])
        .await;
    let before = p.stored("new_profile").await;
    assert!(before.is_some());
    let (msg, code) = p.fails(&["set", "new_profile", "--rollout", "150"]).await;
    assert_eq!(
        (msg.as_str(), code),
        (
            "invalid rollout `150`: a rollout is a percent from 0 to 100",
            2
        )
    );
    let (msg, code) = p
        .fails(&["set", "new_profile", "--constraint", "header:X-Country"])
        .await;
    assert_eq!(code, 2);
    assert!(
        msg.starts_with("invalid constraint `header:X-Country`"),
        "{msg}"
    );
    let (msg, code) = p.fails(&["set", "new_profile", "--on", "--off"]).await;
    assert_eq!(code, 2, "clap refuses both: {msg}");
    // Refused by Shoal, listing every problem: exit 1.
    let (msg, code) = p
        .fails(&["set", "new_profile", "--allow", "u1", "--deny", "u1"])
        .await;
    assert_eq!(code, 1);
    assert!(
        msg.contains("would be invalid") && msg.contains("user `u1` is in both `allow` and `deny`"),
        "{msg}"
    );
    assert_eq!(p.stored("new_profile").await, before, "nothing was written");
}

#[tokio::test]
async fn an_unknown_flag_is_refused_naming_the_closest() {
    let p = platform().await;
    p.ok(&["set", "new_profile", "--create"]).await;
    let (msg, code) = p.fails(&["set", "new_proflie", "--on"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        msg,
        "404 Not Found: no flag named `new_proflie` (did you mean `new_profile`?)"
    );
    assert_eq!(p.stored("new_proflie").await, None);
    let (msg, _) = p.fails(&["get", "new-profile"]).await;
    assert!(msg.contains("did you mean `new_profile`?"), "{msg}");
    let (msg, _) = p.fails(&["delete", "new_profil"]).await;
    assert!(msg.contains("did you mean `new_profile`?"), "{msg}");
}

#[test]
fn help_shows_examples() {
    let err = Cli::try_parse_from(["flag", "set", "--help"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("--rollout <PERCENT>"), "{err}");
    assert!(
        err.contains("shoal flag set new_profile --on --rollout 30"),
        "{err}"
    );
}
