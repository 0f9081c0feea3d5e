//! Workload capture: the statements a server ran over a window, from the difference of two
//! snapshots of `pg_stat_statements` (PostgreSQL) or
//! `performance_schema.events_statements_summary_by_digest` (MySQL/MariaDB), turned into a
//! workload file whose weights are the call counts and whose parameters are drawn the way the
//! data is distributed: PostgreSQL's own column statistics (most common values with their
//! frequencies, then histogram bounds) or, where none exist, a sample of the column.
//!
//! What it cannot know: statements of one transaction are captured as independent templates,
//! and a parameter that is not compared with a column gets a neutral constant.

use std::collections::BTreeMap;
use std::time::Duration;

use knobs::Engine;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::analysis::{analyze, placeholder_roles, PlaceholderRole};
use crate::spec::{Bound, Literal, ParamSpec, TransactionSpec, WorkloadSpec, VERSION};
use crate::target::{connect_mysql, connect_postgres, mysql_text_rows};
use crate::{Result, TargetUrl, WorkloadError};

#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub window: Duration,
    /// Keep the most-called templates, at most this many.
    pub top: usize,
    pub name: String,
    /// Take the counters as they stand (everything since the statistics were last reset)
    /// instead of the difference over `window`.
    pub since_reset: bool,
    /// Leave out templates called fewer times than this.
    pub min_calls: u64,
    /// Keep the templates with the most total execution time first (else the most called).
    pub by_total_time: bool,
}

/// What a capture produced.
#[derive(Debug, Clone, Serialize)]
pub struct Captured {
    pub spec: WorkloadSpec,
    /// Things the operator should know (skipped statements, fallbacks).
    pub notes: Vec<String>,
}

/// One row of a statement-statistics snapshot.
#[derive(Debug, Clone)]
struct Stat {
    text: String,
    calls: u64,
    total_ms: f64,
}

