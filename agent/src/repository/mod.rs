//! The observation repository: everything the agent saw and did — targets, telemetry
//! snapshots, workload captures, tuning sessions and their trials, changes with previous
//! values and rollback statements, and an append-only audit log — so nothing the tuner did
//! or learned is lost.
//!
//! One trait, [`Repository`], two backends with the same schema: SQLite in a local file (the
//! default; WAL mode, so a process killed mid-write leaves a readable file) and PostgreSQL
//! (`--repo postgres://…`), which lets a fleet of agents share one repository. Payloads whose
//! shape belongs to other crates (configurations, measurements, captures) are stored as JSON.
//! Target URLs are stored without their password.
//!
//! ```no_run
//! # async fn f() -> Result<(), agent::repository::RepoError> {
//! use agent::repository::{open, NewSession};
//! let repo = open("dbtuner.db").await?;
//! let session = repo.create_session(&NewSession { target_id: None, kind: "demo".into(), settings: serde_json::json!({}) }).await?;
//! # Ok(()) }
//! ```

mod postgres;
pub mod schema;
mod sqlite;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use workloads::TargetUrl;

use crate::telemetry::Snapshot;

pub use postgres::PostgresRepository;
pub(crate) use sqlite::create_private;
pub use sqlite::SqliteRepository;

pub type Result<T, E = RepoError> = std::result::Result<T, E>;

/// A boxed future, so that `dyn Repository` works for either backend.
pub type RepoFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

#[derive(Debug, Error)]
pub enum RepoError {
    #[error("repository '{spec}': {reason}")]
    Open { spec: String, reason: String },
    #[error("repository schema is version {found}, newer than this dbtuner knows ({known}); upgrade dbtuner")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("repository (sqlite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("repository (postgres): {0}")]
    Postgres(String),
    #[error(transparent)]
    Target(#[from] workloads::TargetError),
    #[error("repository: stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("repository: {0}")]
    Invalid(String),
    #[error("repository task failed: {0}")]
    Task(String),
}

impl RepoError {
    /// True when what the user gave (the `--repo` value, a record) must be fixed.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RepoError::Open { .. } | RepoError::Invalid(_) => true,
            RepoError::Target(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

impl From<tokio_postgres::Error> for RepoError {
    fn from(e: tokio_postgres::Error) -> Self {
        // tokio-postgres errors carry no connection string, so no password can leak here.
        RepoError::Postgres(match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        })
    }
}

/// A tuning session (a `tune` or `demo` run, a sidecar cycle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSession {
    pub target_id: Option<i64>,
    /// `demo`, `tune`, `sidecar`, …
    pub kind: String,
    pub settings: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: i64,
    pub target_id: Option<i64>,
    pub kind: String,
    /// `running` until finished, then what the caller said (`done`, `failed`, …).
    pub status: String,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub settings: Value,
}

/// A database the agent has seen (its URL stored without the password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub id: i64,
    pub url: String,
    pub engine: String,
    pub version: String,
}

/// One configuration tried and measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTrial {
    pub session_id: i64,
    /// Position in the session, from 0 or 1; unique within the session.
    pub seq: i64,
    /// `ok`, `failed`, `infeasible`, …
    pub status: String,
    pub config: Value,
    pub measurement: Value,
    /// The telemetry snapshot taken with the trial, if any.
    pub snapshot_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub id: i64,
    pub created_at_ms: i64,
    #[serde(flatten)]
    pub trial: NewTrial,
}

/// One knob value or DDL statement of a change, with how to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeItem {
    /// Knob name, or the index's name for DDL.
    pub name: String,
    pub previous_value: Option<String>,
    pub new_value: Option<String>,
    pub apply_statement: String,
    pub rollback_statement: String,
}

/// What would be (or was) applied to a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewChange {
    pub target_id: i64,
    pub session_id: Option<i64>,
    /// `planned`, `applied`, `rolled_back`, …
    pub status: String,
    pub items: Vec<ChangeItem>,
    /// Who records it, for the audit entry written with it.
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub id: i64,
    pub target_id: i64,
    pub session_id: Option<i64>,
    pub status: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub items: Vec<ChangeItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub target_id: Option<i64>,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at_ms: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The gate's decision on one candidate of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewVerdict {
    pub session_id: i64,
    /// The trial whose configuration was the candidate.
    pub candidate_seq: i64,
    /// `accept`, `reject` or `inconclusive`.
    pub verdict: String,
    /// The rounds, ratios and intervals it was based on.
    pub evidence: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub id: i64,
    pub created_at_ms: i64,
    #[serde(flatten)]
    pub verdict: NewVerdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRecord {
    pub id: i64,
    pub target_id: Option<i64>,
    pub name: String,
    pub created_at_ms: i64,
    pub data: Value,
}

