//! What telemetry costs the database it watches.
//!
//! `overhead`: the TPC-B-like load with and without a telemetry scrape every interval, on the
//! same sandbox, in interleaved rounds (A B, then B A, …), reporting the throughput ratio
//! per round with its spread.
//!
//! `snapshot`: the time of one snapshot on a database with 1,000 tables and 5,000 statements
//! tracked by pg_stat_statements (`--keep` leaves the sandbox running and prints its URL, to
//! measure the CLI's memory from outside).
//!
//! ```text
//! cargo run --release -p benches --bin telemetry_overhead -- overhead [rounds] [seconds] [interval_ms]
//! cargo run --release -p benches --bin telemetry_overhead -- snapshot [--keep]
//! ```

use std::time::{Duration, Instant};

use agent::telemetry::watch::{watch, WatchEvent};
use agent::telemetry::{Collector, TelemetryConfig};
use anyhow::{bail, Context, Result};
use knobs::Engine;
use workloads::builtin::Builtin;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::{Sandbox, TargetUrl};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("overhead") => {
            let num = |i: usize, default: u64| -> Result<u64> {
                args.get(i)
                    .map(|a| a.parse().with_context(|| format!("'{a}' is not a number")))
                    .transpose()
                    .map(|v| v.unwrap_or(default))
            };
            overhead(num(1, 6)? as usize, num(2, 15)?, num(3, 1000)?).await
        }
        Some("snapshot") => snapshot_time(args.iter().any(|a| a == "--keep")).await,
        _ => bail!("usage: telemetry_overhead overhead [rounds] [seconds] [interval_ms] | snapshot [--keep]"),
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn stdev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().saturating_sub(1)).max(1) as f64)
        .sqrt()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn overhead(rounds: usize, seconds: u64, interval_ms: u64) -> Result<()> {
    let clients = 4;
    let scale = 4;
    let sandbox = Sandbox::start(Engine::Postgres)?;
    let url: TargetUrl = sandbox.url().parse()?;
    workloads::target::connect_postgres(&url)
        .await?
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await?;
    let bench = Builtin::new("tpcb", scale)?;
    let load = bench.load(&url).await?;
    let replay = Replay::new(&bench.spec()?, &url).await?;
    eprintln!(
        "loaded {} rows in {:.1} s; {rounds} rounds of {seconds} s, {clients} clients, telemetry every {interval_ms} ms",
        load.rows, load.seconds
    );
    let interval = Duration::from_millis(interval_ms);
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut collect_ms = Vec::new();
    let mut skipped = 0;
    for round in 0..rounds {
        // A B in even rounds, B A in odd ones: warm-up drift hits both arms alike.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut pair = [0.0; 2];
        for telemetry in order {
            let options = DriverOptions::closed(
                clients,
                Duration::from_secs(2),
                Duration::from_secs(seconds),
                round as u64,
            );
            let m = if telemetry {
                let collector = Collector::new(url.clone(), TelemetryConfig::default())?;
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let watcher = tokio::spawn(watch(
                    collector,
                    interval,
                    async {
                        let _ = stopped.await;
                    },
                    tx,
                ));
                let m = replay.run(&options, &url).await?;
                let _ = stop.send(());
                let summary = watcher.await?;
                skipped += summary.skipped;
                while let Ok(e) = rx.try_recv() {
                    if let WatchEvent::Snapshot(s) = e {
                        collect_ms.push(s.collect_ms);
                    }
                }
                m
            } else {
                replay.run(&options, &url).await?
            };
            pair[usize::from(telemetry)] = m.throughput();
        }
        without.push(pair[0]);
        with.push(pair[1]);
        // The host's load shows when other processes (builds, other benchmarks) competed.
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "round {}: without {:.0} tx/s, with {:.0} tx/s, ratio {:.4}  (load average {})",
            round + 1,
            pair[0],
            pair[1],
            pair[1] / pair[0],
            load.split_whitespace().next().unwrap_or("?")
        );
    }
    let ratios: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w / o).collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    collect_ms.sort_by(f64::total_cmp);
    println!(
        "throughput without telemetry {:.0} ± {:.0} tx/s, with {:.0} ± {:.0} tx/s (mean ± sd over {rounds} rounds)",
        mean(&without),
        stdev(&without),
        mean(&with),
        stdev(&with)
    );
    println!(
        "ratio with/without: mean {:.4}, sd {:.4}, min {:.4}, median {:.4}, max {:.4} → difference {:+.2}% ± {:.2}% (sd/√n)",
        mean(&ratios),
        stdev(&ratios),
        sorted[0],
        quantile(&sorted, 0.5),
        sorted[sorted.len() - 1],
        (mean(&ratios) - 1.0) * 100.0,
        stdev(&ratios) / (ratios.len() as f64).sqrt() * 100.0
    );
    println!(
        "{} scrapes during the load: median {:.1} ms, p90 {:.1} ms, max {:.1} ms; {skipped} skipped",
        collect_ms.len(),
        quantile(&collect_ms, 0.5),
        quantile(&collect_ms, 0.9),
        collect_ms.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

async fn snapshot_time(keep: bool) -> Result<()> {
    let sandbox = Sandbox::start_with(Engine::Postgres, &[("pg_stat_statements.max", "10000")])?;
    let url: TargetUrl = sandbox.url().parse()?;
    let client = workloads::target::connect_postgres(&url).await?;
    client
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await?;
    let started = Instant::now();
    for chunk in 0..10 {
        let mut ddl = String::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            ddl.push_str(&format!(
                "CREATE TABLE t{i} (id int PRIMARY KEY, a int, b text); INSERT INTO t{i} VALUES (1, 1, 'x');"
            ));
        }
        client.batch_execute(&ddl).await?;
    }
    client
        .batch_execute("SELECT pg_stat_statements_reset()")
        .await?;
    // Five differently shaped queries per table: 5,000 distinct statement templates.
    for chunk in 0..10 {
        let mut sql = String::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            sql.push_str(&format!(
                "SELECT id FROM t{i}; SELECT a FROM t{i}; SELECT b FROM t{i}; SELECT id, a FROM t{i} WHERE id = 1; SELECT count(*) FROM t{i};"
            ));
        }
        client.batch_execute(&sql).await?;
    }
    let tracked: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await?
        .get(0);
    let tables: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_user_tables", &[])
        .await?
        .get(0);
    eprintln!(
        "set up {tables} tables and {tracked} tracked statements in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (label, config) in [
        ("top 50 statements (default)", TelemetryConfig::default()),
        (
            "all statements (top 5000)",
            TelemetryConfig {
                top_statements: 5000,
                ..TelemetryConfig::default()
            },
        ),
    ] {
        let mut collector = Collector::new(url.clone(), config)?;
        // The first scrape also connects and probes the catalogs: timed apart.
        let t = Instant::now();
        let first = collector.collect().await?;
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        // CPU the scrapes cost: the server backend serving them, and this process (idle but
        // for the collector during the loop). /proc reports ticks of 1/100 s (USER_HZ).
        let backend: i32 = client
            .query_one(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'dbtuner-telemetry'",
                &[],
            )
            .await?
            .get(0);
        let server_cpu_before = cpu_ticks(&format!("/proc/{backend}/stat"));
        let client_cpu_before = cpu_ticks("/proc/self/stat");
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let snap = collector.collect().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if snap.statements.is_empty() {
                bail!("no statements collected: {:?}", snap.notices);
            }
        }
        let server_ms =
            (cpu_ticks(&format!("/proc/{backend}/stat")) - server_cpu_before) * 10.0 / 30.0;
        let client_ms = (cpu_ticks("/proc/self/stat") - client_cpu_before) * 10.0 / 30.0;
        println!(
            "{label}: CPU per scrape: server backend {server_ms:.1} ms, collector process {client_ms:.1} ms (10 ms resolution over 30 scrapes)"
        );
        times.sort_by(f64::total_cmp);
        println!(
            "{label}: first (connect + probe) {first_ms:.1} ms; next 30: median {:.1} ms, p90 {:.1} ms, max {:.1} ms; {} counters, {} gauges, {} statements, tracked {}",
            quantile(&times, 0.5),
            quantile(&times, 0.9),
            times[times.len() - 1],
            first.counters.len(),
            first.gauges.len(),
            first.statements.len(),
            first.gauges.get("pg_stat_statements/tracked").copied().unwrap_or(0.0)
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        {
            println!("this benchmark process (runtime + setup client + collector): {line}");
        }
    }
    if keep {
        println!("{}", sandbox.url());
        eprintln!("sandbox kept running; Ctrl-C stops it");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

/// utime + stime of a process, in ticks, from its /proc stat file (0 when unreadable).
fn cpu_ticks(path: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            let rest = text
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .collect::<Vec<_>>();
            // After the command name: state is field 3, utime 14 and stime 15 (1-based).
            let utime: f64 = rest.get(11)?.parse().ok()?;
            let stime: f64 = rest.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0.0)
}
