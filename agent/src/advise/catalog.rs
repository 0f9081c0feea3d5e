//! What the advisor must know of a schema: its tables (rows, size, row width), their columns
//! (type, and whether a B-tree can index them), the indexes that exist (keys, INCLUDE,
//! predicate, uniqueness, constraints, size, scans) and how long the usage counters have been
//! counting. Read from the catalogs of PostgreSQL or MySQL/MariaDB; every value is read as
//! optional, so an odd catalog row is skipped, never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use knobs::Engine;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::AdviseError;

#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub engine: Engine,
    pub version: (u32, u32),
    pub database_bytes: u64,
    pub tables: BTreeMap<String, TableInfo>,
    /// How long index usage has been counted (since the statistics were reset or the server
    /// started); `None` when the server keeps no usage counts.
    pub usage_window: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub rows: f64,
    pub bytes: u64,
    pub row_width: f64,
    pub columns: BTreeMap<String, ColumnInfo>,
    pub indexes: Vec<ExistingIndex>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub type_name: String,
    /// A B-tree can index the column (PostgreSQL: a default btree operator class for its
    /// type; MySQL: not a BLOB, TEXT, JSON or spatial type, which need a prefix or another
    /// index kind).
    pub btree: bool,
    pub width: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExistingIndex {
    pub name: String,
    pub table: String,
    /// Key columns in order; an expression key is `None`.
    pub columns: Vec<Option<String>>,
    pub include: Vec<String>,
    pub predicate: Option<String>,
    pub method: String,
    pub unique: bool,
    pub primary: bool,
    /// Backs a constraint (primary key, unique, exclusion, or a foreign key's lookup).
    pub constraint: bool,
    pub valid: bool,
    pub bytes: u64,
    /// Scans counted over the usage window, when known.
    pub scans: Option<u64>,
    /// The definition as the server prints it (PostgreSQL's pg_get_indexdef), to recreate it.
    pub definition: String,
}

impl ExistingIndex {
    /// The plain key columns, when no key is an expression.
    pub fn plain_columns(&self) -> Option<Vec<String>> {
        self.columns.iter().cloned().collect()
    }
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.get(name)
    }
}

