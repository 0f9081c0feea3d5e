//! The report's data model.

use serde::{Deserialize, Serialize};

/// A measured figure with its spread (per-second samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub mean: f64,
    pub stdev: f64,
    pub min: f64,
    pub max: f64,
    pub samples: usize,
}

/// One knob's value in a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnobSetting {
    pub name: String,
    /// As requested, in human units.
    pub value: String,
    /// As the server reports it after applying (servers clamp and round).
    pub applied: Option<String>,
    /// This value can lose committed transactions on a crash.
    pub durability_risk: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrialStatus {
    Measured,
    /// The server would not start or the change failed; the trial was rolled back.
    Failed {
        reason: String,
    },
    /// Refused before it was tried (memory guardrail).
    Rejected {
        reason: String,
    },
}

/// Server telemetry over one trial (differences of two snapshots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialTelemetry {
    /// Share of block reads served from the server's own cache.
    pub buffer_hit_ratio: Option<f64>,
    pub checkpoints_timed: Option<f64>,
    pub checkpoints_requested: Option<f64>,
    /// WAL (PostgreSQL) or redo (InnoDB) bytes per committed transaction.
    pub wal_bytes_per_xact: Option<f64>,
    /// Bytes spilled to temporary files.
    pub temp_bytes: Option<f64>,
}

/// One configuration tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub id: usize,
    pub label: String,
    pub knobs: Vec<KnobSetting>,
    pub status: TrialStatus,
    /// Transactions per second.
    pub throughput: Option<Figure>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub errors: u64,
    /// Whether the change needed a restart.
    pub restarted: bool,
    #[serde(default)]
    pub telemetry: Option<TrialTelemetry>,
}

/// The decision on the best configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The gain is significant and above the effect-size floor.
    Accept,
    /// Significantly worse, or p99 latency regressed.
    Reject,
    /// Not distinguishable from the default at this run's length.
    Inconclusive,
}

/// Default vs best, measured interleaved in the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub best_trial: usize,
    pub rounds: usize,
    pub default_throughput: Figure,
    pub best_throughput: Figure,
    /// best / default throughput.
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
    /// best / default per interleaved round.
    pub round_ratios: Vec<f64>,
    pub default_p99_ms: f64,
    pub best_p99_ms: f64,
    pub verdict: Verdict,
    pub reason: String,
    /// What the ratio measures ("throughput", "p99 latency" …; above 1 is better).
    #[serde(default)]
    pub objective: String,
    /// How the interval was computed.
    #[serde(default)]
    pub method: String,
    /// p99 ratio best / default with its interval (above 1 is slower).
    #[serde(default)]
    pub p99_ratio: Option<[f64; 3]>,
    /// Queries that became significantly slower beyond the tolerance.
    #[serde(default)]
    pub query_regressions: Vec<String>,
}

/// One knob's importance for the workload (1 for the most important).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnobImportance {
    pub name: String,
    pub score: f64,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    pub generated_at: String,
    pub engine: String,
    pub server_version: String,
    pub workload: String,
    pub clients: usize,
    pub hardware: String,
    pub allow_durability_risk: bool,
    pub search_space: Vec<String>,
    pub optimizer: String,
    pub seed: u64,
    pub elapsed_secs: f64,
    pub measure_secs: f64,
    /// The default configuration's measurement during the search.
    pub default: Option<TrialRecord>,
    pub trials: Vec<TrialRecord>,
    pub validation: Option<Validation>,
    /// The configuration recommended, in the engine's syntax (empty: keep the default).
    pub recommendation: Vec<String>,
    pub notes: Vec<String>,
    /// Knob importance from the initial design (when the space was narrowed).
    #[serde(default)]
    pub importance: Vec<KnobImportance>,
    /// The knobs the search was narrowed to after the initial design (`--knobs top:N`).
    #[serde(default)]
    pub narrowed_to: Vec<String>,
    /// What the session maximized.
    #[serde(default)]
    pub objective: String,
    /// The repository's id of the session.
    #[serde(default)]
    pub session_id: Option<i64>,
}

impl Report {
    pub fn empty(title: &str) -> Report {
        Report {
            title: title.to_string(),
            generated_at: String::new(),
            engine: String::new(),
            server_version: String::new(),
            workload: String::new(),
            clients: 0,
            hardware: String::new(),
            allow_durability_risk: false,
            search_space: Vec::new(),
            optimizer: String::new(),
            seed: 0,
            elapsed_secs: 0.0,
            measure_secs: 0.0,
            default: None,
            trials: Vec::new(),
            validation: None,
            recommendation: Vec::new(),
            notes: Vec::new(),
            importance: Vec::new(),
            narrowed_to: Vec::new(),
            objective: String::new(),
            session_id: None,
        }
    }

    /// Trials that were measured (the default's measurement included).
    pub fn measured_trials(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| t.status == TrialStatus::Measured)
            .count()
    }
}
