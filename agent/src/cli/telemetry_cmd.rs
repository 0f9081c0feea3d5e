//! `dbtuner telemetry snapshot|watch`: one snapshot of a target, or a live line every
//! interval (TPS, latency, hit ratio, checkpoints, waits), optionally stored in a repository.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tokio::sync::mpsc;
use workloads::TargetUrl;

use crate::repository::{self, Repository};
use crate::telemetry::watch::{watch, WatchEvent};
use crate::telemetry::{Collector, Delta, Snapshot, TelemetryConfig};
use crate::BadInput;

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Take one snapshot of a target and print it.
    Snapshot(SnapshotArgs),
    /// Scrape a target every interval and print a live line; Ctrl-C stops.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Target URL, postgres://… or mysql://….
    #[arg(long, env = "DBTUNER_TARGET", hide_env_values = true)]
    pub target: Option<String>,
    /// Print the snapshot as JSON.
    #[arg(long)]
    pub json: bool,
    /// Statements to keep, by total time.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Target URL, postgres://… or mysql://….
    #[arg(long, env = "DBTUNER_TARGET", hide_env_values = true)]
    pub target: Option<String>,
    /// Time between scrapes (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Store every snapshot in this repository: a file (SQLite) or a postgres:// URL.
    #[arg(long)]
    pub repo: Option<String>,
    /// One JSON object per interval instead of the live line.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many snapshots (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("'{text}': {e}; use a duration such as 10s or 1m"))?;
    if d < Duration::from_millis(100) {
        return Err(format!("'{text}' is shorter than 100ms"));
    }
    Ok(d)
}

pub async fn run(command: TelemetryCommand) -> Result<ExitCode> {
    match command {
        TelemetryCommand::Snapshot(a) => snapshot(a).await,
        TelemetryCommand::Watch(a) => watch_cmd(a).await,
    }
}

fn target_url(arg: Option<String>) -> Result<TargetUrl> {
    let text = arg
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| BadInput("no target: pass --target URL or set DBTUNER_TARGET".into()))?;
    Ok(text.parse::<TargetUrl>()?)
}

async fn snapshot(args: SnapshotArgs) -> Result<ExitCode> {
    let url = target_url(args.target)?;
    let config = TelemetryConfig {
        top_statements: args.top,
        ..TelemetryConfig::default()
    };
    // The notices are part of what this command prints.
    let mut collector = Collector::new(url, config)?.log_notices(false);
    let snap = collector.collect().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        print!("{}", describe(&snap));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human view of one snapshot: cumulative figures since the last reset.
pub fn describe(s: &Snapshot) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} at {} (collected in {:.1} ms)",
        s.engine, s.server_version, s.target, s.collect_ms
    );
    let c = |k: &str| s.counters.get(k).copied();
    let g = |k: &str| s.gauges.get(k).copied();
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    if s.engine == "postgres" {
        let hit = s.counter_sum("pg_stat_database/", "blks_hit");
        let read = s.counter_sum("pg_stat_database/", "blks_read");
        let _ = writeln!(
            out,
            "transactions   {} committed, {} rolled back; buffer hit ratio {}",
            num(s.counter_sum("pg_stat_database/", "xact_commit")),
            num(s.counter_sum("pg_stat_database/", "xact_rollback")),
            percent(
                hit.zip(read)
                    .and_then(|(h, r)| (h + r > 0.0).then(|| h / (h + r)))
            ),
        );
        let (timed, requested) = if s.counters.contains_key("pg_stat_checkpointer/num_timed") {
            (
                c("pg_stat_checkpointer/num_timed"),
                c("pg_stat_checkpointer/num_requested"),
            )
        } else {
            (
                c("pg_stat_bgwriter/checkpoints_timed"),
                c("pg_stat_bgwriter/checkpoints_req"),
            )
        };
        let _ = writeln!(
            out,
            "checkpoints    {} timed, {} requested; WAL {}",
            num(timed),
            num(requested),
            bytes(c("pg_stat_wal/wal_bytes").or(c("wal_position/bytes")))
        );
        let _ = writeln!(
            out,
            "temp files     {} ({})",
            num(s.counter_sum("pg_stat_database/", "temp_files")),
            bytes(s.counter_sum("pg_stat_database/", "temp_bytes"))
        );
        let _ = writeln!(
            out,
            "sessions       {} active, {} idle, {} idle in transaction; locks {} granted, {} waiting",
            num(g("pg_stat_activity/active").or(Some(0.0))),
            num(g("pg_stat_activity/idle").or(Some(0.0))),
            num(g("pg_stat_activity/idle_in_transaction").or(Some(0.0))),
            num(g("pg_locks/granted")),
            num(g("pg_locks/waiting")),
        );
        let _ = writeln!(
            out,
            "tables         {} ({} live rows, {} dead); indexes {} ({} never scanned)",
            num(g("pg_stat_user_tables/tables")),
            num(g("pg_stat_user_tables/n_live_tup")),
            num(g("pg_stat_user_tables/n_dead_tup")),
            num(g("pg_stat_user_indexes/indexes")),
            num(g("pg_stat_user_indexes/unused")),
        );
        if let Some(r) = g("replication/replicas").filter(|r| *r > 0.0) {
            let _ = writeln!(
                out,
                "replication    {r:.0} replicas, max lag {} s / {}",
                g("replication/max_replay_lag_s").map_or("-".into(), |v| format!("{v:.1}")),
                bytes(g("replication/max_lag_bytes"))
            );
        }
    } else {
        let st = |k: &str| c(&format!("global_status/{k}"));
        let requests = st("Innodb_buffer_pool_read_requests");
        let misses = st("Innodb_buffer_pool_reads");
        let _ = writeln!(
            out,
            "transactions   {} commits, {} rollbacks; buffer pool hit ratio {}",
            num(st("Com_commit")),
            num(st("Com_rollback")),
            percent(
                requests
                    .zip(misses)
                    .and_then(|(r, m)| (r > 0.0).then(|| 1.0 - m / r))
            ),
        );
        let _ = writeln!(
            out,
            "redo log       {} written; temp tables on disk {}",
            bytes(st("Innodb_os_log_written")),
            num(st("Created_tmp_disk_tables"))
        );
        let _ = writeln!(
            out,
            "sessions       {} connected, {} running",
            num(g("global_status/Threads_connected")),
            num(g("global_status/Threads_running"))
        );
    }
    if let Some(mem) = g("host.mem/MemTotal") {
        let _ = writeln!(
            out,
            "host           {} CPUs, {} RAM ({} available)",
            num(g("host.cpu/cpus")),
            bytes(Some(mem)),
            bytes(g("host.mem/MemAvailable"))
        );
    }
    if !s.waits.is_empty() {
        let _ = writeln!(
            out,
            "waits (sampled) {}",
            waits(
                &s.waits
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<Vec<_>>()
            )
        );
    }
    if !s.statements.is_empty() {
        let _ = writeln!(out, "top statements by total time:");
        for st in &s.statements {
            let text: String = st.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(90).collect();
            let _ = writeln!(
                out,
                "  {:>10.1} ms {:>9.0} calls  {}",
                st.total_time_ms, st.calls, text
            );
        }
    }
    for n in &s.notices {
        let _ = writeln!(out, "note: {}: {}; to fix: {}", n.source, n.problem, n.fix);
    }
    out
}

fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}%", v * 100.0))
}

fn bytes(v: Option<f64>) -> String {
    let Some(v) = v else { return "-".into() };
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = v;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

fn waits(top: &[(String, u64)]) -> String {
    if top.is_empty() {
        return "-".into();
    }
    top.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// HH:MM:SS (UTC) of a Unix time in milliseconds.
fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The compact live line of one interval.
pub fn live_line(d: &Delta) -> String {
    let x = &d.derived;
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
    let mut line = format!(
        "{}  tps {}  lat {}  hit {}  ckpt {}/{}  wal {}/xact  temp {}  waits {}",
        clock(d.to_ms),
        opt(x.tps, &|v| format!("{v:.1}")),
        opt(x.mean_statement_latency_ms, &|v| format!("{v:.2} ms")),
        percent(x.buffer_hit_ratio),
        opt(x.checkpoints_timed, &|v| format!("{v:.0}")),
        opt(x.checkpoints_requested, &|v| format!("{v:.0}")),
        bytes(x.wal_bytes_per_xact),
        bytes(x.temp_bytes.or(x.temp_spills)),
        waits(&x.top_waits),
    );
    if d.restarted {
        line.push_str("  (server restarted)");
    } else if !d.reset_groups.is_empty() {
        line.push_str("  (counters reset)");
    }
    line
}

async fn watch_cmd(args: WatchArgs) -> Result<ExitCode> {
    let url = target_url(args.target)?;
    let repo: Option<Box<dyn Repository>> = match &args.repo {
        Some(spec) => Some(
            repository::open(spec)
                .await
                .context("opening the repository")?,
        ),
        None => None,
    };
    let collector = Collector::new(url.clone(), TelemetryConfig::default())?;
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stop_rx => {}
        }
    };
    let watcher = tokio::spawn(watch(collector, args.interval, shutdown, tx));
    let mut stop_tx = Some(stop_tx);
    let mut previous: Option<Snapshot> = None;
    let mut target_id = None;
    let mut taken = 0u64;
    if !args.json {
        eprintln!(
            "watching {url} every {}; Ctrl-C stops",
            humantime::format_duration(args.interval)
        );
    }
    while let Some(event) = rx.recv().await {
        match event {
            WatchEvent::Snapshot(snap) => {
                taken += 1;
                if let Some(repo) = &repo {
                    let id = match target_id {
                        Some(id) => id,
                        None => {
                            let id = repo
                                .upsert_target(&url, &snap.engine, &snap.server_version)
                                .await?;
                            target_id = Some(id);
                            id
                        }
                    };
                    repo.insert_snapshot(id, &snap).await?;
                }
                if let Some(prev) = &previous {
                    let d = Delta::between(prev, &snap);
                    if args.json {
                        println!(
                            "{}",
                            serde_json::json!({ "from_ms": d.from_ms, "to_ms": d.to_ms, "restarted": d.restarted, "derived": d.derived })
                        );
                    } else {
                        println!("{}", live_line(&d));
                    }
                }
                previous = Some(*snap);
                if args.count.is_some_and(|n| taken >= n) {
                    if let Some(stop) = stop_tx.take() {
                        let _ = stop.send(());
                    }
                }
            }
            WatchEvent::Failed(e) => eprintln!("scrape failed: {e}"),
            WatchEvent::Skipped => eprintln!("previous scrape still running; skipped one"),
        }
    }
    let summary = watcher.await.context("watch task")?;
    if !args.json {
        eprintln!(
            "{} snapshots, {} skipped, {} failed",
            summary.scrapes, summary.skipped, summary.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}
