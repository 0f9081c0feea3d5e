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
    /// The objective's score (higher is better), when measured.
    #[serde(default)]
    pub score: Option<f64>,
    /// The most frequent waits sampled during the trial (event, samples), most first.
    #[serde(default)]
    pub top_waits: Vec<(String, u64)>,
    /// The server's own statement statistics over the trial (pg_stat_statements or
    /// performance_schema), most time first.
    #[serde(default)]
    pub top_statements: Vec<ServerStatement>,
}

/// One normalized statement as the server counted it during a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatement {
    pub text: String,
    pub calls: f64,
    pub total_ms: f64,
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
    /// The ratio the interval's lower bound had to exceed to accept (1 + the effect floor).
    #[serde(default)]
    pub accept_above: Option<f64>,
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
    /// [`FORMAT_VERSION`] of the JSON; absent (0) in reports written before it existed.
    #[serde(default)]
    pub format_version: u32,
    /// The gate candidate's knobs that differ from the default; recommended only when
    /// [`Report::recommended`] says so.
    #[serde(default)]
    pub changes: Vec<KnobChange>,
    /// The gate accepted the candidate: `changes` is the advice.
    #[serde(default)]
    pub recommended: bool,
    /// Copy-paste forms of the recommended change, each with its rollback.
    #[serde(default)]
    pub snippets: Vec<Snippet>,
    /// The command that applies the plan written beside the report.
    #[serde(default)]
    pub apply_command: Option<String>,
    /// Index recommendations and drops (none until index advice lands in sessions).
    #[serde(default)]
    pub indexes: Vec<IndexAdvice>,
    /// The gate's rounds, in the order they ran.
    #[serde(default)]
    pub gate_rounds: Vec<GateRound>,
    /// Latency percentiles of the gate's runs, default against candidate.
    #[serde(default)]
    pub latency: Option<LatencyComparison>,
    /// Per-statement latency of the gate's runs, default against candidate.
    #[serde(default)]
    pub statements: Vec<StatementLatency>,
    /// Worst-case memory of the candidate against the machine's budget.
    #[serde(default)]
    pub memory: Option<MemoryUse>,
    #[serde(default)]
    pub environment: Environment,
    /// The latest other session on the same engine, workload and objective that searched the
    /// other way (random search against a model), for the convergence comparison.
    #[serde(default)]
    pub compared_search: Option<SearchComparison>,
}

/// Another session's search, each curve relative to its own default so that two sandboxes'
/// levels do not matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchComparison {
    pub session_id: i64,
    pub optimizer: String,
    /// (trial, best score so far / that session's default score); trial 0 is the default.
    pub best_vs_default: Vec<(usize, f64)>,
}

/// Best score so far relative to the first (the default's) score, per scored trial; empty
/// when the default has no positive score.
pub fn best_vs_default(scores: &[(usize, f64)]) -> Vec<(usize, f64)> {
    let Some(&(_, base)) = scores.first().filter(|(_, s)| *s > 0.0) else {
        return Vec::new();
    };
    let mut best = f64::NEG_INFINITY;
    scores
        .iter()
        .map(|&(trial, s)| {
            best = best.max(s);
            (trial, best / base)
        })
        .collect()
}

/// The version of the report's JSON written by this build. Bumped when a field changes
/// meaning or goes away; added fields keep it.
pub const FORMAT_VERSION: u32 = 2;

/// How a knob change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyKind {
    /// Takes effect for new sessions, no reload needed.
    Session,
    /// A configuration reload (SIGHUP, `pg_reload_conf()`, `SET GLOBAL`).
    Reload,
    /// A server restart.
    Restart,
}

/// One knob of the candidate: its values in each configuration the session knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnobChange {
    pub name: String,
    /// Values in human units ("128MB", "on").
    pub default: String,
    /// What the target runs now, when it was read (a sandbox runs the default).
    pub current: Option<String>,
    /// The PGTune-style heuristic's value, when it set this knob.
    pub heuristic: Option<String>,
    pub candidate: String,
    pub apply: ApplyKind,
    /// The candidate's value can lose committed transactions on a crash.
    pub durability_risk: bool,
    /// What the knob does (from the catalog).
    pub description: String,
    /// Why this value: the evidence behind it.
    pub evidence: String,
}

