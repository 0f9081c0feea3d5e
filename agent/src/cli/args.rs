//! Argument definitions (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// dbtuner: an autonomous tuner for PostgreSQL and MySQL/MariaDB.
#[derive(Debug, Parser)]
#[command(name = "dbtuner", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug); DBTUNER_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tune a sandbox database end to end and report the measured gain (`tune` with a preset).
    Demo(DemoArgs),
    /// Tune a staging server's knobs for a workload; writes a report and, when the gate
    /// accepts, plan.json for `dbtuner apply`.
    Tune(TuneArgs),
    /// Recommendations for a target without tuning a staging server.
    #[command(subcommand)]
    Advise(AdviseCommand),
    /// Knob catalogs.
    #[command(subcommand)]
    Knobs(KnobsCommand),
    /// Start a throwaway sandbox server and wait (Ctrl-C stops and removes it).
    Sandbox(SandboxArgs),
    /// Run a built-in or captured workload and measure it.
    Bench(BenchArgs),
    /// Capture what a target runs into a workload file.
    #[command(subcommand)]
    Workload(WorkloadCommand),
    /// Apply a plan (knob values) to a target, recording how to undo it.
    Apply(ApplyArgs),
    /// Undo a change made by `apply`.
    Rollback(RollbackArgs),
    /// Write the report of a stored session again (HTML, Markdown, JSON), or list sessions.
    Report(ReportArgs),
    /// What a target database is doing: one snapshot, or a live view.
    #[command(subcommand)]
    Telemetry(super::telemetry_cmd::TelemetryCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdviseCommand {
    /// Indexes to create and to drop for a workload: candidates from its statements, what-if
    /// costing (HypoPG, or real indexes on --staging), whole-workload selection under a
    /// storage budget with write overhead priced in.
    Indexes(AdviseIndexesArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("statements").required(true).args(["workload", "queries", "from_stats"])))]
pub struct AdviseIndexesArgs {
    /// Target URL (postgres://… or mysql://…).
    #[arg(
        long,
        env = "DBTUNER_TARGET",
        hide_env_values = true,
        conflicts_with = "sandbox"
    )]
    pub target: Option<String>,
    /// Advise on a throwaway sandbox loaded with the built-in --workload instead.
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxEngine>,
    /// A workload file, or a built-in (tpcc, olap, tpch, ycsb-*, tpcb).
    #[arg(long)]
    pub workload: Option<String>,
    /// A .sql file of statements (one per ';', $1 or ? parameters, comments allowed).
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// The server's statement statistics (pg_stat_statements, performance_schema digests):
    /// the statements with the most total time since the statistics were reset.
    #[arg(long)]
    pub from_stats: bool,
    /// With --from-stats: leave out statements called fewer times.
    #[arg(long, default_value_t = 10, requires = "from_stats")]
    pub min_calls: u64,
    /// With --from-stats: at most this many statements.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub top: u32,
    /// Storage the new indexes may take: a size (500MB) or a share of the database (10%).
    #[arg(long, default_value = "10%")]
    pub budget: String,
    /// Most new indexes on one table.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_per_table: u32,
    /// An index is kept only if some statement gets at least this much cheaper with it.
    #[arg(long, default_value = "20%")]
    pub min_gain: String,
    /// No statement may get more than this much costlier (write overhead included).
    #[arg(long, default_value = "10%")]
    pub max_regression: String,
    #[arg(long, value_enum, default_value = "extend")]
    pub algorithm: AlgorithmArg,
    /// What-if mechanism: HypoPG where available, else real indexes on --staging.
    #[arg(long, value_enum, default_value = "auto")]
    pub whatif: WhatIfArg,
    /// A copy of the target where indexes may be built for costing (needed on MariaDB, and
    /// on PostgreSQL without HypoPG).
    #[arg(long)]
    pub staging: Option<String>,
    /// How long usage must have been counted before an index without scans is called unused.
    #[arg(long, default_value = "7d")]
    pub min_unused_window: String,
    /// Data set scale of a built-in workload on --sandbox.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Write the recommendation as a plan for `dbtuner apply`.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Build the recommended indexes on the staging copy (--staging, or the --sandbox) and
    /// replay the workload without and with them, interleaved, judged by the gate.
    #[arg(long)]
    pub validate: bool,
    /// Interleaved rounds of the validation (each measures both arms).
    #[arg(long, default_value_t = 4, requires = "validate", value_parser = clap::value_parser!(u32).range(2..=100))]
    pub validate_rounds: u32,
    /// Measured time of each arm of a round.
    #[arg(long, default_value = "10s", requires = "validate")]
    pub validate_duration: String,
    /// Client connections of the validation replay.
    #[arg(long, default_value_t = 2, requires = "validate", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clients: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The whole advice as JSON.
    #[arg(long, conflicts_with = "sql")]
    pub json: bool,
    /// Only the DDL: CREATE and DROP statements, each with its rollback as a comment.
    #[arg(long)]
    pub sql: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    Extend,
    Greedy,
    Exhaustive,
    /// Dexter-like baseline: one index per statement, kept if it halves its cost.
    PerStatement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhatIfArg {
    Auto,
    Hypopg,
    Staging,
}

