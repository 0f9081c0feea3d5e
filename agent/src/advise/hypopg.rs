//! PostgreSQL what-if through HypoPG: hypothetical indexes live in one backend (this
//! connection), plain `EXPLAIN (FORMAT JSON)` plans with them, `hypopg_relation_size` sizes
//! them. Nothing is written to the database; the hypothetical indexes vanish with the
//! session, and are reset at the end anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use models::index::IndexDef;
use tokio::runtime::Handle;
use tokio_postgres::types::{FromSql, Type};
use workloads::analysis::Access;

use super::ddl::{pg_ident, pg_index_body};
use super::whatif::{Plan, Planner};
use super::AdviseError;

/// HypoPG keeps a few thousand hypothetical indexes per backend; we hold far fewer (the
/// indexes of one set on one statement's tables), and never more than this.
const MAX_PRESENT: usize = 2_000;

/// A `json` value as its text (EXPLAIN's output), without tokio-postgres' serde feature.
struct JsonText(String);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<JsonText, Box<dyn std::error::Error + Sync + Send>> {
        Ok(JsonText(String::from_utf8_lossy(raw).into_owned()))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::TEXT
    }
}

pub struct HypoPg {
    handle: Handle,
    client: Arc<tokio_postgres::Client>,
    present: BTreeMap<IndexDef, u32>,
    /// HypoPG 1.4+ can hide an existing index (hypopg_hide_index).
    can_hide: bool,
}

impl std::fmt::Debug for HypoPg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HypoPg")
            .field("present", &self.present.len())
            .field("can_hide", &self.can_hide)
            .finish_non_exhaustive()
    }
}

/// The extension exists in the connection's database.
pub async fn in_database(client: &tokio_postgres::Client) -> Result<bool, AdviseError> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'", &[])
        .await?
        .is_some())
}

/// The server has HypoPG's files, so `CREATE EXTENSION hypopg` would work.
pub async fn on_server(client: &tokio_postgres::Client) -> Result<bool, AdviseError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'",
            &[],
        )
        .await?
        .is_some())
}

/// On a staging copy: create the extension where the server has it.
pub async fn ensure(client: &tokio_postgres::Client) -> Result<bool, AdviseError> {
    if in_database(client).await? {
        return Ok(true);
    }
    if !on_server(client).await? {
        return Ok(false);
    }
    match client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        .await
    {
        Ok(()) => Ok(true),
        Err(e) => {
            tracing::warn!("HypoPG is installed but CREATE EXTENSION failed: {e}");
            Ok(false)
        }
    }
}

impl HypoPg {
    pub async fn new(handle: Handle, client: Arc<tokio_postgres::Client>) -> HypoPg {
        let can_hide = client
            .query_opt(
                "SELECT 1 FROM pg_proc WHERE proname = 'hypopg_hide_index'",
                &[],
            )
            .await
            .ok()
            .flatten()
            .is_some();
        HypoPg {
            handle,
            client,
            present: BTreeMap::new(),
            can_hide,
        }
    }

    fn create(&mut self, index: &IndexDef) -> Result<u32, AdviseError> {
        if let Some(oid) = self.present.get(index) {
            return Ok(*oid);
        }
        if self.present.len() >= MAX_PRESENT {
            self.clear()?;
        }
        let sql = format!("CREATE INDEX ON {}", pg_index_body(index));
        let client = self.client.clone();
        let row = self.handle.block_on(async move {
            client
                .query_one("SELECT indexrelid FROM hypopg_create_index($1)", &[&sql])
                .await
        })?;
        let oid: u32 = row.try_get(0)?;
        self.present.insert(index.clone(), oid);
        Ok(oid)
    }

    fn drop_index(&mut self, index: &IndexDef) -> Result<(), AdviseError> {
        if let Some(oid) = self.present.remove(index) {
            let client = self.client.clone();
            self.handle.block_on(async move {
                client
                    .query_one("SELECT hypopg_drop_index($1)", &[&oid])
                    .await
            })?;
        }
        Ok(())
    }
}

