//! Where changes are recorded before they are made: one JSON file per change (previous
//! values, apply and rollback statements, status) and an append-only audit log (JSON lines).
//! A change that is not recorded is not made (safety rule 1).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use knobs::{ApplyMode, Engine};
use serde::{Deserialize, Serialize};

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
    #[error("change store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("change record {path}: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no change '{id}' in {dir}")]
    NotFound { id: String, dir: PathBuf },
}

/// A directory of change records plus `audit.jsonl`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir.join("changes")).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// `$DBTUNER_STATE`, else `~/.dbtuner`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("DBTUNER_STATE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".dbtuner")))
            .unwrap_or_else(|| PathBuf::from(".dbtuner"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
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

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join("changes").join(format!("{id}.json"))
    }

    /// Write (or overwrite) a change record atomically.
    pub fn save(&self, record: &ChangeRecord) -> Result<(), StoreError> {
        let path = self.path(&record.id);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(record).map_err(|source| StoreError::Format {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| StoreError::Io { path, source })
    }

    pub fn load(&self, id: &str) -> Result<ChangeRecord, StoreError> {
        // Ids are ours: refuse anything that could walk out of the directory.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(StoreError::NotFound {
                id: id.to_string(),
                dir: self.dir.clone(),
            });
        }
        let path = self.path(id);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound {
                    id: id.to_string(),
                    dir: self.dir.clone(),
                }
            } else {
                StoreError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        serde_json::from_str(&text).map_err(|source| StoreError::Format { path, source })
    }

    /// Append to the audit log (never rewritten).
    pub fn audit(
        &self,
        record: &ChangeRecord,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let path = self.dir.join("audit.jsonl");
        let entry = AuditEntry {
            at: now(),
            change: record.id.clone(),
            target: record.target.clone(),
            event: event.to_string(),
            detail: detail.to_string(),
        };
        let mut line = serde_json::to_string(&entry).map_err(|source| StoreError::Format {
            path: path.clone(),
            source,
        })?;
        line.push('\n');
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|source| StoreError::Io { path, source })
    }

    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let path = self.dir.join("audit.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|source| StoreError::Format {
                    path: path.clone(),
                    source,
                })
            })
            .collect()
    }
}
