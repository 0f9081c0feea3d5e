//! Our benchmark driver vs pgbench on the same TPC-B-like transaction, same sandbox, same
//! client count, interleaved rounds. Shows whether the driver is the bottleneck.
//!
//! `cargo run --release -p benches --bin driver_vs_pgbench -- [rounds] [seconds]`

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use knobs::Engine;
use workloads::builtin::Builtin;
use workloads::driver::{self, DriverOptions};
use workloads::replay::Replay;
use workloads::{Sandbox, TargetUrl};

const SCRIPT: &str = r"\set aid random(1, 100000 * :scale)
\set bid random(1, :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE tpcb_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM tpcb_accounts WHERE aid = :aid;
UPDATE tpcb_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE tpcb_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO tpcb_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
";

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
    let clients = 4;
    let scale = 10;
    let pgbench = benches::postgres_tool("pgbench")
        .context("pgbench not found; install postgresql-client")?;

    let sandbox = Sandbox::start(Engine::Postgres)?;
    let url: TargetUrl = sandbox.url().parse()?;
    let bench = Builtin::new("tpcb", scale)?;
    let load = bench.load(&url).await?;
    let replay = Replay::new(&bench.spec()?, &url).await?;
    eprintln!("loaded {} rows in {:.1} s", load.rows, load.seconds);
    let script = sandbox.dir().join("tpcb.sql");
    std::fs::write(&script, SCRIPT)?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..rounds {
        let options = DriverOptions {
            clients,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(seconds),
            seed: round as u64,
            rate: None,
            arrival: Default::default(),
        };
        let m = driver::run(&options, |_| replay.session(&url)).await?;
        ours.push(m.throughput());
        let out = Command::new(&pgbench)
            .args([
                "-n",
                "-M",
                "prepared",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
                "-D",
                &format!("scale={scale}"),
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
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(tps) = benches::parse_pgbench_tps(&text) else {
            bail!(
                "pgbench failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            )
        };
        theirs.push(tps);
        println!(
            "round {}: dbtuner driver {:.0} tx/s, pgbench {:.0} tx/s, ratio {:.3}",
            round + 1,
            ours[round],
            tps,
            ours[round] / tps
        );
    }
    let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
    let s = models::stats::Summary::of(&ratios).context("no rounds")?;
    println!("driver / pgbench throughput: mean {:.3}, stdev {:.3}, min {:.3}, max {:.3} over {} rounds ({clients} clients, {seconds} s each, scale {scale})", s.mean, s.stdev, s.min, s.max, s.n);
    Ok(())
}