/// Read the catalog of the database `client` is connected to (tables visible on its
/// search_path, outside the system schemas).
pub async fn read_postgres(client: &tokio_postgres::Client) -> Result<Catalog, AdviseError> {
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .try_get(0)?;
    let database_bytes: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .try_get(0)?;
    let visible = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND pg_table_is_visible(c.oid)";
    let mut tables = BTreeMap::new();
    let rows = client
        .query(
            &format!(
                "SELECT c.relname::text, c.reltuples::float8, pg_table_size(c.oid)::int8, c.relpages::int8
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'm') AND {visible}"
            ),
            &[],
        )
        .await?;
    for r in rows {
        let (Ok(Some(name)), Ok(Some(rows)), Ok(Some(bytes))) = (
            r.try_get::<_, Option<String>>(0),
            r.try_get::<_, Option<f64>>(1),
            r.try_get::<_, Option<i64>>(2),
        ) else {
            continue;
        };
        tables.insert(
            name,
            TableInfo {
                // -1: never analyzed (PostgreSQL 14+); the planner then guesses from pages.
                rows: rows.max(0.0),
                bytes: bytes.max(0) as u64,
                row_width: 0.0,
                columns: BTreeMap::new(),
                indexes: Vec::new(),
            },
        );
    }
    let columns = client
        .query(
            &format!(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                        coalesce(s.avg_width, CASE WHEN t.typlen > 0 THEN t.typlen ELSE 32 END)::float8,
                        EXISTS (
                          SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                          WHERE m.amname = 'btree' AND o.opcdefault AND (
                            o.opcintype = coalesce(nullif(t.typbasetype, 0), t.oid)
                            OR o.opcintype IN (SELECT casttarget FROM pg_cast
                                               WHERE castsource = coalesce(nullif(t.typbasetype, 0), t.oid)
                                                 AND castmethod = 'b')
                            OR (t.typtype = 'e' AND o.opcintype = 'anyenum'::regtype)
                            OR (t.typcategory = 'A' AND o.opcintype = 'anyarray'::regtype)))
                 FROM pg_attribute a
                 JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_type t ON t.oid = a.atttypid
                 LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
                 WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm') AND {visible}"
            ),
            &[],
        )
        .await?;
    for r in columns {
        let (Ok(Some(table)), Ok(Some(column)), Ok(Some(type_name)), Ok(width), Ok(btree)) = (
            r.try_get::<_, Option<String>>(0),
            r.try_get::<_, Option<String>>(1),
            r.try_get::<_, Option<String>>(2),
            r.try_get::<_, Option<f64>>(3),
            r.try_get::<_, Option<bool>>(4),
        ) else {
            continue;
        };
        if let Some(t) = tables.get_mut(&table) {
            t.columns.insert(
                column,
                ColumnInfo {
                    type_name,
                    btree: btree.unwrap_or(false),
                    width: width.unwrap_or(8.0),
                },
            );
        }
    }
    let indexes = client
        .query(
            &format!(
                "SELECT ic.relname::text, c.relname::text, i.indisunique, i.indisprimary, i.indisvalid,
                        EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')),
                        am.amname::text, pg_relation_size(i.indexrelid)::int8, s.idx_scan::int8,
                        pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid), i.indnkeyatts::int4,
                        (SELECT array_agg(coalesce(a.attname::text, '') ORDER BY k.ord)
                           FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                           LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0)
                 FROM pg_index i
                 JOIN pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_class c ON c.oid = i.indrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_am am ON am.oid = ic.relam
                 LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
                 WHERE {visible}"
            ),
            &[],
        )
        .await?;
    for r in indexes {
        let Ok(Some(name)) = r.try_get::<_, Option<String>>(0) else {
            continue;
        };
        let Ok(Some(table)) = r.try_get::<_, Option<String>>(1) else {
            continue;
        };
        let flag = |i: usize| {
            r.try_get::<_, Option<bool>>(i)
                .ok()
                .flatten()
                .unwrap_or(false)
        };
        let keys: i32 = r.try_get::<_, Option<i32>>(11).ok().flatten().unwrap_or(0);
        let all: Vec<String> = r
            .try_get::<_, Option<Vec<String>>>(12)
            .ok()
            .flatten()
            .unwrap_or_default();
        let keys = (keys.max(0) as usize).min(all.len());
        let columns = all[..keys]
            .iter()
            .map(|c| (!c.is_empty()).then(|| c.clone()))
            .collect();
        let include = all[keys..]
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        let index = ExistingIndex {
            name,
            table: table.clone(),
            columns,
            include,
            predicate: r.try_get::<_, Option<String>>(10).ok().flatten(),
            method: r
                .try_get::<_, Option<String>>(6)
                .ok()
                .flatten()
                .unwrap_or_default(),
            unique: flag(2),
            primary: flag(3),
            valid: flag(4),
            constraint: flag(5) || flag(3),
            bytes: r
                .try_get::<_, Option<i64>>(7)
                .ok()
                .flatten()
                .unwrap_or(0)
                .max(0) as u64,
            scans: r
                .try_get::<_, Option<i64>>(8)
                .ok()
                .flatten()
                .map(|s| s.max(0) as u64),
            definition: r
                .try_get::<_, Option<String>>(9)
                .ok()
                .flatten()
                .unwrap_or_default(),
        };
        if let Some(t) = tables.get_mut(&table) {
            t.indexes.push(index);
        }
    }
    for t in tables.values_mut() {
        t.row_width = t.columns.values().map(|c| c.width).sum::<f64>().max(1.0);
        t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let window: Option<f64> = client
        .query_one(
            "SELECT extract(epoch FROM now() - coalesce(
                 (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
                 pg_postmaster_start_time()))::float8",
            &[],
        )
        .await?
        .try_get(0)?;
    Ok(Catalog {
        engine: Engine::Postgres,
        version: ((version / 10_000) as u32, (version % 10_000 / 100) as u32),
        database_bytes: database_bytes.max(0) as u64,
        tables,
        usage_window: window.map(|w| Duration::from_secs_f64(w.max(0.0))),
    })
}