/// A copy-paste form of the change, with how to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snippet {
    /// "ALTER SYSTEM", "postgresql.conf", "SET GLOBAL", "my.cnf" …
    pub title: String,
    /// The file it is also written to, beside the report.
    pub file_name: String,
    pub apply: String,
    pub rollback: String,
}

/// An index to create or drop, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexAdvice {
    pub ddl: String,
    pub rollback: String,
    pub size_bytes: Option<u64>,
    pub gain: Option<String>,
    pub write_overhead: Option<String>,
    pub validated: Option<String>,
}

/// One interleaved round of the gate: default and candidate measured next to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRound {
    /// From 1.
    pub round: usize,
    /// Transactions per second of each arm.
    pub default_tps: f64,
    pub candidate_tps: f64,
    /// The objective's ratio candidate / default in this round (above 1 is better).
    pub ratio: f64,
    pub default_p99_ms: f64,
    pub candidate_p99_ms: f64,
    /// Per-second throughput of each arm.
    #[serde(default)]
    pub default_per_second: Vec<f64>,
    #[serde(default)]
    pub candidate_per_second: Vec<f64>,
    /// Per-second p99 latency (ms) of each arm; None for a second in which nothing completed.
    #[serde(default)]
    pub default_p99_per_second: Vec<Option<f64>>,
    #[serde(default)]
    pub candidate_p99_per_second: Vec<Option<f64>>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Each percentile averaged over the gate's rounds, per arm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyComparison {
    pub default: Percentiles,
    pub candidate: Percentiles,
}

/// One statement (template) of the workload, default against candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementLatency {
    pub statement: String,
    /// Executions per gate run, averaged over rounds, with the default.
    pub calls: f64,
    pub default_mean_ms: f64,
    pub candidate_mean_ms: f64,
    pub default_p99_ms: f64,
    pub candidate_p99_ms: f64,
}

/// Worst-case memory (shared buffers + connections × per-connection memory).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryUse {
    pub worst_case_bytes: u64,
    /// What no configuration may exceed (safety rule 5).
    pub budget_bytes: u64,
    pub ram_bytes: u64,
}

/// Where and how the session ran, and how to run it again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub dbtuner_version: String,
    /// The staging target (without its password).
    pub target: String,
    /// The session's status in the repository.
    pub session_status: String,
    pub started_at: String,
    /// Commands that reproduce the session and rewrite this report.
    pub reproduce: Vec<String>,
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
            format_version: FORMAT_VERSION,
            changes: Vec::new(),
            recommended: false,
            snippets: Vec::new(),
            apply_command: None,
            indexes: Vec::new(),
            gate_rounds: Vec::new(),
            latency: None,
            statements: Vec::new(),
            memory: None,
            environment: Environment::default(),
            compared_search: None,
        }
    }

    /// The server's top statements in the default's trial and in the best configuration's,
    /// as (trial label, statement).
    pub fn server_statements(&self) -> Vec<(String, &ServerStatement)> {
        let best = self.validation.as_ref().map(|v| v.best_trial);
        self.default
            .iter()
            .chain(
                self.trials
                    .iter()
                    .filter(|t| Some(t.id) == best && t.id != 0),
            )
            .flat_map(|t| t.top_statements.iter().map(|s| (t.label.clone(), s)))
            .collect()
    }

    /// This session's own curve for [`SearchComparison`]: best so far / default score.
    pub fn own_best_vs_default(&self) -> Vec<(usize, f64)> {
        let scores: Vec<(usize, f64)> = self
            .default
            .iter()
            .chain(&self.trials)
            .filter_map(|t| t.score.map(|s| (t.id, s)))
            .collect();
        best_vs_default(&scores)
    }

    /// Trials that were measured (the default's measurement included).
    pub fn measured_trials(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| t.status == TrialStatus::Measured)
            .count()
    }
}