/// Total cost of the top plan node and, for INSERT/UPDATE/DELETE, the rows its input yields.
pub fn parse_plan(json: &str) -> Result<Plan, AdviseError> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| AdviseError::Planner(format!("EXPLAIN output is not JSON: {e}")))?;
    let plan = &v[0]["Plan"];
    let cost = plan["Total Cost"]
        .as_f64()
        .ok_or_else(|| AdviseError::Planner("EXPLAIN output has no Total Cost".into()))?;
    let rows_written = (plan["Node Type"] == "ModifyTable").then(|| {
        plan["Plans"][0]["Plan Rows"]
            .as_f64()
            .or_else(|| plan["Plan Rows"].as_f64())
            .unwrap_or(1.0)
    });
    Ok(Plan { cost, rows_written })
}

impl Planner for HypoPg {
    fn present(
        &mut self,
        tables: &BTreeSet<String>,
        wanted: &[IndexDef],
    ) -> Result<(), AdviseError> {
        let stale: Vec<IndexDef> = self
            .present
            .keys()
            .filter(|i| tables.contains(&i.table) && !wanted.contains(i))
            .cloned()
            .collect();
        for i in &stale {
            self.drop_index(i)?;
        }
        for i in wanted {
            self.create(i)?;
        }
        Ok(())
    }

    fn explain(&mut self, sql: &str, _access: Access, _table: &str) -> Result<Plan, AdviseError> {
        // The extended protocol runs exactly one statement: nothing after a `;` can ride along.
        let text = format!("EXPLAIN (FORMAT JSON) {sql}");
        let client = self.client.clone();
        let row = self
            .handle
            .block_on(async move { client.query_one(text.as_str(), &[]).await })?;
        let json: JsonText = row.try_get(0)?;
        parse_plan(&json.0)
    }

    fn size(&mut self, index: &IndexDef) -> Result<u64, AdviseError> {
        let was_present = self.present.contains_key(index);
        let oid = self.create(index)?;
        let client = self.client.clone();
        let row = self.handle.block_on(async move {
            client
                .query_one("SELECT hypopg_relation_size($1)", &[&oid])
                .await
        })?;
        let size: Option<i64> = row.try_get(0)?;
        if !was_present {
            self.drop_index(index)?;
        }
        Ok(size.unwrap_or(0).max(0) as u64)
    }

    fn hide(&mut self, _table: &str, name: &str) -> Result<bool, AdviseError> {
        if !self.can_hide {
            return Ok(false);
        }
        let client = self.client.clone();
        let name = pg_ident(name);
        self.handle.block_on(async move {
            client
                .query_one("SELECT hypopg_hide_index($1::text::regclass)", &[&name])
                .await
        })?;
        Ok(true)
    }

    fn unhide(&mut self, _table: &str, name: &str) -> Result<(), AdviseError> {
        if self.can_hide {
            let client = self.client.clone();
            let name = pg_ident(name);
            self.handle.block_on(async move {
                client
                    .query_one("SELECT hypopg_unhide_index($1::text::regclass)", &[&name])
                    .await
            })?;
        }
        Ok(())
    }

    fn clear(&mut self) -> Result<(), AdviseError> {
        let client = self.client.clone();
        self.handle
            .block_on(async move { client.batch_execute("SELECT hypopg_reset()").await })?;
        self.present.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cost_and_rows_written() {
        let p = parse_plan(
            r#"[{"Plan": {"Node Type": "Seq Scan", "Total Cost": 1693.0, "Plan Rows": 5}}]"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Plan {
                cost: 1693.0,
                rows_written: None
            }
        );
        let w = parse_plan(r#"[{"Plan": {"Node Type": "ModifyTable", "Total Cost": 8.4, "Plan Rows": 0, "Plans": [{"Node Type": "Index Scan", "Plan Rows": 3}]}}]"#).unwrap();
        assert_eq!(w.rows_written, Some(3.0));
        assert!(parse_plan("not json").is_err());
        assert!(parse_plan("[{}]").is_err());
    }
}
