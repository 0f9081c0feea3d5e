//! What-if with real indexes, on a staging copy only (never the target): where HypoPG is
//! missing on PostgreSQL, and always on MySQL/MariaDB, which have no hypothetical indexes.
//!
//! - PostgreSQL: one transaction holds every index built for costing; `EXPLAIN` inside it
//!   sees them, and the transaction is rolled back at the end, so nothing persists even if
//!   dbtuner dies (the server aborts the transaction with the connection).
//! - MariaDB 10.6+: each candidate is built once, then switched between IGNORED and NOT
//!   IGNORED (a metadata change) for each comparison; the planner's cost is
//!   `Last_query_cost` after `EXPLAIN`. UPDATE and DELETE are costed as the SELECT that
//!   finds their rows (MariaDB sets no cost for them). Names start with
//!   [`WHATIF_PREFIX`]; leftovers of an interrupted run are dropped when the next starts.

use std::collections::{BTreeMap, BTreeSet};

use models::index::IndexDef;
use mysql_async::prelude::Queryable;
use tokio::runtime::Handle;
use workloads::analysis::Access;

use super::ddl::{index_name, mysql_ident, mysql_key_columns, pg_ident, pg_index_body};
use super::hypopg::parse_plan;
use super::whatif::{Plan, Planner};
use super::AdviseError;

/// Indexes built only for costing carry this prefix.
pub const WHATIF_PREFIX: &str = "dbtuner_whatif_";

fn whatif_name(index: &IndexDef) -> String {
    index_name(index).replacen(super::ddl::NAME_PREFIX, WHATIF_PREFIX, 1)
}

/// PostgreSQL staging: real indexes inside one transaction that is never committed.
pub struct PgTransaction {
    handle: Handle,
    client: tokio_postgres::Client,
    present: BTreeMap<IndexDef, String>,
    open: bool,
}

impl std::fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction")
            .field("present", &self.present.len())
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl PgTransaction {
    pub fn new(handle: Handle, client: tokio_postgres::Client) -> PgTransaction {
        PgTransaction {
            handle,
            client,
            present: BTreeMap::new(),
            open: false,
        }
    }

    fn run(&mut self, sql: String) -> Result<(), AdviseError> {
        if !self.open {
            self.handle.block_on(self.client.batch_execute("BEGIN"))?;
            self.open = true;
        }
        self.handle.block_on(self.client.batch_execute(&sql))?;
        Ok(())
    }
}

impl Planner for PgTransaction {
    fn present(
        &mut self,
        tables: &BTreeSet<String>,
        wanted: &[IndexDef],
    ) -> Result<(), AdviseError> {
        let stale: Vec<(IndexDef, String)> = self
            .present
            .iter()
            .filter(|(i, _)| tables.contains(&i.table) && !wanted.contains(i))
            .map(|(i, n)| (i.clone(), n.clone()))
            .collect();
        for (i, name) in stale {
            self.run(format!("DROP INDEX {}", pg_ident(&name)))?;
            self.present.remove(&i);
        }
        for i in wanted {
            if !self.present.contains_key(i) {
                let name = whatif_name(i);
                self.run(format!(
                    "CREATE INDEX {} ON {}",
                    pg_ident(&name),
                    pg_index_body(i)
                ))?;
                self.present.insert(i.clone(), name);
            }
        }
        Ok(())
    }

    fn explain(&mut self, sql: &str, _: Access, _: &str) -> Result<Plan, AdviseError> {
        let text = format!("EXPLAIN (FORMAT JSON) {sql}");
        let rows = self.handle.block_on(self.client.simple_query(&text))?;
        let json = rows
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .ok_or_else(|| AdviseError::Planner("EXPLAIN returned no plan".into()))?;
        parse_plan(&json)
    }

    fn size(&mut self, index: &IndexDef) -> Result<u64, AdviseError> {
        let was = self.present.contains_key(index);
        let mut tables = BTreeSet::new();
        tables.insert(index.table.clone());
        let mut wanted: Vec<IndexDef> = self
            .present
            .keys()
            .filter(|i| i.table == index.table)
            .cloned()
            .collect();
        wanted.push(index.clone());
        self.present(&tables, &wanted)?;
        let name = self.present.get(index).cloned().unwrap_or_default();
        let row = self.handle.block_on(self.client.query_one(
            "SELECT pg_relation_size($1::text::regclass)",
            &[&pg_ident(&name)],
        ))?;
        let size: i64 = row.try_get(0)?;
        if !was {
            wanted.pop();
            self.present(&tables, &wanted)?;
        }
        Ok(size.max(0) as u64)
    }

