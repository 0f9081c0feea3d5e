//! `dbtuner demo`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::DemoArgs;
use crate::demo::{self, DemoOptions};
use crate::BadInput;

pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    check_writable(&args.out)?;
    let options = DemoOptions {
        engine: args.engine.into(),
        minutes: args.minutes,
        out: args.out.clone(),
        allow_durability_risk: args.allow_durability_risk,
        seed: args.seed,
        clients: args.clients as usize,
        scale: args.scale,
        optimizer: match args.optimizer {
            super::args::OptimizerArg::Bayes => crate::demo::OptimizerChoice::Bayes,
            super::args::OptimizerArg::Random => crate::demo::OptimizerChoice::Random,
        },
    };
    let hardware = crate::hardware::detect();
    let budget = u64::from(args.minutes) * 60;
    let progress = ProgressBar::new(budget);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} s  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                progress.set_position(started.elapsed().as_secs().min(budget));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let outcome = tokio::select! {
        outcome = demo::run(&options, hardware, &progress) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the sandbox was stopped and removed")),
    };
    ticker.abort();
    progress.finish_and_clear();
    let outcome = outcome?;
    if args.json {
        println!("{}", reports::render_json(&outcome.report)?);
    } else {
        print!("{}", summary(&outcome.report));
        println!(
            "report: {} and {}",
            outcome.markdown_path.display(),
            outcome.json_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Fail early, as bad input, when the output directory cannot be written.
fn check_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(".dbtuner-write-test");
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| BadInput(format!("--out {}: cannot write there: {e}", dir.display())).into())
}

fn summary(r: &reports::Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{} {} — {}", r.engine, r.server_version, r.workload);
    if let Some(d) = r.default.as_ref().and_then(|d| d.throughput) {
        let _ = writeln!(out, "default: {:.0} ± {:.0} tx/s", d.mean, d.stdev);
    }
    let failed = r.trials.len() - r.measured_trials();
    let _ = writeln!(
        out,
        "trials: {} measured, {} failed or rejected",
        r.measured_trials(),
        failed
    );
    match &r.validation {
        Some(v) => {
            let best = r.trials.iter().find(|t| t.id == v.best_trial);
            if let Some(best) = best {
                let knobs: Vec<String> = best
                    .knobs
                    .iter()
                    .map(|k| {
                        format!(
                            "{}={}{}",
                            k.name,
                            k.value,
                            if k.durability_risk {
                                " (DURABILITY RISK)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect();
                let _ = writeln!(out, "best (trial {}): {}", best.id, knobs.join(" "));
            }
            let _ = writeln!(
                out,
                "gain over default, interleaved {} rounds: {:+.1}% (95% CI {:+.1}% .. {:+.1}%; per round {}), p99 {:.1} ms vs {:.1} ms",
                v.rounds,
                (v.ratio - 1.0) * 100.0,
                (v.ci_low - 1.0) * 100.0,
                (v.ci_high - 1.0) * 100.0,
                v.round_ratios.iter().map(|x| format!("{:+.1}%", (x - 1.0) * 100.0)).collect::<Vec<_>>().join(", "),
                v.best_p99_ms,
                v.default_p99_ms
            );
            let _ = writeln!(out, "verdict: {:?}: {}", v.verdict, v.reason);
        }
        None => {
            let _ = writeln!(out, "no trial was measured; nothing to compare");
        }
    }
    for line in &r.recommendation {
        let _ = writeln!(out, "  {line}");
    }
    out
}
