//! `shoal deploy FILE` (the plan, what started, `--wait`), `shoal deploy
//! --promote/--abort SERVICE` and `shoal rollback SERVICE`.

use http::StatusCode;
use serde_json::Value;
use shoal_api::{DeployAnswer, DeployRequest, RollbackRequest};
use shoal_deploy::submit::{strategy_name, Change, ChangeKind};
use shoal_deploy::{Deployment, Order, Status};

use crate::client::{encode_query, Client, ClientError};
use crate::history::{duration, versions};
use crate::wait::wait;

pub struct DeployArgs<'a> {
    /// The file's name as given (used in error locations).
    pub file: &'a str,
    /// Its text.
    pub toml: String,
    pub service: Option<&'a str>,
    pub dry_run: bool,
    pub wait: bool,
    pub json: bool,
}

/// What a deploy command prints last (with `--wait`, what started is printed
/// before the progress bars), and the deployments that did not succeed (printed to
/// standard error; the command then exits 1).
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub out: String,
    pub failures: Vec<String>,
}

/// `shoal deploy FILE`.
pub async fn deploy(client: &Client, args: DeployArgs<'_>) -> Result<Report, ClientError> {
    let req = DeployRequest {
        file: args.file.to_owned(),
        toml: args.toml,
        service: args.service.map(str::to_owned),
        dry_run: args.dry_run,
    };
    let body = serde_json::to_value(&req).map_err(|e| ClientError::Decode(e.to_string()))?;
    let mut answer: DeployAnswer = client
        .post("/api/v1/deploy", body)
        .await
        .map_err(spec_errors)?;
    if !args.wait || answer.deployments.is_empty() {
        return Ok(Report {
            out: if args.json {
                pretty(&answer)
            } else {
                render_answer(&answer, false)
            },
            failures: Vec::new(),
        });
    }
    if !args.json {
        // What started goes out now, above the bars.
        print!("{}", render_answer(&answer, true));
    }
    let (finals, failures) = outcomes(wait(client, &answer.deployments, args.json).await?);
    let out = if args.json {
        answer.deployments = finals;
        pretty(&answer)
    } else {
        render_finals(&finals)
    };
    Ok(Report { out, failures })
}

/// `shoal deploy --promote SERVICE` / `--abort SERVICE`.
pub async fn order(
    client: &Client,
    service: &str,
    order: Order,
    wait_end: bool,
    json: bool,
) -> Result<Report, ClientError> {
    let what = match order {
        Order::Promote => "promote",
        Order::Abort => "abort",
    };
    let path = format!("/api/v1/deployments/{}/{what}", encode_query(service));
    let d: Deployment = client.post(&path, Value::Null).await?;
    let said = format!(
        "{service}: {what} ordered for deployment {} ({} {}); the deployer carries it out on its next pass\n",
        d.id,
        strategy_name(d.strategy),
        versions(&d)
    );
    follow(client, d, said, wait_end, json).await
}

/// `shoal rollback SERVICE [--to N]`.
pub async fn rollback(
    client: &Client,
    service: &str,
    to: Option<u64>,
    wait_end: bool,
    json: bool,
) -> Result<Report, ClientError> {
    let path = format!("/api/v1/rollback/{}", encode_query(service));
    let body = serde_json::to_value(RollbackRequest { to })
        .map_err(|e| ClientError::Decode(e.to_string()))?;
    let d: Deployment = client.post(&path, body).await?;
    let said = format!("{service}: {}\n", first_step(&d));
    follow(client, d, said, wait_end, json).await
}

/// Says `said` (or the record as JSON); with `wait_end`, prints it at once and waits
/// for `d` to end.
async fn follow(
    client: &Client,
    d: Deployment,
    said: String,
    wait_end: bool,
    json: bool,
) -> Result<Report, ClientError> {
    if !wait_end {
        let out = if json { pretty(&d) } else { said };
        return Ok(Report {
            out,
            failures: Vec::new(),
        });
    }
    if !json {
        print!("{said}");
    }
    let (finals, failures) = outcomes(wait(client, std::slice::from_ref(&d), json).await?);
    let out = if json {
        pretty(&finals)
    } else {
        render_finals(&finals)
    };
    Ok(Report { out, failures })
}

