//! The PostgreSQL collector (13–18): one connection with `statement_timeout` and
//! `lock_timeout` set, the server's views probed for their columns at run time (they change
//! between versions), and every view that cannot be read turned into a notice instead of a
//! failed snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use workloads::target::connect_postgres;
use workloads::TargetUrl;

use super::config::TelemetryConfig;
use super::error::{Result, TelemetryError};
use super::snapshot::{now_ms, Notice, Snapshot, StatementStat};

/// Counters of `pg_stat_database`, where the server has them.
const DATABASE_COUNTERS: &[&str] = &[
    "xact_commit",
    "xact_rollback",
    "blks_read",
    "blks_hit",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "conflicts",
    "temp_files",
    "temp_bytes",
    "deadlocks",
    "checksum_failures",
    "blk_read_time",
    "blk_write_time",
    "session_time",
    "active_time",
    "idle_in_transaction_time",
    "sessions",
    "sessions_abandoned",
    "sessions_fatal",
    "sessions_killed",
];

/// `pg_stat_bgwriter` up to 16; from 17 its checkpoint columns moved to `pg_stat_checkpointer`.
const BGWRITER_COUNTERS: &[&str] = &[
    "checkpoints_timed",
    "checkpoints_req",
    "checkpoint_write_time",
    "checkpoint_sync_time",
    "buffers_checkpoint",
    "buffers_clean",
    "maxwritten_clean",
    "buffers_backend",
    "buffers_backend_fsync",
    "buffers_alloc",
];

const CHECKPOINTER_COUNTERS: &[&str] = &[
    "num_timed",
    "num_requested",
    "num_done",
    "restartpoints_timed",
    "restartpoints_req",
    "restartpoints_done",
    "write_time",
    "sync_time",
    "buffers_written",
];

const WAL_COUNTERS: &[&str] = &[
    "wal_records",
    "wal_fpi",
    "wal_bytes",
    "wal_buffers_full",
    "wal_write",
    "wal_sync",
    "wal_write_time",
    "wal_sync_time",
];

const IO_COUNTERS: &[&str] = &[
    "reads",
    "read_bytes",
    "read_time",
    "writes",
    "write_bytes",
    "write_time",
    "writebacks",
    "writeback_time",
    "extends",
    "extend_bytes",
    "extend_time",
    "hits",
    "evictions",
    "reuses",
    "fsyncs",
    "fsync_time",
];

const CATALOG_VIEWS: &[&str] = &[
    "pg_stat_database",
    "pg_stat_bgwriter",
    "pg_stat_checkpointer",
    "pg_stat_wal",
    "pg_stat_io",
];

/// What the server has, learned once per connection.
#[derive(Debug, Clone, Default)]
struct Probe {
    version_num: i32,
    user: String,
    /// Member of pg_read_all_stats (through pg_monitor) or superuser.
    reads_all_stats: bool,
    /// Columns of each catalog view that exists.
    columns: BTreeMap<String, BTreeSet<String>>,
    statements: Option<StatementsProbe>,
    /// Why pg_stat_statements cannot be read, when it cannot.
    statements_missing: Option<Notice>,
}

#[derive(Debug, Clone)]
struct StatementsProbe {
    /// Schema-qualified, quoted view name.
    view: String,
    function: String,
    columns: BTreeSet<String>,
    info_view: Option<String>,
}

impl Probe {
    fn has(&self, view: &str) -> bool {
        self.columns.contains_key(view)
    }