    fn hide(&mut self, _table: &str, name: &str) -> Result<bool, AdviseError> {
        // Inside the costing transaction: the drop is undone by the savepoint.
        self.run(format!(
            "SAVEPOINT dbtuner_hide; DROP INDEX {}",
            pg_ident(name)
        ))?;
        Ok(true)
    }

    fn unhide(&mut self, _table: &str, _name: &str) -> Result<(), AdviseError> {
        self.run("ROLLBACK TO SAVEPOINT dbtuner_hide".to_string())
    }

    fn clear(&mut self) -> Result<(), AdviseError> {
        if self.open {
            self.handle
                .block_on(self.client.batch_execute("ROLLBACK"))?;
            self.open = false;
        }
        self.present.clear();
        Ok(())
    }
}

/// MariaDB staging: real indexes toggled IGNORED / NOT IGNORED.
pub struct MariadbIgnored {
    handle: Handle,
    conn: mysql_async::Conn,
    built: BTreeMap<IndexDef, String>,
    visible: BTreeSet<IndexDef>,
    page_size: u64,
}

impl std::fmt::Debug for MariadbIgnored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariadbIgnored")
            .field("built", &self.built.len())
            .field("visible", &self.visible.len())
            .finish_non_exhaustive()
    }
}

impl MariadbIgnored {
    /// Connect-side setup: drop what an interrupted run left behind.
    pub fn new(handle: Handle, mut conn: mysql_async::Conn) -> Result<MariadbIgnored, AdviseError> {
        // Read as Options: a tuple of Strings would panic on a NULL from the server.
        let leftovers: Vec<(Option<String>, Option<String>)> =
            handle.block_on(conn.query(format!(
                "SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS
             WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME LIKE '{WHATIF_PREFIX}%'"
            )))?;
        for (table, name) in leftovers {
            let (Some(table), Some(name)) = (table, name) else {
                continue;
            };
            handle.block_on(conn.query_drop(format!(
                "ALTER TABLE {} DROP INDEX {}",
                mysql_ident(&table),
                mysql_ident(&name)
            )))?;
        }
        let page: Option<u64> = handle.block_on(conn.query_first("SELECT @@innodb_page_size"))?;
        Ok(MariadbIgnored {
            handle,
            conn,
            built: BTreeMap::new(),
            visible: BTreeSet::new(),
            page_size: page.unwrap_or(16_384),
        })
    }

    fn set_visible(&mut self, index: &IndexDef, visible: bool) -> Result<(), AdviseError> {
        if let Some(name) = self.built.get(index).cloned() {
            if visible != self.visible.contains(index) {
                self.handle.block_on(self.conn.query_drop(format!(
                    "ALTER TABLE {} ALTER INDEX {} {}",
                    mysql_ident(&index.table),
                    mysql_ident(&name),
                    if visible { "NOT IGNORED" } else { "IGNORED" }
                )))?;
            }
        } else {
            let name = whatif_name(index);
            let cols = mysql_key_columns(index);
            self.handle.block_on(self.conn.query_drop(format!(
                "ALTER TABLE {} ADD INDEX {} ({cols}){}",
                mysql_ident(&index.table),
                mysql_ident(&name),
                if visible { "" } else { " IGNORED" }
            )))?;
            self.built.insert(index.clone(), name);
        }
        if visible {
            self.visible.insert(index.clone());
        } else {
            self.visible.remove(index);
        }
        Ok(())
    }

    fn last_cost(&mut self, explain: &str) -> Result<f64, AdviseError> {
        // A statement that sets no cost leaves the previous one: zero it first.
        self.handle
            .block_on(self.conn.query_drop("EXPLAIN SELECT 1"))?;
        self.handle.block_on(self.conn.query_drop(explain))?;
        let row: Option<(Option<String>, Option<String>)> = self.handle.block_on(
            self.conn
                .query_first("SHOW SESSION STATUS LIKE 'Last_query_cost'"),
        )?;
        let cost = row
            .and_then(|(_, v)| v)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        Ok(cost)
    }
}

/// The SELECT that finds the rows an UPDATE or DELETE changes: `SELECT * FROM t WHERE …`.
pub fn finder_select(sql: &str, table: &str) -> String {
    match top_level_where(sql) {
        Some(at) => format!("SELECT * FROM {} {}", mysql_ident(table), &sql[at..]),
        None => format!("SELECT * FROM {}", mysql_ident(table)),
    }
}

