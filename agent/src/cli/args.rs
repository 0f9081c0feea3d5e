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
    /// Tune a sandbox database end to end and report the measured gain.
    Demo(DemoArgs),
    /// Knob catalogs.
    #[command(subcommand)]
    Knobs(KnobsCommand),
    /// Start a throwaway sandbox server and wait (Ctrl-C stops and removes it).
    Sandbox(SandboxArgs),
    /// What a target database is doing: one snapshot, or a live view.
    #[command(subcommand)]
    Telemetry(super::telemetry_cmd::TelemetryCommand),
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
    /// Which engine to start a sandbox of.
    #[arg(long, value_enum, default_value = "postgres")]
    pub engine: SandboxEngine,
    /// Time budget for the whole run, in minutes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=600))]
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
    /// Data set scale (100,000 accounts per unit); default 10, or 4 for runs under 3 minutes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub scale: Option<u32>,
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
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub engine: SandboxEngine,
    /// Print the URL and PID as JSON.
    #[arg(long)]
    pub json: bool,
}
