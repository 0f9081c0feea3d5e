//! `dbtuner tune`, and the session runner `demo` shares: arguments to settings, a progress bar
//! fed by the session's events, Ctrl-C and SIGTERM as cancellation, the summary.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use models::gate::GateSettings;
use tokio_util::sync::CancellationToken;

use super::args::{ObjectiveArg, OptimizerArg, TuneArgs};
use crate::tune::{
    self, Events, KnobSelection, NamedTarget, Objective, OptimizerChoice, StagingChoice, TuneEvent,
    TuneSettings, WorkloadChoice,
};
use crate::BadInput;

pub async fn run(args: TuneArgs) -> Result<ExitCode> {
    let time_budget = humantime::parse_duration(&args.time_budget).map_err(|e| {
        BadInput(format!(
            "--time-budget {}: {e} (e.g. 90s, 10m, 1h)",
            args.time_budget
        ))
    })?;
    if time_budget < Duration::from_secs(30) {
        return Err(BadInput(format!(
            "--time-budget {}: at least 30s (the default, a trial and the gate's rounds must fit)",
            args.time_budget
        ))
        .into());
    }
    let p99_limit_ms = args.p99_limit.as_deref().map(parse_ms).transpose()?;
    let percent = |name: &str, v: f64| {
        if v.is_finite() && (0.0..=1000.0).contains(&v) {
            Ok(v / 100.0)
        } else {
            Err(BadInput(format!(
                "--{name} {v}: a percentage between 0 and 1000"
            )))
        }
    };
    let named = match &args.target {
        Some(text) => {
            let url: workloads::TargetUrl = text.parse()?;
            if args.allow_restart && args.restart_command.is_none() {
                return Err(BadInput(
                    "--allow-restart needs --restart-command to restart the --target server".into(),
                )
                .into());
            }
            Some(NamedTarget::new(
                url,
                args.allow_restart,
                args.restart_command.clone(),
            ))
        }
        None => None,
    };
    if let Some(id) = args.resume {
        let settings = tune::resume_settings(&args.out, id, time_budget, named).await?;
        return run_session(settings, args.json).await;
    }
    let staging = match (args.sandbox, named) {
        (Some(engine), None) => StagingChoice::Sandbox(engine.into()),
        (None, Some(named)) => StagingChoice::Target(named),
        _ => {
            return Err(BadInput(
                "give --sandbox ENGINE or --target URL (a staging server), or --resume ID".into(),
            )
            .into())
        }
    };
    let Some(workload) = args.workload.clone() else {
        return Err(BadInput("give --workload NAME".into()).into());
    };
    let settings = TuneSettings {
        kind: "tune".into(),
        staging,
        workload: WorkloadChoice::Builtin {
            name: workload,
            scale: args.scale,
        },
        trials: args.trials,
        time_budget,
        knobs: match &args.knobs {
            Some(text) => KnobSelection::parse(text)?,
            None => KnobSelection::Default,
        },
        objective: objective(args.objective),
        p99_limit_ms,
        optimizer: optimizer(args.optimizer),
        seed: args.seed,
        out: args.out.clone(),
        clients: args.clients as usize,
        allow_durability_risk: args.allow_durability_risk,
        gate: GateSettings {
            min_gain: percent("min-gain", args.min_gain)?,
            max_p99_regression: percent("max-p99-regression", args.max_p99_regression)?,
            max_query_regression: percent("max-query-regression", args.max_query_regression)?,
            ..GateSettings::default()
        },
        resume_from: None,
        indexes: args.indexes,
        index_budget: if args.indexes {
            crate::advise::parse_budget(&args.index_budget)?;
            Some(args.index_budget.clone())
        } else {
            None
        },
        window: None,
    };
    run_session(settings, args.json).await
}

fn parse_ms(text: &str) -> Result<f64, BadInput> {
    humantime::parse_duration(text)
        .map(|d| d.as_secs_f64() * 1000.0)
        .ok()
        .filter(|ms| *ms > 0.0)
        .ok_or_else(|| BadInput(format!("--p99-limit {text}: a duration such as 20ms")))
}

