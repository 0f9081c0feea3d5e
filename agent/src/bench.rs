//! `dbtuner bench`: run a built-in or captured workload against a target or a sandbox and
//! report throughput, latency (overall and per template) and, for a captured workload, how
//! faithfully the replay reproduced the capture.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use knobs::Engine;
use mysql_async::prelude::Queryable;
use serde::Serialize;
use workloads::builtin::{Builtin, LoadReport};
use workloads::driver::{Arrival, DriverOptions, Measurement};
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::target::{connect_mysql, connect_postgres};
use workloads::{Sandbox, Target, TargetUrl};

use crate::BadInput;

/// Where to run.
#[derive(Debug, Clone)]
pub enum Where {
    Target(TargetUrl),
    Sandbox(Engine),
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub place: Where,
    pub workload: String,
    pub scale: f64,
    pub clients: Option<usize>,
    /// Client threads (default: one per core).
    pub threads: Option<usize>,
    pub warmup: Duration,
    pub duration: Duration,
    pub rate: Option<f64>,
    pub arrival: Arrival,
    /// Create and fill the built-in's tables on a target (always done on a sandbox).
    pub load: bool,
    pub protocol: workloads::replay::Protocol,
    pub seed: u64,
}

/// One template's share in the capture and in the replay.
#[derive(Debug, Clone, Serialize)]
pub struct Fidelity {
    pub template: String,
    pub captured_share: f64,
    pub replay_share: f64,
    pub captured_mean_ms: Option<f64>,
    pub replay_mean_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub workload: String,
    pub engine: String,
    pub server_version: String,
    pub load: Option<LoadReport>,
    /// Units of work per second: the mean over the window and the spread of its per-second
    /// samples.
    pub throughput: Throughput,
    pub measurement: Measurement,
    pub fidelity: Vec<Fidelity>,
}

/// Throughput with its spread.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub mean: f64,
    pub stdev: f64,
    pub min: f64,
    pub max: f64,
    pub seconds: usize,
}

impl Throughput {
    pub fn of(m: &Measurement) -> Throughput {
        let s = models::stats::Summary::of(&m.per_second);
        Throughput {
            mean: m.throughput(),
            stdev: s.map(|s| s.stdev).unwrap_or(0.0),
            min: s.map(|s| s.min).unwrap_or(0.0),
            max: s.map(|s| s.max).unwrap_or(0.0),
            seconds: m.per_second.len(),
        }
    }
}

/// A built-in name, or a workload file.
pub fn resolve_workload(name: &str, scale: f64) -> Result<(WorkloadSpec, Option<Builtin>)> {
    let looks_like_file = name.ends_with(".toml") || name.ends_with(".json") || name.contains('/');
    if looks_like_file || Path::new(name).is_file() {
        let spec = WorkloadSpec::load(Path::new(name)).map_err(|e| BadInput(e.to_string()))?;
        return Ok((spec, None));
    }
    let builtin =
        Builtin::with_scale(name, scale).map_err(|e| BadInput(format!("--workload: {e}")))?;
    Ok((builtin.spec()?, Some(builtin)))
}

/// A throwaway sandbox server with an empty `dbtuner` database, and that database's URL.
pub async fn sandbox_database(engine: Engine) -> Result<(Sandbox, TargetUrl)> {
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .context("sandbox start task")??;
    let admin: TargetUrl = sandbox.url().parse()?;
    match engine {
        Engine::Postgres => {
            connect_postgres(&admin)
                .await?
                .batch_execute("CREATE DATABASE dbtuner")
                .await?
        }
        _ => {
            connect_mysql(&admin)
                .await?
                .query_drop("CREATE DATABASE dbtuner")
                .await?
        }
    }
    let url = sandbox.url_for_database("dbtuner").parse()?;
    Ok((sandbox, url))
}

pub async fn run(options: &BenchOptions, progress: &indicatif::ProgressBar) -> Result<BenchResult> {
    let (spec, builtin) = resolve_workload(&options.workload, options.scale)?;
    // Keep the sandbox alive for the whole run.
    let mut _sandbox = None;
    let url: TargetUrl = match &options.place {
        Where::Target(url) => url.clone(),
        Where::Sandbox(engine) => {
            progress.set_message(format!("starting a {} sandbox", engine.display_name()));
            let (sandbox, url) = sandbox_database(*engine).await?;
            _sandbox = Some(sandbox);
            url
        }
    };
    let target = Target::connect(&url).await?;
    let (engine, server_version) = (target.engine(), target.version().to_string());
    drop(target);
    let mut load = None;
    if let Some(b) = &builtin {
        if options.load || matches!(options.place, Where::Sandbox(_)) {
            progress.set_message(format!("loading {} at scale {}", b.name, b.scale_factor()));
            load = Some(
                b.load(&url)
                    .await
                    .context("loading the workload's tables")?,
            );
        }
    }
    let replay = Replay::new(&spec, &url)
        .await
        .context("preparing the workload (for a built-in on a target, pass --load the first time)")?
        .with_protocol(options.protocol);
    let driver_options = DriverOptions {
        clients: options.clients.or(spec.clients).unwrap_or(4),
        warmup: options.warmup,
        duration: options.duration,
        seed: options.seed,
        rate: options.rate,
        arrival: options.arrival,
        threads: options.threads,
    };
    progress.set_message(format!(
        "running {} ({} clients{})",
        spec.name,
        driver_options.clients,
        options
            .rate
            .map(|r| format!(", {r}/s open loop"))
            .unwrap_or_default()
    ));
    let measurement = replay
        .run(&driver_options, &url)
        .await
        .context("running the workload (for a built-in on a target, pass --load the first time)")?;
    let fidelity = fidelity(&spec, &measurement);
    Ok(BenchResult {
        workload: spec.name.clone(),
        engine: engine.display_name().to_string(),
        server_version,
        load,
        throughput: Throughput::of(&measurement),
        measurement,
        fidelity,
    })
}

