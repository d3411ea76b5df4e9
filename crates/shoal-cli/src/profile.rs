//! `shoal profile`: a CPU profile of an instance (or a service's busiest one) through
//! `/api/v1/profiles`, shown as its top functions; kept profiles listed, shown, saved
//! as a flame graph or pprof, and two compared.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use http::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use shoal_profile::{DiffRow, ProfileRequest, Summary};

use crate::client::{Client, ClientError};
use crate::table::Table;

/// Examples shown by `shoal profile --help`.
pub const PROFILE_EXAMPLES: &str = "\
Examples:
  shoal profile publications                      # its busiest instance, 10 s at 99 Hz
  shoal profile publications-2 --seconds 30 --svg flame.svg
  shoal profile publications --all --pprof cpu.pb.gz   # every instance; go tool pprof reads it
  shoal profile --list
  shoal profile --show prof-18c2f0a1b2c-0001 --top 40
  shoal profile --diff prof-18c2f0a1b2c-0001 prof-18c2f0b9d41-0002   # what grew from A to B

Native code (Rust, C, Go) is sampled with Linux perf (Debian: apt install linux-perf),
Python with py-spy (pip install py-spy); the profile says which, and what it cost.";

/// `shoal profile ...`.
#[derive(Args, Debug, Clone)]
pub struct ProfileArgs {
    /// A service (its busiest instance on this node) or an instance id.
    #[arg(required_unless_present_any = ["list", "show", "diff"], conflicts_with_all = ["list", "show", "diff"])]
    pub target: Option<String>,
    /// How long to sample (1 to 60).
    #[arg(long, default_value_t = shoal_profile::DEFAULT_SECONDS)]
    pub seconds: u64,
    /// Samples per second (1 to 999).
    #[arg(long, value_name = "HZ", default_value_t = shoal_profile::DEFAULT_RATE)]
    pub rate: u32,
    /// Every running instance of the service, not only the busiest.
    #[arg(long)]
    pub all: bool,
    /// Functions shown, heaviest self time first.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Save the flame graph (SVG) to FILE (with several profiles, each instance's name is added to FILE).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Save the pprof profile (gzip'd protobuf) to FILE.
    #[arg(long, value_name = "FILE")]
    pub pprof: Option<PathBuf>,
    /// The kept profiles, newest first.
    #[arg(long, conflicts_with_all = ["show", "diff"])]
    pub list: bool,
    /// One kept profile.
    #[arg(long, value_name = "ID", conflicts_with = "diff")]
    pub show: Option<String>,
    /// Two kept profiles side by side: the functions whose share grew from A to B first.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub diff: Option<Vec<String>>,
}

/// Why `shoal profile` failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileCliError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl ProfileCliError {
    /// 2 for a request refused here, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) => 2,
            _ => 1,
        }
    }
}

fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ProfileCliError> {
    serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()).into())
}

