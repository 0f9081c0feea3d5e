//! Where changes are recorded before they are made: the observation repository (its `changes`,
//! `change_items` and append-only `audit_log` tables), each change with its previous values,
//! apply and rollback statements and status, committed durably (SQLite `synchronous = FULL`,
//! or a PostgreSQL commit) before the target is touched. A change that is not recorded is not
//! made (safety rule 1).

use std::path::{Path, PathBuf};

use knobs::{ApplyMode, Engine};
use serde::{Deserialize, Serialize};
use workloads::TargetUrl;

use crate::repository::{self, ChangeItem, NewChange, RepoError, Repository};

/// One knob of a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnobChangeRecord {
    pub name: String,
    /// The value in force before, as the server reported it.
    pub previous: String,
    /// The previous value was the server's (not persisted by a configuration command).
    pub previous_was_default: bool,
    pub requested: String,
    /// As the server reports it after applying.
    pub applied: Option<String>,
    pub apply_mode: ApplyMode,
    pub apply_statement: String,
    /// Run in order to undo; `-- start option …` lines are sandbox start options.
    pub rollback_statements: Vec<String>,
    pub durability_risk: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Recorded, not yet (fully) applied.
    Planned,
    Applied,
    /// Failed and undone.
    Failed {
        reason: String,
    },
    RolledBack,
}

/// A change to a target, with everything needed to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub id: String,
    pub created_at: String,
    /// Target URL without its password.
    pub target: String,
    pub engine: Engine,
    pub server_version: String,
    pub note: Option<String>,
    pub knobs: Vec<KnobChangeRecord>,
    /// PostgreSQL: the previous postgresql.auto.conf, restored if the server cannot start.
    pub previous_auto_conf: Option<String>,
    pub data_directory: Option<String>,
    pub restarted: bool,
    pub status: ChangeStatus,
    /// Index DDL of the change, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<super::indexes::IndexChangeRecord>,
}

/// An audit-log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub change: String,
    pub target: String,
    pub event: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("change store {location}: {source}")]
    Repo { location: String, source: RepoError },
    #[error("change store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("change record {what}: {reason}")]
    Format { what: String, reason: String },
    #[error("no change '{id}' in {location}")]
    NotFound { id: String, location: String },
}

/// Apply's view of the repository: change records by their key, and their audit trail.
#[derive(Debug)]
pub struct Store {
    repo: Box<dyn Repository>,
    location: String,
    /// The directory of an older build's JSON change files, read when a key is not in the
    /// repository (so a change applied before the upgrade can still be rolled back).
    legacy_dir: Option<PathBuf>,
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Who writes apply's audit entries.
const ACTOR: &str = "apply";

impl Store {
    /// The repository `dbtuner.db` in `dir` (created if needed, readable by its owner only:
    /// records hold previous configuration files).
    pub async fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        // A new state directory is its owner's only (0700); an existing one keeps its mode.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        let file = dir.join("dbtuner.db");
        let mut store = Store::open(&file.to_string_lossy()).await?;
        store.legacy_dir = Some(dir.join("changes"));
        Ok(store)
    }

    /// The repository named by `spec` (a file or a `postgres://` URL).
    pub async fn open(spec: &str) -> Result<Store, StoreError> {
        let location = redact(spec);
        let repo = repository::open(spec)
            .await
            .map_err(|source| StoreError::Repo {
                location: location.clone(),
                source,
            })?;
        Ok(Store {
            repo,
            location,
            legacy_dir: None,
        })
    }