/// Per template: captured vs replayed share of calls and mean latency (captured workloads).
fn fidelity(spec: &WorkloadSpec, m: &Measurement) -> Vec<Fidelity> {
    let captured_total: u64 = spec
        .transactions
        .iter()
        .filter_map(|t| t.captured_calls)
        .sum();
    if captured_total == 0 {
        return Vec::new();
    }
    let replay_total: u64 = m.per_template.values().map(|s| s.count).sum::<u64>().max(1);
    spec.transactions
        .iter()
        .map(|t| {
            let stats = m.per_template.get(&t.name);
            Fidelity {
                template: t.name.clone(),
                captured_share: t.captured_calls.unwrap_or(0) as f64 / captured_total as f64,
                replay_share: stats.map(|s| s.count).unwrap_or(0) as f64 / replay_total as f64,
                captured_mean_ms: t.captured_mean_ms,
                replay_mean_ms: stats.map(|s| s.latency.mean_ms).unwrap_or(0.0),
            }
        })
        .collect()
}

/// Human summary.
pub fn render(r: &BenchResult) -> String {
    use std::fmt::Write as _;
    let m = &r.measurement;
    let mut out = String::new();
    let s = models::stats::Summary::of(&m.per_second);
    let _ = writeln!(out, "{} on {} {}", r.workload, r.engine, r.server_version);
    if let Some(l) = &r.load {
        let _ = writeln!(out, "loaded {} rows in {:.1} s", l.rows, l.seconds);
    }
    let mode = m
        .rate
        .map(|rate| format!("open loop at {rate}/s"))
        .unwrap_or_else(|| "closed loop".into());
    let _ = writeln!(
        out,
        "{} clients, {mode}, {:.0} s measured after {:.0} s warm-up",
        m.clients, m.duration_secs, m.warmup_secs
    );
    let _ = writeln!(
        out,
        "throughput: {:.1} tx/s (per-second sd {:.1}, min {:.0}, max {:.0})",
        m.throughput(),
        s.map(|s| s.stdev).unwrap_or(0.0),
        s.map(|s| s.min).unwrap_or(0.0),
        s.map(|s| s.max).unwrap_or(0.0)
    );
    let l = &m.latency;
    let _ = writeln!(
        out,
        "latency ms: mean {:.2}  p50 {:.2}  p95 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        l.mean_ms, l.p50_ms, l.p95_ms, l.p99_ms, l.p999_ms, l.max_ms
    );
    if let Some(lag) = &m.schedule_lag {
        let _ = writeln!(
            out,
            "schedule lag ms: p50 {:.2}  p99 {:.2}  max {:.2}",
            lag.p50_ms, lag.p99_ms, lag.max_ms
        );
    }
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "template", "count", "mean ms", "p99 ms", "max ms", "timeouts"
    );
    for (name, t) in &m.per_template {
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9}",
            name, t.count, t.latency.mean_ms, t.latency.p99_ms, t.latency.max_ms, t.timeouts
        );
    }
    if let Some(ms) = m.statement_timeout_ms {
        let stuck: Vec<String> = m
            .per_template
            .iter()
            .filter(|(_, t)| t.timeouts > 0)
            .map(|(name, t)| format!("{name} ({} of {})", t.timeouts, t.timeouts + t.count))
            .collect();
        if !stuck.is_empty() {
            let _ = writeln!(
                out,
                "timed out at the {:.1} s statement timeout: {}",
                ms as f64 / 1000.0,
                stuck.join(", ")
            );
        }
    }
    if !r.fidelity.is_empty() {
        let _ = writeln!(
            out,
            "fidelity (capture vs replay): {:<20} {:>8} {:>8} {:>10} {:>10}",
            "template", "share", "share", "mean ms", "mean ms"
        );
        for f in &r.fidelity {
            let _ = writeln!(
                out,
                "  {:<46} {:>7.1}% {:>7.1}% {:>10} {:>10.2}",
                f.template,
                f.captured_share * 100.0,
                f.replay_share * 100.0,
                f.captured_mean_ms
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "-".into()),
                f.replay_mean_ms
            );
        }
    }
    if m.error_count() > 0 {
        let _ = writeln!(out, "errors: {:?}", m.errors);
    }
    if m.retries > 0 {
        let _ = writeln!(out, "retried (deadlock/serialization): {}", m.retries);
    }
    out
}