pub fn objective(a: ObjectiveArg) -> Objective {
    match a {
        ObjectiveArg::Throughput => Objective::Throughput,
        ObjectiveArg::P95 => Objective::P95,
        ObjectiveArg::P99 => Objective::P99,
        ObjectiveArg::Runtime => Objective::Runtime,
    }
}

pub fn optimizer(a: OptimizerArg) -> OptimizerChoice {
    match a {
        OptimizerArg::Auto | OptimizerArg::Bayes => OptimizerChoice::Auto,
        OptimizerArg::Gp => OptimizerChoice::Gp,
        OptimizerArg::Rf => OptimizerChoice::Forest,
        OptimizerArg::Random => OptimizerChoice::Random,
    }
}

/// Run a session with a progress bar, Ctrl-C/SIGTERM as cancellation, and print the outcome.
pub async fn run_session(settings: TuneSettings, json: bool) -> Result<ExitCode> {
    check_writable(&settings.out)?;
    let hardware = crate::hardware::detect();
    let budget = settings.time_budget.as_secs();
    let progress = ProgressBar::new(budget);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} s  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let best = Arc::new(Mutex::new(String::new()));
    let events = {
        let progress = progress.clone();
        let best = Arc::clone(&best);
        Events::new(move |event| match event {
            TuneEvent::Phase(text) => {
                let best = best.lock().map(|b| b.clone()).unwrap_or_default();
                progress.set_message(format!("{text}{best}"));
            }
            TuneEvent::Note(text) => progress.println(text),
            TuneEvent::Trial {
                id,
                label,
                summary,
                best: b,
                ..
            } => {
                let name = if label == id.to_string() {
                    format!("trial {id}")
                } else {
                    format!("trial {id} ({label})")
                };
                progress.println(format!("{name}: {summary}"));
                if let (Some((score, spread)), Ok(mut slot)) = (b, best.lock()) {
                    *slot = format!("  | best so far {score:.1} ± {spread:.1}");
                }
            }
        })
    };
    let cancel = CancellationToken::new();
    let signals = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            cancel.cancel();
        })
    };
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
    let outcome = tune::run(&settings, hardware, &events, &cancel).await;
    ticker.abort();
    signals.abort();
    progress.finish_and_clear();
    let outcome = outcome?;
    if json {
        println!("{}", reports::render_json(&outcome.report)?);
    } else {
        print!("{}", summary(&outcome.report));
        println!(
            "report: {} (open it in a browser), {} and {}",
            outcome
                .markdown_path
                .with_file_name("report.html")
                .display(),
            outcome.markdown_path.display(),
            outcome.json_path.display()
        );
        if let Some(id) = outcome.report.session_id {
            println!(
                "again later: dbtuner report --session {id} --repo {}",
                outcome.json_path.with_file_name("dbtuner.db").display()
            );
        }
        if let Some(plan) = &outcome.plan_path {
            println!(
                "plan: {} (dbtuner apply --target URL --plan {})",
                plan.display(),
                plan.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Fail early, as bad input, when the output directory cannot be written.
pub fn check_writable(dir: &Path) -> Result<()> {
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
    if !r.narrowed_to.is_empty() {
        let _ = writeln!(out, "narrowed to: {}", r.narrowed_to.join(", "));
    }
    match &r.validation {
        Some(v) => {
            if let Some(best) = r.trials.iter().find(|t| t.id == v.best_trial) {
                let knobs: Vec<String> = best
                    .knobs
                    .iter()
                    .map(|k| {
                        let risk = if k.durability_risk {
                            " (DURABILITY RISK)"
                        } else {
                            ""
                        };
                        format!("{}={}{risk}", k.name, k.value)
                    })
                    .collect();
                let _ = writeln!(out, "best (trial {}): {}", best.id, knobs.join(" "));
            }
            let _ = writeln!(
                out,
                "{} vs default, interleaved {} rounds: {:+.1}% (95% CI {:+.1}% .. {:+.1}%; per round {}), p99 {:.1} ms vs {:.1} ms",
                if v.objective.is_empty() { "throughput" } else { v.objective.as_str() },
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
            let _ = writeln!(
                out,
                "no verdict: nothing was re-measured against the default (see the report's notes)"
            );
        }
    }
    for line in &r.recommendation {
        let _ = writeln!(out, "  {line}");
    }
    out
}
