//! Running a [`WorkloadSpec`]: statements prepared once per session in each engine's
//! placeholder syntax, parameters drawn per transaction and bound by the type the server
//! inferred, transactions chosen by weight. Built-in benchmarks and captured workloads run
//! through this one path.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::Arc;

use bytes::BytesMut;
use knobs::Engine;
use mysql_async::prelude::Queryable;
use rand::rngs::StdRng;
use rand::Rng;
use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::driver::{self, DriverOptions, Session};
use crate::spec::{split, Generator, ParamSpec, ParamValue, Piece, WorkloadSpec};
use crate::target::{classify_mysql, connect_mysql, connect_postgres, mysql_text_rows};
use crate::wire::pg::{PgStatement, PgWire};
use crate::Measurement;
use crate::{Result, TargetUrl, WorkloadError};

/// How statements reach a MySQL/MariaDB server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Server-side prepared statements (binary protocol).
    #[default]
    Prepared,
    /// Values inlined into the SQL text, as most MySQL drivers send by default (and the only
    /// statements MariaDB's performance_schema attributes to a digest).
    Text,
}

/// A workload ready to run against one server: generators built, samples read.
#[derive(Debug, Clone)]
pub struct Replay {
    spec: Arc<WorkloadSpec>,
    generators: Arc<BTreeMap<String, Generator>>,
    cumulative: Arc<Vec<f64>>,
    engine: Engine,
    protocol: Protocol,
}

impl Replay {
    pub async fn new(spec: &WorkloadSpec, url: &TargetUrl) -> Result<Replay> {
        // A spec built in code (not read from a file) is checked here: an empty one would
        // otherwise fail in the middle of a run.
        spec.validate(&spec.name)?;
        let mut generators = BTreeMap::new();
        for (name, p) in &spec.params {
            let g = match p {
                ParamSpec::Sample {
                    table,
                    column,
                    limit,
                } => Generator::List(sample(url, table, column, *limit).await?, Vec::new()),
                other => spec
                    .generator(other)
                    .ok_or_else(|| WorkloadError::Invalid {
                        name: format!("params.{name}"),
                        reason: "no generator for this kind".into(),
                    })?,
            };
            generators.insert(name.clone(), g);
        }
        let mut acc = 0.0;
        let cumulative = spec
            .transactions
            .iter()
            .map(|t| {
                acc += t.weight;
                acc
            })
            .collect();
        let engine = url.family();
        Ok(Replay {
            spec: Arc::new(spec.clone()),
            generators: Arc::new(generators),
            cumulative: Arc::new(cumulative),
            engine,
            protocol: Protocol::Prepared,
        })
    }

    /// Send MySQL/MariaDB statements as text instead of preparing them (PostgreSQL always
    /// prepares).
    pub fn with_protocol(mut self, protocol: Protocol) -> Replay {
        self.protocol = protocol;
        self
    }

    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// The statements of transaction `index` (this engine's spelling) with values drawn from
    /// the workload's generators written in as SQL literals, one value per parameter name
    /// for the whole transaction: what EXPLAIN needs to plan them as the replay runs them.
    /// A variable a statement binds is read by running that statement on `url` when it only
    /// reads; a statement that needs a variable a write would bind is `None` (it has no value
    /// without running the write).
    pub async fn instantiate(
        &self,
        index: usize,
        rng: &mut StdRng,
        url: &TargetUrl,
    ) -> Result<Vec<Option<String>>> {
        let t = self.spec.transactions.get(index).ok_or_else(|| {
            WorkloadError::Run(format!(
                "no transaction {index}: the workload has {}",
                self.spec.transactions.len()
            ))
        })?;
        let bound: Vec<&str> = t.bound_names().collect();
        let mut values: BTreeMap<String, ParamValue> = BTreeMap::new();
        let mut lookup = Lookup::default();
        let mut out = Vec::new();
        for (j, sql) in t.statements_for(self.engine).iter().enumerate() {
            let mut text = String::with_capacity(sql.len());
            let mut complete = true;
            for piece in split(sql) {
                match piece {
                    Piece::Text(t) => text.push_str(&t),
                    Piece::Param(n) => {
                        if !values.contains_key(&n) && !bound.contains(&n.as_str()) {
                            let g = self.generators.get(&n).ok_or_else(|| {
                                WorkloadError::Run(format!("no generator for :{n}"))
                            })?;
                            values.insert(n.clone(), g.draw(rng));
                        }
                        match values.get(&n) {
                            Some(v) => text.push_str(&match self.engine {
                                Engine::Postgres => pg_literal(v),
                                Engine::Mysql | Engine::Mariadb => mysql_literal(v),
                            }),
                            None => complete = false,
                        }
                    }
                }
            }
            let into = t.into_for(self.engine, j);
            if complete && !into.is_empty() && reads_only(&text) {
                if let Some(row) = lookup.first_row(url, &text).await? {
                    for (name, v) in into.iter().zip(row) {
                        if let Some(v) = v {
                            values.insert(name.clone(), ParamValue::Text(v));
                        }
                    }
                }
            }
            out.push(complete.then_some(text));
        }
        Ok(out)
    }