/// Byte offset of the first `WHERE` keyword outside quotes.
fn top_level_where(sql: &str) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == b'\'' || c == b'"' || c == b'`' => quote = Some(c),
            None => {
                let boundary_before =
                    i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_';
                let word = bytes
                    .get(i..i + 5)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"where"));
                let boundary_after = bytes
                    .get(i + 5)
                    .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_');
                if boundary_before && word && boundary_after {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

impl Planner for MariadbIgnored {
    fn present(
        &mut self,
        tables: &BTreeSet<String>,
        wanted: &[IndexDef],
    ) -> Result<(), AdviseError> {
        let off: Vec<IndexDef> = self
            .visible
            .iter()
            .filter(|i| tables.contains(&i.table) && !wanted.contains(i))
            .cloned()
            .collect();
        for i in &off {
            self.set_visible(i, false)?;
        }
        for i in wanted {
            self.set_visible(i, true)?;
        }
        Ok(())
    }

    fn explain(&mut self, sql: &str, access: Access, table: &str) -> Result<Plan, AdviseError> {
        let verb = sql.trim_start().to_ascii_lowercase();
        if access == Access::Write {
            if verb.starts_with("insert") || verb.starts_with("replace") {
                // Finding no rows: the insert's cost does not depend on the indexes chosen,
                // only its maintenance does.
                return Ok(Plan {
                    cost: 0.0,
                    rows_written: Some(1.0),
                });
            }
            let select = finder_select(sql, table);
            let cost = self.last_cost(&format!("EXPLAIN {select}"))?;
            let rows: Vec<mysql_async::Row> = self
                .handle
                .block_on(self.conn.query(format!("EXPLAIN {select}")))?;
            let estimate = rows
                .first()
                .and_then(|r| {
                    let rows = r
                        .get_opt::<Option<f64>, _>("rows")
                        .and_then(|v| v.ok())
                        .flatten()?;
                    let filtered = r
                        .get_opt::<Option<f64>, _>("filtered")
                        .and_then(|v| v.ok())
                        .flatten()
                        .unwrap_or(100.0);
                    Some(rows * filtered / 100.0)
                })
                .unwrap_or(1.0);
            return Ok(Plan {
                cost,
                rows_written: Some(estimate),
            });
        }
        let cost = self.last_cost(&format!("EXPLAIN {sql}"))?;
        if cost <= 0.0 {
            return Err(AdviseError::Planner(
                "MariaDB reports no plan cost for this statement (Last_query_cost is 0: subqueries and unions are not costed)".into(),
            ));
        }
        Ok(Plan {
            cost,
            rows_written: None,
        })
    }

    fn size(&mut self, index: &IndexDef) -> Result<u64, AdviseError> {
        let visible = self.visible.contains(index);
        self.set_visible(index, visible)?;
        let name = self.built.get(index).cloned().unwrap_or_default();
        let pages: Option<u64> = self.handle.block_on(self.conn.exec_first(
            "SELECT stat_value FROM mysql.innodb_index_stats WHERE database_name = DATABASE() AND table_name = ? AND index_name = ? AND stat_name = 'size'",
            (index.table.clone(), name),
        ))?;
        Ok(pages.unwrap_or(1).saturating_mul(self.page_size))
    }

    fn hide(&mut self, table: &str, name: &str) -> Result<bool, AdviseError> {
        if name == "PRIMARY" {
            return Ok(false);
        }
        self.handle.block_on(self.conn.query_drop(format!(
            "ALTER TABLE {} ALTER INDEX {} IGNORED",
            mysql_ident(table),
            mysql_ident(name)
        )))?;
        Ok(true)
    }

    fn unhide(&mut self, table: &str, name: &str) -> Result<(), AdviseError> {
        self.handle.block_on(self.conn.query_drop(format!(
            "ALTER TABLE {} ALTER INDEX {} NOT IGNORED",
            mysql_ident(table),
            mysql_ident(name)
        )))?;
        Ok(())
    }

    fn clear(&mut self) -> Result<(), AdviseError> {
        let built = std::mem::take(&mut self.built);
        self.visible.clear();
        for (index, name) in built {
            self.handle.block_on(self.conn.query_drop(format!(
                "ALTER TABLE {} DROP INDEX {}",
                mysql_ident(&index.table),
                mysql_ident(&name)
            )))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_costed_as_the_select_that_finds_their_rows() {
        assert_eq!(
            finder_select(
                "UPDATE acc SET note = 'where' WHERE id = 5 AND w = 'x'",
                "acc"
            ),
            "SELECT * FROM acc WHERE id = 5 AND w = 'x'"
        );
        assert_eq!(
            finder_select("DELETE FROM `order` WHERE nowhere_col = 1", "order"),
            "SELECT * FROM `order` WHERE nowhere_col = 1"
        );
        assert_eq!(finder_select("DELETE FROM t", "t"), "SELECT * FROM t");
    }
}