/// The final records, and a line for each deployment that did not succeed.
fn outcomes(results: Vec<Result<Deployment, String>>) -> (Vec<Deployment>, Vec<String>) {
    let mut finals = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(d) => {
                if let Some(line) = failure(&d) {
                    failures.push(line);
                }
                finals.push(d);
            }
            Err(why) => failures.push(why),
        }
    }
    (finals, failures)
}

/// What to say about a deployment that ended without succeeding.
pub(crate) fn failure(d: &Deployment) -> Option<String> {
    let how = match d.status {
        Status::Succeeded | Status::Running => return None,
        Status::Failed => "failed",
        Status::RolledBack => "rolled back",
        Status::Superseded => "superseded",
    };
    Some(format!("deploy of {} {how}: {}", d.service, d.reason))
}

/// One line per succeeded deployment.
fn render_finals(finals: &[Deployment]) -> String {
    finals
        .iter()
        .filter(|d| d.status == Status::Succeeded)
        .map(|d| {
            let took = d
                .ended_ms
                .unwrap_or(d.updated_ms)
                .saturating_sub(d.started_ms);
            format!(
                "{}: deployment {} succeeded in {} ({} {})\n",
                d.service,
                d.id,
                duration(took),
                strategy_name(d.strategy),
                versions(d)
            )
        })
        .collect()
}

/// The plan, then what started (or that nothing was written); how to follow it
/// unless the command waits.
pub(crate) fn render_answer(a: &DeployAnswer, waits: bool) -> String {
    let mut out: String = a
        .changes
        .iter()
        .map(|c| format!("{}\n", plan_line(c)))
        .collect();
    if a.dry_run {
        out.push_str("dry run: nothing was written\n");
        return out;
    }
    for line in &a.flags {
        out.push_str(line);
        out.push('\n');
    }
    if a.changes.iter().all(|c| c.kind == ChangeKind::Unchanged) {
        out.push_str("nothing to deploy: no service changed\n");
        return out;
    }
    for d in &a.deployments {
        out.push_str(&format!("{}: {}\n", d.service, first_step(d)));
    }
    if let Some(d) = a.deployments.first().filter(|_| !waits) {
        out.push_str(&format!(
            "follow with `shoal status {}` or `shoal history {}` (or deploy with --wait)\n",
            d.service, d.service
        ));
    }
    out
}

/// One line of the plan, as `nomad job plan` would say it.
pub fn plan_line(c: &Change) -> String {
    let strategy = strategy_name(c.strategy);
    let from = c.from_version.as_deref().unwrap_or("-");
    match c.kind {
        ChangeKind::Added => format!("+ {} (new, {strategy})", c.service),
        ChangeKind::Removed => format!("- {} (removed)", c.service),
        ChangeKind::Unchanged => format!("= {} (unchanged)", c.service),
        ChangeKind::Rollout if c.fields.is_empty() => format!(
            "~ {}: {strategy} {from} -> {} (again: its last deployment failed)",
            c.service, c.to_version
        ),
        ChangeKind::Rollout => format!(
            "~ {}: {strategy} {from} -> {} ({})",
            c.service,
            c.to_version,
            c.fields.join(", ")
        ),
        ChangeKind::InPlace => {
            let fields: Vec<String> = c
                .fields
                .iter()
                .map(|f| match (f.as_str(), c.from_instances) {
                    ("instances", Some(n)) => format!("instances {n} -> {}", c.to_instances),
                    _ => f.clone(),
                })
                .collect();
            format!("~ {}: in place ({})", c.service, fields.join(", "))
        }
    }
}