    /// Drive this workload with `options.clients` sessions against `url`.
    pub async fn run(&self, options: &DriverOptions, url: &TargetUrl) -> Result<Measurement> {
        let replay = self.clone();
        let url = url.clone();
        driver::run(options, move |_| {
            let replay = replay.clone();
            let url = url.clone();
            async move { replay.session(&url).await }
        })
        .await
        .map(|mut m| {
            m.statement_timeout_ms = self.spec.statement_timeout_ms;
            m
        })
    }

    /// Open one client session with every statement prepared.
    pub async fn session(&self, url: &TargetUrl) -> Result<ReplaySession> {
        let mut transactions = Vec::new();
        let conn = match self.engine {
            Engine::Postgres => {
                let mut wire = PgWire::connect(url).await?;
                for t in &self.spec.transactions {
                    let mut steps = Vec::new();
                    for (j, sql) in t.statements.iter().enumerate() {
                        steps.push(Step {
                            prepared: prepare_pg(&mut wire, sql).await?,
                            into: t.into_for(Engine::Postgres, j).to_vec(),
                        });
                    }
                    transactions.push(steps);
                }
                // After preparing: the limit is for running statements, not for planning them.
                if let Some(ms) = self.spec.statement_timeout_ms {
                    wire.simple(&format!("SET statement_timeout = {ms}"))
                        .await?;
                }
                Conn::Postgres(wire)
            }
            Engine::Mysql | Engine::Mariadb => {
                let mut conn = connect_mysql(url).await?;
                for t in &self.spec.transactions {
                    let mut statements = Vec::new();
                    for (j, sql) in t.statements_for(self.engine).iter().enumerate() {
                        let into = t.into_for(self.engine, j).to_vec();
                        let pieces = split(sql);
                        if self.protocol == Protocol::Text {
                            statements.push(Step {
                                prepared: Prepared::MysqlText { pieces },
                                into,
                            });
                            continue;
                        }
                        let text: String = pieces
                            .iter()
                            .map(|p| {
                                if let Piece::Text(t) = p {
                                    t.as_str()
                                } else {
                                    "?"
                                }
                            })
                            .collect();
                        let names = pieces
                            .into_iter()
                            .filter_map(|p| {
                                if let Piece::Param(n) = p {
                                    Some(n)
                                } else {
                                    None
                                }
                            })
                            .collect();
                        let stmt = conn.prep(text).await.map_err(|e| classify_mysql(url, e))?;
                        statements.push(Step {
                            prepared: Prepared::Mysql { stmt, names },
                            into,
                        });
                    }
                    transactions.push(statements);
                }
                if let Some(ms) = self.spec.statement_timeout_ms {
                    set_mysql_timeout(&mut conn, url, ms).await?;
                }
                Conn::Mysql(conn)
            }
        };
        Ok(ReplaySession {
            replay: self.clone(),
            conn,
            transactions,
            last: None,
        })
    }
}

/// A statement that cannot change data (SELECT, or VALUES), so EXPLAIN's instances may run it.
fn reads_only(sql: &str) -> bool {
    let head = sql.trim_start().to_ascii_lowercase();
    (head.starts_with("select") || head.starts_with("values"))
        && !head.contains(" into ")
        && !head.contains("nextval(")
}

/// A connection opened on first use, for the reads `instantiate` runs.
#[derive(Default)]
struct Lookup {
    postgres: Option<tokio_postgres::Client>,
    mysql: Option<mysql_async::Conn>,
}