/// MySQL types a plain B-tree key cannot hold whole.
fn mysql_btree(data_type: &str) -> bool {
    !matches!(
        data_type,
        "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
            | "tinytext"
            | "text"
            | "mediumtext"
            | "longtext"
            | "json"
            | "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
    )
}

/// Read the catalog of the current database of a MySQL/MariaDB connection.
pub async fn read_mysql(
    conn: &mut mysql_async::Conn,
    engine: Engine,
    version: (u32, u32),
) -> Result<Catalog, AdviseError> {
    type TableRow = (Option<String>, Option<u64>, Option<u64>, Option<u64>);
    let rows: Vec<TableRow> = conn
        .query(
            "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH, AVG_ROW_LENGTH FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
        )
        .await?;
    let mut tables = BTreeMap::new();
    for (name, rows, bytes, width) in rows {
        let Some(name) = name else { continue };
        tables.insert(
            name.to_lowercase(),
            TableInfo {
                rows: rows.unwrap_or(0) as f64,
                bytes: bytes.unwrap_or(0),
                row_width: width.unwrap_or(0) as f64,
                columns: BTreeMap::new(),
                indexes: Vec::new(),
            },
        );
    }
    type ColumnRow = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u64>,
    );
    let columns: Vec<ColumnRow> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_OCTET_LENGTH
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
        )
        .await?;
    for (table, column, data_type, column_type, octets) in columns {
        let (Some(table), Some(column), Some(data_type)) = (table, column, data_type) else {
            continue;
        };
        let data_type = data_type.to_lowercase();
        let width = match data_type.as_str() {
            "tinyint" => 1.0,
            "smallint" => 2.0,
            "int" | "mediumint" | "float" | "date" => 4.0,
            "bigint" | "double" | "datetime" | "timestamp" => 8.0,
            "decimal" => 8.0,
            _ => octets
                .map(|o| (o as f64 / 2.0).clamp(1.0, 256.0))
                .unwrap_or(16.0),
        };
        if let Some(t) = tables.get_mut(&table.to_lowercase()) {
            t.columns.insert(
                column.to_lowercase(),
                ColumnInfo {
                    type_name: column_type.unwrap_or_else(|| data_type.clone()),
                    btree: mysql_btree(&data_type),
                    width,
                },
            );
        }
    }
    // Index sizes in pages (persistent statistics), usage when performance_schema counts it.
    let page: Option<u64> = conn.query_first("SELECT @@innodb_page_size").await?;
    let page = page.unwrap_or(16_384);
    let sizes: Vec<(Option<String>, Option<String>, Option<u64>)> = conn
        .query(
            "SELECT table_name, index_name, stat_value FROM mysql.innodb_index_stats
             WHERE database_name = DATABASE() AND stat_name = 'size'",
        )
        .await
        .unwrap_or_default();
    let sizes: BTreeMap<(String, String), u64> = sizes
        .into_iter()
        .filter_map(|(t, i, v)| Some(((t?.to_lowercase(), i?), v?.saturating_mul(page))))
        .collect();
    let ps_on: Option<i64> = conn.query_first("SELECT @@performance_schema").await?;
    let usage: Option<BTreeMap<(String, String), u64>> = if ps_on == Some(1) {
        let rows: Vec<(Option<String>, Option<String>, Option<u64>)> = conn
            .query(
                "SELECT OBJECT_NAME, INDEX_NAME, COUNT_STAR FROM performance_schema.table_io_waits_summary_by_index_usage
                 WHERE OBJECT_SCHEMA = DATABASE() AND INDEX_NAME IS NOT NULL",
            )
            .await
            .unwrap_or_default();
        Some(
            rows.into_iter()
                .filter_map(|(t, i, c)| Some(((t?.to_lowercase(), i?), c.unwrap_or(0))))
                .collect(),
        )
    } else {
        None
    };
    // Foreign keys need an index that starts with their columns.
    let fks: Vec<(Option<String>, Option<String>, Option<String>)> = conn
        .query(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION)
             FROM information_schema.KEY_COLUMN_USAGE
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
             GROUP BY TABLE_NAME, CONSTRAINT_NAME",
        )
        .await?;
    let fks: Vec<(String, Vec<String>)> = fks
        .into_iter()
        .filter_map(|(t, _, cols)| {
            Some((
                t?.to_lowercase(),
                cols?.split(',').map(|c| c.to_lowercase()).collect(),
            ))
        })
        .collect();
    type IndexRow = (
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<u64>,
        Option<String>,
        Option<String>,
        Option<u64>,
    );
    let stats: Vec<IndexRow> = conn
        .query(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE, SUB_PART
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        )
        .await?;
    let mut by_index: BTreeMap<(String, String), ExistingIndex> = BTreeMap::new();
    for (table, name, non_unique, _seq, column, method, sub_part) in stats {
        let (Some(table), Some(name)) = (table, name) else {
            continue;
        };
        let table = table.to_lowercase();
        let key = (table.clone(), name.clone());
        let entry = by_index
            .entry(key.clone())
            .or_insert_with(|| ExistingIndex {
                name: name.clone(),
                table: table.clone(),
                columns: Vec::new(),
                include: Vec::new(),
                predicate: None,
                method: method.clone().unwrap_or_default().to_lowercase(),
                unique: non_unique == Some(0),
                primary: name == "PRIMARY",
                constraint: name == "PRIMARY" || non_unique == Some(0),
                valid: true,
                bytes: sizes.get(&key).copied().unwrap_or(0),
                scans: usage.as_ref().map(|u| u.get(&key).copied().unwrap_or(0)),
                definition: String::new(),
            });
        // A prefix key (SUB_PART) is not the whole column: treat it as an expression.
        entry.columns.push(
            column
                .filter(|_| sub_part.is_none())
                .map(|c| c.to_lowercase()),
        );
    }
    for ((table, _), mut index) in by_index {
        let cols: Vec<String> = index.columns.iter().flatten().cloned().collect();
        if fks
            .iter()
            .any(|(t, fk)| *t == table && cols.len() >= fk.len() && cols[..fk.len()] == fk[..])
        {
            index.constraint = true;
        }
        let keys: Vec<String> = index
            .columns
            .iter()
            .map(|c| {
                c.as_deref()
                    .map(|c| format!("`{c}`"))
                    .unwrap_or_else(|| "?".into())
            })
            .collect();
        index.definition = format!(
            "ALTER TABLE `{table}` ADD {}INDEX `{}` ({})",
            if index.unique { "UNIQUE " } else { "" },
            index.name,
            keys.join(", ")
        );
        if let Some(t) = tables.get_mut(&table) {
            t.indexes.push(index);
        }
    }
    for t in tables.values_mut() {
        if t.row_width <= 0.0 {
            t.row_width = t.columns.values().map(|c| c.width).sum::<f64>().max(1.0);
        }
    }
    let database_bytes = tables
        .values()
        .map(|t| t.bytes + t.indexes.iter().map(|i| i.bytes).sum::<u64>())
        .sum();
    let uptime: Option<(String, String)> =
        conn.query_first("SHOW GLOBAL STATUS LIKE 'Uptime'").await?;
    let usage_window = usage.as_ref().and(
        uptime
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .map(Duration::from_secs),
    );
    Ok(Catalog {
        engine,
        version,
        database_bytes,
        tables,
        usage_window,
    })
}
