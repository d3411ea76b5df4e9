//! `shoal history SERVICE`, and how a deployment reads for a person (shared with
//! `shoal status` and `shoal deploy`).

use std::collections::BTreeMap;

use shoal_deploy::submit::strategy_name;
use shoal_deploy::{Deployment, Order, Status};

use crate::client::{encode_query, Client, ClientError};
use crate::errors::ago;
use crate::table::{now_ms, Table};

/// How many step lines `shoal status SERVICE` shows.
pub(crate) const STATUS_STEPS: usize = 5;

/// `shoal history SERVICE`: a table of the deployments, newest first, then the
/// newest one's step lines.
pub async fn history(client: &Client, service: &str, json: bool) -> Result<String, ClientError> {
    let path = format!("/api/v1/deployments/{}/history", encode_query(service));
    if json {
        let v: serde_json::Value = client.get(&path).await?;
        return Ok(format!("{v:#}\n"));
    }
    let list: Vec<Deployment> = client.get(&path).await?;
    Ok(render_history(service, &list, now_ms()))
}

pub(crate) fn render_history(service: &str, list: &[Deployment], now_ms: u64) -> String {
    let Some(newest) = list.first() else {
        return format!("{service} has no deployments yet\n");
    };
    let mut t = Table::new(&[
        "ID",
        "STRATEGY",
        "FROM -> TO",
        "STATUS",
        "STARTED",
        "DURATION",
        "REASON",
    ]);
    for d in list {
        t.row(vec![
            d.id.to_string(),
            strategy_name(d.strategy).to_owned(),
            versions(d),
            status_word(d),
            format!("{} ago", ago(d.started_ms, now_ms)),
            duration(d.ended_ms.unwrap_or(now_ms).saturating_sub(d.started_ms)),
            d.reason.clone(),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!("\ndeployment {}:\n", newest.id));
    out.push_str(&steps(newest, usize::MAX));
    out
}

/// `1 -> 2`, or `-> 1` for a first deployment.
pub(crate) fn versions(d: &Deployment) -> String {
    match d.from_version() {
        Some(from) => format!("{from} -> {}", d.to.version),
        None => format!("-> {}", d.to.version),
    }
}

/// The status, with what it is a rollback of.
pub(crate) fn status_word(d: &Deployment) -> String {
    let s = d.status.as_str().replace('_', " ");
    match d.revert_of {
        Some(id) => format!("{s} (reverts {id})"),
        None => s,
    }
}

/// `1=90 2=10`, or `-` when empty.
pub(crate) fn per_version(m: &BTreeMap<String, u32>) -> String {
    if m.is_empty() {
        return "-".to_owned();
    }
    m.iter()
        .map(|(v, n)| format!("{v}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` step lines, each with its clock time (UTC) and time since the start.
pub(crate) fn steps(d: &Deployment, n: usize) -> String {
    let skip = d.steps.len().saturating_sub(n);
    let mut out = String::new();
    if skip > 0 {
        out.push_str(&format!("  ... {skip} earlier steps\n"));
    }
    for s in d.steps.iter().skip(skip) {
        out.push_str(&format!(
            "  {}  {:>8}  {}\n",
            clock(s.at_ms),
            format!("+{}", duration(s.at_ms.saturating_sub(d.started_ms))),
            s.message
        ));
    }
    out
}

/// `HH:MM:SS` of a unix-ms time, UTC (as `shoal events`).
fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// `850ms`, `12.3s`, `4m05s`, `2h10m`.
pub(crate) fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// The `deployment` section of `shoal status SERVICE`.
pub(crate) fn status_section(d: &Deployment, now_ms: u64) -> String {
    let took = d.ended_ms.unwrap_or(now_ms).saturating_sub(d.started_ms);
    let mut out = format!(
        "deployment {}  {} {}  {}  {} {}\n",
        d.id,
        strategy_name(d.strategy),
        versions(d),
        status_word(d),
        if d.status == Status::Running {
            "running for"
        } else {
            "took"
        },
        duration(took),
    );
    out.push_str(&format!(
        "  weights {}  instances {}\n",
        per_version(&d.weights),
        per_version(&d.counts)
    ));
    if let Some(order) = d.order {
        let order = match order {
            Order::Promote => "promote",
            Order::Abort => "abort",
        };
        out.push_str(&format!("  order waiting for the deployer: {order}\n"));
    }
    out.push_str(&format!("  reason: {}\n", d.reason));
    out.push_str(&steps(d, STATUS_STEPS));
    out.push('\n');
    out
}

/// The `DEPLOY` cell of `shoal status`: `#4 canary 1 -> 2` while one runs, else `-`.
pub(crate) fn deploy_cell(d: Option<&Deployment>) -> String {
    match d {
        Some(d) if d.status == Status::Running => {
            format!("#{} {} {}", d.id, strategy_name(d.strategy), versions(d))
        }
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use shoal_deploy::Step;
    use shoal_spec::{Command, ServiceSpec, Strategy};

    /// A deployment of web from version `from` (if any) to `to`, started at 10 s.
    pub(crate) fn deployment(id: u64, from: Option<&str>, to: &str, status: Status) -> Deployment {
        let spec = |v: &str| {
            let mut s = ServiceSpec::new("web", Command::Shell("run".into()));
            s.version = v.to_owned();
            s.instances = 3;
            s
        };
        Deployment {
            id,
            service: "web".into(),
            strategy: Strategy::Rolling,
            from: from.map(spec),
            to: spec(to),
            status,
            reason: "2/3 new healthy".into(),
            step: 0,
            step_started_ms: None,
            marks: BTreeMap::new(),
            weights: BTreeMap::new(),
            counts: BTreeMap::new(),
            started_ms: 10_000,
            updated_ms: 10_000,
            deadline_ms: 610_000,
            ended_ms: (status != Status::Running).then_some(22_500),
            keep_until_ms: None,
            revert_of: None,
            order: None,
            steps: vec![
                Step {
                    at_ms: 10_000,
                    message: format!("deployment {id} started"),
                    numbers: serde_json::Value::Null,
                },
                Step {
                    at_ms: 12_100,
                    message: "2/3 new healthy".into(),
                    numbers: serde_json::Value::Null,
                },
            ],
        }
    }

    #[test]
    fn history_is_a_table_then_the_newest_steps() {
        let mut newest = deployment(2, Some("1"), "2", Status::Running);
        newest.revert_of = Some(1);
        let list = vec![newest, deployment(1, None, "1", Status::Succeeded)];
        let out = render_history("web", &list, 70_000);
        assert_eq!(
            out,
            "ID  STRATEGY  FROM -> TO  STATUS               STARTED  DURATION  REASON\n\
             2   rolling   1 -> 2      running (reverts 1)  1m ago   1m00s     2/3 new healthy\n\
             1   rolling   -> 1        succeeded            1m ago   12.5s     2/3 new healthy\n\
             \n\
             deployment 2:\n  \
             00:00:10      +0ms  deployment 2 started\n  \
             00:00:12     +2.1s  2/3 new healthy\n"
        );
        assert_eq!(
            render_history("web", &[], 0),
            "web has no deployments yet\n"
        );
    }

    #[test]
    fn status_shows_the_deployment_and_its_last_steps() {
        let mut d = deployment(4, Some("1"), "2", Status::Running);
        d.weights = BTreeMap::from([("1".into(), 90), ("2".into(), 10)]);
        d.counts = BTreeMap::from([("1".into(), 3), ("2".into(), 1)]);
        d.order = Some(Order::Promote);
        for i in 0..6 {
            d.note(13_000 + i, format!("step {i}"), serde_json::Value::Null);
        }
        let out = status_section(&d, 20_000);
        assert!(
            out.starts_with("deployment 4  rolling 1 -> 2  running  running for 10.0s\n  weights 1=90 2=10  instances 1=3 2=1\n  order waiting for the deployer: promote\n  reason: step 5\n  ... 3 earlier steps\n"),
            "{out}"
        );
        assert_eq!(out.matches("  00:00:1").count(), STATUS_STEPS, "{out}");
        assert_eq!(deploy_cell(Some(&d)), "#4 rolling 1 -> 2");
        d.status = Status::Succeeded;
        assert_eq!(deploy_cell(Some(&d)), "-");
        assert_eq!(deploy_cell(None), "-");
    }

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_340), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(7_800_000), "2h10m");
    }
}