impl Lookup {
    async fn first_row(
        &mut self,
        url: &TargetUrl,
        sql: &str,
    ) -> Result<Option<Vec<Option<String>>>> {
        match url.family() {
            Engine::Postgres => {
                if self.postgres.is_none() {
                    self.postgres = Some(connect_postgres(url).await?);
                }
                let Some(client) = &self.postgres else {
                    return Ok(None);
                };
                for message in client.simple_query(sql).await? {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                        return Ok(Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ));
                    }
                }
                Ok(None)
            }
            Engine::Mysql | Engine::Mariadb => {
                if self.mysql.is_none() {
                    self.mysql = Some(connect_mysql(url).await?);
                }
                let Some(conn) = &mut self.mysql else {
                    return Ok(None);
                };
                let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
                Ok(mysql_text_rows(rows).into_iter().next())
            }
        }
    }
}

/// Values of a column, read once when the run starts.
async fn sample(
    url: &TargetUrl,
    table: &str,
    column: &str,
    limit: usize,
) -> Result<Vec<ParamValue>> {
    let values: Vec<String> = match url.family() {
        Engine::Postgres => {
            let client = connect_postgres(url).await?;
            let sql = format!("SELECT {column}::text FROM {table} WHERE {column} IS NOT NULL ORDER BY random() LIMIT {limit}");
            client
                .query(&sql, &[])
                .await?
                .iter()
                .filter_map(|r| r.try_get::<_, Option<String>>(0).ok().flatten())
                .collect()
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut conn = connect_mysql(url).await?;
            // Read as raw values: a BLOB or a latin1 column is not UTF-8 (mysql_async's
            // String conversion panics on it).
            let rows: Vec<mysql_async::Row> = conn.query(format!("SELECT CAST({column} AS CHAR) FROM {table} WHERE {column} IS NOT NULL ORDER BY RAND() LIMIT {limit}")).await?;
            mysql_text_rows(rows)
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect()
        }
    };
    if values.is_empty() {
        return Err(WorkloadError::Invalid {
            name: format!("{table}.{column}"),
            reason: "the sampled column has no values".into(),
        });
    }
    Ok(values.into_iter().map(ParamValue::Text).collect())
}

/// A PostgreSQL statement: `$n` numbered by first appearance of each name; parameters of types
/// we cannot bind natively are sent as text and cast by the server.
async fn prepare_pg(wire: &mut PgWire, sql: &str) -> Result<Prepared> {
    let pieces = split(sql);
    let mut names: Vec<String> = Vec::new();
    for p in &pieces {
        if let Piece::Param(n) = p {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let render = |casts: &BTreeMap<usize, String>| -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Param(n) => {
                    let i = names.iter().position(|x| x == n).unwrap_or(0);
                    match casts.get(&i) {
                        Some(ty) => format!("CAST(${}::text AS {ty})", i + 1),
                        None => format!("${}", i + 1),
                    }
                }
            })
            .collect()
    };
    let stmt = wire.prepare(&render(&BTreeMap::new())).await?;
    let casts: BTreeMap<usize, String> = stmt
        .params()
        .iter()
        .enumerate()
        .filter(|(_, t)| !bindable(t))
        .map(|(i, t)| (i, t.name().to_string()))
        .collect();
    let stmt = if casts.is_empty() {
        stmt
    } else {
        wire.prepare(&render(&casts)).await?
    };
    Ok(Prepared::Postgres { stmt, names })
}

fn bindable(t: &Type) -> bool {
    matches!(
        *t,
        Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::BOOL
            | Type::NAME
            | Type::UNKNOWN
    )
}

/// A drawn value converted to the type PostgreSQL inferred for its placeholder.
#[derive(Debug)]
enum PgArg {
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Text(String),
}

impl PgArg {
    fn convert(v: &ParamValue, ty: &Type) -> std::result::Result<PgArg, String> {
        let as_i64 = || match v {
            ParamValue::Int(i) => Ok(*i),
            ParamValue::Real(r) => Ok(*r as i64),
            ParamValue::Text(t) => t
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("'{t}' is not an integer")),
        };
        let as_f64 = || match v {
            ParamValue::Int(i) => Ok(*i as f64),
            ParamValue::Real(r) => Ok(*r),
            ParamValue::Text(t) => t
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("'{t}' is not a number")),
        };
        let text = || match v {
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Real(r) => r.to_string(),
            ParamValue::Text(t) => t.clone(),
        };
        Ok(match *ty {
            Type::INT2 => PgArg::I16(i16::try_from(as_i64()?).map_err(|e| e.to_string())?),
            Type::INT4 => PgArg::I32(i32::try_from(as_i64()?).map_err(|e| e.to_string())?),
            Type::INT8 => PgArg::I64(as_i64()?),
            Type::FLOAT4 => PgArg::F32(as_f64()? as f32),
            Type::FLOAT8 => PgArg::F64(as_f64()?),
            Type::BOOL => PgArg::Bool(matches!(
                text().to_ascii_lowercase().as_str(),
                "t" | "true" | "1" | "on" | "yes"
            )),
            _ => PgArg::Text(text()),
        })
    }
}

