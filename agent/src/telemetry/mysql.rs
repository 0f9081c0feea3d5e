//! The MySQL 8.0 / MariaDB 10.6+ collector: `SHOW GLOBAL STATUS`, the enabled InnoDB
//! metrics, and performance_schema statement digests and table I/O waits where enabled. One
//! connection with `lock_wait_timeout` and a statement time limit on its session
//! (`max_statement_time` on MariaDB, `max_execution_time` on MySQL); what cannot be read
//! becomes a notice.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use workloads::target::connect_mysql;
use workloads::TargetUrl;

use super::config::TelemetryConfig;
use super::error::{Result, TelemetryError};
use super::snapshot::{now_ms, Notice, Snapshot, StatementStat};

/// What the server is and has, learned once per connection.
#[derive(Debug, Clone, Default)]
struct Probe {
    mariadb: bool,
    version: String,
    user: String,
    /// The column that says whether an InnoDB metric is on: `ENABLED` (MariaDB) or `STATUS`.
    metrics_filter: Option<&'static str>,
    performance_schema: bool,
}

/// Collects snapshots of one MySQL/MariaDB server over one connection.
#[derive(Debug)]
pub struct MysqlCollector {
    url: TargetUrl,
    config: TelemetryConfig,
    conn: Option<Conn>,
    probe: Option<Probe>,
}

impl MysqlCollector {
    pub fn new(url: TargetUrl, config: TelemetryConfig) -> Self {
        MysqlCollector {
            url,
            config,
            conn: None,
            probe: None,
        }
    }

    /// One snapshot. Unreadable tables become notices; only losing the server is an error.
    pub async fn collect(&mut self) -> Result<Snapshot> {
        let started = Instant::now();
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                self.probe = None;
                connect_mysql(&self.url).await?
            }
        };
        if self.probe.is_none() {
            match probe(&mut conn, &self.config).await {
                Ok(p) => self.probe = Some(p),
                Err(e) => return Err(self.error(&e)),
            }
        }
        let Some(probe) = self.probe.clone() else {
            return Err(self.error_text("no probe"));
        };
        let mut scrape = Scrape {
            conn: &mut conn,
            snap: Snapshot {
                taken_at_ms: now_ms(),
                target: self.url.to_string(),
                engine: if probe.mariadb { "mariadb" } else { "mysql" }.into(),
                server_version: probe.version.clone(),
                ..Snapshot::default()
            },
            probe: &probe,
        };
        let result = scrape_all(&mut scrape, &self.config).await;
        let mut snap = scrape.snap;
        match result {
            Ok(()) => self.conn = Some(conn),
            // Connection lost: reconnect at the next scrape.
            Err(e) => return Err(self.error(&e)),
        }
        snap.notices.sort();
        snap.notices.dedup();
        snap.collect_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(snap)
    }

    fn error(&self, e: &mysql_async::Error) -> TelemetryError {
        self.error_text(&e.to_string())
    }

    fn error_text(&self, detail: &str) -> TelemetryError {
        TelemetryError::Query {
            target: self.url.to_string(),
            detail: detail.to_string(),
        }
    }
}

async fn probe(conn: &mut Conn, config: &TelemetryConfig) -> mysql_async::Result<Probe> {
    let row: Option<(String, String, Option<String>)> = conn
        .query_first("SELECT VERSION(), CURRENT_USER(), CAST(@@performance_schema AS CHAR)")
        .await?;
    let (version, user, pfs) = row.unwrap_or_default();
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let statement_limit = if mariadb {
        format!(
            "SET SESSION max_statement_time = {}",
            config.statement_timeout_ms as f64 / 1000.0
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            config.statement_timeout_ms
        )
    };
    let lock_seconds = config.lock_timeout_ms.div_ceil(1000).max(1);
    conn.query_drop(format!(
        "SET SESSION lock_wait_timeout = {lock_seconds}, innodb_lock_wait_timeout = {lock_seconds}"
    ))
    .await?;
    conn.query_drop(statement_limit).await?;
    // information_schema.COLUMNS for one named table is cheap (no table scans).
    let cols: Vec<String> = conn
        .query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'INNODB_METRICS'",
        )
        .await
        .unwrap_or_default();
    let metrics_filter = if cols.iter().any(|c| c.eq_ignore_ascii_case("ENABLED")) {
        Some("ENABLED = 1")
    } else if cols.iter().any(|c| c.eq_ignore_ascii_case("STATUS")) {
        Some("STATUS = 'enabled'")
    } else {
        None
    };
    Ok(Probe {
        mariadb,
        version,
        user,
        metrics_filter,
        performance_schema: matches!(pfs.as_deref(), Some("1") | Some("ON")),
    })
}

