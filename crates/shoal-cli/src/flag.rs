//! `shoal flag list/get/set/delete`: feature flags, edited through `/api/v1/flags`; the
//! rules given on the command line are read here first, so a typo sends nothing.

use clap::{Args, Subcommand};
use serde_json::Value;
use shoal_api::FlagView;
use shoal_flags::{parse_constraint, parse_force, parse_rollout, parse_variants, Flag, FlagChange};

use crate::client::{encode_query, Client, ClientError};
use crate::flag_view::{one_line, render_list, render_one};
use crate::table::now_ms;

/// Examples shown by `shoal flag --help`.
pub const FLAG_EXAMPLES: &str = "\
Examples:
  shoal flag list
  shoal flag get new_profile
  shoal flag set new_profile --on --rollout 30
  shoal flag set new_profile --force X-Beta=1 --constraint 'header:X-Country in DE,FR'
  shoal flag set checkout --create --on --variants blue:50,green:50
  shoal flag delete new_profile

The gateway evaluates every flag once per request and sends X-Flag-<NAME>: 1|0 (or the
variant) to the service; services may also ask through OFREP (/ofrep/v1/evaluate/flags).";

const SET_EXAMPLES: &str = "\
Examples:
  shoal flag set new_profile --on --rollout 30          # 30% of users, sticky by X-User-Id
  shoal flag set new_profile --rollout 60               # the same 30% keep it, 30% more get it
  shoal flag set new_profile --force X-Beta=1,yes       # on for requests with X-Beta: 1 or yes
  shoal flag set new_profile --allow u1,u2 --deny u3    # always on for u1 and u2, never for u3
  shoal flag set new_profile --constraint header:X-Country=DE --constraint path:/shop
  shoal flag set checkout --create --on --variants blue:50,green:50 --off-variant classic
  shoal flag set new_profile --off                      # off for everyone, rules kept

Rules are checked here first: a malformed one exits 2 and nothing is sent. The change is
applied and validated as a whole by Shoal: every problem is listed, nothing is written.";

/// `shoal flag ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum FlagCommand {
    /// Every flag: state, rollout, rules, and how it answered in the last minute.
    List,
    /// One flag with every rule.
    Get {
        /// The flag's name.
        name: String,
    },
    /// Change a flag's rules (or create it with --create); prints the flag as stored.
    #[command(after_help = SET_EXAMPLES)]
    Set(SetArgs),
    /// Delete a flag (a flag declared in the service file comes back on its next deploy).
    Delete {
        /// The flag's name.
        name: String,
    },
}

/// `shoal flag set NAME ...`: what is not given stays as it is.
#[derive(Args, Debug, Clone, Default)]
pub struct SetArgs {
    /// The flag's name: 1 to 64 letters, digits, `_` or `-` (the gateway sends X-Flag-NAME).
    pub name: String,
    /// Turn the flag on.
    #[arg(long, conflicts_with = "off")]
    pub on: bool,
    /// Turn the flag off for everyone (its rules are kept).
    #[arg(long)]
    pub off: bool,
    /// Percent of users who get the flag, sticky per user: 30, 12.5 or 12.5%.
    #[arg(long, value_name = "PERCENT")]
    pub rollout: Option<String>,
    /// The request header carrying the user key (default X-User-Id).
    #[arg(long, value_name = "HEADER")]
    pub user_header: Option<String>,
    /// Force the flag on (even at rollout 0) for requests whose HEADER has one of the
    /// VALUEs; replaces the rule of the same header. Repeat for several headers.
    #[arg(long, value_name = "HEADER=VALUE[,VALUE...]")]
    pub force: Vec<String>,
    /// Remove every force rule (before adding those of --force).
    #[arg(long)]
    pub clear_force: bool,
    /// Replace the allow list: user keys that always get the flag while it is on ('' empties it).
    #[arg(long, value_name = "KEY,KEY")]
    pub allow: Option<String>,
    /// Replace the deny list: user keys that never get the flag ('' empties it).
    #[arg(long, value_name = "KEY,KEY")]
    pub deny: Option<String>,
    /// Replace the constraints, which must all hold for the rollout to apply:
    /// 'header:X-Country=DE', 'header:X-Country in DE,FR' or 'path:/beta'. Repeat for several.
    #[arg(long, value_name = "RULE")]
    pub constraint: Vec<String>,
    /// Remove every constraint.
    #[arg(long, conflicts_with = "constraint")]
    pub clear_constraints: bool,
    /// Serve weighted variants instead of on/off: NAME:WEIGHT,... e.g. blue:50,green:50.
    #[arg(long, value_name = "NAME:WEIGHT,...")]
    pub variants: Option<String>,
    /// Make a variant flag an on/off flag again.
    #[arg(long, conflicts_with = "variants")]
    pub clear_variants: bool,
    /// What a variant flag answers to requests that do not get it (default `off`).
    #[arg(long, value_name = "NAME")]
    pub off_variant: Option<String>,
    /// Create the flag if it does not exist (disabled, rollout 100%, then these changes).
    #[arg(long)]
    pub create: bool,
}