impl ToSql for PgArg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            PgArg::I16(v) => v.to_sql(ty, out),
            PgArg::I32(v) => v.to_sql(ty, out),
            PgArg::I64(v) => v.to_sql(ty, out),
            PgArg::F32(v) => v.to_sql(ty, out),
            PgArg::F64(v) => v.to_sql(ty, out),
            PgArg::Bool(v) => v.to_sql(ty, out),
            PgArg::Text(v) => v.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // The value was converted for this very type in `convert`.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A statement ready to run, and the variables it binds from its first row.
#[derive(Debug)]
struct Step {
    prepared: Prepared,
    into: Vec<String>,
}

#[derive(Debug)]
enum Prepared {
    Postgres {
        stmt: PgStatement,
        names: Vec<String>,
    },
    Mysql {
        stmt: mysql_async::Statement,
        names: Vec<String>,
    },
    MysqlText {
        pieces: Vec<Piece>,
    },
}

impl Prepared {
    fn names(&self) -> Vec<&str> {
        match self {
            Prepared::Postgres { names, .. } | Prepared::Mysql { names, .. } => {
                names.iter().map(String::as_str).collect()
            }
            Prepared::MysqlText { pieces } => pieces
                .iter()
                .filter_map(|p| {
                    if let Piece::Param(n) = p {
                        Some(n.as_str())
                    } else {
                        None
                    }
                })
                .collect(),
        }
    }
}

/// A value as a PostgreSQL literal (standard_conforming_strings: only quotes are doubled).
/// Text stays an untyped literal, so the server reads it as the column's type.
fn pg_literal(v: &ParamValue) -> String {
    // A negative number is parenthesized: `a -:x` must not become the comment `a --5`.
    match v {
        ParamValue::Int(i) if *i < 0 => format!("({i})"),
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Real(r) if r.is_finite() && *r < 0.0 => format!("({r:?})"),
        ParamValue::Real(r) if r.is_finite() => format!("{r:?}"),
        ParamValue::Real(_) => "'NaN'".to_string(),
        ParamValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
    }
}

/// A value as a MySQL literal (default sql_mode: backslash escapes).
fn mysql_literal(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Real(r) => format!("{r:?}"),
        ParamValue::Text(t) => {
            let mut out = String::with_capacity(t.len() + 2);
            out.push('\'');
            for c in t.chars() {
                match c {
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\0' => out.push_str("\\0"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\u{1a}' => out.push_str("\\Z"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
    }
}

enum Conn {
    Postgres(PgWire),
    Mysql(mysql_async::Conn),
}

/// One client running a workload.
pub struct ReplaySession {
    replay: Replay,
    conn: Conn,
    transactions: Vec<Vec<Step>>,
    /// The transaction the last unit chose (its failure is counted against it).
    last: Option<usize>,
}

/// The session's statement timeout: MariaDB's `max_statement_time` (seconds, every
/// statement), MySQL's `max_execution_time` (milliseconds, SELECTs only: MySQL has no limit
/// for other statements).
async fn set_mysql_timeout(conn: &mut mysql_async::Conn, url: &TargetUrl, ms: u64) -> Result<()> {
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|e| classify_mysql(url, e))?;
    let sql = if version.is_some_and(|v| v.contains("MariaDB")) {
        format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0)
    } else {
        format!("SET SESSION max_execution_time = {ms}")
    };
    conn.query_drop(sql)
        .await
        .map_err(|e| classify_mysql(url, e))?;
    Ok(())
}

impl std::fmt::Debug for ReplaySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplaySession({})", self.replay.spec.name)
    }
}

fn mysql_value(v: &ParamValue) -> mysql_async::Value {
    match v {
        ParamValue::Int(i) => mysql_async::Value::Int(*i),
        ParamValue::Real(r) => mysql_async::Value::Double(*r),
        ParamValue::Text(t) => mysql_async::Value::Bytes(t.clone().into_bytes()),
    }
}