#[derive(Debug, Subcommand)]
pub enum WorkloadCommand {
    /// Diff statement statistics over a window (pg_stat_statements, performance_schema) and
    /// write the templates, their weights and parameter generators as a workload file.
    Capture {
        #[arg(long, env = "DBTUNER_TARGET", hide_env_values = true)]
        target: String,
        /// Workload file to write (.toml or .json).
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value = "60s")]
        window: String,
        /// Keep at most this many templates (the most called).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000))]
        top: u32,
        #[arg(long, default_value = "captured")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub pg_server: PgServerArgs,
    /// Target URL (postgres://… or mysql://…).
    #[arg(
        long,
        env = "DBTUNER_TARGET",
        hide_env_values = true,
        conflicts_with = "sandbox"
    )]
    pub target: Option<String>,
    /// Run on a throwaway sandbox instead.
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxEngine>,
    /// Built-in (tpcb, select-only, tpcc, ycsb-a, ycsb-b, ycsb-c, ycsb-e, olap) or a workload file.
    #[arg(long)]
    pub workload: String,
    /// Data set scale (tpch: the TPC-H scale factor, e.g. 0.1).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Client connections (default: the workload's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clients: Option<u32>,
    #[arg(long, default_value = "30s")]
    pub duration: String,
    #[arg(long, default_value = "5s")]
    pub warmup: String,
    /// Open loop at this many transactions per second (Poisson arrivals); closed loop if absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Regular instead of Poisson arrivals in the open loop.
    #[arg(long, requires = "rate")]
    pub regular: bool,
    /// Client threads, each a single-threaded event loop for its share of the clients
    /// (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// Create and fill a built-in's tables on the target (drops them first).
    #[arg(long)]
    pub load: bool,
    /// MySQL/MariaDB: send statements as text instead of server-side prepared statements.
    #[arg(long)]
    pub text_protocol: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Target URL (postgres://… or mysql://…).
    #[arg(long, env = "DBTUNER_TARGET", hide_env_values = true)]
    pub target: String,
    /// Plan file, JSON or TOML (see the README).
    #[arg(long)]
    pub plan: std::path::PathBuf,
    /// Show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow knobs that need a server restart (with --restart-command).
    #[arg(long)]
    pub allow_restart: bool,
    /// Shell command that restarts the server, e.g. "systemctl restart postgresql".
    #[arg(long)]
    pub restart_command: Option<String>,
    /// Allow values that can lose committed transactions on a crash.
    #[arg(long)]
    pub allow_durability_risk: bool,
    /// RAM of the database host for the memory guardrail (default: this machine's, for a
    /// local target).
    #[arg(long)]
    pub memory: Option<String>,
    /// Directory of the repository (dbtuner.db) that holds change records and the audit log
    /// (default $DBTUNER_STATE or ~/.dbtuner).
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// The repository itself instead: a SQLite file or a postgres:// URL.
    #[arg(long, conflicts_with = "state")]
    pub repo: Option<String>,
    /// After applying, watch the target for this long (e.g. 10m) against a baseline taken just
    /// before the change, and roll the change back on a significant regression.
    #[arg(long)]
    pub watch: Option<String>,
    /// Telemetry interval of the watch.
    #[arg(long, default_value = "10s", requires = "watch")]
    pub watch_interval: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(long, env = "DBTUNER_TARGET", hide_env_values = true)]
    pub target: String,
    /// The change id `apply` printed.
    #[arg(long)]
    pub change: String,
    #[arg(long)]
    pub allow_restart: bool,
    #[arg(long)]
    pub restart_command: Option<String>,
    /// Directory of the repository the change was recorded in (as for apply).
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// The repository itself instead: a SQLite file or a postgres:// URL.
    #[arg(long, conflicts_with = "state")]
    pub repo: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Engines the sandbox can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxEngine {
    Postgres,
    Mariadb,
}

impl From<SandboxEngine> for knobs::Engine {
    fn from(e: SandboxEngine) -> Self {
        match e {
            SandboxEngine::Postgres => knobs::Engine::Postgres,
            SandboxEngine::Mariadb => knobs::Engine::Mariadb,
        }
    }
}

