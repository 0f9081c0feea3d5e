//! The command-line interface: argument parsing and wiring only. Exit codes: 0 success,
//! 1 failure while running, 2 bad input.

mod advise_cmd;
mod apply_cmd;
mod args;
mod bench_cmd;
mod demo;
mod knobs_cmd;
mod report_cmd;
mod sandbox_cmd;
mod telemetry_cmd;
mod tune_cmd;
mod workload_cmd;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;

use crate::BadInput;

/// Entry point of the `dbtuner` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    if let Some(dir) = cli.command.pg_bindir() {
        match workloads::sandbox::postgres_server_dir(dir) {
            // Every sandbox of this process (the command's own, tune's staging, the demo's)
            // reads the variable; it is set here, before the runtime starts any thread.
            Ok(bindir) => std::env::set_var(workloads::sandbox::PG_BINDIR_ENV, bindir),
            Err(e) => {
                eprintln!("error: --pg-bindir: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Errors quote URLs and server messages: one redaction before they are shown.
            eprintln!("error: {}", workloads::redact::redact(&format!("{e:#}")));
            if e.chain().any(is_bad_input) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn is_bad_input(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<BadInput>().is_some()
        || e.downcast_ref::<::knobs::KnobError>()
            .is_some_and(::knobs::KnobError::is_bad_input)
        || e.downcast_ref::<workloads::TargetError>()
            .is_some_and(workloads::TargetError::is_bad_input)
        || e.downcast_ref::<crate::telemetry::TelemetryError>()
            .is_some_and(crate::telemetry::TelemetryError::is_bad_input)
        || e.downcast_ref::<crate::repository::RepoError>()
            .is_some_and(crate::repository::RepoError::is_bad_input)
        || e.downcast_ref::<workloads::WorkloadError>()
            .is_some_and(workloads::WorkloadError::is_bad_input)
        || e.downcast_ref::<crate::advise::AdviseError>()
            .is_some_and(crate::advise::AdviseError::is_bad_input)
        || e.downcast_ref::<crate::apply::ApplyError>()
            .is_some_and(crate::apply::ApplyError::is_bad_input)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        args::Command::Demo(a) => demo::run(a).await,
        args::Command::Tune(a) => tune_cmd::run(a).await,
        args::Command::Advise(a) => advise_cmd::run(a).await,
        args::Command::Knobs(a) => knobs_cmd::run(a),
        args::Command::Sandbox(a) => sandbox_cmd::run(a).await,
        args::Command::Telemetry(a) => telemetry_cmd::run(a).await,
        args::Command::Bench(a) => bench_cmd::run(a).await,
        args::Command::Workload(a) => workload_cmd::run(a).await,
        args::Command::Apply(a) => apply_cmd::apply(a).await,
        args::Command::Rollback(a) => apply_cmd::rollback(a).await,
        args::Command::Report(a) => report_cmd::run(a).await,
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DBTUNER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| workloads::redact::RedactingStderr)
        .try_init();
}