/// Why a `shoal flag` command failed.
#[derive(Debug, thiserror::Error)]
pub enum FlagCliError {
    /// The command line is wrong; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// The API refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl FlagCliError {
    /// 2 for a command line refused here (nothing sent), 1 for anything the API answered.
    pub fn exit_code(&self) -> u8 {
        match self {
            FlagCliError::Usage(_) => 2,
            FlagCliError::Client(_) => 1,
        }
    }
}

/// The change `shoal flag set` asks for, read from the command line; a malformed rule
/// is refused naming its text.
pub fn flag_change(args: &SetArgs) -> Result<FlagChange, FlagCliError> {
    let usage = |e: shoal_flags::FlagError| FlagCliError::Usage(e.to_string());
    if !Flag::new(args.name.as_str()).problems().is_empty() {
        return Err(FlagCliError::Usage(format!(
            "invalid flag name `{}`: use 1 to 64 letters, digits, `_` or `-`",
            args.name
        )));
    }
    let mut change = FlagChange {
        enabled: match (args.on, args.off) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        rollout: args
            .rollout
            .as_deref()
            .map(parse_rollout)
            .transpose()
            .map_err(usage)?,
        user_header: args.user_header.clone(),
        force_on_clear: args.clear_force,
        allow: args.allow.as_deref().map(keys),
        deny: args.deny.as_deref().map(keys),
        off_variant: args.off_variant.clone(),
        ..FlagChange::default()
    };
    for text in &args.force {
        change.force_on_add.push(parse_force(text).map_err(usage)?);
    }
    if args.clear_constraints {
        change.constraints = Some(Vec::new());
    } else if !args.constraint.is_empty() {
        let parsed: Result<Vec<_>, _> = args
            .constraint
            .iter()
            .map(|c| parse_constraint(c))
            .collect();
        change.constraints = Some(parsed.map_err(usage)?);
    }
    if args.clear_variants {
        change.variants = Some(Vec::new());
    } else if let Some(text) = &args.variants {
        change.variants = Some(parse_variants(text).map_err(usage)?);
    }
    if change.is_empty() && !args.create {
        return Err(FlagCliError::Usage(format!(
            "nothing to change for `{}`: give --on, --off, --rollout, --force, --allow, --deny, \
             --constraint or --variants (see `shoal flag set --help`)",
            args.name
        )));
    }
    Ok(change)
}

