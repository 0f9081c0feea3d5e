//! The SQLite backend: one file, WAL mode (readers never block the writer, and a process
//! killed mid-write leaves the last committed state readable), `synchronous = FULL` (a
//! committed change record survives a power cut too). rusqlite is blocking, so every call
//! runs on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use workloads::TargetUrl;

use super::schema::{latest_version, migrations};
use super::{
    check_change, now_ms, AuditEntry, AuditRecord, CaptureRecord, ChangeItem, ChangeRecord,
    NewChange, NewSession, NewTrial, NewVerdict, RepoError, RepoFuture, Repository, Result,
    SessionRecord, TargetRecord, TrialRecord, VerdictRecord,
};
use crate::telemetry::Snapshot;

/// A repository in a local SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteRepository {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteRepository {
    /// Open (creating if needed) and migrate. Blocking: call from a blocking context.
    pub fn open(path: &Path) -> Result<SqliteRepository> {
        create_private(path).map_err(|e| RepoError::Open {
            spec: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut conn = Connection::open(path).map_err(|e| RepoError::Open {
            spec: path.display().to_string(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "repository is not in WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(SqliteRepository {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the connection on the blocking pool.
    fn run<T, F>(&self, f: F) -> RepoFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = conn
                    .lock()
                    .map_err(|_| RepoError::Task("repository lock poisoned".into()))?;
                f(&mut guard)
            })
            .await
            .map_err(|e| RepoError::Task(e.to_string()))?
        })
    }
}

/// A new repository file is readable by its owner only: change records hold previous
/// configuration files (postgresql.auto.conf may carry a replication password). SQLite gives
/// its -wal and -shm files the database file's permissions.
/// Create `path` empty and readable by its owner only (0600) unless it exists, so that what
/// is written to it next is never readable by others (the repository, a restored
/// configuration file). An existing file keeps its mode.
pub(crate) fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
    )?;
    // IMMEDIATE: two agents opening the same new file do not both migrate it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = latest_version();
    if current > known {
        return Err(RepoError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for m in migrations().into_iter().filter(|m| m.version > current) {
        tx.execute_batch(&m.sqlite)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now_ms()],
        )?;
        tracing::info!(version = m.version, "repository schema migrated");
    }
    tx.commit()?;
    Ok(())
}

fn json(text: String) -> Result<Value> {
    Ok(serde_json::from_str(&text)?)
}

fn insert_items(conn: &Connection, change_id: i64, items: &[ChangeItem]) -> Result<()> {
    for (seq, item) in items.iter().enumerate() {
        conn.execute(
            "INSERT INTO change_items (change_id, seq, name, previous_value, new_value, \
             apply_statement, rollback_statement) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                change_id,
                seq as i64,
                item.name,
                item.previous_value,
                item.new_value,
                item.apply_statement,
                item.rollback_statement
            ],
        )?;
    }
    Ok(())
}

