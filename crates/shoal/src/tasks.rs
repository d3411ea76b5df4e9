//! Named background tasks under one supervisor: one shutdown signal, and per task a failure policy (restart with backoff, or stop shoal).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

/// The first wait before a restart; it doubles after each quick failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait before a restart; a run that lasted longer resets the wait.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The one shutdown signal every task watches, as a receiver or as a future.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// For tasks that take a `watch::Receiver<bool>` (true = stop).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Completes once shoal stops (or the supervisor is gone).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        async move {
            // An error means the sender is gone: stopped too.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// True once shoal stops (or the supervisor is gone, as when start-up fails).
    pub fn is_stopped(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }
}

/// What a task's future ends with: `()` or a `Result` whose error is displayed.
pub trait Outcome: Send + 'static {
    fn into_result(self) -> Result<(), String>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display + Send + 'static> Outcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:#}"))
    }
}

/// A fatal task that ended before shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub task: &'static str,
    pub error: String,
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the `{}` task stopped: {}", self.task, self.error)
    }
}

/// How a running task is told to stop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// It watches the [`Shutdown`] signal.
    Signal,
    /// It does not: it is aborted once every signalled task has ended.
    Abort,
}

struct Running {
    name: &'static str,
    ends: Ends,
    handle: JoinHandle<Result<(), String>>,
}

/// The supervisor: spawns named tasks, tells them all to stop, waits for each.
pub struct Tasks {
    stop: watch::Sender<bool>,
    shutdown: Shutdown,
    failed_tx: mpsc::UnboundedSender<Failure>,
    failed_rx: mpsc::UnboundedReceiver<Failure>,
    running: Vec<Running>,
    backoff: (Duration, Duration),
}

impl Default for Tasks {
    fn default() -> Self {
        Self::with_backoff(FIRST_BACKOFF, MAX_BACKOFF)
    }
}

impl Tasks {
    /// A supervisor whose restarts wait `first`, doubling up to `max`.
    pub fn with_backoff(first: Duration, max: Duration) -> Self {
        let (stop, rx) = watch::channel(false);
        let (failed_tx, failed_rx) = mpsc::unbounded_channel();
        Self {
            stop,
            shutdown: Shutdown { rx },
            failed_tx,
            failed_rx,
            running: Vec::new(),
            backoff: (first, max),
        }
    }

    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Runs the future `make` returns; when it ends (or errs, or panics)
    /// before shutdown, logs it and runs a new one after a backoff.
    pub fn restart<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: FnMut(&Shutdown) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        self.spawn_restart(name, Ends::Signal, make);
    }

    /// [`Tasks::restart`] for a task that does not watch the signal: at stop
    /// it is aborted after every other task has ended (the telemetry task
    /// thus writes what their last requests queued).
    pub fn restart_until_aborted<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: FnMut(&Shutdown) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        self.spawn_restart(name, Ends::Abort, make);
    }

    /// Runs `make`'s future once; when it ends (or errs, or panics) before
    /// shutdown, shoal stops: [`Tasks::failed`] returns.
    pub fn fatal<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: FnOnce(&Shutdown) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let shutdown = self.shutdown.clone();
        let failed = self.failed_tx.clone();
        let fut = make(&shutdown);
        let handle = tokio::spawn(async move {
            let ended = run_once(fut).await;
            if !shutdown.is_stopped() {
                let error = why(&ended);
                tracing::error!(task = name, error = %error, "task ended; stopping shoal");
                let _ = failed.send(Failure { task: name, error });
            }
            ended
        });
        self.running.push(Running {
            name,
            ends: Ends::Signal,
            handle,
        });
    }

    fn spawn_restart<F, Fut>(&mut self, name: &'static str, ends: Ends, mut make: F)
    where
        F: FnMut(&Shutdown) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let shutdown = self.shutdown.clone();
        let (first, max) = self.backoff;
        let handle = tokio::spawn(async move {
            let mut delay = first;
            loop {
                let started = Instant::now();
                let ended = run_once(make(&shutdown)).await;
                if shutdown.is_stopped() {
                    return ended;
                }
                tracing::error!(task = name, error = %why(&ended), "task ended; restarting");
                if started.elapsed() > max {
                    delay = first;
                }
                tokio::select! {
                    () = shutdown.stopped() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = next_backoff(delay, max);
            }
        });
        self.running.push(Running { name, ends, handle });
    }

    /// The first fatal task to end before shutdown.
    pub async fn failed(&mut self) -> Failure {
        match self.failed_rx.recv().await {
            Some(f) => f,
            // Never: `self` holds a sender.
            None => std::future::pending().await,
        }
    }

    /// Signals every task, waits for each in the order they were spawned
    /// and logs those that ended in error, then aborts the unsignalled ones.
    pub async fn stop(&mut self) {
        self.stop.send_replace(true);
        let running = std::mem::take(&mut self.running);
        let (signalled, aborted): (Vec<_>, Vec<_>) =
            running.into_iter().partition(|t| t.ends == Ends::Signal);
        for t in signalled {
            match t.handle.await {
                Ok(Ok(())) => tracing::debug!(task = t.name, "task stopped"),
                Ok(Err(e)) => tracing::warn!(task = t.name, error = %e, "task ended in error"),
                Err(e) => tracing::error!(task = t.name, error = %e, "task supervisor failed"),
            }
        }
        for t in aborted {
            t.handle.abort();
            match t.handle.await {
                Err(e) if !e.is_cancelled() => {
                    tracing::error!(task = t.name, error = %e, "task supervisor failed")
                }
                _ => tracing::debug!(task = t.name, "task aborted"),
            }
        }
    }
}

