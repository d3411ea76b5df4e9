//! `shoal up`'s start-up progress: a bar (on a terminal) until every desired
//! instance serves, then one line saying how long it took.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX};
use shoal_spec::Spec;
use shoal_store::Store;

/// Instances the file asks for (current version plus every `versions.*`).
fn desired(spec: &Spec) -> u64 {
    let groups = shoal_agent::desired::groups(&spec.services, &BTreeMap::new());
    groups.iter().map(|g| u64::from(g.count)).sum()
}

async fn serving(store: &dyn Store) -> u64 {
    let Ok(range) = store.range(CATALOG_PREFIX).await else {
        return 0;
    };
    range
        .kvs
        .iter()
        .filter_map(|kv| decode::<InstanceRecord>(&kv.key, &kv.value).ok())
        .filter(|r| !r.external && r.is_routable())
        .count() as u64
}

/// Watches start-up for at most `limit`; never blocks shutdown (the caller aborts it).
pub async fn report(spec: Arc<Spec>, store: Arc<dyn Store>, limit: Duration) {
    let want = desired(&spec);
    if want == 0 {
        return;
    }
    let started = Instant::now();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(want)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} starting [{bar:30}] {pos}/{len} instances healthy ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    loop {
        let n = serving(store.as_ref()).await;
        bar.set_position(n.min(want));
        if n >= want {
            bar.finish_and_clear();
            eprintln!(
                "shoal: all {want} instances healthy after {:.1}s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if started.elapsed() > limit {
            bar.abandon();
            eprintln!(
                "shoal: {n} of {want} instances healthy after {}s; see `shoal status` and `shoal events`",
                limit.as_secs()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
