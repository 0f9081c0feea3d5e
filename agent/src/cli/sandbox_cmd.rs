//! `dbtuner sandbox`: a throwaway server for trying things by hand.

use std::process::ExitCode;

use anyhow::{Context, Result};
use workloads::Sandbox;

use super::args::SandboxArgs;

pub async fn run(args: SandboxArgs) -> Result<ExitCode> {
    let engine: knobs::Engine = args.engine.into();
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .context("sandbox start task")??;
    let pid = sandbox.pid().unwrap_or(0);
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "engine": engine.as_str(), "url": sandbox.url(), "pid": pid, "dir": sandbox.dir(), "pg_bindir": sandbox.pg_bindir() })
        );
    } else {
        println!("{}", sandbox.url());
        eprintln!(
            "{} sandbox running (pid {pid}, dir {}); Ctrl-C stops and removes it",
            engine.display_name(),
            sandbox.dir().display()
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(sandbox);
    Ok(ExitCode::SUCCESS)
}
