//! Stage (before routing's answer is used): a request to a service that scales from
//! zero and runs no instance is held while one starts. The proxy asks for one
//! (`Hooks::wake`, the autoscaler's next pass starts it), then looks at each new
//! routing table until the instance serves (every 20 ms) or `cold_start_timeout`
//! passes (503 `no-healthy-instance`). At most [`MAX_HELD`] requests wait at once;
//! more are shed (503 `shed`). Only tables with such a service pay for the check.

use std::ops::ControlFlow::Continue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use tokio::time::Instant;

use crate::fields::Fields;
use crate::respond::Reason;
use crate::server::Proxy;
use crate::stages::{route, End};
use crate::table::RouteTable;

/// Most requests held for cold starts at once, over all services.
pub(crate) const MAX_HELD: usize = 4096;

/// How often a held request looks for its instance.
const POLL: Duration = Duration::from_millis(20);

/// Counts a held request while it lives.
struct Held<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Proxy {
    /// `table` when the request's service has an instance (or does not scale from
    /// zero), else the first table in which it has one, or the request's end.
    pub(crate) async fn cold_start(
        &self,
        table: Arc<RouteTable>,
        uri: &Uri,
        pq: &str,
        fields: &Fields,
    ) -> Result<Arc<RouteTable>, End> {
        let cold = match route::target(&table, uri, pq, fields) {
            Continue(t) if t.endpoints.is_empty() && t.route.from_zero => t.route.name.clone(),
            _ => return Ok(table),
        };
        if self.held.fetch_add(1, Ordering::Relaxed) >= MAX_HELD {
            self.held.fetch_sub(1, Ordering::Relaxed);
            let detail =
                format!("{cold} is starting from zero and {MAX_HELD} requests wait already");
            return Err(End::shoal(Reason::Shed, &detail));
        }
        let _held = Held(&self.held);
        let began = Instant::now();
        let deadline = began + self.config.cold_start_timeout;
        loop {
            // Asked again each time: a wake taken by a pass that then failed is not lost.
            if let Some(wake) = &self.hooks.wake {
                wake(&cold);
            }
            tokio::time::sleep(POLL).await;
            let now = self.table.load_full();
            let ready = matches!(route::target(&now, uri, pq, fields), Continue(t) if !t.endpoints.is_empty());
            if ready {
                tracing::info!(service = %cold, held_ms = began.elapsed().as_millis() as u64, "cold start: the held request goes on");
                return Ok(now);
            }
            if Instant::now() >= deadline {
                let detail = format!(
                    "{cold} runs no instance: one was asked to start from zero, none served within {:?}",
                    self.config.cold_start_timeout
                );
                return Err(End::shoal(Reason::NoHealthyInstance, &detail));
            }
        }
    }
}