    /// The wanted columns the view has, in the wanted order.
    fn present<'a>(&self, view: &str, wanted: &[&'a str]) -> Vec<&'a str> {
        match self.columns.get(view) {
            Some(cols) => wanted
                .iter()
                .copied()
                .filter(|c| cols.contains(*c))
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Collects snapshots of one PostgreSQL server over one connection, reconnecting when it is
/// lost.
#[derive(Debug)]
pub struct PostgresCollector {
    url: TargetUrl,
    config: TelemetryConfig,
    client: Option<Client>,
    probe: Option<Probe>,
    version: String,
    /// The scrape's queries, prepared once per connection: each scrape then costs the
    /// server no parsing or planning round trip.
    prepared: HashMap<String, Statement>,
    /// Scrapes since the catalogs were probed.
    since_probe: u32,
}

/// Probe again after this many scrapes while something is missing (an extension created
/// later is then picked up without restarting the agent).
const REPROBE_EVERY: u32 = 30;

impl PostgresCollector {
    pub fn new(url: TargetUrl, config: TelemetryConfig) -> Self {
        PostgresCollector {
            url,
            config,
            client: None,
            probe: None,
            version: String::new(),
            prepared: HashMap::new(),
            since_probe: 0,
        }
    }

    /// One snapshot. Unreadable views become notices; only losing the server is an error.
    pub async fn collect(&mut self) -> Result<Snapshot> {
        let started = Instant::now();
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.probe = None;
            self.prepared.clear();
            let client = connect_postgres(&self.url).await?;
            let setup = format!(
                "SET statement_timeout = {}; SET lock_timeout = {}; \
                 SET idle_in_transaction_session_timeout = {}; \
                 SET application_name = 'dbtuner-telemetry'",
                self.config.statement_timeout_ms,
                self.config.lock_timeout_ms,
                self.config.statement_timeout_ms * 2
            );
            client
                .batch_execute(&setup)
                .await
                .map_err(|e| self.query_error(&e))?;
            self.client = Some(client);
        }
        let Some(client) = self.client.as_ref() else {
            return Err(self.query_error_text("no connection"));
        };
        self.since_probe += 1;
        if self
            .probe
            .as_ref()
            .is_some_and(|p| p.statements_missing.is_some() && self.since_probe >= REPROBE_EVERY)
        {
            self.probe = None;
            self.prepared.clear();
        }
        if self.probe.is_none() {
            self.since_probe = 0;
            let (probe, version) = probe(client, &self.url).await?;
            self.probe = Some(probe);
            self.version = version;
        }
        let Some(probe) = self.probe.as_ref() else {
            return Err(self.query_error_text("no probe"));
        };
        let mut scrape = Scrape {
            client,
            prepared: &mut self.prepared,
            url: &self.url,
            snap: Snapshot {
                taken_at_ms: now_ms(),
                target: self.url.to_string(),
                engine: "postgres".into(),
                server_version: self.version.clone(),
                ..Snapshot::default()
            },
        };
        let result = scrape_all(&mut scrape, probe, &self.config).await;
        let mut snap = scrape.snap;
        if let Err(e) = result {
            // The connection is gone (a restart, a network cut): reconnect next time.
            self.client = None;
            return Err(e);
        }
        if !probe.reads_all_stats {
            snap.notices.push(Notice {
                source: "pg_monitor".into(),
                problem: format!(
                    "role '{}' is not a member of pg_monitor (pg_read_all_stats): other roles' \
                     wait events, statement texts and replication details are hidden",
                    probe.user
                ),
                fix: format!("GRANT pg_monitor TO \"{}\"", probe.user),
            });
        }
        if let Some(n) = &probe.statements_missing {
            snap.notices.push(n.clone());
        }
        snap.notices.sort();
        snap.notices.dedup();
        snap.collect_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(snap)
    }

    fn query_error(&self, e: &tokio_postgres::Error) -> TelemetryError {
        self.query_error_text(&describe(e))
    }

    fn query_error_text(&self, detail: &str) -> TelemetryError {
        TelemetryError::Query {
            target: self.url.to_string(),
            detail: detail.to_string(),
        }
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

async fn probe(client: &Client, url: &TargetUrl) -> Result<(Probe, String)> {
    let fail = |e: tokio_postgres::Error| TelemetryError::Query {
        target: url.to_string(),
        detail: describe(&e),
    };
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version'), \
             current_user::text, pg_has_role('pg_read_all_stats', 'USAGE'), \
             (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'shared_preload_libraries')",
            &[],
        )
        .await
        .map_err(fail)?;
    let mut probe = Probe {
        version_num: row.get(0),
        user: row.get(2),
        reads_all_stats: row.get(3),
        ..Probe::default()
    };
    let version: String = row.get(1);
    // Hidden from roles without pg_read_all_settings: then unknown, and reading tells.
    let preload: Option<String> = row.get(4);
    let views: Vec<String> = CATALOG_VIEWS.iter().map(|v| v.to_string()).collect();
    for row in client
        .query(
            "SELECT c.relname::text, a.attname::text FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relname = ANY($1) \
             AND a.attnum > 0 AND NOT a.attisdropped",
            &[&views],
        )
        .await
        .map_err(fail)?
    {
        probe
            .columns
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1));
    }

    let ext = client
        .query_opt(
            "SELECT e.extversion, quote_ident(n.nspname) FROM pg_catalog.pg_extension e \
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .map_err(fail)?;
    let preloaded = preload.as_deref().is_none_or(|p| {
        p.split(',')
            .any(|l| l.trim().trim_matches('"') == "pg_stat_statements")
    });
    match ext {
        None => {
            probe.statements_missing = Some(Notice {
                source: "pg_stat_statements".into(),
                problem: "the extension is not created in this database: no per-statement figures or mean latency".into(),
                fix: if preloaded {
                    "run CREATE EXTENSION pg_stat_statements (as a superuser) in this database".into()
                } else {
                    "add pg_stat_statements to shared_preload_libraries, restart the server, then run CREATE EXTENSION pg_stat_statements".into()
                },
            });
        }
        Some(_) if !preloaded => {
            probe.statements_missing = Some(Notice {
                source: "pg_stat_statements".into(),
                problem:
                    "the extension exists but the library is not loaded, so its view cannot be read"
                        .into(),
                fix: "add pg_stat_statements to shared_preload_libraries and restart the server"
                    .into(),
            });
        }
        Some(row) => {
            let schema: String = row.get(1);
            let columns: BTreeSet<String> = client
                .query(
                    "SELECT a.attname::text FROM pg_catalog.pg_attribute a \
                     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                    &[&format!("{schema}.pg_stat_statements")],
                )
                .await
                .map_err(fail)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let info: Option<Row> = client
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_class WHERE oid = to_regclass($1)",
                    &[&format!("{schema}.pg_stat_statements_info")],
                )
                .await
                .map_err(fail)?;
            probe.statements = Some(StatementsProbe {
                view: format!("{schema}.pg_stat_statements"),
                function: format!("{schema}.pg_stat_statements"),
                columns,
                info_view: info.map(|_| format!("{schema}.pg_stat_statements_info")),
            });
        }
    }
    tracing::debug!(target_url = %url, version_num = probe.version_num, "probed PostgreSQL views");
    Ok((probe, version))
}