fn first_step(d: &Deployment) -> String {
    d.steps.first().map_or_else(
        || format!("deployment {} started", d.id),
        |s| s.message.clone(),
    )
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// A refused file's problems (422; 400 from servers before 422 was used), one
/// `FILE:LINE:COLUMN` line each.
fn spec_errors(e: ClientError) -> ClientError {
    match e {
        ClientError::Api {
            status,
            error,
            detail: Some(detail),
        } if status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY => {
            match serde_json::from_str::<Vec<String>>(&detail) {
                Ok(lines) => ClientError::Api {
                    status,
                    error: format!("{error}:\n  {}", lines.join("\n  ")),
                    detail: None,
                },
                Err(_) => ClientError::Api {
                    status,
                    error,
                    detail: Some(detail),
                },
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::deployment;
    use shoal_spec::Strategy;

    fn change(kind: ChangeKind, fields: &[&str]) -> Change {
        Change {
            service: "web".into(),
            kind,
            strategy: Strategy::Rolling,
            from_version: Some("1".into()),
            to_version: "2".into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            from_instances: Some(2),
            to_instances: 3,
        }
    }

    #[test]
    fn plan_lines_read_like_nomad_job_plan() {
        let cases = [
            (change(ChangeKind::Added, &[]), "+ web (new, rolling)"),
            (
                change(ChangeKind::Rollout, &["command", "version"]),
                "~ web: rolling 1 -> 2 (command, version)",
            ),
            (
                change(ChangeKind::InPlace, &["instances"]),
                "~ web: in place (instances 2 -> 3)",
            ),
            (
                change(ChangeKind::InPlace, &["instances", "routes"]),
                "~ web: in place (instances 2 -> 3, routes)",
            ),
            (change(ChangeKind::Removed, &[]), "- web (removed)"),
            (change(ChangeKind::Unchanged, &[]), "= web (unchanged)"),
            (
                change(ChangeKind::Rollout, &[]),
                "~ web: rolling 1 -> 2 (again: its last deployment failed)",
            ),
        ];
        for (c, line) in cases {
            assert_eq!(plan_line(&c), line);
        }
        let mut canary = change(ChangeKind::Added, &[]);
        canary.strategy = Strategy::Canary;
        assert_eq!(plan_line(&canary), "+ web (new, canary)");
    }

    #[test]
    fn an_answer_says_the_plan_and_what_started() {
        let mut a = DeployAnswer {
            changes: vec![change(ChangeKind::Rollout, &["version"])],
            deployments: vec![deployment(2, Some("1"), "2", Status::Running)],
            revision: 9,
            dry_run: false,
            flags: vec![],
        };
        assert_eq!(
            render_answer(&a, false),
            "~ web: rolling 1 -> 2 (version)\nweb: deployment 2 started\n\
             follow with `shoal status web` or `shoal history web` (or deploy with --wait)\n"
        );
        assert_eq!(
            render_answer(&a, true),
            "~ web: rolling 1 -> 2 (version)\nweb: deployment 2 started\n"
        );
        a.dry_run = true;
        a.deployments.clear();
        assert_eq!(
            render_answer(&a, false),
            "~ web: rolling 1 -> 2 (version)\ndry run: nothing was written\n"
        );
        a.dry_run = false;
        a.changes = vec![change(ChangeKind::Unchanged, &[])];
        assert_eq!(
            render_answer(&a, false),
            "= web (unchanged)\nnothing to deploy: no service changed\n"
        );
    }

    #[test]
    fn endings_other_than_success_are_failures() {
        let mut d = deployment(2, Some("1"), "2", Status::Failed);
        d.reason = "progress deadline passed: 1/3 new healthy".into();
        assert_eq!(
            failure(&d).as_deref(),
            Some("deploy of web failed: progress deadline passed: 1/3 new healthy")
        );
        d.status = Status::RolledBack;
        d.reason = "canary error rate 0.20 > 0.01".into();
        assert_eq!(
            failure(&d).as_deref(),
            Some("deploy of web rolled back: canary error rate 0.20 > 0.01")
        );
        d.status = Status::Succeeded;
        assert_eq!(failure(&d), None);
        let (finals, failures) = outcomes(vec![Ok(d.clone()), Err("lost".into())]);
        assert_eq!((finals.len(), failures), (1, vec!["lost".to_owned()]));
        assert_eq!(
            render_finals(&finals),
            "web: deployment 2 succeeded in 12.5s (rolling 1 -> 2)\n"
        );
    }

    #[test]
    fn refused_files_list_one_problem_a_line() {
        let e = spec_errors(ClientError::Api {
            status: StatusCode::BAD_REQUEST,
            error: "web.toml is not a valid service file".into(),
            detail: Some(r#"["web.toml:3:1: unknown field","web.toml:4:9: bad"]"#.into()),
        });
        assert_eq!(
            e.to_string(),
            "400 Bad Request: web.toml is not a valid service file:\n  web.toml:3:1: unknown field\n  web.toml:4:9: bad"
        );
    }
}