/// `A,B` as user keys; `''` as none.
fn keys(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

fn path(name: &str) -> String {
    format!("/api/v1/flags/{}", encode_query(name))
}

/// Runs `shoal flag ...`; answers what to print.
pub async fn flag(client: &Client, cmd: &FlagCommand, json: bool) -> Result<String, FlagCliError> {
    match cmd {
        FlagCommand::List => {
            let flags: Vec<FlagView> = client.get("/api/v1/flags").await?;
            Ok(if json {
                pretty(&flags)
            } else {
                render_list(&flags)
            })
        }
        FlagCommand::Get { name } => {
            let flag: FlagView = client.get(&path(name)).await?;
            Ok(if json {
                pretty(&flag)
            } else {
                render_one(&flag, now_ms())
            })
        }
        FlagCommand::Set(args) => {
            let change = flag_change(args)?;
            let body = serde_json::to_value(&change)
                .map_err(|e| FlagCliError::Usage(format!("cannot encode the change: {e}")))?;
            let flag: FlagView = if args.create {
                client.put(&path(&args.name), body).await?
            } else {
                client.patch(&path(&args.name), body).await?
            };
            Ok(if json { pretty(&flag) } else { one_line(&flag) })
        }
        FlagCommand::Delete { name } => {
            let gone: Value = client.delete(&path(name)).await?;
            let from_file = gone["origin"] == "file";
            Ok(if json {
                pretty(&gone)
            } else if from_file {
                format!("{name}: deleted (the service file declares it: it comes back on its next deploy)\n")
            } else {
                format!("{name}: deleted\n")
            })
        }
    }
}

fn pretty(v: &impl serde::Serialize) -> String {
    let text = serde_json::to_string_pretty(v)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    format!("{text}\n")
}

#[cfg(test)]
mod tests {
    use shoal_flags::Constraint;

    use super::*;

    fn args(name: &str) -> SetArgs {
        SetArgs {
            name: name.into(),
            ..SetArgs::default()
        }
    }

    fn refused(a: &SetArgs) -> String {
        match flag_change(a) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => {
                assert_eq!(e.exit_code(), 2);
                e.to_string()
            }
        }
    }

    #[test]
    fn every_option_becomes_part_of_the_change() {
        let a = SetArgs {
            on: true,
            rollout: Some("12.5%".into()),
            user_header: Some("X-Account".into()),
            force: vec!["X-Beta=1,yes".into()],
            clear_force: true,
            allow: Some("u1, u2".into()),
            deny: Some(String::new()),
            constraint: vec!["header:X-Country in DE,FR".into(), "path:/shop".into()],
            variants: Some("blue:50,green:50".into()),
            off_variant: Some("classic".into()),
            ..args("new_profile")
        };
        let c = flag_change(&a).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.enabled, c.rollout), (Some(true), Some(12.5)));
        assert_eq!(c.user_header.as_deref(), Some("X-Account"));
        assert!(c.force_on_clear);
        assert_eq!(c.force_on_add[0].values, ["1", "yes"]);
        assert_eq!(c.allow, Some(vec!["u1".to_owned(), "u2".to_owned()]));
        assert_eq!(c.deny, Some(vec![]));
        let constraints = c.constraints.unwrap_or_default();
        assert_eq!(
            constraints[1],
            Constraint::PathPrefix {
                prefix: "/shop".into()
            }
        );
        assert_eq!(c.variants.map(|v| v.len()), Some(2));
        assert_eq!(c.off_variant.as_deref(), Some("classic"));
        let off = flag_change(&SetArgs {
            off: true,
            clear_constraints: true,
            clear_variants: true,
            ..args("x")
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (off.enabled, off.constraints, off.variants),
            (Some(false), Some(vec![]), Some(vec![]))
        );
    }

    #[test]
    fn malformed_rules_are_refused_naming_the_text() {
        let bad = |a: SetArgs| refused(&a);
        assert_eq!(
            bad(SetArgs {
                rollout: Some("150".into()),
                ..args("x")
            }),
            "invalid rollout `150`: a rollout is a percent from 0 to 100"
        );
        assert!(bad(SetArgs {
            constraint: vec!["header:X-Country=DE".into(), "heder:X=1".into()],
            ..args("x")
        })
        .starts_with(
            "invalid constraint `heder:X=1`: unknown kind `heder` (did you mean `header`?)"
        ));
        assert!(bad(SetArgs {
            force: vec!["X-Beta".into()],
            ..args("x")
        })
        .starts_with("invalid force rule `X-Beta`"));
        assert!(bad(SetArgs {
            variants: Some("blue".into()),
            ..args("x")
        })
        .starts_with("invalid variants `blue`"));
        assert_eq!(
            bad(SetArgs {
                on: true,
                ..args("bad name")
            }),
            "invalid flag name `bad name`: use 1 to 64 letters, digits, `_` or `-`"
        );
        assert!(bad(args("x")).starts_with("nothing to change for `x`"));
        assert!(flag_change(&SetArgs {
            create: true,
            ..args("x")
        })
        .is_ok());
    }
}
