//! `dbtuner demo`: `tune` with a preset — a sandbox, the demo's built-in workload, minutes.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use models::gate::GateSettings;

use super::args::DemoArgs;
use super::tune_cmd::{optimizer, run_session};
use crate::tune::{KnobSelection, Objective, StagingChoice, TuneSettings, WorkloadChoice};

/// The demo's workload when none is given. Chosen by measurement (`benches` tuner_vs_peers,
/// README "dbtuner against the default, the heuristic and random search"): the only workload
/// measured here where durability-safe knobs matter (MariaDB's buffer pool, +130%), and on
/// PostgreSQL the one with the narrowest intervals, so that its "no measurable gain" says
/// the most.
pub const DEMO_WORKLOAD: &str = "select-only";

/// Its scale: at 20, 334 MB (PostgreSQL) and 243 MB (MariaDB) as loaded here, over both
/// engines' default 128 MB buffers and well inside RAM.
fn demo_scale(workload: &str, minutes: u32) -> f64 {
    match (workload, minutes >= 3) {
        ("select-only", true) => 20.0,
        ("select-only", false) => 10.0,
        (_, true) => 10.0,
        (_, false) => 4.0,
    }
}

pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    let workload = args
        .workload
        .clone()
        .unwrap_or_else(|| DEMO_WORKLOAD.to_string());
    let scale = args
        .scale
        .unwrap_or_else(|| demo_scale(&workload, args.minutes));
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
        window: None,
    };
    run_session(settings, args.json).await
}