struct Scrape<'a> {
    conn: &'a mut Conn,
    snap: Snapshot,
    probe: &'a Probe,
}

impl Scrape<'_> {
    /// Run a query; a refused read becomes a notice naming `source` (`Ok(None)`), a lost
    /// connection an error.
    async fn query(&mut self, source: &str, sql: &str) -> mysql_async::Result<Option<Vec<Row>>> {
        match self.conn.query::<Row, _>(sql).await {
            Ok(rows) => Ok(Some(rows)),
            Err(mysql_async::Error::Server(e)) => {
                let user = &self.probe.user;
                let (problem, fix) = match e.code {
                    // 1227: needs a global privilege (PROCESS); 1142/1044: table or schema denied.
                    1227 => (
                        format!("permission denied: {}", e.message),
                        format!("GRANT PROCESS ON *.* TO {user}"),
                    ),
                    1142 | 1044 => (
                        format!("permission denied: {}", e.message),
                        format!("GRANT SELECT ON performance_schema.* TO {user}"),
                    ),
                    // 1969 (MariaDB) / 3024 (MySQL): the statement time limit.
                    1969 | 3024 => (
                        "timed out and was skipped".to_string(),
                        "raise statement_timeout_ms in the telemetry settings if this repeats"
                            .to_string(),
                    ),
                    _ => (
                        format!("{} (error {})", e.message, e.code),
                        "report this with the server version".to_string(),
                    ),
                };
                self.snap.notices.push(Notice {
                    source: source.into(),
                    problem,
                    fix,
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn text(row: &Row, i: usize) -> Option<String> {
    row.get_opt::<Option<String>, _>(i)
        .and_then(|r| r.ok())
        .flatten()
}

fn number(row: &Row, i: usize) -> Option<f64> {
    text(row, i).and_then(|t| t.trim().parse::<f64>().ok())
}

/// `SHOW GLOBAL STATUS` mixes counters with point-in-time values; these are the latter.
fn is_gauge(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Threads_",
        "Open_",
        "Innodb_buffer_pool_bytes_",
        "Innodb_data_pending",
        "Innodb_os_log_pending",
        "Innodb_mem_",
        "Qcache_free",
        "Qcache_queries_in_cache",
        "Qcache_total_blocks",
        "Key_blocks_",
        "Acl_",
        "Innodb_checkpoint_",
        "Memory_used",
        "Max_used_connections",
        "Prepared_stmt_count",
        "Innodb_row_lock_current_waits",
        "Innodb_page_size",
        "Innodb_num_open_files",
        "Innodb_history_list_length",
        "Slave_open_temp_tables",
        "Tc_log_page_size",
        "Uptime",
        "Rpl_semi_sync_",
        "Innodb_buffer_pool_resize",
    ];
    if let Some(rest) = name.strip_prefix("Innodb_buffer_pool_pages_") {
        return !(rest.contains("flushed") || rest.contains("made_") || rest.contains("freed"));
    }
    PREFIXES.iter().any(|p| name.starts_with(p))
}

async fn scrape_all(s: &mut Scrape<'_>, config: &TelemetryConfig) -> mysql_async::Result<()> {
    if let Some(rows) = s.query("global_status", "SHOW GLOBAL STATUS").await? {
        for row in rows {
            let (Some(name), Some(value)) = (text(&row, 0), number(&row, 1)) else {
                continue;
            };
            if name == "Uptime" {
                s.snap.server_started_at = Some(s.snap.taken_at_ms as f64 / 1000.0 - value);
            }
            let key = format!("global_status/{name}");
            if is_gauge(&name) {
                s.snap.gauges.insert(key, value);
            } else {
                s.snap.counters.insert(key, value);
            }
        }
    }
    if let Some(filter) = s.probe.metrics_filter {
        let sql = format!(
            "SELECT NAME, COUNT, TYPE FROM information_schema.INNODB_METRICS WHERE {filter}"
        );
        if let Some(rows) = s.query("information_schema.INNODB_METRICS", &sql).await? {
            for row in rows {
                let (Some(name), Some(value)) = (text(&row, 0), number(&row, 1)) else {
                    continue;
                };
                let key = format!("innodb_metrics/{}", name.replace('/', "_"));
                if text(&row, 2).as_deref() == Some("value") {
                    s.snap.gauges.insert(key, value);
                } else {
                    s.snap.counters.insert(key, value);
                }
            }
        }
    }
    if s.probe.performance_schema {
        digests(s, config).await?;
    } else {
        s.snap.notices.push(Notice {
            source: "performance_schema".into(),
            problem:
                "performance_schema is off: no statement digests, mean latency or table I/O waits"
                    .into(),
            fix: "start the server with performance_schema=ON (needs a restart)".into(),
        });
    }
    waits(s, config).await
}

async fn digests(s: &mut Scrape<'_>, config: &TelemetryConfig) -> mysql_async::Result<()> {
    const TABLE: &str = "performance_schema.events_statements_summary_by_digest";
    // Timers are in picoseconds: / 1e9 gives milliseconds.
    let totals = format!(
        "SELECT COUNT(*), SUM(COUNT_STAR), SUM(SUM_TIMER_WAIT) / 1e9, SUM(SUM_ROWS_SENT) FROM {TABLE}"
    );
    if let Some(rows) = s.query("performance_schema digests", &totals).await? {
        if let Some(row) = rows.first() {
            if let Some(v) = number(row, 0) {
                s.snap.gauges.insert("statement_digests/tracked".into(), v);
            }
            for (i, field) in [(1, "calls"), (2, "total_time_ms"), (3, "rows")] {
                if let Some(v) = number(row, i) {
                    s.snap
                        .counters
                        .insert(format!("statement_digests/{field}"), v);
                }
            }
        }
    }
    if config.top_statements > 0 {
        let sql = format!(
            "SELECT COALESCE(DIGEST, ''), COALESCE(LEFT(DIGEST_TEXT, 300), ''), COUNT_STAR, \
             SUM_TIMER_WAIT / 1e9, SUM_ROWS_SENT, SUM_ROWS_EXAMINED FROM {TABLE} \
             ORDER BY SUM_TIMER_WAIT DESC LIMIT {}",
            config.top_statements
        );
        if let Some(rows) = s.query("performance_schema digests", &sql).await? {
            s.snap.statements = rows
                .iter()
                .map(|row| StatementStat {
                    id: text(row, 0).unwrap_or_default(),
                    text: text(row, 1).unwrap_or_default(),
                    calls: number(row, 2).unwrap_or(0.0),
                    total_time_ms: number(row, 3).unwrap_or(0.0),
                    rows: number(row, 4).unwrap_or(0.0),
                    blocks_read: number(row, 5).unwrap_or(0.0),
                    blocks_hit: 0.0,
                })
                .collect();
        }
    }
    let io = "SELECT SUM(COUNT_STAR), SUM(SUM_TIMER_WAIT) / 1e9 \
              FROM performance_schema.table_io_waits_summary_by_table";
    if let Some(rows) = s.query("performance_schema table I/O waits", io).await? {
        if let Some(row) = rows.first() {
            for (i, field) in [(0, "waits"), (1, "wait_time_ms")] {
                if let Some(v) = number(row, i) {
                    s.snap.counters.insert(format!("table_io_waits/{field}"), v);
                }
            }
        }
    }
    Ok(())
}

async fn waits(s: &mut Scrape<'_>, config: &TelemetryConfig) -> mysql_async::Result<()> {
    // What running sessions are doing; an empty state means executing (on the CPU).
    let sql =
        "SELECT COALESCE(NULLIF(STATE, ''), 'CPU'), COUNT(*) FROM information_schema.PROCESSLIST \
               WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump') AND ID <> CONNECTION_ID() \
               GROUP BY 1";
    for i in 0..config.wait_samples {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(config.wait_sample_spacing_ms)).await;
        }
        let Some(rows) = s.query("information_schema.PROCESSLIST", sql).await? else {
            break;
        };
        s.snap.wait_samples += 1;
        for row in rows {
            if let (Some(state), Some(n)) = (text(&row, 0), number(&row, 1)) {
                *s.snap.waits.entry(state).or_default() += n.max(0.0) as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_gauge;

    #[test]
    fn status_variables_are_sorted_into_counters_and_gauges() {
        assert!(is_gauge("Threads_running"));
        assert!(is_gauge("Innodb_buffer_pool_pages_free"));
        assert!(!is_gauge("Innodb_buffer_pool_pages_flushed"));
        assert!(!is_gauge("Com_commit"));
        assert!(!is_gauge("Opened_tables"));
        assert!(is_gauge("Open_tables"));
    }
}
