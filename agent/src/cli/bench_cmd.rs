//! `dbtuner bench`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::BenchArgs;
use crate::bench::{self, BenchOptions, Where};
use crate::BadInput;

fn duration(flag: &str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text)
        .map_err(|e| BadInput(format!("{flag} '{text}': {e}; use e.g. 30s or 2m")).into())
}

pub async fn run(args: BenchArgs) -> Result<ExitCode> {
    let place = match (&args.target, args.sandbox) {
        (Some(url), None) => Where::Target(url.parse()?),
        (None, Some(engine)) => Where::Sandbox(engine.into()),
        _ => {
            return Err(
                BadInput("give exactly one of --target URL or --sandbox ENGINE".into()).into(),
            )
        }
    };
    let measured = duration("--duration", &args.duration)?;
    if measured < Duration::from_secs(1) {
        return Err(BadInput(format!("--duration {}: at least 1s", args.duration)).into());
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(BadInput(format!(
                "--rate {rate}: a positive number of transactions per second"
            ))
            .into());
        }
    }
    let options = BenchOptions {
        place,
        workload: args.workload.clone(),
        scale: args.scale,
        clients: args.clients.map(|c| c as usize),
        threads: args.threads.map(|t| t as usize),
        warmup: duration("--warmup", &args.warmup)?,
        duration: measured,
        rate: args.rate,
        arrival: if args.regular {
            workloads::driver::Arrival::Regular
        } else {
            workloads::driver::Arrival::Poisson
        },
        load: args.load,
        protocol: if args.text_protocol {
            workloads::replay::Protocol::Text
        } else {
            workloads::replay::Protocol::Prepared
        },
        seed: args.seed,
    };
    // Fail on a bad workload before starting anything.
    bench::resolve_workload(&options.workload, options.scale)?;
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let result = tokio::select! {
        r = bench::run(&options, &progress) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    progress.finish_and_clear();
    let result = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", bench::render(&result));
        tracing::info!("bench took {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(ExitCode::SUCCESS)
}
