//! The PostgreSQL backend: the same schema as SQLite in a shared database, so several agents
//! can write to one repository. Migrations run under an advisory lock, so agents starting
//! together do not race.

use serde_json::Value;
use tokio::sync::Mutex;
use tokio_postgres::Client;
use workloads::target::connect_postgres;
use workloads::TargetUrl;

use super::schema::{latest_version, migrations};
use super::{
    check_change, now_ms, AuditEntry, AuditRecord, CaptureRecord, ChangeItem, ChangeRecord,
    NewChange, NewSession, NewTrial, NewVerdict, RepoError, RepoFuture, Repository, Result,
    SessionRecord, TargetRecord, TrialRecord, VerdictRecord,
};
use crate::telemetry::Snapshot;

/// A repository in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresRepository {
    // One connection; the lock keeps a transaction's statements together.
    client: Mutex<Client>,
    url: String,
}

/// Key of the advisory lock that serializes migrations across agents.
const MIGRATION_LOCK: i64 = 0x0064_6274_756e_6572; // "dbtuner" in ASCII

impl PostgresRepository {
    pub async fn open(url: &TargetUrl) -> Result<PostgresRepository> {
        let mut client = connect_postgres(url).await?;
        client
            .batch_execute(
                "SET statement_timeout = '30s'; SET lock_timeout = '10s'; \
                 SET application_name = 'dbtuner-repository'",
            )
            .await?;
        migrate(&mut client).await?;
        Ok(PostgresRepository {
            client: Mutex::new(client),
            url: url.to_string(),
        })
    }

    /// The repository's URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }
}

async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let known = latest_version();
    if current > known {
        return Err(RepoError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for m in migrations().into_iter().filter(|m| m.version > current) {
        tx.batch_execute(&m.postgres).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &now_ms()],
        )
        .await?;
        tracing::info!(version = m.version, "repository schema migrated");
    }
    tx.commit().await?;
    Ok(())
}

fn json(text: &str) -> Result<Value> {
    Ok(serde_json::from_str(text)?)
}