impl Session for ReplaySession {
    fn labels(&self) -> Vec<String> {
        self.replay
            .spec
            .transactions
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    async fn run_once(&mut self, rng: &mut StdRng) -> Result<usize> {
        let total = self.replay.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.gen::<f64>() * total;
        let index = self
            .replay
            .cumulative
            .partition_point(|c| *c <= x)
            .min(self.transactions.len().saturating_sub(1));
        self.last = Some(index);
        self.execute(index, rng, false).await?;
        Ok(index)
    }

    fn last_template(&self) -> Option<usize> {
        self.last
    }
}

impl ReplaySession {
    /// Run the transaction at `index` (in the workload's order) once, with parameters drawn
    /// from `rng`; returns the rows its statements returned.
    pub async fn run_transaction(&mut self, index: usize, rng: &mut StdRng) -> Result<u64> {
        self.execute(index, rng, true).await
    }

    /// Run one transaction; MySQL/MariaDB rows are counted only when asked (the benchmark
    /// path drops them unread into rows).
    async fn execute(&mut self, index: usize, rng: &mut StdRng, count: bool) -> Result<u64> {
        if index >= self.transactions.len() {
            return Err(WorkloadError::Run(format!(
                "no transaction {index}: the workload has {}",
                self.transactions.len()
            )));
        }
        let steps = &self.transactions[index];
        // Each parameter once per transaction: its statements see the same values. A bound
        // variable is not drawn: a statement of the transaction reads it from the server.
        let mut values: BTreeMap<&str, ParamValue> = BTreeMap::new();
        for step in steps {
            for n in step.prepared.names() {
                let bound = steps.iter().any(|s| s.into.iter().any(|b| b == n));
                if !bound && !values.contains_key(n) {
                    let g = self
                        .replay
                        .generators
                        .get(n)
                        .ok_or_else(|| WorkloadError::Run(format!("no generator for :{n}")))?;
                    values.insert(n, g.draw(rng));
                }
            }
        }
        let name = &self.replay.spec.transactions[index].name;
        match &mut self.conn {
            Conn::Postgres(wire) => {
                let [step] = steps.as_slice() else {
                    wire.simple("BEGIN").await?;
                    let mut rows = 0;
                    for (j, step) in steps.iter().enumerate() {
                        let done = match pg_step(wire, step, &values).await {
                            Ok((n, row)) => {
                                rows += n;
                                bind(name, j, step, row, &mut values)
                            }
                            Err(e) => Err(e),
                        };
                        if let Err(e) = done {
                            // The transaction is aborted: end it so the session can go on.
                            let _ = wire.simple("ROLLBACK").await;
                            return Err(e);
                        }
                    }
                    wire.simple("COMMIT").await?;
                    return Ok(rows);
                };
                Ok(pg_step(wire, step, &values).await?.0)
            }
            Conn::Mysql(conn) => {
                let [step] = steps.as_slice() else {
                    // Dropped on an error, the transaction rolls back before the next statement.
                    let mut tx = conn
                        .start_transaction(mysql_async::TxOpts::default())
                        .await?;
                    let mut rows = 0;
                    for (j, step) in steps.iter().enumerate() {
                        let (n, row) = mysql_step(&mut tx, step, &values, count).await?;
                        rows += n;
                        bind(name, j, step, row, &mut values)?;
                    }
                    tx.commit().await?;
                    return Ok(rows);
                };
                Ok(mysql_step(conn, step, &values, count).await?.0)
            }
        }
    }
}

/// The values of a statement's placeholders, converted to the types the server inferred.
fn pg_args(
    stmt: &PgStatement,
    names: &[String],
    values: &BTreeMap<&str, ParamValue>,
) -> Result<Vec<PgArg>> {
    names
        .iter()
        .zip(stmt.params())
        .map(|(n, ty)| {
            let v = values
                .get(n.as_str())
                .ok_or_else(|| WorkloadError::Run(format!(":{n} has no value")))?;
            PgArg::convert(v, ty).map_err(|e| WorkloadError::Run(format!(":{n}: {e}")))
        })
        .collect()
}

/// Run one PostgreSQL statement; its first row is kept when it binds variables.
async fn pg_step(
    wire: &mut PgWire,
    step: &Step,
    values: &BTreeMap<&str, ParamValue>,
) -> Result<(u64, Option<Vec<ParamValue>>)> {
    let Prepared::Postgres { stmt, names } = &step.prepared else {
        return Ok((0, None));
    };
    let args = pg_args(stmt, names, values)?;
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    if step.into.is_empty() {
        return Ok((wire.execute(stmt, &refs).await?, None));
    }
    let (rows, first) = wire.execute_first(stmt, &refs).await?;
    // A NULL stays missing: `bind` names the variable it should have filled.
    let first = first.map(|row| {
        row.into_iter()
            .map_while(|v| v.map(ParamValue::Text))
            .collect()
    });
    Ok((rows, first))
}

/// Run one MySQL/MariaDB statement (prepared or as text) on a connection or a transaction.
async fn mysql_step<Q: Queryable>(
    conn: &mut Q,
    step: &Step,
    values: &BTreeMap<&str, ParamValue>,
    count: bool,
) -> Result<(u64, Option<Vec<ParamValue>>)> {
    type Row = mysql_async::Row;
    let value = |n: &str| -> Result<&ParamValue> {
        values
            .get(n)
            .ok_or_else(|| WorkloadError::Run(format!(":{n} has no value")))
    };
    let keep = count || !step.into.is_empty();
    let rows: Vec<Row> = match &step.prepared {
        Prepared::Mysql { stmt, names } => {
            let args = names
                .iter()
                .map(|n| value(n).map(mysql_value))
                .collect::<Result<Vec<_>>>()?;
            if keep {
                conn.exec(stmt, args).await?
            } else {
                conn.exec_drop(stmt, args).await?;
                Vec::new()
            }
        }
        Prepared::MysqlText { pieces } => {
            let mut text = String::new();
            for p in pieces {
                match p {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Param(n) => text.push_str(&mysql_literal(value(n)?)),
                }
            }
            if keep {
                conn.query(text).await?
            } else {
                conn.query_drop(text).await?;
                Vec::new()
            }
        }
        Prepared::Postgres { .. } => Vec::new(),
    };
    let n = rows.len() as u64;
    let first = rows.into_iter().next().map(|row| {
        row.unwrap_raw()
            .into_iter()
            .map_while(|v| v.and_then(from_mysql))
            .collect()
    });
    Ok((n, first))
}

/// A MySQL result value as a parameter value; `None` for NULL.
fn from_mysql(v: mysql_async::Value) -> Option<ParamValue> {
    use mysql_async::Value;
    Some(match v {
        Value::NULL => return None,
        Value::Int(i) => ParamValue::Int(i),
        Value::UInt(u) => i64::try_from(u)
            .map(ParamValue::Int)
            .unwrap_or(ParamValue::Real(u as f64)),
        Value::Float(f) => ParamValue::Real(f64::from(f)),
        Value::Double(d) => ParamValue::Real(d),
        Value::Bytes(b) => ParamValue::Text(String::from_utf8_lossy(&b).into_owned()),
        other => ParamValue::Text(other.as_sql(true).trim_matches('\'').to_string()),
    })
}

/// Read a statement's first row into the variables it binds.
fn bind<'a>(
    transaction: &str,
    j: usize,
    step: &'a Step,
    row: Option<Vec<ParamValue>>,
    values: &mut BTreeMap<&'a str, ParamValue>,
) -> Result<()> {
    if step.into.is_empty() {
        return Ok(());
    }
    let Some(row) = row else {
        return Err(WorkloadError::Run(format!(
            "{transaction}: statement {} returned no row to bind :{}",
            j + 1,
            step.into.join(", :")
        )));
    };
    let mut row = row.into_iter();
    for name in &step.into {
        let v = row.next().ok_or_else(|| {
            WorkloadError::Run(format!(
                "{transaction}: statement {} returned no value (NULL, or too few columns) for :{name}",
                j + 1
            ))
        })?;
        values.insert(name, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spec_built_in_code_is_validated_before_it_runs() {
        let spec = WorkloadSpec {
            version: crate::spec::VERSION,
            name: "empty".into(),
            description: String::new(),
            clients: None,
            statement_timeout_ms: None,
            variables: BTreeMap::new(),
            params: BTreeMap::new(),
            transactions: Vec::new(),
        };
        // Refused before any connection (nothing listens on port 1).
        let url: TargetUrl = "postgres://u@127.0.0.1:1/db".parse().unwrap();
        let err = Replay::new(&spec, &url).await.unwrap_err().to_string();
        assert!(err.contains("at least one transaction"), "{err}");
    }

    #[test]
    fn mysql_literals_are_escaped() {
        assert_eq!(
            mysql_literal(&ParamValue::Text("it's a \\ test\n".into())),
            "'it\\'s a \\\\ test\\n'"
        );
        assert_eq!(mysql_literal(&ParamValue::Int(-5)), "-5");
        assert_eq!(mysql_literal(&ParamValue::Real(1.5)), "1.5");
    }
}
