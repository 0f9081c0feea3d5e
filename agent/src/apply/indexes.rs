//! Index DDL as part of a change (safety rule 3): each index is recorded with its rollback
//! before it is built; PostgreSQL builds it with `CREATE INDEX CONCURRENTLY` and then checks
//! `indisvalid`, and an invalid index a failed build leaves behind is detected and dropped.
//! MariaDB builds online (`ALGORITHM=INPLACE, LOCK=NONE`), atomically. Indexes dbtuner
//! creates are named with the `dbtuner_` prefix; an index is dropped only when a plan names
//! it, and never one that backs a primary key or a constraint.

use knobs::Engine;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use workloads::Target;

use super::plan::PlanIndex;
use super::ApplyError;
use crate::advise::ddl;
use crate::repository::ChangeItem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexAction {
    Create,
    Drop,
}

/// One index of a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexChangeRecord {
    pub action: IndexAction,
    pub table: String,
    pub name: String,
    pub apply_statement: String,
    pub rollback_statement: String,
    /// The statement ran and its result was checked.
    #[serde(default)]
    pub done: bool,
    /// What happened, when something did not go as planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl IndexChangeRecord {
    pub(super) fn item(&self) -> ChangeItem {
        ChangeItem {
            name: self.name.clone(),
            previous_value: Some(match self.action {
                IndexAction::Create => "absent".into(),
                IndexAction::Drop => "present".into(),
            }),
            new_value: Some(match self.action {
                IndexAction::Create => "present".into(),
                IndexAction::Drop => "absent".into(),
            }),
            apply_statement: self.apply_statement.clone(),
            rollback_statement: self.rollback_statement.clone(),
        }
    }
}

/// An index as the target has it.
struct Found {
    table: String,
    valid: bool,
    protected: bool,
    definition: String,
}

async fn find(target: &mut Target, name: &str) -> Result<Option<Found>, ApplyError> {
    match target {
        Target::Postgres { client, .. } => {
            let row = client
                .query_opt(
                    "SELECT t.relname::text, i.indisvalid, i.indisprimary OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid), pg_get_indexdef(i.indexrelid)
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
                     WHERE c.relname = $1 AND pg_table_is_visible(c.oid)",
                    &[&name],
                )
                .await?;
            Ok(row.map(|r| Found {
                table: r
                    .try_get::<_, Option<String>>(0)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                valid: r
                    .try_get::<_, Option<bool>>(1)
                    .ok()
                    .flatten()
                    .unwrap_or(false),
                protected: r
                    .try_get::<_, Option<bool>>(2)
                    .ok()
                    .flatten()
                    .unwrap_or(true),
                definition: r
                    .try_get::<_, Option<String>>(3)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            }))
        }
        Target::Mysql { conn, .. } => {
            type Row = (Option<String>, Option<i64>, Option<String>, Option<i64>);
            let rows: Vec<Row> = conn
                .exec(
                    "SELECT TABLE_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS
                     WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = ? ORDER BY SEQ_IN_INDEX",
                    (name,),
                )
                .await?;
            let Some((Some(table), non_unique, ..)) = rows.first().cloned() else {
                return Ok(None);
            };
            let cols: Vec<String> = rows
                .iter()
                .filter_map(|(_, _, c, sub)| {
                    let c = ddl::mysql_ident(c.as_deref()?);
                    Some(match sub {
                        Some(n) => format!("{c}({n})"),
                        None => c,
                    })
                })
                .collect();
            let unique = non_unique == Some(0);
            Ok(Some(Found {
                definition: format!(
                    "ALTER TABLE {} ADD {}INDEX {} ({}), ALGORITHM=INPLACE, LOCK=NONE",
                    ddl::mysql_ident(&table),
                    if unique { "UNIQUE " } else { "" },
                    ddl::mysql_ident(name),
                    cols.join(", ")
                ),
                table,
                valid: true,
                protected: unique || name == "PRIMARY",
            }))
        }
    }
}

/// A partial index's predicate must be one expression, nothing more.
fn check_predicate(engine: Engine, table: &str, predicate: &str) -> Result<(), ApplyError> {
    let sql = format!("SELECT 1 FROM {table} WHERE {predicate}");
    match workloads::analysis::analyze(&sql, engine) {
        Ok(s) if s.len() == 1 && !predicate.contains(';') => Ok(()),
        _ => Err(ApplyError::Invalid(format!(
            "plan: index predicate '{predicate}' is not a single SQL expression"
        ))),
    }
}