/// One scrape in progress: the connection, the snapshot being filled, and where notices go.
struct Scrape<'a> {
    client: &'a Client,
    prepared: &'a mut HashMap<String, Statement>,
    url: &'a TargetUrl,
    snap: Snapshot,
}

impl Scrape<'_> {
    /// Run a query; a refused or failed read becomes a notice naming `source` (`Ok(None)`), a
    /// lost connection an error.
    async fn query(
        &mut self,
        source: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Vec<Row>>> {
        let result = async {
            let statement = match self.prepared.get(sql) {
                Some(s) => s.clone(),
                None => {
                    let s = self.client.prepare(sql).await?;
                    self.prepared.insert(sql.to_string(), s.clone());
                    s
                }
            };
            self.client.query(&statement, params).await
        }
        .await;
        match result {
            Ok(rows) => Ok(Some(rows)),
            Err(e) => match e.as_db_error() {
                Some(db) => {
                    // Prepared again next time: the error may be a stale plan (an extension
                    // updated under us).
                    self.prepared.remove(sql);
                    let code = db.code().code();
                    let (problem, fix) = match code {
                        "42501" => (
                            format!("permission denied: {}", db.message()),
                            "GRANT pg_monitor TO the telemetry role".to_string(),
                        ),
                        "57014" => (
                            "timed out (statement_timeout) and was skipped".to_string(),
                            "raise statement_timeout_ms in the telemetry settings if this repeats"
                                .to_string(),
                        ),
                        "55P03" => (
                            "waited too long for a lock (lock_timeout) and was skipped".to_string(),
                            "nothing: it is retried at the next scrape".to_string(),
                        ),
                        _ => (
                            format!("{} ({code})", db.message()),
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
                None => Err(TelemetryError::Query {
                    target: self.url.to_string(),
                    detail: describe(&e),
                }),
            },
        }
    }

    fn counter(&mut self, key: String, value: Option<f64>) {
        if let Some(v) = value {
            self.snap.counters.insert(key, v);
        }
    }

    fn gauge(&mut self, key: String, value: Option<f64>) {
        if let Some(v) = value {
            self.snap.gauges.insert(key, v);
        }
    }
}

/// Names become part of a `group/field` key: no slashes inside them.
fn key_part(name: &str) -> String {
    name.replace('/', "_")
}

/// `sum(col)::float8 AS col, …` or `col::float8, …` for the wanted columns.
fn select_list(cols: &[&str], aggregate: bool) -> String {
    cols.iter()
        .map(|c| {
            if aggregate {
                format!("sum({c})::float8")
            } else {
                format!("{c}::float8")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn scrape_all(s: &mut Scrape<'_>, probe: &Probe, config: &TelemetryConfig) -> Result<()> {
    // Server identity and the WAL position (works on 13, where pg_stat_wal does not exist).
    if let Some(rows) = s
        .query(
            "server",
            "SELECT extract(epoch FROM pg_postmaster_start_time())::float8, pg_is_in_recovery(), \
             CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') \
             ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END::float8, \
             (SELECT extract(epoch FROM stats_reset)::float8 FROM pg_stat_database \
              WHERE datname = current_database())",
            &[],
        )
        .await?
    {
        if let Some(row) = rows.first() {
            s.snap.server_started_at = row.get(0);
            let in_recovery: bool = row.get(1);
            s.gauge(
                "server/in_recovery".into(),
                Some(f64::from(u8::from(in_recovery))),
            );
            s.counter("wal_position/bytes".into(), row.get(2));
            // Per-database views reset with pg_stat_reset() in this database.
            if let Some(reset) = row.get::<_, Option<f64>>(3) {
                s.snap.resets.insert("pg_stat_user_tables".into(), reset);
                s.snap.resets.insert("pg_stat_user_indexes".into(), reset);
            }
        }
    }

    database(s, probe).await?;
    single_row_view(s, probe, "pg_stat_bgwriter", BGWRITER_COUNTERS).await?;
    single_row_view(s, probe, "pg_stat_checkpointer", CHECKPOINTER_COUNTERS).await?;
    single_row_view(s, probe, "pg_stat_wal", WAL_COUNTERS).await?;
    io(s, probe).await?;
    tables_and_indexes(s).await?;
    locks_and_replication(s).await?;
    activity(s, config).await?;
    statements(s, probe, config).await?;
    Ok(())
}

async fn database(s: &mut Scrape<'_>, probe: &Probe) -> Result<()> {
    let cols = probe.present("pg_stat_database", DATABASE_COUNTERS);
    if cols.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT coalesce(datname, '(shared)')::text, numbackends::float8, \
         extract(epoch FROM stats_reset)::float8, {} FROM pg_stat_database",
        select_list(&cols, false)
    );
    let Some(rows) = s.query("pg_stat_database", &sql, &[]).await? else {
        return Ok(());
    };
    for row in rows {
        let name: String = row.get(0);
        let group = format!("pg_stat_database/{}", key_part(&name));
        s.gauge(format!("{group}/numbackends"), row.get(1));
        if let Some(reset) = row.get::<_, Option<f64>>(2) {
            s.snap.resets.insert(group.clone(), reset);
        }
        for (i, col) in cols.iter().enumerate() {
            s.counter(format!("{group}/{col}"), row.get(i + 3));
        }
    }
    Ok(())
}

async fn single_row_view(
    s: &mut Scrape<'_>,
    probe: &Probe,
    view: &str,
    wanted: &[&str],
) -> Result<()> {
    if !probe.has(view) {
        return Ok(());
    }
    let cols = probe.present(view, wanted);
    if cols.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT extract(epoch FROM stats_reset)::float8, {} FROM {view}",
        select_list(&cols, false)
    );
    let Some(rows) = s.query(view, &sql, &[]).await? else {
        return Ok(());
    };
    if let Some(row) = rows.first() {
        if let Some(reset) = row.get::<_, Option<f64>>(0) {
            s.snap.resets.insert(view.to_string(), reset);
        }
        for (i, col) in cols.iter().enumerate() {
            s.counter(format!("{view}/{col}"), row.get(i + 1));
        }
    }
    Ok(())
}

async fn io(s: &mut Scrape<'_>, probe: &Probe) -> Result<()> {
    let cols = probe.present("pg_stat_io", IO_COUNTERS);
    if cols.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT backend_type || ':' || object || ':' || context, \
         extract(epoch FROM stats_reset)::float8, {} FROM pg_stat_io",
        select_list(&cols, false)
    );
    let Some(rows) = s.query("pg_stat_io", &sql, &[]).await? else {
        return Ok(());
    };
    for row in rows {
        let name: String = row.get(0);
        let group = format!("pg_stat_io/{}", key_part(&name));
        let mut any = false;
        for (i, col) in cols.iter().enumerate() {
            let v: Option<f64> = row.get(i + 2);
            any |= v.is_some();
            s.counter(format!("{group}/{col}"), v);
        }
        if let (true, Some(reset)) = (any, row.get::<_, Option<f64>>(1)) {
            s.snap.resets.insert(group, reset);
        }
    }
    Ok(())
}

/// User tables and indexes, summed. The statistics functions are called directly, for the
/// columns we keep only: the `pg_stat_user_tables` view computes every column (and joins the
/// indexes for `idx_scan`) for every table, several times the cost with 1,000 tables. The
/// schema filter is the view's own.
async fn tables_and_indexes(s: &mut Scrape<'_>) -> Result<()> {
    const TABLE_COUNTERS: &[(&str, &str)] = &[
        ("seq_scan", "pg_stat_get_numscans"),
        ("seq_tup_read", "pg_stat_get_tuples_returned"),
        ("n_tup_ins", "pg_stat_get_tuples_inserted"),
        ("n_tup_upd", "pg_stat_get_tuples_updated"),
        ("n_tup_del", "pg_stat_get_tuples_deleted"),
        ("n_tup_hot_upd", "pg_stat_get_tuples_hot_updated"),
        ("vacuum_count", "pg_stat_get_vacuum_count"),
        ("autovacuum_count", "pg_stat_get_autovacuum_count"),
        ("analyze_count", "pg_stat_get_analyze_count"),
        ("autoanalyze_count", "pg_stat_get_autoanalyze_count"),
    ];
    const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
                                AND n.nspname !~ '^pg_toast'";
    let sums: Vec<String> = TABLE_COUNTERS
        .iter()
        .map(|(_, f)| format!("sum({f}(c.oid))::float8"))
        .collect();
    let sql = format!(
        "SELECT count(*)::float8, sum(pg_stat_get_live_tuples(c.oid))::float8, \
         sum(pg_stat_get_dead_tuples(c.oid))::float8, {} \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 't', 'm', 'p') AND {USER_SCHEMAS}",
        sums.join(", ")
    );
    if let Some(rows) = s.query("pg_stat_user_tables", &sql, &[]).await? {
        if let Some(row) = rows.first() {
            s.gauge("pg_stat_user_tables/tables".into(), row.get(0));
            s.gauge("pg_stat_user_tables/n_live_tup".into(), row.get(1));
            s.gauge("pg_stat_user_tables/n_dead_tup".into(), row.get(2));
            for (i, (col, _)) in TABLE_COUNTERS.iter().enumerate() {
                s.counter(format!("pg_stat_user_tables/{col}"), row.get(i + 3));
            }
        }
    }
    let sql = format!(
        "SELECT count(*)::float8, \
         count(*) FILTER (WHERE pg_stat_get_numscans(c.oid) = 0)::float8, \
         sum(pg_stat_get_numscans(c.oid))::float8, sum(pg_stat_get_tuples_returned(c.oid))::float8 \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('i', 'I') AND {USER_SCHEMAS}"
    );
    if let Some(rows) = s.query("pg_stat_user_indexes", &sql, &[]).await? {
        if let Some(row) = rows.first() {
            s.gauge("pg_stat_user_indexes/indexes".into(), row.get(0));
            s.gauge("pg_stat_user_indexes/unused".into(), row.get(1));
            s.counter("pg_stat_user_indexes/idx_scan".into(), row.get(2));
            s.counter("pg_stat_user_indexes/idx_tup_read".into(), row.get(3));
        }
    }
    Ok(())
}

async fn locks_and_replication(s: &mut Scrape<'_>) -> Result<()> {
    if let Some(rows) = s
        .query(
            "pg_locks",
            "SELECT count(*) FILTER (WHERE granted)::float8, \
             count(*) FILTER (WHERE NOT granted)::float8 FROM pg_locks",
            &[],
        )
        .await?
    {
        if let Some(row) = rows.first() {
            s.gauge("pg_locks/granted".into(), row.get(0));
            s.gauge("pg_locks/waiting".into(), row.get(1));
        }
    }
    if let Some(rows) = s
        .query(
            "pg_stat_replication",
            "SELECT (SELECT count(*)::float8 FROM pg_stat_replication), \
             (SELECT max(extract(epoch FROM replay_lag))::float8 FROM pg_stat_replication), \
             (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::float8 \
              FROM pg_stat_replication WHERE NOT pg_is_in_recovery()), \
             CASE WHEN pg_is_in_recovery() \
              THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END",
            &[],
        )
        .await?
    {
        if let Some(row) = rows.first() {
            s.gauge("replication/replicas".into(), row.get(0));
            s.gauge("replication/max_replay_lag_s".into(), row.get(1));
            s.gauge("replication/max_lag_bytes".into(), row.get(2));
            s.gauge("replication/standby_replay_delay_s".into(), row.get(3));
        }
    }
    Ok(())
}

async fn activity(s: &mut Scrape<'_>, config: &TelemetryConfig) -> Result<()> {
    if let Some(rows) = s
        .query(
            "pg_stat_activity",
            "SELECT coalesce(state, 'unknown'), count(*)::float8 FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1",
            &[],
        )
        .await?
    {
        for row in rows {
            let state: String = row.get(0);
            s.gauge(
                format!("pg_stat_activity/{}", key_part(&state.replace(' ', "_"))),
                row.get(1),
            );
        }
    }
    // Waits of active sessions; no wait event on an active session means it is on the CPU.
    for i in 0..config.wait_samples {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(config.wait_sample_spacing_ms)).await;
        }
        let Some(rows) = s
            .query(
                "pg_stat_activity",
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*) \
                 FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() \
                 GROUP BY 1",
                &[],
            )
            .await?
        else {
            break;
        };
        s.snap.wait_samples += 1;
        for row in rows {
            let event: String = row.get(0);
            let count: i64 = row.get(1);
            *s.snap.waits.entry(event).or_default() += count.max(0) as u64;
        }
    }
    Ok(())
}

async fn statements(s: &mut Scrape<'_>, probe: &Probe, config: &TelemetryConfig) -> Result<()> {
    let Some(st) = &probe.statements else {
        return Ok(());
    };
    let has = |c: &str| st.columns.contains(c);
    // 1.8 (PostgreSQL 13) split planning and execution time.
    let time = if has("total_exec_time") {
        "total_exec_time"
    } else {
        "total_time"
    };
    // 1.9 (14) tracks nested statements too; count top-level ones so time is not counted twice.
    let toplevel = if has("toplevel") {
        "WHERE toplevel"
    } else {
        ""
    };
    if config.top_statements == 0 {
        // Totals only: without the texts, whose file is the expensive part of this view.
        let sql = format!(
            "SELECT count(*)::float8, sum(calls)::float8, sum({time})::float8, sum(rows)::float8 \
             FROM {}(false) {toplevel}",
            st.function
        );
        if let Some(rows) = s.query("pg_stat_statements", &sql, &[]).await? {
            if let Some(row) = rows.first() {
                statement_totals(s, row, 0);
            }
        }
    }
    if let Some(info) = &st.info_view {
        let sql =
            format!("SELECT dealloc::float8, extract(epoch FROM stats_reset)::float8 FROM {info}");
        if let Some(rows) = s.query("pg_stat_statements_info", &sql, &[]).await? {
            if let Some(row) = rows.first() {
                s.counter("pg_stat_statements/dealloc".into(), row.get(0));
                if let Some(reset) = row.get::<_, Option<f64>>(1) {
                    s.snap.resets.insert("pg_stat_statements".into(), reset);
                }
            }
        }
    }
    if config.top_statements == 0 {
        return Ok(());
    }
    // The top N and the totals over all statements in one pass over the view (window sums
    // are computed before the LIMIT).
    let limit = config.top_statements as i64;
    let sql = format!(
        "SELECT coalesce(queryid::text, ''), coalesce(left(query, 300), ''), calls::float8, \
         {time}::float8, rows::float8, shared_blks_read::float8, shared_blks_hit::float8, \
         count(*) OVER ()::float8, sum(calls) OVER ()::float8, sum({time}) OVER ()::float8, \
         sum(rows) OVER ()::float8 FROM {} {toplevel} ORDER BY {time} DESC LIMIT $1",
        st.view
    );
    if let Some(rows) = s.query("pg_stat_statements", &sql, &[&limit]).await? {
        match rows.first() {
            Some(row) => statement_totals(s, row, 7),
            None => {
                s.snap
                    .gauges
                    .insert("pg_stat_statements/tracked".into(), 0.0);
                for field in ["calls", "total_exec_time_ms", "rows"] {
                    s.snap
                        .counters
                        .insert(format!("pg_stat_statements/{field}"), 0.0);
                }
            }
        }
        s.snap.statements = rows
            .iter()
            .map(|row| StatementStat {
                id: row.get(0),
                text: row.get(1),
                calls: row.get::<_, Option<f64>>(2).unwrap_or(0.0),
                total_time_ms: row.get::<_, Option<f64>>(3).unwrap_or(0.0),
                rows: row.get::<_, Option<f64>>(4).unwrap_or(0.0),
                blocks_read: row.get::<_, Option<f64>>(5).unwrap_or(0.0),
                blocks_hit: row.get::<_, Option<f64>>(6).unwrap_or(0.0),
            })
            .collect();
    }
    Ok(())
}

/// Count, calls, time and rows over all statements, from columns `first..first + 4`.
fn statement_totals(s: &mut Scrape<'_>, row: &Row, first: usize) {
    s.gauge("pg_stat_statements/tracked".into(), row.get(first));
    s.counter("pg_stat_statements/calls".into(), row.get(first + 1));
    s.counter(
        "pg_stat_statements/total_exec_time_ms".into(),
        row.get(first + 2),
    );
    s.counter("pg_stat_statements/rows".into(), row.get(first + 3));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_with(views: &[(&str, &[&str])]) -> Probe {
        Probe {
            columns: views
                .iter()
                .map(|(v, cols)| (v.to_string(), cols.iter().map(|c| c.to_string()).collect()))
                .collect(),
            ..Probe::default()
        }
    }

    #[test]
    fn only_columns_the_server_has_are_asked_for() {
        // PostgreSQL 17: checkpoints moved out of pg_stat_bgwriter.
        let pg17 = probe_with(&[
            (
                "pg_stat_bgwriter",
                &[
                    "buffers_clean",
                    "maxwritten_clean",
                    "buffers_alloc",
                    "stats_reset",
                ],
            ),
            (
                "pg_stat_checkpointer",
                &["num_timed", "num_requested", "write_time", "stats_reset"],
            ),
        ]);
        assert_eq!(
            pg17.present("pg_stat_bgwriter", BGWRITER_COUNTERS),
            ["buffers_clean", "maxwritten_clean", "buffers_alloc"]
        );
        assert_eq!(
            pg17.present("pg_stat_checkpointer", CHECKPOINTER_COUNTERS),
            ["num_timed", "num_requested", "write_time"]
        );
        // PostgreSQL 13: no pg_stat_wal, no pg_stat_io, no session counters.
        let pg13 = probe_with(&[(
            "pg_stat_database",
            &["xact_commit", "blks_hit", "temp_bytes"],
        )]);
        assert!(!pg13.has("pg_stat_wal") && pg13.present("pg_stat_io", IO_COUNTERS).is_empty());
        assert_eq!(
            pg13.present("pg_stat_database", DATABASE_COUNTERS),
            ["xact_commit", "blks_hit", "temp_bytes"]
        );
        assert_eq!(
            select_list(&["a", "b"], true),
            "sum(a)::float8, sum(b)::float8"
        );
        assert_eq!(key_part("my/db"), "my_db");
    }
}