    /// `$DBTUNER_STATE`, else `~/.dbtuner`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("DBTUNER_STATE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".dbtuner")))
            .unwrap_or_else(|| PathBuf::from(".dbtuner"))
    }

    /// Where the records are, for messages (without a password).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn repo_error(&self, source: RepoError) -> StoreError {
        StoreError::Repo {
            location: self.location.clone(),
            source,
        }
    }

    /// A new change id: time-ordered and unique enough for one operator's store.
    pub fn new_id(&self) -> String {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace([':', '-'], "")
            .trim_end_matches('Z')
            .to_string();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("c{stamp}-{:04x}", (nanos ^ std::process::id()) & 0xffff)
    }

    /// Write (or overwrite) a change record; durable when this returns.
    pub async fn save(&self, record: &ChangeRecord) -> Result<(), StoreError> {
        let url: TargetUrl = record.target.parse().map_err(|e| StoreError::Format {
            what: record.id.clone(),
            reason: format!("target '{}': {e}", record.target),
        })?;
        let target_id = self
            .repo
            .upsert_target(&url, record.engine.as_str(), &record.server_version)
            .await
            .map_err(|e| self.repo_error(e))?;
        let change = NewChange {
            target_id,
            session_id: None,
            status: record.status.as_str().to_string(),
            items: record
                .knobs
                .iter()
                .map(KnobChangeRecord::item)
                .chain(record.indexes.iter().map(|i| i.item()))
                .collect(),
            actor: ACTOR.into(),
        };
        let value = serde_json::to_value(record).map_err(|e| StoreError::Format {
            what: record.id.clone(),
            reason: e.to_string(),
        })?;
        self.repo
            .save_change(&record.id, &change, &value)
            .await
            .map_err(|e| self.repo_error(e))?;
        Ok(())
    }

    pub async fn load(&self, id: &str) -> Result<ChangeRecord, StoreError> {
        let not_found = || StoreError::NotFound {
            id: id.to_string(),
            location: self.location.clone(),
        };
        // Ids are ours: refuse anything that could walk out of the legacy directory.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(not_found());
        }
        if let Some((_, value)) = self
            .repo
            .change_by_key(id)
            .await
            .map_err(|e| self.repo_error(e))?
        {
            return serde_json::from_value(value).map_err(|e| StoreError::Format {
                what: id.to_string(),
                reason: e.to_string(),
            });
        }
        let Some(path) = self
            .legacy_dir
            .as_ref()
            .map(|d| d.join(format!("{id}.json")))
        else {
            return Err(not_found());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let record: ChangeRecord = serde_json::from_str(&text).map_err(|e| StoreError::Format {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.save(&record).await?;
        Ok(record)
    }

    /// Append to the audit log (append-only: the repository refuses updates and deletes).
    pub async fn audit(
        &self,
        record: &ChangeRecord,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let target_id = self
            .repo
            .change_by_key(&record.id)
            .await
            .map_err(|e| self.repo_error(e))?
            .map(|(c, _)| c.target_id);
        let entry = repository::AuditEntry {
            actor: ACTOR.into(),
            action: event.to_string(),
            target_id,
            // Details quote server errors and commands: one redaction before they are stored.
            detail: serde_json::json!({
                "change": record.id,
                "target": workloads::redact::redact(&record.target),
                "detail": workloads::redact::redact(detail),
            }),
        };
        self.repo
            .append_audit(&entry)
            .await
            .map_err(|e| self.repo_error(e))?;
        Ok(())
    }

    /// Apply's audit entries, oldest first.
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let records = self
            .repo
            .audit(usize::MAX >> 1)
            .await
            .map_err(|e| self.repo_error(e))?;
        Ok(records
            .into_iter()
            .filter(|r| r.entry.actor == ACTOR)
            .map(|r| {
                let text = |k: &str| {
                    r.entry.detail[k]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_default()
                };
                AuditEntry {
                    at: at_text(r.at_ms),
                    change: text("change"),
                    target: text("target"),
                    event: r.entry.action.clone(),
                    detail: text("detail"),
                }
            })
            .collect())
    }
}

impl KnobChangeRecord {
    fn item(&self) -> ChangeItem {
        ChangeItem {
            name: self.name.clone(),
            previous_value: Some(self.previous.clone()),
            new_value: Some(
                self.applied
                    .clone()
                    .unwrap_or_else(|| self.requested.clone()),
            ),
            apply_statement: self.apply_statement.clone(),
            rollback_statement: self.rollback_statements.join(";\n"),
        }
    }
}

impl ChangeStatus {
    /// The repository's status word.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeStatus::Planned => "planned",
            ChangeStatus::Applied => "applied",
            ChangeStatus::Failed { .. } => "failed",
            ChangeStatus::RolledBack => "rolled_back",
        }
    }
}

fn at_text(at_ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A repository spec for messages: a URL without its password.
fn redact(spec: &str) -> String {
    workloads::redact::redact(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn the_state_directory_and_repository_are_the_owners_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state").join("nested");
        let _store = Store::open_dir(&dir).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "state dir");
        assert_eq!(mode(&dir.join("dbtuner.db")), 0o600, "repository");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{} readable by others",
                path.display()
            );
        }
    }

    #[test]
    fn repository_specs_print_without_passwords() {
        for spec in [
            "postgres://u:hunter2@h/db",
            "postgres://u@h/db?password=hunter2",
            "host=h password=hunter2 dbname=d",
        ] {
            assert!(!redact(spec).contains("hunter2"), "{spec}");
        }
    }
}