async fn insert_items<C: tokio_postgres::GenericClient>(
    c: &C,
    change_id: i64,
    items: &[ChangeItem],
) -> Result<()> {
    for (seq, item) in items.iter().enumerate() {
        c.execute(
            "INSERT INTO change_items (change_id, seq, name, previous_value, new_value, \
             apply_statement, rollback_statement) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &change_id,
                &(seq as i64),
                &item.name,
                &item.previous_value,
                &item.new_value,
                &item.apply_statement,
                &item.rollback_statement,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn items_of<C: tokio_postgres::GenericClient>(
    c: &C,
    change_id: i64,
) -> Result<Vec<ChangeItem>> {
    Ok(c.query(
        "SELECT name, previous_value, new_value, apply_statement, rollback_statement \
             FROM change_items WHERE change_id = $1 ORDER BY seq",
        &[&change_id],
    )
    .await?
    .iter()
    .map(|i| ChangeItem {
        name: i.get(0),
        previous_value: i.get(1),
        new_value: i.get(2),
        apply_statement: i.get(3),
        rollback_statement: i.get(4),
    })
    .collect())
}

async fn audit_in<C: tokio_postgres::GenericClient>(c: &C, entry: &AuditEntry) -> Result<i64> {
    let detail = entry.detail.to_string();
    Ok(c.query_one(
        "INSERT INTO audit_log (at_ms, actor, action, target_id, detail) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            &now_ms(),
            &entry.actor,
            &entry.action,
            &entry.target_id,
            &detail,
        ],
    )
    .await?
    .get(0))
}

impl Repository for PostgresRepository {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn schema_version(&self) -> RepoFuture<'_, i64> {
        Box::pin(async move {
            let c = self.client.lock().await;
            Ok(c.query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
                &[],
            )
            .await?
            .get(0))
        })
    }

    fn upsert_target<'a>(
        &'a self,
        url: &'a TargetUrl,
        engine: &'a str,
        version: &'a str,
    ) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            // Display of a TargetUrl hides the password.
            let url = url.to_string();
            let c = self.client.lock().await;
            Ok(c.query_one(
                "INSERT INTO targets (url, engine, version, first_seen_ms, last_seen_ms) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (url) DO UPDATE SET \
                 engine = excluded.engine, version = excluded.version, last_seen_ms = excluded.last_seen_ms \
                 RETURNING id",
                &[&url, &engine, &version, &now_ms()],
            )
            .await?
            .get(0))
        })
    }

    fn insert_snapshot<'a>(
        &'a self,
        target_id: i64,
        snapshot: &'a Snapshot,
    ) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            let data = serde_json::to_string(snapshot)?;
            let c = self.client.lock().await;
            Ok(c.query_one(
                "INSERT INTO snapshots (target_id, taken_at_ms, data) VALUES ($1, $2, $3) RETURNING id",
                &[&target_id, &snapshot.taken_at_ms, &data],
            )
            .await?
            .get(0))
        })
    }

    fn snapshots(&self, target_id: i64, limit: usize) -> RepoFuture<'_, Vec<(i64, Snapshot)>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    "SELECT id, data FROM (SELECT id, taken_at_ms, data FROM snapshots \
                     WHERE target_id = $1 ORDER BY taken_at_ms DESC, id DESC LIMIT $2) s \
                     ORDER BY taken_at_ms, id",
                    &[&target_id, &(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((r.get(0), serde_json::from_str(r.get(1))?)))
                .collect()
        })
    }

    fn prune_snapshots(&self, target_id: i64, before_ms: i64) -> RepoFuture<'_, u64> {
        Box::pin(async move {
            let c = self.client.lock().await;
            Ok(c.execute(
                "DELETE FROM snapshots s WHERE s.target_id = $1 AND s.taken_at_ms < $2 AND NOT EXISTS \
                 (SELECT 1 FROM trials t WHERE t.snapshot_id = s.id)",
                &[&target_id, &before_ms],
            )
            .await?)
        })
    }

    fn insert_capture<'a>(
        &'a self,
        target_id: Option<i64>,
        name: &'a str,
        data: &'a Value,
    ) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            let data = data.to_string();
            let c = self.client.lock().await;
            Ok(c.query_one(
                "INSERT INTO workload_captures (target_id, name, created_at_ms, data) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&target_id, &name, &now_ms(), &data],
            )
            .await?
            .get(0))
        })
    }

    fn capture(&self, id: i64) -> RepoFuture<'_, Option<CaptureRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let row = c
                .query_opt(
                    "SELECT id, target_id, name, created_at_ms, data FROM workload_captures WHERE id = $1",
                    &[&id],
                )
                .await?;
            row.map(|r| {
                Ok(CaptureRecord {
                    id: r.get(0),
                    target_id: r.get(1),
                    name: r.get(2),
                    created_at_ms: r.get(3),
                    data: json(r.get(4))?,
                })
            })
            .transpose()
        })
    }

    fn create_session<'a>(&'a self, session: &'a NewSession) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            let settings = session.settings.to_string();
            let c = self.client.lock().await;
            Ok(c.query_one(
                "INSERT INTO sessions (target_id, kind, status, started_at_ms, settings) \
                 VALUES ($1, $2, 'running', $3, $4) RETURNING id",
                &[&session.target_id, &session.kind, &now_ms(), &settings],
            )
            .await?
            .get(0))
        })
    }

    fn finish_session<'a>(&'a self, id: i64, status: &'a str) -> RepoFuture<'a, ()> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let n = c
                .execute(
                    "UPDATE sessions SET status = $2, finished_at_ms = $3 WHERE id = $1",
                    &[&id, &status, &now_ms()],
                )
                .await?;
            if n == 0 {
                return Err(RepoError::Invalid(format!("no session {id}")));
            }
            Ok(())
        })
    }

    fn session(&self, id: i64) -> RepoFuture<'_, Option<SessionRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let row = c
                .query_opt(
                    "SELECT id, target_id, kind, status, started_at_ms, finished_at_ms, settings \
                     FROM sessions WHERE id = $1",
                    &[&id],
                )
                .await?;
            row.map(|r| {
                Ok(SessionRecord {
                    id: r.get(0),
                    target_id: r.get(1),
                    kind: r.get(2),
                    status: r.get(3),
                    started_at_ms: r.get(4),
                    finished_at_ms: r.get(5),
                    settings: json(r.get(6))?,
                })
            })
            .transpose()
        })
    }

    fn sessions(&self) -> RepoFuture<'_, Vec<SessionRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    "SELECT id, target_id, kind, status, started_at_ms, finished_at_ms, settings \
                     FROM sessions ORDER BY id DESC",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(SessionRecord {
                        id: r.get(0),
                        target_id: r.get(1),
                        kind: r.get(2),
                        status: r.get(3),
                        started_at_ms: r.get(4),
                        finished_at_ms: r.get(5),
                        settings: json(r.get(6))?,
                    })
                })
                .collect()
        })
    }

    fn target(&self, id: i64) -> RepoFuture<'_, Option<TargetRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let row = c
                .query_opt(
                    "SELECT id, url, engine, version FROM targets WHERE id = $1",
                    &[&id],
                )
                .await?;
            Ok(row.map(|r| TargetRecord {
                id: r.get(0),
                url: r.get(1),
                engine: r.get(2),
                version: r.get(3),
            }))
        })
    }

    fn add_trial<'a>(&'a self, trial: &'a NewTrial) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            let (config, measurement) = (trial.config.to_string(), trial.measurement.to_string());
            let c = self.client.lock().await;
            Ok(c.query_one(
                "INSERT INTO trials (session_id, seq, status, config, measurement, snapshot_id, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &trial.session_id,
                    &trial.seq,
                    &trial.status,
                    &config,
                    &measurement,
                    &trial.snapshot_id,
                    &now_ms(),
                ],
            )
            .await?
            .get(0))
        })
    }

    fn add_verdict<'a>(&'a self, verdict: &'a NewVerdict) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            let evidence = verdict.evidence.to_string();
            let c = self.client.lock().await;
            Ok(c.query_one(
                "INSERT INTO verdicts (session_id, candidate_seq, verdict, evidence, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &verdict.session_id,
                    &verdict.candidate_seq,
                    &verdict.verdict,
                    &evidence,
                    &now_ms(),
                ],
            )
            .await?
            .get(0))
        })
    }

    fn verdicts(&self, session_id: i64) -> RepoFuture<'_, Vec<VerdictRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    "SELECT id, created_at_ms, session_id, candidate_seq, verdict, evidence \
                     FROM verdicts WHERE session_id = $1 ORDER BY id",
                    &[&session_id],
                )
                .await?;
            let mut out = Vec::new();
            for r in rows {
                out.push(VerdictRecord {
                    id: r.try_get(0)?,
                    created_at_ms: r.try_get(1)?,
                    verdict: NewVerdict {
                        session_id: r.try_get(2)?,
                        candidate_seq: r.try_get(3)?,
                        verdict: r.try_get(4)?,
                        evidence: serde_json::from_str(&r.try_get::<_, String>(5)?)?,
                    },
                });
            }
            Ok(out)
        })
    }

    fn trials(&self, session_id: i64) -> RepoFuture<'_, Vec<TrialRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    "SELECT id, created_at_ms, session_id, seq, status, config, measurement, snapshot_id \
                     FROM trials WHERE session_id = $1 ORDER BY seq",
                    &[&session_id],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(TrialRecord {
                        id: r.get(0),
                        created_at_ms: r.get(1),
                        trial: NewTrial {
                            session_id: r.get(2),
                            seq: r.get(3),
                            status: r.get(4),
                            config: json(r.get(5))?,
                            measurement: json(r.get(6))?,
                            snapshot_id: r.get(7),
                        },
                    })
                })
                .collect()
        })
    }

    fn record_change<'a>(&'a self, change: &'a NewChange) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            check_change(change)?;
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            let now = now_ms();
            let id: i64 = tx
                .query_one(
                    "INSERT INTO changes (target_id, session_id, status, created_at_ms, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    &[&change.target_id, &change.session_id, &change.status, &now],
                )
                .await?
                .get(0);
            insert_items(&tx, id, &change.items).await?;
            let entry = AuditEntry {
                actor: change.actor.clone(),
                action: "change recorded".into(),
                target_id: Some(change.target_id),
                detail: serde_json::json!({ "change_id": id, "status": change.status, "items": change.items.len() }),
            };
            audit_in(&tx, &entry).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn set_change_status<'a>(
        &'a self,
        id: i64,
        status: &'a str,
        actor: &'a str,
    ) -> RepoFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            let row = tx
                .query_opt(
                    "UPDATE changes SET status = $2, updated_at_ms = $3 WHERE id = $1 RETURNING target_id",
                    &[&id, &status, &now_ms()],
                )
                .await?;
            let Some(row) = row else {
                return Err(RepoError::Invalid(format!("no change {id}")));
            };
            let entry = AuditEntry {
                actor: actor.to_string(),
                action: format!("change {status}"),
                target_id: Some(row.get(0)),
                detail: serde_json::json!({ "change_id": id }),
            };
            audit_in(&tx, &entry).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn change(&self, id: i64) -> RepoFuture<'_, Option<ChangeRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let Some(r) = c
                .query_opt(
                    "SELECT id, target_id, session_id, status, created_at_ms, updated_at_ms \
                     FROM changes WHERE id = $1",
                    &[&id],
                )
                .await?
            else {
                return Ok(None);
            };
            let items = items_of(&*c, id).await?;
            Ok(Some(ChangeRecord {
                id: r.get(0),
                target_id: r.get(1),
                session_id: r.get(2),
                status: r.get(3),
                created_at_ms: r.get(4),
                updated_at_ms: r.get(5),
                items,
            }))
        })
    }

    fn save_change<'a>(
        &'a self,
        key: &'a str,
        change: &'a NewChange,
        record: &'a Value,
    ) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            check_change(change)?;
            let record = record.to_string();
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            let now = now_ms();
            let existing = tx
                .query_opt(
                    "SELECT id FROM changes WHERE change_key = $1 FOR UPDATE",
                    &[&key],
                )
                .await?;
            let id: i64 = match existing {
                Some(row) => {
                    let id: i64 = row.get(0);
                    tx.execute(
                        "UPDATE changes SET status = $2, record = $3, updated_at_ms = $4 WHERE id = $1",
                        &[&id, &change.status, &record, &now],
                    )
                    .await?;
                    tx.execute("DELETE FROM change_items WHERE change_id = $1", &[&id])
                        .await?;
                    id
                }
                None => tx
                    .query_one(
                        "INSERT INTO changes (target_id, session_id, status, created_at_ms, \
                         updated_at_ms, change_key, record) VALUES ($1, $2, $3, $4, $4, $5, $6) \
                         RETURNING id",
                        &[
                            &change.target_id,
                            &change.session_id,
                            &change.status,
                            &now,
                            &key,
                            &record,
                        ],
                    )
                    .await?
                    .get(0),
            };
            insert_items(&tx, id, &change.items).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn change_by_key<'a>(&'a self, key: &'a str) -> RepoFuture<'a, Option<(ChangeRecord, Value)>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let Some(r) = c
                .query_opt(
                    "SELECT id, target_id, session_id, status, created_at_ms, updated_at_ms, \
                     record FROM changes WHERE change_key = $1",
                    &[&key],
                )
                .await?
            else {
                return Ok(None);
            };
            let id: i64 = r.get(0);
            let record: Option<String> = r.get(6);
            let record: Value = serde_json::from_str(record.as_deref().unwrap_or("null"))?;
            let change = ChangeRecord {
                id,
                target_id: r.get(1),
                session_id: r.get(2),
                status: r.get(3),
                created_at_ms: r.get(4),
                updated_at_ms: r.get(5),
                items: items_of(&*c, id).await?,
            };
            Ok(Some((change, record)))
        })
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> RepoFuture<'a, i64> {
        Box::pin(async move {
            let c = self.client.lock().await;
            audit_in(&*c, entry).await
        })
    }

    fn audit(&self, limit: usize) -> RepoFuture<'_, Vec<AuditRecord>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    "SELECT id, at_ms, actor, action, target_id, detail FROM \
                     (SELECT * FROM audit_log ORDER BY id DESC LIMIT $1) a ORDER BY id",
                    &[&(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditRecord {
                        id: r.get(0),
                        at_ms: r.get(1),
                        entry: AuditEntry {
                            actor: r.get(2),
                            action: r.get(3),
                            target_id: r.get(4),
                            detail: json(r.get(5))?,
                        },
                    })
                })
                .collect()
        })
    }
}
