//! The sessions of a repository, one line each, and the nearest ids to a wrong one.

use anyhow::Result;
use serde::Serialize;

use crate::repository::Repository;
use crate::BadInput;

/// One session as `dbtuner report --list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionLine {
    pub id: i64,
    pub kind: String,
    /// The target's URL without its password, or "—".
    pub target: String,
    pub started: String,
    /// The session's status (`accepted`, `inconclusive`, `interrupted`, …).
    pub status: String,
    /// The gate's latest verdict, if it ran.
    pub verdict: Option<String>,
}

/// Every session, newest first.
pub async fn list(repo: &dyn Repository) -> Result<Vec<SessionLine>> {
    let mut out = Vec::new();
    for s in repo.sessions().await? {
        let target = match s.target_id {
            // Stored without a password; redacted again for a repository an older build wrote.
            Some(id) => repo
                .target(id)
                .await?
                .map(|t| workloads::redact::redact(&t.url)),
            None => None,
        };
        let verdict = repo.verdicts(s.id).await?.pop().map(|v| v.verdict.verdict);
        out.push(SessionLine {
            id: s.id,
            kind: s.kind,
            target: target.unwrap_or_else(|| "—".into()),
            started: super::build::rfc3339(s.started_at_ms),
            status: s.status,
            verdict,
        });
    }
    Ok(out)
}

/// The bad-input error for a session id the repository does not have, naming the nearest.
pub async fn unknown_session(repo: &dyn Repository, repo_spec: &str, id: i64) -> Result<BadInput> {
    let mut ids: Vec<i64> = repo.sessions().await?.iter().map(|s| s.id).collect();
    if ids.is_empty() {
        return Ok(BadInput(format!(
            "no session {id}: the repository {repo_spec} has no sessions (tune and demo keep theirs in --out/dbtuner.db)"
        )));
    }
    ids.sort_by_key(|s| (s.abs_diff(id), *s));
    ids.truncate(5);
    ids.sort_unstable();
    let nearest: Vec<String> = ids.iter().map(i64::to_string).collect();
    Ok(BadInput(format!(
        "no session {id} in {repo_spec}; nearest: {} (dbtuner report --list shows them all)",
        nearest.join(", ")
    )))
}