/// Check each index of a plan against the target and render its statements. Nothing runs.
pub(super) async fn prepare(
    target: &mut Target,
    planned: &[PlanIndex],
) -> Result<(Vec<IndexChangeRecord>, Vec<String>), ApplyError> {
    let engine = target.engine();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for p in planned {
        if let Some(index) = &p.create {
            if engine.is_mysql_family() && index.predicate.is_some() {
                return Err(ApplyError::Invalid(format!(
                    "plan: {} has no partial indexes",
                    engine.display_name()
                )));
            }
            if let Some(pred) = &index.predicate {
                check_predicate(engine, &index.table, pred)?;
            }
            let name = ddl::index_name(index);
            if let Some(found) = find(target, &name).await? {
                if found.valid {
                    warnings.push(format!("index {name} exists already; nothing to do for it"));
                    continue;
                }
                // A failed build of an earlier run: drop it first, as part of this change.
                out.push(IndexChangeRecord {
                    action: IndexAction::Drop,
                    table: index.table.clone(),
                    name: name.clone(),
                    apply_statement: ddl::drop_sql(engine, &index.table, &name),
                    rollback_statement: String::new(),
                    done: false,
                    outcome: Some("invalid index left by an earlier failed build".into()),
                });
            }
            out.push(IndexChangeRecord {
                action: IndexAction::Create,
                table: index.table.clone(),
                apply_statement: ddl::create_sql(engine, index, &name),
                rollback_statement: ddl::drop_sql(engine, &index.table, &name),
                name,
                done: false,
                outcome: None,
            });
        } else if let Some(name) = &p.drop {
            let Some(found) = find(target, name).await? else {
                return Err(ApplyError::Invalid(format!(
                    "plan: drop {name}: no such index on the target"
                )));
            };
            if found.protected {
                return Err(ApplyError::Refused(format!(
                    "plan: drop {name}: it backs a primary key or a constraint; dbtuner never drops such an index"
                )));
            }
            out.push(IndexChangeRecord {
                action: IndexAction::Drop,
                apply_statement: ddl::drop_sql(engine, &found.table, name),
                rollback_statement: match engine {
                    Engine::Postgres => ddl::concurrently(&found.definition),
                    _ => found.definition.clone(),
                },
                table: found.table,
                name: name.clone(),
                done: false,
                outcome: None,
            });
        }
    }
    Ok((out, warnings))
}

async fn run(target: &mut Target, sql: &str) -> Result<(), String> {
    match target {
        // The extended protocol: one statement, outside any transaction block.
        Target::Postgres { client, .. } => {
            client.execute(sql, &[]).await.map(|_| ()).map_err(|e| {
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string())
            })
        }
        Target::Mysql { conn, .. } => conn.query_drop(sql).await.map_err(|e| e.to_string()),
    }
}

/// After a failed or suspicious build: drop an invalid index of that name, if there is one.
async fn drop_if_invalid(target: &mut Target, table: &str, name: &str) -> Result<bool, String> {
    match find(target, name).await {
        Ok(Some(f)) if !f.valid => {
            let engine = target.engine();
            run(target, &ddl::drop_sql(engine, table, name)).await?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// Run one index step; on failure the target holds no invalid index of it.
pub(super) async fn run_step(
    target: &mut Target,
    step: &mut IndexChangeRecord,
) -> Result<(), String> {
    let result = run(target, &step.apply_statement).await;
    if step.action == IndexAction::Create {
        // CONCURRENTLY can fail after the catalog entry exists: the index is then invalid.
        let invalid_dropped = drop_if_invalid(target, &step.table, &step.name).await;
        match (&result, invalid_dropped) {
            (Err(e), Ok(true)) => {
                step.outcome = Some(format!("{e}; the invalid index it left was dropped"));
            }
            (Err(e), Ok(false)) => step.outcome = Some(e.clone()),
            (Ok(()), Ok(true)) => {
                let why = "built but not valid; the invalid index was dropped".to_string();
                step.outcome = Some(why.clone());
                return Err(why);
            }
            (_, Err(e)) => {
                let why = format!("could not check or drop the invalid index: {e}");
                step.outcome = Some(why.clone());
                return Err(why);
            }
            (Ok(()), Ok(false)) => {}
        }
    } else if let Err(e) = &result {
        step.outcome = Some(e.clone());
    }
    result?;
    step.done = true;
    Ok(())
}

/// Undo the steps that ran, newest first; returns what could not be undone.
pub(super) async fn undo(target: &mut Target, steps: &mut [IndexChangeRecord]) -> Vec<String> {
    let mut failures = Vec::new();
    for step in steps.iter_mut().rev().filter(|s| s.done) {
        if step.rollback_statement.is_empty() {
            continue;
        }
        match run(target, &step.rollback_statement).await {
            Ok(()) => {
                if step.action == IndexAction::Drop {
                    // Rebuilt concurrently: it must be valid again.
                    if let Ok(true) = drop_if_invalid(target, &step.table, &step.name).await {
                        failures.push(format!("{}: rebuilt but invalid, dropped", step.name));
                        continue;
                    }
                }
                step.done = false;
            }
            Err(e) => failures.push(format!("{}: {e}", step.rollback_statement)),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_index_comes_back_concurrently_and_predicates_are_one_expression() {
        assert_eq!(
            ddl::concurrently("CREATE INDEX t_a ON public.t USING btree (a)"),
            "CREATE INDEX CONCURRENTLY t_a ON public.t USING btree (a)"
        );
        assert_eq!(
            ddl::concurrently("CREATE UNIQUE INDEX t_b ON public.t USING btree (b)"),
            "CREATE UNIQUE INDEX CONCURRENTLY t_b ON public.t USING btree (b)"
        );
        assert!(check_predicate(Engine::Postgres, "t", "status = 'open'").is_ok());
        assert!(check_predicate(Engine::Postgres, "t", "1 = 1; DROP TABLE t").is_err());
        assert!(check_predicate(Engine::Postgres, "t", "a = 1) OR (b").is_err());
    }
}