/// Runs `shoal profile ...`; the text to print.
pub async fn profile(
    client: &Client,
    args: &ProfileArgs,
    json: bool,
) -> Result<String, ProfileCliError> {
    if args.list {
        let all: Value = client.get("/api/v1/profiles").await?;
        if json {
            return Ok(pretty(&all));
        }
        let list: Vec<Summary> = decode(all["profiles"].clone())?;
        return Ok(render_list(&list));
    }
    if let Some(ids) = &args.diff {
        let [a, b] = ids.as_slice() else {
            return Err(ProfileCliError::Invalid(
                "--diff takes two profile ids".into(),
            ));
        };
        let out: Value = client
            .get(&format!("/api/v1/profiles/{a}/diff/{b}"))
            .await?;
        if json {
            return Ok(pretty(&out));
        }
        let rows: Vec<DiffRow> = decode(out["functions"].clone())?;
        let (sa, sb): (Summary, Summary) = (decode(out["a"].clone())?, decode(out["b"].clone())?);
        let mut text = format!("A: {}\nB: {}\n\n", headline(&sa), headline(&sb));
        text.push_str(&shoal_profile::render_diff(
            &rows.into_iter().take(args.top).collect::<Vec<_>>(),
        ));
        return Ok(text);
    }
    let profiles: Vec<Summary> = if let Some(id) = &args.show {
        vec![decode(
            client
                .get(&format!("/api/v1/profiles/{id}?top={}", args.top))
                .await?,
        )?]
    } else {
        let req = ProfileRequest {
            target: args.target.clone().unwrap_or_default(),
            seconds: Some(args.seconds),
            rate: Some(args.rate),
            all: args.all,
        };
        let settings = req
            .settings()
            .map_err(|e| ProfileCliError::Invalid(e.to_string()))?;
        let bar = progress(&req.target, settings.seconds, json);
        let taken = client.post("/api/v1/profiles", json!(req)).await;
        bar.finish_and_clear();
        let taken: Value = taken?;
        if json && args.svg.is_none() && args.pprof.is_none() {
            return Ok(pretty(&taken));
        }
        decode(taken["profiles"].clone())?
    };
    let mut text = String::new();
    for p in &profiles {
        if let Some(path) = &args.svg {
            let path = each(path, p, profiles.len());
            save(client, &p.flamegraph, &path).await?;
            text.push_str(&format!("flame graph written to {}\n", path.display()));
        }
        if let Some(path) = &args.pprof {
            let path = each(path, p, profiles.len());
            save(client, &p.pprof, &path).await?;
            text.push_str(&format!("pprof written to {}\n", path.display()));
        }
    }
    if json {
        return Ok(pretty(&json!({ "profiles": profiles })));
    }
    let mut out = String::new();
    for p in &profiles {
        out.push_str(&render(p, args.top, client.base()));
    }
    out.push_str(&text);
    Ok(out)
}

/// A bar that fills over the capture's seconds (hidden for `--json` and off a terminal).
fn progress(target: &str, seconds: u64, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(seconds);
    bar.set_style(
        ProgressStyle::with_template("profiling {msg} [{bar:30}] {pos}/{len} s")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(target.to_string());
    let ticker = bar.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        while !ticker.is_finished() && ticker.position() < seconds {
            tick.tick().await;
            ticker.inc(1);
        }
    });
    bar
}

/// `path` as given for one profile; with several, the profile's id before the extension.
fn each(path: &Path, p: &Summary, count: usize) -> PathBuf {
    if count <= 1 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("profile");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("");
    let name = match ext {
        "" => format!("{stem}-{}", p.instance),
        ext => format!("{stem}-{}.{ext}", p.instance),
    };
    path.with_file_name(name)
}

async fn save(client: &Client, api_path: &str, to: &Path) -> Result<(), ProfileCliError> {
    let bytes = client.raw(Method::GET, api_path, None).await?;
    std::fs::write(to, &bytes).map_err(|error| ProfileCliError::Write {
        path: to.display().to_string(),
        error,
    })
}

fn headline(p: &Summary) -> String {
    format!(
        "{} of {} {} ({}, pid {}), {} samples",
        p.id, p.service, p.version, p.instance, p.pid, p.samples
    )
}

