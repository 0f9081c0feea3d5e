//! `dbtuner demo`: `tune` with a preset — a sandbox, the demo's built-in workload, minutes.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use models::gate::GateSettings;

use super::args::DemoArgs;
use super::tune_cmd::{optimizer, run_session};
use crate::tune::{KnobSelection, Objective, StagingChoice, TuneSettings, WorkloadChoice};

/// The demo's workload when none is given (see the README for how it was chosen).
pub const DEMO_WORKLOAD: &str = "tpcb";

pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    let workload = args
        .workload
        .clone()
        .unwrap_or_else(|| DEMO_WORKLOAD.to_string());
    let scale = args
        .scale
        .unwrap_or(if args.minutes >= 3 { 10.0 } else { 4.0 });
    let settings = TuneSettings {
        kind: "demo".into(),
        staging: StagingChoice::Sandbox(args.engine.into()),
        workload: WorkloadChoice::Builtin {
            name: workload,
            scale,
        },
        trials: None,
        time_budget: Duration::from_secs(u64::from(args.minutes) * 60),
        knobs: KnobSelection::Default,
        objective: Objective::Throughput,
        p99_limit_ms: None,
        optimizer: optimizer(args.optimizer),
        seed: args.seed,
        out: args.out.clone(),
        clients: args.clients as usize,
        allow_durability_risk: args.allow_durability_risk,
        gate: GateSettings::default(),
        resume_from: None,
        indexes: false,
        index_budget: None,
    };
    run_session(settings, args.json).await
}
