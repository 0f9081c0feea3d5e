//! dbtuner against what it must beat, with the same trial budget, on real sandboxes:
//! the default, the PGTune-style heuristic (InnoDB sizing on MariaDB), random search at N and
//! at 2N trials, and dbtuner (its model-based search, then its gate) at N trials.
//!
//! Per workload: one random-search session of 2N trials (random search does not learn, so its
//! first N trials are exactly a random search of N), one dbtuner session of N trials, both
//! through `tune`'s own session code with the same measurement windows. Each method's final
//! configuration is then re-measured side by side on a fresh sandbox: `rounds` rounds, each
//! measuring all five in a shuffled order through the same path (restart, VACUUM/CHECKPOINT,
//! warm-up, measure), and each method's score is compared with the default's in the same
//! round (a Student-t interval over the rounds' log ratios, as the gate does).
//!
//! - random@N, random@2N: the best-scoring search trial among the first N (all 2N): what a
//!   random search would keep.
//! - dbtuner@N: the gate's verdict decides: the candidate when accepted, else the default.
//! - Durability-safe knobs only (the opt-in search is not part of this comparison).
//!
//! `cargo run --release -p benches --bin tuner_vs_peers -- [cases] [n] [rounds] [warmup_s]
//! [measure_s] [seed]`, cases as `engine:workload:scale,…` (defaults:
//! `postgres:tpch:0.3,postgres:select-only:20,postgres:tpcc:2,mariadb:tpcc:2,mariadb:select-only:20`,
//! 5 trials, 4 rounds, 3 s + 7 s).

use std::path::Path;
use std::time::{Duration, Instant};

use agent::tune::measure::Window;
use agent::tune::{
    Events, KnobSelection, Objective, OptimizerChoice, StagingChoice, TuneSettings, WorkloadChoice,
};
use anyhow::{bail, Context, Result};
use benches::arg;
use benches::loaded::{loaded_bench, Measuring};
use knobs::{catalog, Config, Engine, Knob};
use models::gate::{log_interval, log_ratio, GateSettings};
use models::stats::Summary;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use reports::{Report, TrialRecord, TrialStatus};
use tokio_util::sync::CancellationToken;

const DEFAULT_CASES: &str =
    "postgres:tpch:0.3,postgres:select-only:20,postgres:tpcc:2,mariadb:tpcc:2,mariadb:select-only:20";
const CLIENTS: usize = 4;
const METHODS: [&str; 5] = ["default", "heuristic", "random@N", "random@2N", "dbtuner@N"];

struct Case {
    engine: Engine,
    workload: String,
    scale: f64,
}

fn parse_cases(text: &str) -> Result<Vec<Case>> {
    text.split(',')
        .map(|c| {
            let parts: Vec<&str> = c.split(':').collect();
            let [engine, workload, scale] = parts[..] else {
                bail!("case {c}: give engine:workload:scale");
            };
            Ok(Case {
                engine: engine
                    .parse()
                    .with_context(|| format!("case {c}: engine {engine}"))?,
                workload: workload.to_string(),
                scale: scale
                    .parse()
                    .with_context(|| format!("case {c}: scale {scale}"))?,
            })
        })
        .collect()
}

fn settings(
    case: &Case,
    optimizer: OptimizerChoice,
    trials: u32,
    window: Window,
    seed: u64,
    out: &Path,
) -> TuneSettings {
    TuneSettings {
        kind: "tune".into(),
        staging: StagingChoice::Sandbox(case.engine),
        workload: WorkloadChoice::Builtin {
            name: case.workload.clone(),
            scale: case.scale,
        },
        trials: Some(trials),
        // The trial count decides; the budget only has to be out of the way.
        time_budget: Duration::from_secs(3 * 3600),
        knobs: KnobSelection::Default,
        objective: Objective::Throughput,
        p99_limit_ms: None,
        optimizer,
        seed,
        out: out.to_path_buf(),
        clients: CLIENTS,
        allow_durability_risk: false,
        gate: GateSettings::default(),
        resume_from: None,
        indexes: false,
        index_budget: None,
        window: Some(window),
    }
}

fn config_of(trial: &TrialRecord, catalog: &[Knob]) -> Result<Config> {
    Config::parse_pairs(
        catalog,
        trial
            .knobs
            .iter()
            .map(|k| (k.name.as_str(), k.value.as_str())),
    )
    .with_context(|| format!("trial {} ({})", trial.id, trial.label))
}