fn items_of(conn: &Connection, change_id: i64) -> Result<Vec<ChangeItem>> {
    let mut stmt = conn.prepare(
        "SELECT name, previous_value, new_value, apply_statement, rollback_statement \
         FROM change_items WHERE change_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([change_id], |r| {
        Ok(ChangeItem {
            name: r.get(0)?,
            previous_value: r.get(1)?,
            new_value: r.get(2)?,
            apply_statement: r.get(3)?,
            rollback_statement: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn audit_in(conn: &Connection, entry: &AuditEntry, detail: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO audit_log (at_ms, actor, action, target_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms(), entry.actor, entry.action, entry.target_id, detail],
    )?;
    Ok(conn.last_insert_rowid())
}

impl Repository for SqliteRepository {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn schema_version(&self) -> RepoFuture<'_, i64> {
        self.run(|c| {
            Ok(c.query_row(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn upsert_target<'a>(
        &'a self,
        url: &'a TargetUrl,
        engine: &'a str,
        version: &'a str,
    ) -> RepoFuture<'a, i64> {
        // Display of a TargetUrl hides the password.
        let (url, engine, version) = (url.to_string(), engine.to_string(), version.to_string());
        self.run(move |c| {
            let now = now_ms();
            Ok(c.query_row(
                "INSERT INTO targets (url, engine, version, first_seen_ms, last_seen_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (url) DO UPDATE SET \
                 engine = excluded.engine, version = excluded.version, last_seen_ms = excluded.last_seen_ms \
                 RETURNING id",
                params![url, engine, version, now],
                |r| r.get(0),
            )?)
        })
    }

    fn insert_snapshot<'a>(
        &'a self,
        target_id: i64,
        snapshot: &'a Snapshot,
    ) -> RepoFuture<'a, i64> {
        let data = serde_json::to_string(snapshot);
        let at = snapshot.taken_at_ms;
        self.run(move |c| {
            c.execute(
                "INSERT INTO snapshots (target_id, taken_at_ms, data) VALUES (?1, ?2, ?3)",
                params![target_id, at, data?],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn snapshots(&self, target_id: i64, limit: usize) -> RepoFuture<'_, Vec<(i64, Snapshot)>> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, data FROM (SELECT id, taken_at_ms, data FROM snapshots \
                 WHERE target_id = ?1 ORDER BY taken_at_ms DESC, id DESC LIMIT ?2) \
                 ORDER BY taken_at_ms, id",
            )?;
            let rows = stmt.query_map(params![target_id, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, data) = row?;
                out.push((id, serde_json::from_str(&data)?));
            }
            Ok(out)
        })
    }

    fn prune_snapshots(&self, target_id: i64, before_ms: i64) -> RepoFuture<'_, u64> {
        self.run(move |c| {
            let n = c.execute(
                "DELETE FROM snapshots WHERE target_id = ?1 AND taken_at_ms < ?2 AND id NOT IN \
                 (SELECT snapshot_id FROM trials WHERE snapshot_id IS NOT NULL)",
                params![target_id, before_ms],
            )?;
            Ok(n as u64)
        })
    }

    fn insert_capture<'a>(
        &'a self,
        target_id: Option<i64>,
        name: &'a str,
        data: &'a Value,
    ) -> RepoFuture<'a, i64> {
        let (name, data) = (name.to_string(), data.to_string());
        self.run(move |c| {
            c.execute(
                "INSERT INTO workload_captures (target_id, name, created_at_ms, data) VALUES (?1, ?2, ?3, ?4)",
                params![target_id, name, now_ms(), data],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn capture(&self, id: i64) -> RepoFuture<'_, Option<CaptureRecord>> {
        self.run(move |c| {
            let row = c
                .query_row(
                    "SELECT id, target_id, name, created_at_ms, data FROM workload_captures WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?)),
                )
                .optional()?;
            row.map(|(id, target_id, name, created_at_ms, data)| {
                Ok(CaptureRecord {
                    id,
                    target_id,
                    name,
                    created_at_ms,
                    data: json(data)?,
                })
            })
            .transpose()
        })
    }

    fn create_session<'a>(&'a self, session: &'a NewSession) -> RepoFuture<'a, i64> {
        let s = session.clone();
        self.run(move |c| {
            c.execute(
                "INSERT INTO sessions (target_id, kind, status, started_at_ms, settings) \
                 VALUES (?1, ?2, 'running', ?3, ?4)",
                params![s.target_id, s.kind, now_ms(), s.settings.to_string()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn finish_session<'a>(&'a self, id: i64, status: &'a str) -> RepoFuture<'a, ()> {
        let status = status.to_string();
        self.run(move |c| {
            let n = c.execute(
                "UPDATE sessions SET status = ?2, finished_at_ms = ?3 WHERE id = ?1",
                params![id, status, now_ms()],
            )?;
            if n == 0 {
                return Err(RepoError::Invalid(format!("no session {id}")));
            }
            Ok(())
        })
    }

    fn session(&self, id: i64) -> RepoFuture<'_, Option<SessionRecord>> {
        self.run(move |c| {
            let row = c
                .query_row(
                    "SELECT id, target_id, kind, status, started_at_ms, finished_at_ms, settings \
                     FROM sessions WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get::<_, String>(6)?,
                        ))
                    },
                )
                .optional()?;
            row.map(
                |(id, target_id, kind, status, started_at_ms, finished_at_ms, settings)| {
                    Ok(SessionRecord {
                        id,
                        target_id,
                        kind,
                        status,
                        started_at_ms,
                        finished_at_ms,
                        settings: json(settings)?,
                    })
                },
            )
            .transpose()
        })
    }

    fn sessions(&self) -> RepoFuture<'_, Vec<SessionRecord>> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, target_id, kind, status, started_at_ms, finished_at_ms, settings \
                 FROM sessions ORDER BY id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    SessionRecord {
                        id: r.get(0)?,
                        target_id: r.get(1)?,
                        kind: r.get(2)?,
                        status: r.get(3)?,
                        started_at_ms: r.get(4)?,
                        finished_at_ms: r.get(5)?,
                        settings: Value::Null,
                    },
                    r.get::<_, String>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (mut session, settings) = row?;
                session.settings = json(settings)?;
                out.push(session);
            }
            Ok(out)
        })
    }

    fn target(&self, id: i64) -> RepoFuture<'_, Option<TargetRecord>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT id, url, engine, version FROM targets WHERE id = ?1",
                [id],
                |r| {
                    Ok(TargetRecord {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        engine: r.get(2)?,
                        version: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn add_trial<'a>(&'a self, trial: &'a NewTrial) -> RepoFuture<'a, i64> {
        let t = trial.clone();
        self.run(move |c| {
            c.execute(
                "INSERT INTO trials (session_id, seq, status, config, measurement, snapshot_id, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.session_id,
                    t.seq,
                    t.status,
                    t.config.to_string(),
                    t.measurement.to_string(),
                    t.snapshot_id,
                    now_ms()
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn add_verdict<'a>(&'a self, verdict: &'a NewVerdict) -> RepoFuture<'a, i64> {
        let v = verdict.clone();
        self.run(move |c| {
            c.execute(
                "INSERT INTO verdicts (session_id, candidate_seq, verdict, evidence, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![v.session_id, v.candidate_seq, v.verdict, v.evidence.to_string(), now_ms()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn verdicts(&self, session_id: i64) -> RepoFuture<'_, Vec<VerdictRecord>> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, created_at_ms, session_id, candidate_seq, verdict, evidence \
                 FROM verdicts WHERE session_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([session_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, created_at_ms, session_id, candidate_seq, verdict, evidence) = row?;
                out.push(VerdictRecord {
                    id,
                    created_at_ms,
                    verdict: NewVerdict {
                        session_id,
                        candidate_seq,
                        verdict,
                        evidence: json(evidence)?,
                    },
                });
            }
            Ok(out)
        })
    }

    fn trials(&self, session_id: i64) -> RepoFuture<'_, Vec<TrialRecord>> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, created_at_ms, session_id, seq, status, config, measurement, snapshot_id \
                 FROM trials WHERE session_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([session_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, created_at_ms, session_id, seq, status, config, measurement, snapshot_id) =
                    row?;
                out.push(TrialRecord {
                    id,
                    created_at_ms,
                    trial: NewTrial {
                        session_id,
                        seq,
                        status,
                        config: json(config)?,
                        measurement: json(measurement)?,
                        snapshot_id,
                    },
                });
            }
            Ok(out)
        })
    }

    fn record_change<'a>(&'a self, change: &'a NewChange) -> RepoFuture<'a, i64> {
        let ch = change.clone();
        self.run(move |c| {
            check_change(&ch)?;
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO changes (target_id, session_id, status, created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![ch.target_id, ch.session_id, ch.status, now],
            )?;
            let id = tx.last_insert_rowid();
            insert_items(&tx, id, &ch.items)?;
            let entry = AuditEntry {
                actor: ch.actor.clone(),
                action: "change recorded".into(),
                target_id: Some(ch.target_id),
                detail: serde_json::json!({ "change_id": id, "status": ch.status, "items": ch.items.len() }),
            };
            audit_in(&tx, &entry, &entry.detail.to_string())?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn set_change_status<'a>(
        &'a self,
        id: i64,
        status: &'a str,
        actor: &'a str,
    ) -> RepoFuture<'a, ()> {
        let (status, actor) = (status.to_string(), actor.to_string());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let target_id: Option<i64> = tx
                .query_row("SELECT target_id FROM changes WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(target_id) = target_id else {
                return Err(RepoError::Invalid(format!("no change {id}")));
            };
            tx.execute(
                "UPDATE changes SET status = ?2, updated_at_ms = ?3 WHERE id = ?1",
                params![id, status, now_ms()],
            )?;
            let entry = AuditEntry {
                actor,
                action: format!("change {status}"),
                target_id: Some(target_id),
                detail: serde_json::json!({ "change_id": id }),
            };
            audit_in(&tx, &entry, &entry.detail.to_string())?;
            tx.commit()?;
            Ok(())
        })
    }

    fn change(&self, id: i64) -> RepoFuture<'_, Option<ChangeRecord>> {
        self.run(move |c| {
            let row = c
                .query_row(
                    "SELECT id, target_id, session_id, status, created_at_ms, updated_at_ms \
                     FROM changes WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, target_id, session_id, status, created_at_ms, updated_at_ms)) = row
            else {
                return Ok(None);
            };
            Ok(Some(ChangeRecord {
                id,
                target_id,
                session_id,
                status,
                created_at_ms,
                updated_at_ms,
                items: items_of(c, id)?,
            }))
        })
    }

    fn save_change<'a>(
        &'a self,
        key: &'a str,
        change: &'a NewChange,
        record: &'a Value,
    ) -> RepoFuture<'a, i64> {
        let (key, ch, record) = (key.to_string(), change.clone(), record.to_string());
        self.run(move |c| {
            check_change(&ch)?;
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM changes WHERE change_key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match existing {
                Some(id) => {
                    tx.execute(
                        "UPDATE changes SET status = ?2, record = ?3, updated_at_ms = ?4 WHERE id = ?1",
                        params![id, ch.status, record, now],
                    )?;
                    tx.execute("DELETE FROM change_items WHERE change_id = ?1", [id])?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO changes (target_id, session_id, status, created_at_ms, \
                         updated_at_ms, change_key, record) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                        params![ch.target_id, ch.session_id, ch.status, now, key, record],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            insert_items(&tx, id, &ch.items)?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn change_by_key<'a>(&'a self, key: &'a str) -> RepoFuture<'a, Option<(ChangeRecord, Value)>> {
        let key = key.to_string();
        self.run(move |c| {
            let row = c
                .query_row(
                    "SELECT id, target_id, session_id, status, created_at_ms, updated_at_ms, \
                     record FROM changes WHERE change_key = ?1",
                    [&key],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get::<_, Option<String>>(6)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, target_id, session_id, status, created_at_ms, updated_at_ms, record)) =
                row
            else {
                return Ok(None);
            };
            let record = json(record.unwrap_or_else(|| "null".into()))?;
            let change = ChangeRecord {
                id,
                target_id,
                session_id,
                status,
                created_at_ms,
                updated_at_ms,
                items: items_of(c, id)?,
            };
            Ok(Some((change, record)))
        })
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> RepoFuture<'a, i64> {
        let entry = entry.clone();
        self.run(move |c| audit_in(c, &entry, &entry.detail.to_string()))
    }

    fn audit(&self, limit: usize) -> RepoFuture<'_, Vec<AuditRecord>> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at_ms, actor, action, target_id, detail FROM \
                 (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, at_ms, actor, action, target_id, detail) = row?;
                out.push(AuditRecord {
                    id,
                    at_ms,
                    entry: AuditEntry {
                        actor,
                        action,
                        target_id,
                        detail: json(detail)?,
                    },
                });
            }
            Ok(out)
        })
    }
}