/// One profile as text: what was sampled and how, the traffic, the cost, the top functions.
pub fn render(p: &Summary, top: usize, base: &str) -> String {
    let mut out = format!("profile {}\n", headline(p));
    out.push_str(&format!(
        "sampled by {} ({}) for {:.1} s at {} Hz on node {}\n",
        p.sampler,
        p.event,
        p.duration_ms as f64 / 1000.0,
        p.rate_hz,
        p.node
    ));
    let num = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v:.1} {unit}"));
    out.push_str(&format!(
        "traffic during the capture: {}, p99 {}\n",
        num(p.req_per_s, "req/s"),
        num(p.p99_ms, "ms")
    ));
    out.push_str(&format!(
        "sampler cost: {:.1} % of a core ({} ms CPU), {} ms to fold the stacks\n",
        p.overhead.sampler_cores * 100.0,
        p.overhead.sampler_cpu_ms,
        p.overhead.processing_ms
    ));
    if let Some(note) = &p.note {
        out.push_str(&format!("note: {note}\n"));
    }
    if p.samples == 0 {
        out.push_str("no CPU samples: the instance was idle during the capture\n");
    } else {
        out.push('\n');
        let rows: Vec<_> = p.top.iter().take(top).cloned().collect();
        out.push_str(&shoal_profile::render_functions(&rows));
    }
    out.push_str(&format!(
        "\nflame graph: {base}{}\npprof:       {base}{}\n\n",
        p.flamegraph, p.pprof
    ));
    out
}

fn render_list(list: &[Summary]) -> String {
    if list.is_empty() {
        return "no profiles yet: shoal profile SERVICE takes one\n".into();
    }
    let mut t = Table::new(&[
        "ID", "SERVICE", "VERSION", "INSTANCE", "SAMPLER", "SECONDS", "SAMPLES", "REQ/S",
    ]);
    for p in list {
        t.row(vec![
            p.id.clone(),
            p.service.clone(),
            p.version.clone(),
            p.instance.clone(),
            p.sampler.to_string(),
            p.seconds.to_string(),
            p.samples.to_string(),
            p.req_per_s.map_or("-".into(), |v| format!("{v:.1}")),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        serde_json::from_value(json!({
            "id": "prof-18c2f0a1b2c-0001", "service": "publications", "version": "v1",
            "instance": "publications-1", "node": "local", "pid": 42, "language": "native",
            "sampler": "perf", "event": "cpu-clock, dwarf stacks", "note": null,
            "started_ms": 1, "duration_ms": 10_000, "seconds": 10, "rate_hz": 99,
            "samples": 4, "stacks": 2, "functions": 2, "req_per_s": 12.5, "p99_ms": null,
            "overhead": { "rate_hz": 99, "max_rate_hz": 999, "sampler_cpu_ms": 80,
                          "sampler_cores": 0.008, "processing_ms": 120 },
            "flamegraph": "/api/v1/profiles/prof-18c2f0a1b2c-0001/flamegraph.svg",
            "pprof": "/api/v1/profiles/prof-18c2f0a1b2c-0001/pprof",
            "top": [
                { "function": "rank", "self": 3, "total": 3, "self_pct": 75.0, "total_pct": 75.0 },
                { "function": "main", "self": 1, "total": 4, "self_pct": 25.0, "total_pct": 100.0 }
            ]
        }))
        .expect("a summary")
    }

    #[test]
    fn a_profile_reads_as_what_was_sampled_then_its_functions() {
        let text = render(&summary(), 1, "http://127.0.0.1:7300");
        assert!(
            text.contains("sampled by perf (cpu-clock, dwarf stacks) for 10.0 s at 99 Hz"),
            "{text}"
        );
        assert!(text.contains("12.5 req/s, p99 -"), "{text}");
        assert!(text.contains("0.8 % of a core"), "{text}");
        assert!(text.contains(" 75.0     3    75.0      3  rank"), "{text}");
        assert!(!text.contains("main\n"), "only the top 1: {text}");
        assert!(text.contains("http://127.0.0.1:7300/api/v1/profiles/prof-18c2f0a1b2c-0001/pprof"));
    }

    #[test]
    fn several_profiles_save_to_files_named_by_instance() {
        let p = summary();
        assert_eq!(
            each(Path::new("out/f.svg"), &p, 1),
            PathBuf::from("out/f.svg")
        );
        assert_eq!(
            each(Path::new("out/f.svg"), &p, 2),
            PathBuf::from("out/f-publications-1.svg")
        );
        assert_eq!(
            each(Path::new("f"), &p, 2),
            PathBuf::from("f-publications-1")
        );
    }
}
