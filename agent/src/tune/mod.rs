//! The tuning session, used by every command that tunes (`tune`, `demo`, later the sidecar).
//!
//! One session: start or reach the staging server, load the workload, measure the default and
//! the heuristic configuration, run the optimizer (ask/tell) within a trial count and a hard
//! time budget, narrow the knobs by importance when asked, then put the best configuration
//! through the gate ([`crate::gate`]) against the default, and write the plan and the report.
//! It is driven by [`TuneSettings`] and a cancellation token and reports progress as
//! [`TuneEvent`]s; it prints nothing itself.
//!
//! - [`space`]: which knobs are searched, and the optimizer's view of them.
//! - `measure`: how a configuration is measured (the same path for every arm).
//! - `trial`: one trial (guardrail → apply → warm-up → measure → telemetry → record).
//! - `session`: the loop and its stop policy.
//! - `output`: the plan and the report of a finished session.

mod events;
pub mod measure;
mod output;
mod resume;
mod session;
pub mod space;
mod trial;

use std::path::PathBuf;
use std::time::Duration;

use knobs::Engine;
use models::gate::GateSettings;
use workloads::Measurement;

pub use events::{Events, TuneEvent};
pub use resume::resume_settings;
pub use session::{run, TuneOutcome};
pub use space::{KnobSelection, LoadKind};
pub(crate) use trial::record as trial_record;

/// Where trials run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StagingChoice {
    /// A throwaway server dbtuner starts, loads and removes.
    Sandbox(Engine),
    /// A staging server the user named, which dbtuner reconfigures and puts back as found.
    Target(NamedTarget),
}

/// A named staging server. What is stored with the session (and shown) has no password: the
/// URL and restart command as given live only in memory, so that `--resume` needs them again.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedTarget {
    /// The URL through [`workloads::redact::redact`]: stored, shown, compared on resume.
    pub url: String,
    /// The URL as given, password included; never serialized.
    #[serde(skip)]
    pub connect: Option<workloads::TargetUrl>,
    /// Restart knobs may be searched; each configuration is then applied with a restart.
    pub allow_restart: bool,
    /// The restart command through [`workloads::redact::redact_command`].
    pub restart_command_shown: Option<String>,
    /// The restart command as given; never serialized (it may hold a password).
    #[serde(skip)]
    pub restart_command: Option<String>,
}

impl NamedTarget {
    /// A target from the URL and restart command the user gave.
    pub fn new(
        url: workloads::TargetUrl,
        allow_restart: bool,
        restart_command: Option<String>,
    ) -> NamedTarget {
        NamedTarget {
            url: url.to_string(),
            connect: Some(url),
            allow_restart,
            restart_command_shown: restart_command
                .as_deref()
                .map(workloads::redact::redact_command),
            restart_command,
        }
    }
}

impl std::fmt::Debug for NamedTarget {
    // Hand-written: the restart command as given may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedTarget")
            .field("url", &self.url)
            .field("allow_restart", &self.allow_restart)
            .field("restart_command", &self.restart_command_shown)
            .finish()
    }
}

impl StagingChoice {
    /// The engine, when known before connecting (a sandbox's).
    pub fn sandbox_engine(&self) -> Option<Engine> {
        match self {
            StagingChoice::Sandbox(e) => Some(*e),
            StagingChoice::Target(_) => None,
        }
    }
}

/// What load the trials replay.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadChoice {
    /// A built-in benchmark by name at a scale.
    Builtin { name: String, scale: f64 },
}

/// What the session maximizes (latencies are minimized through their inverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    Throughput,
    P95,
    P99,
    /// Mean time of a unit of work (a transaction or a query of a stream).
    Runtime,
}

impl Objective {
    /// Higher is better: throughput, or 1000 / latency in ms (units of work per second of
    /// latency).
    pub fn score(self, m: &Measurement) -> f64 {
        let inverse = |ms: f64| if ms > 0.0 { 1000.0 / ms } else { 0.0 };
        match self {
            Objective::Throughput => m.throughput(),
            Objective::P95 => inverse(m.latency.p95_ms),
            Objective::P99 => inverse(m.latency.p99_ms),
            Objective::Runtime => inverse(m.latency.mean_ms),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Objective::Throughput => "throughput",
            Objective::P95 => "p95 latency",
            Objective::P99 => "p99 latency",
            Objective::Runtime => "mean runtime",
        }
    }
}

/// Which optimizer proposes the trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerChoice {
    /// A GP for small spaces, a random forest for large ones (`models::SurrogateKind::Auto`).
    Auto,
    Gp,
    Forest,
    /// Uniform random search: the baseline.
    Random,
}

/// Everything a session needs to know. Stored with the session, so that `--resume` can
/// continue it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TuneSettings {
    /// "tune" or "demo": the session's kind in the repository and the report's title.
    pub kind: String,
    pub staging: StagingChoice,
    pub workload: WorkloadChoice,
    /// Search trials after the default and the heuristic (None: as many as the time allows).
    pub trials: Option<u32>,
    /// Hard limit for the whole session, setup included.
    pub time_budget: Duration,
    pub knobs: KnobSelection,
    pub objective: Objective,
    /// Trials whose p99 exceeds this are failures for the optimizer; the gate refuses them.
    pub p99_limit_ms: Option<f64>,
    pub optimizer: OptimizerChoice,
    pub seed: u64,
    pub out: PathBuf,
    pub clients: usize,
    pub allow_durability_risk: bool,
    pub gate: GateSettings,
    /// Continue this earlier session of the same repository: its trials are told to the
    /// optimizer (and count toward `trials`) instead of being measured again.
    #[serde(default)]
    pub resume_from: Option<i64>,
    /// Joint plans: advise indexes for the workload first, search knobs with them built,
    /// and gate knobs + indexes together against the default without them.
    #[serde(default)]
    pub indexes: bool,
    /// Storage the advised indexes may take ("10%" of the database, or a size).
    #[serde(default)]
    pub index_budget: Option<String>,
    /// Measurement windows as given instead of from the time budget (benchmarks that compare
    /// sessions of different trial counts measure every trial the same way).
    #[serde(default)]
    pub window: Option<measure::Window>,
}

/// The session was stopped by Ctrl-C, SIGTERM or its caller; staging was restored.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);