/// The best-scoring measured search trial (ids 2 ..) among the first `n`.
fn best_search(report: &Report, n: usize) -> Option<&TrialRecord> {
    report
        .trials
        .iter()
        .filter(|t| t.id >= 2 && t.id < 2 + n && matches!(t.status, TrialStatus::Measured))
        .filter_map(|t| Some((t, t.score?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(t, _)| t)
}

fn describe(config: &Config, catalog: &[Knob]) -> String {
    let d = config.describe(catalog);
    if d.is_empty() {
        return "(default)".into();
    }
    d.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn session(settings: &TuneSettings) -> Result<(Report, f64)> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.out)?;
    let hardware = agent::hardware::detect();
    let outcome = agent::tune::run(
        settings,
        hardware,
        &Events::none(),
        &CancellationToken::new(),
    )
    .await?;
    Ok((outcome.report, started.elapsed().as_secs_f64()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let cases = parse_cases(
        &std::env::args()
            .nth(1)
            .unwrap_or_else(|| DEFAULT_CASES.to_string()),
    )?;
    let n = arg(2, 5)? as u32;
    let rounds = arg(3, 4)? as usize;
    let window = Window {
        warmup: Duration::from_secs(arg(4, 3)?),
        measure: Duration::from_secs(arg(5, 7)?),
    };
    let seed = arg(6, 1)?;
    println!(
        "tuner vs peers: N = {n} trials, {rounds} re-measure rounds, warm-up {}s + measure {}s, {CLIENTS} clients, seed {seed}",
        window.warmup.as_secs(),
        window.measure.as_secs()
    );
    for case in &cases {
        let started = Instant::now();
        let label = format!("{} {} scale {}", case.engine, case.workload, case.scale);
        let cat = catalog::for_engine(case.engine)?;
        let dir = tempfile::tempdir()?;
        let (random, random_secs) = session(&settings(
            case,
            OptimizerChoice::Random,
            2 * n,
            window,
            seed,
            &dir.path().join("random"),
        ))
        .await
        .with_context(|| format!("{label}: random search"))?;
        let (tuned, tuned_secs) = session(&settings(
            case,
            OptimizerChoice::Auto,
            n,
            window,
            seed,
            &dir.path().join("dbtuner"),
        ))
        .await
        .with_context(|| format!("{label}: dbtuner"))?;
        let heuristic = tuned
            .trials
            .iter()
            .find(|t| t.label == "heuristic")
            .map(|t| config_of(t, &cat))
            .transpose()?
            .unwrap_or_default();
        let pick = |r: &Report, k: usize| -> Result<Config> {
            best_search(r, k)
                .map(|t| config_of(t, &cat))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let dbtuner = if tuned.recommended {
            let best = tuned.validation.as_ref().map(|v| v.best_trial);
            let trial = tuned
                .trials
                .iter()
                .find(|t| Some(t.id) == best)
                .context("the accepted trial is not in the report")?;
            config_of(trial, &cat)?
        } else {
            Config::new()
        };
        let configs = [
            Config::new(),
            heuristic,
            pick(&random, n as usize)?,
            pick(&random, 2 * n as usize)?,
            dbtuner,
        ];
        println!(
            "\n{label}: random@2N session {random_secs:.0}s (gate: {}), dbtuner@N session {tuned_secs:.0}s (gate: {})",
            random.validation.as_ref().map_or("none".into(), |v| format!("{:?} {:.3}", v.verdict, v.ratio)),
            tuned.validation.as_ref().map_or("none".into(), |v| format!("{:?} {:.3}", v.verdict, v.ratio)),
        );
        for (m, c) in METHODS.iter().zip(&configs) {
            println!("  {m:<10} {}", describe(c, &cat));
        }

        let mut bench = loaded_bench(
            case.engine,
            &case.workload,
            case.scale,
            Measuring {
                clients: CLIENTS,
                window,
                restart_each: true,
                seed,
            },
        )
        .await?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut scores = vec![Vec::new(); METHODS.len()];
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..METHODS.len()).collect();
            order.shuffle(&mut rng);
            let mut got = vec![None; METHODS.len()];
            for &i in &order {
                got[i] = match bench.run(&configs[i]).await {
                    Ok(run) => Some(run.score(Objective::Throughput)),
                    Err(e) => {
                        println!("  round {}: {} failed: {e}", round + 1, METHODS[i]);
                        bench.recover().await?;
                        None
                    }
                };
            }
            for (s, g) in scores.iter_mut().zip(got) {
                s.push(g.unwrap_or(f64::NAN));
            }
        }
        println!(
            "  {:<10} {:>10} {:>8}  {:<24}",
            "method", "units/s", "sd", "vs default (95% CI)"
        );
        for (i, m) in METHODS.iter().enumerate() {
            let own: Vec<f64> = scores[i]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            let (mean, sd) = Summary::of(&own).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.stdev));
            let versus = if i == 0 {
                "-".to_string()
            } else {
                let logs: Vec<f64> = scores[i]
                    .iter()
                    .zip(&scores[0])
                    .map(|(c, b)| log_ratio(*c, *b))
                    .collect();
                match log_interval(&logs, 0.95) {
                    Some(r) => format!(
                        "{:+.1}% ({:+.1}% .. {:+.1}%)",
                        (r.ratio - 1.0) * 100.0,
                        (r.low - 1.0) * 100.0,
                        (r.high - 1.0) * 100.0
                    ),
                    None => "n/a (a failed round)".into(),
                }
            };
            println!("  {m:<10} {mean:>10.1} {sd:>8.1}  {versus}");
        }
        println!("  {label}: {:.0}s in all", started.elapsed().as_secs_f64());
    }
    Ok(())
}
