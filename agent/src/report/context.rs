//! What a finished session knows beyond its trials and verdicts. It is stored as an audit
//! entry (the session wrote its report; this is what the report was written from), which
//! needs no schema change and keeps the repository the only source of a report.

use anyhow::Result;
use reports::KnobImportance;
use serde::{Deserialize, Serialize};

use crate::repository::{AuditEntry, Repository};

const ACTION: &str = "session_report";

/// How far back in the audit log a session's context is looked for: a report of a session
/// older than this many audit entries shows its trials and verdict without the context.
const AUDIT_SCAN: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionContext {
    pub session_id: i64,
    /// Engine as people write it ("PostgreSQL").
    pub engine: String,
    pub server_version: String,
    pub hardware: String,
    pub ram_bytes: u64,
    /// The workload and its load ("tpcb, scale 2: 200000 rows loaded in 1.5 s").
    pub workload: String,
    pub search_space: Vec<String>,
    pub optimizer: String,
    pub elapsed_secs: f64,
    pub measure_secs: f64,
    pub importance: Vec<KnobImportance>,
    pub narrowed_to: Vec<String>,
    pub notes: Vec<String>,
    /// Index advice the session was tuned with (`tune --indexes`).
    #[serde(default)]
    pub indexes: Vec<reports::IndexAdvice>,
}

pub async fn record_context(
    repo: &dyn Repository,
    target_id: Option<i64>,
    context: &SessionContext,
) -> Result<()> {
    repo.append_audit(&AuditEntry {
        actor: "dbtuner".into(),
        action: ACTION.into(),
        target_id,
        detail: serde_json::to_value(context)?,
    })
    .await?;
    Ok(())
}

/// The latest context stored for the session, if any.
pub async fn load_context(
    repo: &dyn Repository,
    session_id: i64,
) -> Result<Option<SessionContext>> {
    let entries = repo.audit(AUDIT_SCAN).await?;
    Ok(entries
        .into_iter()
        .rev()
        .filter(|e| e.entry.action == ACTION)
        .filter(|e| e.entry.detail.get("session_id").and_then(|v| v.as_i64()) == Some(session_id))
        .find_map(|e| serde_json::from_value(e.entry.detail).ok()))
}