/// The repository's operations; both backends implement all of them with the same meaning.
pub trait Repository: Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The schema version in force.
    fn schema_version(&self) -> RepoFuture<'_, i64>;

    /// The id of the target with this URL (stored without its password), created if new.
    fn upsert_target<'a>(
        &'a self,
        url: &'a TargetUrl,
        engine: &'a str,
        version: &'a str,
    ) -> RepoFuture<'a, i64>;
    fn insert_snapshot<'a>(&'a self, target_id: i64, snapshot: &'a Snapshot)
        -> RepoFuture<'a, i64>;
    /// The target's latest `limit` snapshots, oldest first, with their ids.
    fn snapshots(&self, target_id: i64, limit: usize) -> RepoFuture<'_, Vec<(i64, Snapshot)>>;
    /// Delete the target's snapshots taken before `before_ms`, except those a trial refers
    /// to (retention: a scrape every 10 s is ~130 MB a day). Returns how many went.
    fn prune_snapshots(&self, target_id: i64, before_ms: i64) -> RepoFuture<'_, u64>;

    fn insert_capture<'a>(
        &'a self,
        target_id: Option<i64>,
        name: &'a str,
        data: &'a Value,
    ) -> RepoFuture<'a, i64>;
    fn capture(&self, id: i64) -> RepoFuture<'_, Option<CaptureRecord>>;

    fn create_session<'a>(&'a self, session: &'a NewSession) -> RepoFuture<'a, i64>;
    fn finish_session<'a>(&'a self, id: i64, status: &'a str) -> RepoFuture<'a, ()>;
    fn session(&self, id: i64) -> RepoFuture<'_, Option<SessionRecord>>;
    /// Every session, newest first.
    fn sessions(&self) -> RepoFuture<'_, Vec<SessionRecord>>;
    fn target(&self, id: i64) -> RepoFuture<'_, Option<TargetRecord>>;

    fn add_trial<'a>(&'a self, trial: &'a NewTrial) -> RepoFuture<'a, i64>;
    fn add_verdict<'a>(&'a self, verdict: &'a NewVerdict) -> RepoFuture<'a, i64>;
    fn verdicts(&self, session_id: i64) -> RepoFuture<'_, Vec<VerdictRecord>>;
    /// A session's trials in `seq` order.
    fn trials(&self, session_id: i64) -> RepoFuture<'_, Vec<TrialRecord>>;

    /// Record a change with its items and an audit entry, in one transaction. Every item
    /// needs a rollback statement (safety rule 1).
    fn record_change<'a>(&'a self, change: &'a NewChange) -> RepoFuture<'a, i64>;
    fn set_change_status<'a>(
        &'a self,
        id: i64,
        status: &'a str,
        actor: &'a str,
    ) -> RepoFuture<'a, ()>;
    fn change(&self, id: i64) -> RepoFuture<'_, Option<ChangeRecord>>;
    /// Insert or update the change with this key (apply's change id): its status, items and
    /// full record, in one transaction that is durable when this returns (written before the
    /// target is touched).
    fn save_change<'a>(
        &'a self,
        key: &'a str,
        change: &'a NewChange,
        record: &'a Value,
    ) -> RepoFuture<'a, i64>;
    /// The change with this key and its full record.
    fn change_by_key<'a>(&'a self, key: &'a str) -> RepoFuture<'a, Option<(ChangeRecord, Value)>>;

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> RepoFuture<'a, i64>;
    /// The latest `limit` audit entries, oldest first.
    fn audit(&self, limit: usize) -> RepoFuture<'_, Vec<AuditRecord>>;
}

/// Open the repository named by `spec`: a `postgres://` URL, or a file path (optionally
/// `sqlite:path`). Creates it and brings its schema up to date.
pub async fn open(spec: &str) -> Result<Box<dyn Repository>> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let url: TargetUrl = spec.parse()?;
        Ok(Box::new(PostgresRepository::open(&url).await?))
    } else {
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        if path.is_empty() {
            return Err(RepoError::Open {
                spec: spec.into(),
                reason: "no file name; use a path such as dbtuner.db or a postgres:// URL".into(),
            });
        }
        let path = std::path::PathBuf::from(path);
        let repo = tokio::task::spawn_blocking(move || SqliteRepository::open(&path))
            .await
            .map_err(|e| RepoError::Task(e.to_string()))??;
        Ok(Box::new(repo))
    }
}

pub(crate) fn check_change(change: &NewChange) -> Result<()> {
    if change.items.is_empty() {
        return Err(RepoError::Invalid(
            "a change needs at least one item".into(),
        ));
    }
    if let Some(item) = change
        .items
        .iter()
        .find(|i| i.rollback_statement.trim().is_empty())
    {
        return Err(RepoError::Invalid(format!(
            "change item '{}' has no rollback statement; nothing is recorded without one",
            item.name
        )));
    }
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    crate::telemetry::snapshot::now_ms()
}
