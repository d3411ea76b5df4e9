//! `--wait` for deployments: one progress bar per service, polling each deployment
//! record until it is no longer running.

use std::time::Duration;

use http::StatusCode;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use shoal_deploy::Deployment;

use crate::client::{encode_query, Client, ClientError};
use crate::history::per_version;
use crate::table::now_ms;

/// How often a deployment record is read.
const POLL: Duration = Duration::from_millis(200);
/// How long past its progress deadline a deployment may still run before the wait
/// gives up on it (the deployer fails it at the deadline; this covers no deployer).
const PAST_DEADLINE_MS: u64 = 60_000;

/// Where one deployment stands after a read.
enum Poll {
    Running(Deployment),
    Ended(Deployment),
    /// The wait cannot tell how it ended, and why.
    Lost(String),
}

/// Waits until each of `started` is no longer running; returns each one's final
/// record, or why its end could not be seen. Bars are hidden with `json`.
pub(crate) async fn wait(
    client: &Client,
    started: &[Deployment],
    json: bool,
) -> Result<Vec<Result<Deployment, String>>, ClientError> {
    let multi = if json {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let style = ProgressStyle::with_template(
        "{spinner} {prefix:<12} [{bar:24}] {pos}/{len} new  {wide_msg} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = started
        .iter()
        .map(|d| {
            let bar = multi.add(ProgressBar::new(1));
            bar.set_style(style.clone());
            bar.set_prefix(d.service.clone());
            show(&bar, d);
            bar
        })
        .collect();
    let mut results: Vec<Option<Result<Deployment, String>>> = vec![None; started.len()];
    loop {
        for (i, d) in started.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            match poll(client, d).await? {
                Poll::Running(now) => show(&bars[i], &now),
                Poll::Ended(end) => {
                    bars[i].finish_and_clear();
                    results[i] = Some(Ok(end));
                }
                Poll::Lost(why) => {
                    bars[i].abandon();
                    results[i] = Some(Err(why));
                }
            }
        }
        if results.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(results.into_iter().flatten().collect())
}

/// Reads where deployment `d` stands now.
async fn poll(client: &Client, d: &Deployment) -> Result<Poll, ClientError> {
    let service = encode_query(&d.service);
    let current: Option<Deployment> =
        match client.get(&format!("/api/v1/deployments/{service}")).await {
            Ok(c) => Some(c),
            Err(ClientError::Api { status, .. }) if status == StatusCode::NOT_FOUND => None,
            Err(e) => return Err(e),
        };
    if let Some(c) = current.filter(|c| c.id == d.id) {
        if !c.status.is_running() {
            return Ok(Poll::Ended(c));
        }
        if now_ms() > c.deadline_ms.saturating_add(PAST_DEADLINE_MS) {
            return Ok(Poll::Lost(format!(
                "deployment {} of {} is still running a minute past its progress deadline: is the deployer running? (see `shoal history {}`)",
                c.id, c.service, c.service
            )));
        }
        return Ok(Poll::Running(c));
    }
    // A newer deployment (a revert, another deploy) or a removal: ours is in the history.
    let past: Vec<Deployment> = client
        .get(&format!("/api/v1/deployments/{service}/history"))
        .await
        .or_else(|e| match e {
            ClientError::Api { status, .. } if status == StatusCode::NOT_FOUND => Ok(Vec::new()),
            e => Err(e),
        })?;
    Ok(match past.into_iter().find(|p| p.id == d.id) {
        Some(p) if p.status.is_running() => Poll::Lost(format!(
            "deployment {} of {} was replaced while running",
            d.id, d.service
        )),
        Some(p) => Poll::Ended(p),
        None => Poll::Lost(format!(
            "deployment {} of {} is no longer recorded",
            d.id, d.service
        )),
    })
}

fn show(bar: &ProgressBar, d: &Deployment) {
    let (pos, len) = position(d);
    bar.set_length(len);
    bar.set_position(pos);
    bar.set_message(message(d));
}

/// New instances running out of those wanted (the `to` spec's count).
pub(crate) fn position(d: &Deployment) -> (u64, u64) {
    let len = u64::from(d.to.instances.max(1));
    let new = d.counts.get(&d.to.version).copied().unwrap_or(0);
    (u64::from(new).min(len), len)
}

/// `running: 2/3 new healthy, weights 1=50 2=50`.
pub(crate) fn message(d: &Deployment) -> String {
    let mut m = format!("{}: {}", d.status.as_str(), d.reason);
    if !d.weights.is_empty() {
        m.push_str(&format!(", weights {}", per_version(&d.weights)));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::deployment;
    use shoal_deploy::Status;

    #[test]
    fn the_bar_counts_new_instances_of_those_wanted() {
        let mut d = deployment(2, Some("1"), "2", Status::Running);
        assert_eq!(position(&d), (0, 3));
        d.counts = [("1".to_owned(), 3), ("2".to_owned(), 2)].into();
        assert_eq!(position(&d), (2, 3));
        d.counts.insert("2".into(), 5);
        assert_eq!(position(&d), (3, 3));
        d.weights = [("1".to_owned(), 50), ("2".to_owned(), 50)].into();
        assert_eq!(message(&d), "running: 2/3 new healthy, weights 1=50 2=50");
    }
}