/// The wait after `delay`: twice as long, at most `max`.
fn next_backoff(delay: Duration, max: Duration) -> Duration {
    delay.saturating_mul(2).min(max)
}

/// Runs `fut` as a task of its own, so a panic is an `Err` rather than the
/// supervisor's end; aborting the caller aborts it too.
async fn run_once<Fut>(fut: Fut) -> Result<(), String>
where
    Fut: Future + Send + 'static,
    Fut::Output: Outcome,
{
    let mut guard = AbortOnDrop(tokio::spawn(fut));
    match (&mut guard.0).await {
        Ok(out) => out.into_result(),
        Err(e) => Err(panicked(e)),
    }
}

fn panicked(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => match p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
        {
            Some(msg) => format!("panicked: {msg}"),
            None => "panicked".to_string(),
        },
        Err(e) => e.to_string(),
    }
}

fn why(ended: &Result<(), String>) -> String {
    match ended {
        Ok(()) => "ended before shutdown".to_string(),
        Err(e) => e.clone(),
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn quick() -> Tasks {
        Tasks::with_backoff(Duration::from_millis(1), Duration::from_millis(4))
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let mut d = FIRST_BACKOFF;
        let mut seen = vec![d];
        for _ in 0..8 {
            d = next_backoff(d, MAX_BACKOFF);
            seen.push(d);
        }
        let ms: Vec<u128> = seen.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[tokio::test]
    async fn a_task_that_errs_or_panics_is_restarted_until_shutdown() {
        let mut tasks = quick();
        let runs = Arc::new(AtomicUsize::new(0));
        let (third_tx, mut third) = mpsc::unbounded_channel();
        let r = runs.clone();
        tasks.restart("flaky", move |stop| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            let (stopped, third_tx) = (stop.stopped(), third_tx.clone());
            async move {
                match n {
                    0 => Err("store closed"),
                    1 => panic!("boom"),
                    _ => {
                        let _ = third_tx.send(());
                        stopped.await;
                        Ok(())
                    }
                }
            }
        });
        third.recv().await.expect("a third run");
        tasks.stop().await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert!(
            tasks.failed_rx.try_recv().is_err(),
            "restarts are not failures"
        );
    }

    #[tokio::test]
    async fn a_fatal_task_that_ends_early_is_a_failure_named_after_it() {
        let mut tasks = quick();
        tasks.fatal("steady", |stop| stop.stopped());
        tasks.fatal("api", |_| async { Err::<(), _>("listener closed") });
        let f = tasks.failed().await;
        assert_eq!(f.task, "api");
        assert_eq!(f.to_string(), "the `api` task stopped: listener closed");
        tasks.stop().await;
    }

    #[tokio::test]
    async fn a_fatal_panic_is_a_failure() {
        let mut tasks = quick();
        fn bad_packet() {
            panic!("bad packet")
        }
        tasks.fatal("dns", |_| async { bad_packet() });
        let f = tasks.failed().await;
        assert_eq!(f.error, "panicked: bad packet");
        tasks.stop().await;
    }

    #[tokio::test]
    async fn ending_on_the_signal_is_not_a_failure() {
        let mut tasks = quick();
        tasks.fatal("gateway", |stop| stop.stopped());
        tasks.restart("routes", |stop| {
            let mut rx = stop.receiver();
            async move {
                let _ = rx.wait_for(|s| *s).await;
                Err::<(), _>("stopped with an error")
            }
        });
        tasks.stop().await;
        assert!(tasks.shutdown().is_stopped());
        assert!(tasks.failed_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn an_unsignalled_task_is_aborted_after_the_others_end() {
        let mut tasks = quick();
        let (order_tx, mut order) = mpsc::unbounded_channel();
        struct Dropped(mpsc::UnboundedSender<&'static str>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = self.0.send("telemetry aborted");
            }
        }
        let tx = order_tx.clone();
        tasks.restart_until_aborted("telemetry", move |_| {
            let guard = Dropped(tx.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }
        });
        tasks.fatal("api", move |stop| {
            let stopped = stop.stopped();
            async move {
                stopped.await;
                tokio::task::yield_now().await;
                let _ = order_tx.send("api stopped");
            }
        });
        tasks.stop().await;
        assert_eq!(order.recv().await, Some("api stopped"));
        assert_eq!(order.recv().await, Some("telemetry aborted"));
    }
}
