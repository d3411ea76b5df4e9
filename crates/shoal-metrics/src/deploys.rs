//! Deployments in `/metrics`: `shoal_deploy_info`, `shoal_deploy_generation`,
//! `shoal_deploy_running`, `shoal_deploy_step`, `shoal_deploy_weight` and
//! `shoal_deploy_duration_seconds`, from each service's current deployment record,
//! read once a second with the instance sampler.

use std::sync::{Mutex, PoisonError};

use shoal_catalog::{decode, DEPLOY_PREFIX};
use shoal_deploy::Deployment;
use shoal_store::Store;

use crate::expo::{Expo, Type};

/// The latest deployment records, by service.
#[derive(Debug, Default)]
pub struct DeployMetrics {
    current: Mutex<Vec<Deployment>>,
}

impl DeployMetrics {
    /// Reads every service's current deployment (an unreadable one is skipped).
    pub async fn sample(&self, store: &dyn Store) {
        let deployments = match store.range(DEPLOY_PREFIX).await {
            Ok(r) => r
                .kvs
                .iter()
                .filter_map(|kv| decode::<Deployment>(&kv.key, &kv.value).ok())
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "deploy metrics cannot read the deployments");
                return;
            }
        };
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = deployments;
    }

    /// Writes the families for the records last read; `now_ms` ends a running one's duration.
    pub fn render(&self, e: &mut Expo, now_ms: u64) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        render(&current, e, now_ms);
    }
}

const INFO: &str = "shoal_deploy_info";
const GENERATION: &str = "shoal_deploy_generation";
const RUNNING: &str = "shoal_deploy_running";
const STEP: &str = "shoal_deploy_step";
const WEIGHT: &str = "shoal_deploy_weight";
const DURATION: &str = "shoal_deploy_duration_seconds";

/// The families of `deployments` (pure).
fn render(deployments: &[Deployment], e: &mut Expo, now_ms: u64) {
    e.family(
        INFO,
        "The service's current deployment: strategy, status and versions (always 1).",
        Type::Gauge,
    );
    e.family(
        GENERATION,
        "The current deployment's id (per service, increasing).",
        Type::Gauge,
    );
    e.family(
        RUNNING,
        "1 while the service's deployment is in progress.",
        Type::Gauge,
    );
    e.family(STEP, "The canary step being held (0-based).", Type::Gauge);
    e.family(
        WEIGHT,
        "Share of unpinned traffic per version set by the deployment.",
        Type::Gauge,
    );
    e.family(
        DURATION,
        "How long the current deployment ran (so far, while it runs).",
        Type::Gauge,
    );
    for d in deployments {
        let service = d.service.as_str();
        let strategy = shoal_deploy::submit::strategy_name(d.strategy);
        let info = [
            ("service", service),
            ("strategy", strategy),
            ("status", d.status.as_str()),
            ("from_version", d.from_version().unwrap_or("")),
            ("to_version", d.to.version.as_str()),
        ];
        e.sample(INFO, INFO, &info, 1.0);
        let labels = [("service", service)];
        e.sample(GENERATION, GENERATION, &labels, d.id as f64);
        let running = if d.status.is_running() { 1.0 } else { 0.0 };
        e.sample(RUNNING, RUNNING, &labels, running);
        e.sample(STEP, STEP, &labels, d.step as f64);
        let end = d.ended_ms.unwrap_or(now_ms);
        let secs = end.saturating_sub(d.started_ms) as f64 / 1000.0;
        e.sample(DURATION, DURATION, &labels, secs);
        for (version, weight) in &d.weights {
            let labels = [("service", service), ("version", version.as_str())];
            e.sample(WEIGHT, WEIGHT, &labels, f64::from(*weight));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Deployment {
        let src = "[services.web]\ncommand = [\"sh\"]\nversion = \"2\"\n";
        let spec = shoal_spec::parse_str_with(
            src,
            "t.toml",
            std::path::Path::new("/"),
            &shoal_spec::AssumeExists,
        )
        .expect("spec");
        let to = spec.services["web"].clone();
        let mut from = to.clone();
        from.version = "1".into();
        serde_json::from_value(serde_json::json!({
            "id": 4, "service": "web", "strategy": "canary",
            "from": from, "to": to, "status": "running", "reason": "step 2",
            "step": 1, "weights": { "1": 50, "2": 50 },
            "started_ms": 10_000, "updated_ms": 12_000, "deadline_ms": 99_000
        }))
        .expect("a deployment")
    }

    #[test]
    fn a_running_canary_reads_as_families() {
        let mut e = Expo::default();
        render(&[deployment()], &mut e, 25_500);
        let text = e.render();
        for line in [
            r#"shoal_deploy_info{service="web",strategy="canary",status="running",from_version="1",to_version="2"} 1"#,
            r#"shoal_deploy_generation{service="web"} 4"#,
            r#"shoal_deploy_running{service="web"} 1"#,
            r#"shoal_deploy_step{service="web"} 1"#,
            r#"shoal_deploy_weight{service="web",version="1"} 50"#,
            r#"shoal_deploy_weight{service="web",version="2"} 50"#,
            r#"shoal_deploy_duration_seconds{service="web"} 15.5"#,
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn an_ended_deployment_stops_its_clock() {
        let mut d = deployment();
        d.status = shoal_deploy::Status::Succeeded;
        d.ended_ms = Some(20_000);
        let mut e = Expo::default();
        render(&[d], &mut e, 99_000);
        let text = e.render();
        assert!(
            text.contains(r#"shoal_deploy_running{service="web"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"shoal_deploy_duration_seconds{service="web"} 10"#),
            "{text}"
        );
    }
}