/// Engines with a knob catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogEngine {
    Postgres,
    Mysql,
    Mariadb,
}

impl From<CatalogEngine> for knobs::Engine {
    fn from(e: CatalogEngine) -> Self {
        match e {
            CatalogEngine::Postgres => knobs::Engine::Postgres,
            CatalogEngine::Mysql => knobs::Engine::Mysql,
            CatalogEngine::Mariadb => knobs::Engine::Mariadb,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub pg_server: PgServerArgs,
    /// Which engine to start a sandbox of.
    #[arg(long, value_enum, default_value = "postgres")]
    pub engine: SandboxEngine,
    /// Time budget for the whole run, in minutes.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub minutes: u32,
    /// Where report.md and report.json go.
    #[arg(long, default_value = "./dbtuner-demo")]
    pub out: PathBuf,
    /// Also search knobs that can lose committed transactions on a crash
    /// (synchronous_commit, innodb_flush_log_at_trx_commit).
    #[arg(long)]
    pub allow_durability_risk: bool,
    /// Seed of the search (same seed, same configurations tried).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub clients: u32,
    /// Built-in workload (default: the demo's, chosen by measurement; see the README).
    #[arg(long)]
    pub workload: Option<String>,
    /// Data set scale of the workload (default by workload and run length).
    #[arg(long)]
    pub scale: Option<f64>,
    /// Which optimizer proposes the trials.
    #[arg(long, value_enum, default_value = "auto")]
    pub optimizer: OptimizerArg,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Bayesian optimization: a GP for small spaces, a random forest for large ones.
    Auto,
    /// Same as auto (kept for earlier command lines).
    Bayes,
    /// Bayesian optimization with a Gaussian process.
    Gp,
    /// Bayesian optimization with a random forest (SMAC-like).
    Rf,
    /// Uniform random search (the baseline).
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectiveArg {
    Throughput,
    P95,
    P99,
    Runtime,
}

/// `dbtuner tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub pg_server: PgServerArgs,
    /// Start a throwaway sandbox of this engine, load the workload's data and tune it.
    #[arg(long, value_enum, conflicts_with = "target")]
    pub sandbox: Option<SandboxEngine>,
    /// A STAGING server that dbtuner may reconfigure (postgres://… or mysql://…), NEVER
    /// production: knobs are changed on it (ALTER SYSTEM + reload, SET GLOBAL) while the
    /// workload runs in its own database (dbtuner_bench, created if missing), and put back as
    /// found at the end, on Ctrl-C or on a failure. Restart knobs need --allow-restart.
    // Deliberately not read from DBTUNER_TARGET, which other commands use for the database
    // they observe or change, often production.
    #[arg(long)]
    pub target: Option<String>,
    /// With --target: also search knobs that need a server restart (PostgreSQL), restarting
    /// the server with --restart-command for every configuration.
    #[arg(long, requires = "target")]
    pub allow_restart: bool,
    /// With --allow-restart: shell command that restarts the --target server, e.g.
    /// "systemctl restart postgresql".
    #[arg(long, requires = "allow_restart")]
    pub restart_command: Option<String>,
    /// Built-in workload (tpcb, select-only, tpcc, ycsb-a, ycsb-b, ycsb-c, ycsb-e, olap, tpch).
    #[arg(long, required_unless_present = "resume")]
    pub workload: Option<String>,
    /// Continue an interrupted session of the repository in --out (its id, as `report`
    /// and the repository show it) with the settings it had; --time-budget is the new
    /// budget. A session on a --target needs the same --target again (and
    /// --allow-restart --restart-command if it had them): passwords are not stored.
    #[arg(long, conflicts_with_all = ["sandbox", "workload", "knobs", "trials", "optimizer", "objective"])]
    pub resume: Option<i64>,
    /// Data set scale of the built-in (tpch: the TPC-H scale factor, e.g. 0.1).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Search trials after the default and the heuristic (default: as many as fit).
    #[arg(long)]
    pub trials: Option<u32>,
    /// Hard limit for the whole session, setup included (e.g. 10m, 1h).
    #[arg(long, default_value = "10m")]
    pub time_budget: String,
    /// Knobs to search: a comma-separated list, or top:N (the workload's default list,
    /// narrowed to the N most important after the initial design).
    #[arg(long)]
    pub knobs: Option<String>,
    #[arg(long, value_enum, default_value = "throughput")]
    pub objective: ObjectiveArg,
    /// Trials whose p99 latency exceeds this fail; the gate refuses such a candidate (e.g. 20ms).
    #[arg(long)]
    pub p99_limit: Option<String>,
    #[arg(long, value_enum, default_value = "auto")]
    pub optimizer: OptimizerArg,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub clients: u32,
    /// Seed of the search (same seed, same configurations tried).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where report.md, report.json, plan.json and the repository (dbtuner.db) go.
    #[arg(long, default_value = "./dbtuner-tune")]
    pub out: PathBuf,
    /// Also search knobs that can lose committed transactions on a crash.
    #[arg(long)]
    pub allow_durability_risk: bool,
    /// Smallest gain the gate accepts, in percent (lower bound of the interval).
    #[arg(long, default_value_t = 2.0)]
    pub min_gain: f64,
    /// Largest p99 regression the gate tolerates, in percent.
    #[arg(long, default_value_t = 10.0)]
    pub max_p99_regression: f64,
    /// Largest slowdown of one query of the workload the gate tolerates, in percent.
    #[arg(long, default_value_t = 50.0)]
    pub max_query_regression: f64,
    /// Joint plan: advise indexes for the workload first, search the knobs with them built on
    /// staging, and gate knobs and indexes together against the default without them.
    #[arg(long)]
    pub indexes: bool,
    /// With --indexes: storage the new indexes may take, a size (500MB) or a share of the
    /// database (10%).
    #[arg(long, default_value = "10%", requires = "indexes")]
    pub index_budget: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KnobsCommand {
    /// List the knobs dbtuner knows for an engine.
    List {
        #[arg(long, value_enum)]
        engine: CatalogEngine,
        /// Server version (e.g. 13, 17, 8.0.36, 10.6); default: PostgreSQL 15, MySQL 8.0,
        /// MariaDB 10.11.
        #[arg(long)]
        version: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// A PGTune-style starting configuration from the hardware and the workload profile.
    Heuristic(HeuristicArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    Sql,
    Conf,
    Json,
}

#[derive(Debug, Args)]
pub struct HeuristicArgs {
    #[arg(long, value_enum)]
    pub engine: CatalogEngine,
    /// Server version (default: PostgreSQL 15, MySQL 8.0, MariaDB 10.11).
    #[arg(long)]
    pub version: Option<String>,
    /// RAM for the database, e.g. 8GiB or 512MB.
    #[arg(long)]
    pub memory: String,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub cpus: u32,
    /// Expected connections (default by profile).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub connections: Option<u32>,
    /// ssd, hdd, san or nvme.
    #[arg(long, default_value = "ssd")]
    pub storage: String,
    /// web, oltp, dw, desktop or mixed.
    #[arg(long, default_value = "mixed")]
    pub profile: String,
    #[arg(long, value_enum, default_value = "sql")]
    pub format: ConfigFormat,
}

/// `dbtuner report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The session to report on (its id, as --list shows it).
    #[arg(long, required_unless_present = "list", conflicts_with = "list")]
    pub session: Option<i64>,
    /// List the repository's sessions: id, kind, target, when, status and verdict.
    #[arg(long)]
    pub list: bool,
    /// The repository: a SQLite file (tune and demo keep theirs as --out/dbtuner.db) or a
    /// postgres:// URL.
    #[arg(long, default_value = "dbtuner.db")]
    pub repo: String,
    /// Where the report's files go.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Formats, comma-separated: html, md, json.
    #[arg(long, default_value = "html,md,json")]
    pub format: String,
    /// With --list: the sessions as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The PostgreSQL server a command's sandboxes run.
#[derive(Debug, Args)]
pub struct PgServerArgs {
    /// PostgreSQL server for sandboxes: a directory holding initdb and postgres (or a build
    /// whose bin/ does), e.g. /usr/lib/postgresql/17/bin. Default: the installed server.
    #[arg(long, value_name = "DIR", env = "DBTUNER_PG_BINDIR")]
    pub pg_bindir: Option<PathBuf>,
}

impl Command {
    /// The `--pg-bindir` of the commands that start sandboxes.
    pub fn pg_bindir(&self) -> Option<&std::path::Path> {
        match self {
            Command::Demo(a) => a.pg_server.pg_bindir.as_deref(),
            Command::Tune(a) => a.pg_server.pg_bindir.as_deref(),
            Command::Bench(a) => a.pg_server.pg_bindir.as_deref(),
            Command::Sandbox(a) => a.pg_server.pg_bindir.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub pg_server: PgServerArgs,
    #[arg(long, value_enum, default_value = "postgres")]
    pub engine: SandboxEngine,
    /// Print the URL and PID as JSON.
    #[arg(long)]
    pub json: bool,
}