/// A performance_schema row (key, text, calls, picoseconds) as a statistic; `None` when the
/// key, text or count is NULL or not a number.
fn digest_stat(row: &[Option<String>]) -> Option<(String, Stat)> {
    let [key, text, calls, wait] = row else {
        return None;
    };
    let calls = calls.as_deref()?.trim().parse::<u64>().ok()?;
    let picos = wait
        .as_deref()
        .and_then(|w| w.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    Some((
        key.clone()?,
        Stat {
            text: text.clone()?,
            calls,
            total_ms: picos / 1e9,
        },
    ))
}

fn unavailable(reason: &str) -> WorkloadError {
    WorkloadError::Unavailable(reason.to_string())
}

/// Capture what runs on `url` during the window. `waiting` is called when the window starts.
pub async fn capture(
    url: &TargetUrl,
    options: &CaptureOptions,
    waiting: impl FnOnce(),
) -> Result<Captured> {
    let engine = url.family();
    let mut notes = Vec::new();
    let (before, after, real_engine) = match engine {
        Engine::Postgres => {
            let client = connect_postgres(url).await?;
            let installed = client
                .query_opt(
                    "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'",
                    &[],
                )
                .await?;
            if installed.is_none() {
                return Err(unavailable("pg_stat_statements is not installed in this database: add pg_stat_statements to shared_preload_libraries (needs a restart), then run CREATE EXTENSION pg_stat_statements;"));
            }
            // Column names changed across versions (total_time became total_exec_time in 13).
            let probe = client.prepare("SELECT * FROM pg_stat_statements LIMIT 0").await.map_err(|e| {
                if e.to_string().contains("shared_preload_libraries") || e.as_db_error().is_some_and(|d| d.message().contains("shared_preload_libraries")) {
                    unavailable("pg_stat_statements must be loaded via shared_preload_libraries: add it there and restart the server")
                } else {
                    WorkloadError::Postgres(e)
                }
            })?;
            let time_column = if probe
                .columns()
                .iter()
                .any(|c| c.name() == "total_exec_time")
            {
                "total_exec_time"
            } else {
                "total_time"
            };
            let sql = format!(
                "SELECT queryid::text, query, calls, {time_column} FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL"
            );
            let snapshot = |rows: Vec<tokio_postgres::Row>| -> BTreeMap<String, Stat> {
                // NULL-tolerant: a query text can be NULL (its file unreadable or reset).
                rows.iter()
                    .filter_map(|r| {
                        Some((
                            r.try_get::<_, Option<String>>(0).ok().flatten()?,
                            Stat {
                                text: r.try_get::<_, Option<String>>(1).ok().flatten()?,
                                calls: r.try_get::<_, Option<i64>>(2).ok().flatten()?.max(0) as u64,
                                total_ms: r
                                    .try_get::<_, Option<f64>>(3)
                                    .ok()
                                    .flatten()
                                    .unwrap_or(0.0),
                            },
                        ))
                    })
                    .collect()
            };
            let before = if options.since_reset {
                BTreeMap::new()
            } else {
                snapshot(client.query(&sql, &[]).await?)
            };
            waiting();
            if !options.since_reset {
                tokio::time::sleep(options.window).await;
            }
            let after = snapshot(client.query(&sql, &[]).await?);
            (before, after, Engine::Postgres)
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut conn = connect_mysql(url).await?;
            let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
            let real = if version
                .unwrap_or_default()
                .to_lowercase()
                .contains("mariadb")
            {
                Engine::Mariadb
            } else {
                Engine::Mysql
            };
            let on: Option<i64> = conn.query_first("SELECT @@performance_schema").await?;
            if on != Some(1) {
                return Err(unavailable("performance_schema is off: set performance_schema=ON under [mysqld] in my.cnf and restart the server"));
            }
            let consumer: Option<String> = conn.query_first("SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'").await?;
            if consumer.as_deref() != Some("YES") {
                return Err(unavailable("the statements_digest consumer is off: run UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'statements_digest';"));
            }
            let sql = "SELECT DIGEST, DIGEST_TEXT, COUNT_STAR, SUM_TIMER_WAIT FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = DATABASE() AND DIGEST IS NOT NULL AND DIGEST_TEXT IS NOT NULL";
            // Rows as raw values: NULLs and bytes that are not UTF-8 (a digest of a latin1
            // statement) are tolerated, where typed tuples would panic.
            type Row = mysql_async::Row;
            let snapshot = |rows: Vec<Row>| -> BTreeMap<String, Stat> {
                mysql_text_rows(rows)
                    .into_iter()
                    .filter_map(|r| digest_stat(&r))
                    .collect()
            };
            // Statements run through the binary protocol (prepared) have no digest: they are
            // counted per prepared-statement instance instead.
            let prepared = "SELECT SQL_TEXT, CAST(SUM(COUNT_EXECUTE) AS UNSIGNED), CAST(SUM(SUM_TIMER_EXECUTE) AS UNSIGNED) FROM performance_schema.prepared_statements_instances GROUP BY SQL_TEXT";
            let take = |digests: Vec<Row>, prepared: Vec<Row>| {
                let mut all = snapshot(digests);
                all.extend(mysql_text_rows(prepared).into_iter().filter_map(|r| {
                    let key = r.first()?.as_ref().map(|t| format!("prepared:{t}"));
                    let mut row = vec![key];
                    row.extend(r);
                    digest_stat(&row)
                }));
                all
            };
            let before = if options.since_reset {
                BTreeMap::new()
            } else {
                take(
                    conn.query(sql).await?,
                    conn.query(prepared).await.unwrap_or_default(),
                )
            };
            waiting();
            if !options.since_reset {
                tokio::time::sleep(options.window).await;
            }
            let after = take(
                conn.query(sql).await?,
                conn.query(prepared).await.unwrap_or_default(),
            );
            (before, after, real)
        }
    };

    // What ran in the window. A counter that went down was reset: count from zero.
    let mut ran: Vec<Stat> = after
        .into_iter()
        .filter_map(|(key, a)| {
            let (calls, ms) = match before.get(&key) {
                Some(b) if a.calls >= b.calls => {
                    (a.calls - b.calls, (a.total_ms - b.total_ms).max(0.0))
                }
                _ => (a.calls, a.total_ms),
            };
            (calls > 0 && calls >= options.min_calls).then_some(Stat {
                text: a.text,
                calls,
                total_ms: ms,
            })
        })
        .collect();
    if options.by_total_time {
        ran.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    } else {
        ran.sort_by_key(|s| std::cmp::Reverse(s.calls));
    }
    let window = if options.since_reset {
        "since the statistics were last reset".to_string()
    } else {
        format!("over {:?}", options.window)
    };

    let mut spec = WorkloadSpec {
        version: VERSION,
        name: options.name.clone(),
        description: format!("captured from {url} {window}"),
        clients: None,
        statement_timeout_ms: None,
        variables: BTreeMap::new(),
        params: BTreeMap::new(),
        transactions: Vec::new(),
    };
    let mut skipped = 0;
    for stat in ran {
        if spec.transactions.len() >= options.top {
            skipped += 1;
            continue;
        }
        // Only statements on the application's tables: no utility commands, no catalogs.
        let Ok(analysis) = analyze(&stat.text, real_engine) else {
            skipped += 1;
            continue;
        };
        let Some(a) = analysis.first() else { continue };
        let lower = stat.text.to_lowercase();
        let system = [
            "pg_catalog",
            "pg_stat",
            "information_schema",
            "performance_schema",
            "mysql.",
        ]
        .iter()
        .any(|s| lower.contains(s));
        if a.tables.is_empty() || system || a.tables.iter().any(|t| t.starts_with("pg_")) {
            skipped += 1;
            continue;
        }
        let i = spec.transactions.len() + 1;
        let (text, params) =
            parameterize(url, real_engine, &stat.text, &format!("t{i}"), &mut notes).await?;
        spec.params.extend(params);
        let verb = stat
            .text
            .split_whitespace()
            .next()
            .unwrap_or("q")
            .to_lowercase();
        spec.transactions.push(TransactionSpec {
            name: format!("t{i}_{verb}_{}", a.tables[0]),
            weight: stat.calls as f64,
            statements: vec![text.into()],
            mysql_statements: None,
            captured_calls: Some(stat.calls),
            captured_mean_ms: Some(stat.total_ms / stat.calls as f64),
        });
    }
    if skipped > 0 {
        notes.push(format!("{skipped} statement template(s) left out: utility or catalog statements, ones the parser could not read, or beyond --top"));
    }
    if spec.transactions.is_empty() {
        return Err(WorkloadError::Run(format!(
            "no application statements ran on {url} {window} (at least {} call(s) each)",
            options.min_calls.max(1)
        )));
    }
    spec.validate(&options.name)?;
    Ok(Captured { spec, notes })
}

/// A generator for one placeholder, from what the server knows about the column.
/// A statement with `$n` or `?` placeholders as a workload template: each placeholder
/// becomes `:{prefix}_p{n}` with a generator drawn from what it is compared with (the
/// column's statistics or a sample of it; a LIMIT gets small counts).
pub async fn parameterize(
    url: &TargetUrl,
    engine: Engine,
    sql: &str,
    prefix: &str,
    notes: &mut Vec<String>,
) -> Result<(String, BTreeMap<String, ParamSpec>)> {
    let roles = placeholder_roles(sql, engine).unwrap_or_default();
    let mut names = BTreeMap::new();
    let mut params = BTreeMap::new();
    for (n, role) in &roles {
        let param = format!("{prefix}_p{n}");
        let generator = generator_for(url, engine, role, notes, &param).await?;
        params.insert(param.clone(), generator);
        names.insert(*n, param);
    }
    Ok((rename_placeholders(sql, engine, &names), params))
}

async fn generator_for(
    url: &TargetUrl,
    engine: Engine,
    role: &PlaceholderRole,
    notes: &mut Vec<String>,
    param: &str,
) -> Result<ParamSpec> {
    let column = match role {
        PlaceholderRole::Limit => {
            return Ok(ParamSpec::Uniform {
                min: Bound::Number(1.0),
                max: Bound::Number(100.0),
            })
        }
        PlaceholderRole::Other => {
            notes.push(format!(
                "{param}: not compared with a column; replayed as the constant 1"
            ));
            return Ok(ParamSpec::List {
                values: vec![Literal::Int(1)],
                weights: Vec::new(),
            });
        }
        PlaceholderRole::Column(c) => c,
    };
    let Some(table) = column.table.clone() else {
        notes.push(format!(
            "{param}: column {} of an unknown table; replayed as the constant 1",
            column.column
        ));
        return Ok(ParamSpec::List {
            values: vec![Literal::Int(1)],
            weights: Vec::new(),
        });
    };
    if engine == Engine::Postgres {
        let client = connect_postgres(url).await?;
        let row = client
            .query_opt(
                "SELECT most_common_vals::text::text[], most_common_freqs::float8[], histogram_bounds::text::text[] FROM pg_stats WHERE tablename = $1 AND attname = $2 AND schemaname = ANY (current_schemas(false)) LIMIT 1",
                &[&table, &column.column],
            )
            .await?;
        if let Some(row) = row {
            let mcv: Vec<String> = row.get::<_, Option<Vec<String>>>(0).unwrap_or_default();
            let freqs: Vec<f64> = row.get::<_, Option<Vec<f64>>>(1).unwrap_or_default();
            let bounds: Vec<String> = row.get::<_, Option<Vec<String>>>(2).unwrap_or_default();
            if !mcv.is_empty() || !bounds.is_empty() {
                // MCVs with their frequencies; the rest of the mass spread over the histogram.
                let rest = (1.0 - freqs.iter().sum::<f64>()).max(0.0);
                let per_bound = if bounds.is_empty() {
                    0.0
                } else {
                    rest / bounds.len() as f64
                };
                let mut values: Vec<Literal> = mcv.into_iter().map(Literal::Text).collect();
                let mut weights: Vec<f64> = freqs.into_iter().take(values.len()).collect();
                weights.resize(values.len(), 0.0);
                values.extend(bounds.into_iter().map(Literal::Text));
                weights.resize(values.len(), per_bound);
                if weights.iter().sum::<f64>() <= 0.0 {
                    weights = vec![1.0; values.len()];
                }
                return Ok(ParamSpec::List { values, weights });
            }
        }
        notes.push(format!("{param}: no statistics for {table}.{} (run ANALYZE); values are sampled from the column at replay", column.column));
    }
    Ok(ParamSpec::Sample {
        table,
        column: column.column.clone(),
        limit: 1000,
    })
}

/// Replace `$n` (PostgreSQL) or the n-th `?` (MySQL) by `:name`, outside quotes.
fn rename_placeholders(sql: &str, engine: Engine, names: &BTreeMap<usize, String>) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote: Option<char> = None;
    let mut nth = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                out.push(c);
                i += 1;
            }
            '?' if engine.is_mysql_family() => {
                nth += 1;
                match names.get(&nth) {
                    Some(n) => out.push_str(&format!(":{n}")),
                    None => out.push('?'),
                }
                i += 1;
            }
            '$' if engine == Engine::Postgres
                && chars.get(i + 1).is_some_and(char::is_ascii_digit) =>
            {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let n: usize = chars[i + 1..j]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                match names.get(&n) {
                    Some(name) => out.push_str(&format!(":{name}")),
                    None => out.extend(&chars[i..j]),
                }
                i = j;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_rows_with_nulls_or_odd_bytes_are_read_or_skipped() {
        use crate::target::mysql_text;
        use mysql_async::Value;
        let row = |values: Vec<Value>| values.into_iter().map(mysql_text).collect::<Vec<_>>();
        // A latin1 digest text (0xE9 is not UTF-8) is read lossily.
        let (key, stat) = digest_stat(&row(vec![
            Value::Bytes(b"ab12".to_vec()),
            Value::Bytes(b"SELECT '\xe9'".to_vec()),
            Value::UInt(7),
            Value::UInt(3_000_000_000),
        ]))
        .unwrap();
        assert_eq!(key, "ab12");
        assert_eq!(stat.calls, 7);
        assert!((stat.total_ms - 3.0).abs() < 1e-9);
        let (_, odd) = digest_stat(&row(vec![
            Value::Bytes(b"k".to_vec()),
            Value::Bytes(vec![b'S', 0xE9, 0xFF]),
            Value::Bytes(b"1".to_vec()),
            Value::NULL,
        ]))
        .unwrap();
        assert_eq!(odd.text, "S\u{FFFD}\u{FFFD}");
        assert_eq!(odd.total_ms, 0.0);
        // NULL key, text or count: skipped, not a panic.
        for null in 0..3 {
            let mut values = vec![
                Value::Bytes(b"k".to_vec()),
                Value::Bytes(b"t".to_vec()),
                Value::UInt(1),
                Value::UInt(1),
            ];
            values[null] = Value::NULL;
            assert!(digest_stat(&row(values)).is_none(), "NULL in column {null}");
        }
        assert!(digest_stat(&[None]).is_none(), "a short row");
    }

    #[test]
    fn placeholders_become_named() {
        let names: BTreeMap<usize, String> = [(1, "a".to_string()), (10, "b".to_string())].into();
        assert_eq!(
            rename_placeholders(
                "SELECT '$1' FROM t WHERE x = $1 AND y = $10",
                Engine::Postgres,
                &names
            ),
            "SELECT '$1' FROM t WHERE x = :a AND y = :b"
        );
        let names: BTreeMap<usize, String> = [(1, "a".to_string()), (2, "b".to_string())].into();
        assert_eq!(
            rename_placeholders(
                "UPDATE `t` SET `v` = ? WHERE `k` = ? AND s = '?'",
                Engine::Mariadb,
                &names
            ),
            "UPDATE `t` SET `v` = :a WHERE `k` = :b AND s = '?'"
        );
    }
}
