//! How far the gate can be trusted on this machine, on a PostgreSQL sandbox running TPC-B
//! (scale 2, 4 clients), with the gate's default settings (accept above +2% at 95%, 4 rounds
//! before the first decision, up to 8 while inconclusive):
//! - A/A: the default against itself, `aa` times. An accept is a false accept (goal: none).
//! - Detection: the default against a planted slowdown of known kind — `commit_delay` µs
//!   (with `commit_siblings = 1`: every commit sleeps while another transaction is active) —
//!   `repeats` times per delay. The planted baseline is the slow arm, so the candidate (the
//!   default) carries a true gain; the gate's own ratio estimates its size. The smallest delay
//!   accepted in every repeat bounds the smallest gain the gate detects at these windows.
//!
//! `cargo run --release -p benches --bin gate_noise -- [aa] [repeats] [warmup_s] [measure_s]
//! [first_seed]` (a later run with another first seed draws other round orders, so that two
//! runs add up to one larger sample)
//! (defaults 20 4 2 5: the windows of a 3-minute `demo`).

use std::time::{Duration, Instant};

use agent::gate::{self, GatePlan};
use agent::tune::measure::{Bench, Window};
use agent::tune::Events;
use anyhow::{Context, Result};
use benches::arg;
use benches::loaded::{loaded_bench, Measuring};
use knobs::{catalog, Config, Engine};
use models::gate::{Decision, GateEvidence, GateSettings};
use tokio_util::sync::CancellationToken;

const DELAYS_US: [u32; 4] = [25, 50, 100, 200];

async fn compare(
    bench: &mut Bench,
    baseline: &Config,
    candidate: &Config,
    seed: u64,
) -> Result<(GateEvidence, usize, f64)> {
    let started = Instant::now();
    let plan = GatePlan {
        min_rounds: 4,
        max_rounds: 8,
        deadline: Instant::now() + Duration::from_secs(3600),
        slot_cost: Duration::from_secs(10),
        p99_limit_ms: None,
        seed,
    };
    let outcome = gate::run(
        bench,
        baseline,
        candidate,
        &GateSettings::default(),
        plan,
        &Events::none(),
        &CancellationToken::new(),
    )
    .await?;
    let evidence = outcome
        .evidence
        .with_context(|| format!("no verdict: {:?}", outcome.failure))?;
    let rounds = evidence.rounds;
    Ok((evidence, rounds, started.elapsed().as_secs_f64()))
}

fn name(d: Decision) -> &'static str {
    match d {
        Decision::Accept => "accept",
        Decision::Reject => "reject",
        Decision::Inconclusive => "inconclusive",
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let aa = arg(1, 20)?;
    let repeats = arg(2, 4)?;
    let window = Window {
        warmup: Duration::from_secs(arg(3, 2)?),
        measure: Duration::from_secs(arg(4, 5)?),
    };
    let first_seed = arg(5, 0)?;
    let mut bench = loaded_bench(
        Engine::Postgres,
        "tpcb",
        2.0,
        Measuring {
            clients: 4,
            window,
            restart_each: false,
            seed: 1,
        },
    )
    .await?;
    let cat = catalog::for_engine(Engine::Postgres)?;
    let default = Config::new();
    println!(
        "gate on TPC-B scale 2, 4 clients, warm-up {}s, measure {}s, 4..8 rounds",
        window.warmup.as_secs(),
        window.measure.as_secs()
    );

    let mut counts = [0usize; 3];
    let mut widths = Vec::new();
    for i in 0..aa {
        let (e, rounds, secs) =
            compare(&mut bench, &default, &default, first_seed + 100 + i).await?;
        counts[e.decision as usize] += 1;
        widths.push(e.score.high / e.score.low);
        println!(
            "A/A {:>2}: {:<12} ratio {:.3} (CI {:.3} .. {:.3}), {rounds} rounds, {secs:.0}s",
            i + 1,
            name(e.decision),
            e.score.ratio,
            e.score.low,
            e.score.high
        );
    }
    widths.sort_by(f64::total_cmp);
    let median_width = widths.get(widths.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "A/A over {aa}: accept {}, reject {}, inconclusive {}; median interval width (high/low) {:.3}",
        counts[Decision::Accept as usize],
        counts[Decision::Reject as usize],
        counts[Decision::Inconclusive as usize],
        median_width
    );

    // No repeats: A/A only (a planted delay with no gate has nothing to report).
    let delays = if repeats == 0 {
        &[][..]
    } else {
        &DELAYS_US[..]
    };
    for &delay in delays {
        let planted = Config::parse_pairs(
            &cat,
            [
                ("commit_delay", delay.to_string().as_str()),
                ("commit_siblings", "1"),
            ],
        )?;
        let mut accepted = 0;
        let mut ratios = Vec::new();
        for r in 0..repeats {
            let (e, rounds, secs) =
                compare(&mut bench, &planted, &default, first_seed + 500 + r).await?;
            if e.decision == Decision::Accept {
                accepted += 1;
            }
            ratios.push(e.score.ratio);
            println!(
                "delay {delay:>3}us #{}: {:<12} ratio {:.3} (CI {:.3} .. {:.3}), {rounds} rounds, {secs:.0}s",
                r + 1,
                name(e.decision),
                e.score.ratio,
                e.score.low,
                e.score.high
            );
        }
        let mean = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
        println!(
            "delay {delay:>3}us: accepted {accepted}/{repeats}, mean gain {:+.1}%",
            (mean - 1.0) * 100.0
        );
    }
    Ok(())
}
