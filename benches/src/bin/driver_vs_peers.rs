//! Our benchmark driver against the standard tools on the same statement, same server, same
//! client count, in interleaved rounds (ratios, since this machine is noisy):
//! - PostgreSQL: `select-only` vs `pgbench -S`-style (a custom script with the same query);
//! - MariaDB: a point select vs `sysbench oltp_point_select` on sysbench's own table;
//! - memory: the driver process's peak RSS with 64 clients.
//!
//! `cargo run --release -p benches --bin driver_vs_peers -- [rounds] [seconds] [all|postgres|mariadb] [client threads]`

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use knobs::Engine;
use models::stats::Summary;
use mysql_async::prelude::Queryable;
use workloads::builtin::Builtin;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::target::connect_mysql;
use workloads::{Sandbox, TargetUrl};

const CLIENTS: usize = 4;

fn ratios(name: &str, ours: &[f64], theirs: &[f64]) -> Result<()> {
    let r: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
    let s = Summary::of(&r).context("no rounds")?;
    let mut sorted = r.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!("{name}: dbtuner / peer throughput median {median:.3}, mean {:.3}, sd {:.3}, min {:.3}, max {:.3} over {} rounds", s.mean, s.stdev, s.min, s.max, s.n);
    Ok(())
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn postgres(rounds: usize, seconds: u64, threads: Option<usize>) -> Result<()> {
    let pgbench = benches::postgres_tool("pgbench")
        .context("pgbench not found; install postgresql-client")?;
    let sandbox = Sandbox::start(Engine::Postgres)?;
    let url: TargetUrl = sandbox.url().parse()?;
    let bench = Builtin::new("select-only", 10)?;
    Builtin::new("tpcb", 10)?.load(&url).await?;
    let replay = Replay::new(&bench.spec()?, &url).await?;
    let script = sandbox.dir().join("select.sql");
    std::fs::write(
        &script,
        "\\set aid random(1, 1000000)\nSELECT abalance FROM tpcb_accounts WHERE aid = :aid;\n",
    )?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut options = DriverOptions::closed(
            CLIENTS,
            Duration::from_secs(2),
            Duration::from_secs(seconds),
            round as u64,
        );
        options.threads = threads;
        let m = replay.run(&options, &url).await?;
        ours.push(m.throughput());
        let out = Command::new(&pgbench)
            .args([
                "-n",
                "-M",
                "prepared",
                "-c",
                &CLIENTS.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
                "-h",
                "127.0.0.1",
                "-p",
                &sandbox.port().to_string(),
                "-U",
                "postgres",
                "-f",
            ])
            .arg(&script)
            .arg("postgres")
            .env("PGPASSWORD", sandbox.password())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(tps) = benches::parse_pgbench_tps(&text) else {
            bail!(
                "pgbench failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        };
        theirs.push(tps);
        println!(
            "postgres round {}: dbtuner {:.0} tx/s (p99 {:.2} ms), pgbench {:.0} tx/s",
            round + 1,
            m.throughput(),
            m.latency.p99_ms,
            tps
        );
    }
    ratios(
        "select-only vs pgbench -M prepared (PostgreSQL)",
        &ours,
        &theirs,
    )?;

    // Memory with 64 clients.
    let before = rss_kb("VmRSS:");
    let options =
        DriverOptions::closed(64, Duration::from_secs(1), Duration::from_secs(seconds), 9);
    let m = replay.run(&options, &url).await?;
    println!(
        "64 clients: {:.0} tx/s; driver process RSS before {} MB, peak {} MB",
        m.throughput(),
        before / 1024,
        rss_kb("VmHWM:") / 1024
    );
    Ok(())
}

/// sysbench's "transactions: N (X per sec.)".
fn sysbench_tps(output: &str) -> Option<f64> {
    let line = output
        .lines()
        .find(|l| l.trim_start().starts_with("transactions:"))?;
    let inner = line.split('(').nth(1)?;
    inner.split_whitespace().next()?.parse().ok()
}

async fn mariadb(rounds: usize, seconds: u64, threads: Option<usize>) -> Result<()> {
    let sandbox = Sandbox::start(Engine::Mariadb)?;
    let admin: TargetUrl = sandbox.url().parse()?;
    connect_mysql(&admin)
        .await?
        .query_drop("CREATE DATABASE sbtest")
        .await?;
    let port = sandbox.port().to_string();
    let password = format!("--mysql-password={}", sandbox.password());
    let common = [
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        "--mysql-user=root",
        &password,
        "--mysql-db=sbtest",
        "--tables=1",
        "--table-size=100000",
    ];
    let prepare = Command::new("sysbench")
        .arg("oltp_point_select")
        .args(common)
        .arg(format!("--mysql-port={port}"))
        .arg("prepare")
        .output()
        .context("sysbench not found; install sysbench")?;
    if !prepare.status.success() {
        bail!(
            "sysbench prepare failed: {}",
            String::from_utf8_lossy(&prepare.stderr)
        );
    }
    let url: TargetUrl = sandbox.url_for_database("sbtest").parse()?;
    let spec = WorkloadSpec::parse(
        "version = 1\nname = \"point-select\"\n[params.id]\nkind = \"uniform\"\nmin = 1\nmax = 100000\n[[transactions]]\nname = \"point_select\"\nweight = 1\nstatements = [\"SELECT c FROM sbtest1 WHERE id = :id\"]\n",
        true,
        "point-select",
    )?;
    let replay = Replay::new(&spec, &url).await?;
    // sysbench 1.0 has no warm-up option: warm the buffer pool with a short run of its own.
    Command::new("sysbench")
        .arg("oltp_point_select")
        .args(common)
        .arg(format!("--mysql-port={port}"))
        .args(["--time=3", "run"])
        .output()?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut options = DriverOptions::closed(
            CLIENTS,
            Duration::from_secs(2),
            Duration::from_secs(seconds),
            round as u64,
        );
        options.threads = threads;
        let m = replay.run(&options, &url).await?;
        ours.push(m.throughput());
        let out = Command::new("sysbench")
            .arg("oltp_point_select")
            .args(common)
            .arg(format!("--mysql-port={port}"))
            .args([
                format!("--threads={CLIENTS}"),
                format!("--time={seconds}"),
                "run".into(),
            ])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(tps) = sysbench_tps(&text) else {
            bail!(
                "sysbench run failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        };
        theirs.push(tps);
        println!(
            "mariadb round {}: dbtuner {:.0} tx/s (p99 {:.2} ms), sysbench {:.0} tx/s",
            round + 1,
            m.throughput(),
            m.latency.p99_ms,
            tps
        );
    }
    ratios(
        "point select vs sysbench oltp_point_select (MariaDB)",
        &ours,
        &theirs,
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("rounds must be a number")?
        .unwrap_or(3);
    let seconds: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("seconds must be a number")?
        .unwrap_or(10);
    let which = args.next().unwrap_or_else(|| "all".into());
    let threads: Option<usize> = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("client threads must be a number")?;
    if which == "all" || which == "postgres" {
        postgres(rounds, seconds, threads).await?;
    }
    if which == "all" || which == "mariadb" {
        mariadb(rounds, seconds, threads).await?;
    }
    Ok(())
}
