//! The workload file: a versioned, documented description of what clients run — transaction
//! types with weights, their statements with named placeholders (`:key`), and the generators
//! that draw parameter values. Built-in benchmarks are written in it, and `workload capture`
//! writes it.
//!
//! ```toml
//! version = 1
//! name = "ycsb-a"
//! clients = 8
//! [variables]
//! records = 100000           # loaders and users may override variables
//! [params.key]
//! kind = "zipfian"           # uniform | zipfian | list | string | real | sample
//! min = 1
//! max = "records"            # a number or a variable name
//! [[transactions]]
//! name = "read"
//! weight = 50
//! statements = ["SELECT field0 FROM ycsb WHERE ycsb_key = :key"]
//! ```
//!
//! A placeholder is `:name` (not `::type`, not inside quotes); every placeholder must name a
//! parameter, and each parameter is drawn once per transaction, so statements of one
//! transaction see the same value.

use std::collections::BTreeMap;
use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::WorkloadError;

pub const VERSION: u32 = 1;

/// A workload as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Default concurrency.
    pub clients: Option<usize>,
    /// Each statement is cancelled by the server after this long and counted as a timeout of
    /// its transaction (a query an engine cannot run in reasonable time is listed, not
    /// waited for). None: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u64>,
    #[serde(default)]
    pub variables: BTreeMap<String, f64>,
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    pub transactions: Vec<TransactionSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionSpec {
    pub name: String,
    pub weight: f64,
    pub statements: Vec<StatementSpec>,
    /// MySQL/MariaDB spelling where it differs (INSERT IGNORE vs ON CONFLICT DO NOTHING). A
    /// statement here binds what the statement at its index binds, unless it says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql_statements: Option<Vec<StatementSpec>>,
    /// Captured: calls and mean latency in the capture window (for replay fidelity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_calls: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_mean_ms: Option<f64>,
}

/// One statement of a transaction: its SQL, or its SQL and the variables the columns of its
/// first result row are read into (`{ sql = "SELECT d_next_o_id …", into = ["oid"] }`), which
/// later statements of the same transaction use as `:oid`. A statement that binds must return
/// a row with a non-NULL value for each variable, or its transaction fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatementSpec {
    Sql(String),
    Binding(BindingStatement),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingStatement {
    pub sql: String,
    pub into: Vec<String>,
}

impl StatementSpec {
    pub fn sql(&self) -> &str {
        match self {
            StatementSpec::Sql(s) => s,
            StatementSpec::Binding(b) => &b.sql,
        }
    }

    /// The variables this statement binds (empty for most).
    pub fn into(&self) -> &[String] {
        match self {
            StatementSpec::Sql(_) => &[],
            StatementSpec::Binding(b) => &b.into,
        }
    }
}

/// Statements are read as their SQL wherever the binding does not matter (analysis, EXPLAIN).
impl std::ops::Deref for StatementSpec {
    type Target = str;
    fn deref(&self) -> &str {
        self.sql()
    }
}

impl From<String> for StatementSpec {
    fn from(s: String) -> StatementSpec {
        StatementSpec::Sql(s)
    }
}

impl From<&str> for StatementSpec {
    fn from(s: &str) -> StatementSpec {
        StatementSpec::Sql(s.to_string())
    }
}

impl std::fmt::Display for StatementSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sql())
    }
}

impl TransactionSpec {
    /// The statements this engine runs.
    pub fn statements_for(&self, engine: knobs::Engine) -> &[StatementSpec] {
        match engine {
            knobs::Engine::Postgres => &self.statements,
            knobs::Engine::Mysql | knobs::Engine::Mariadb => {
                self.mysql_statements.as_deref().unwrap_or(&self.statements)
            }
        }
    }

    /// What statement `j` of this engine's spelling binds: its own `into`, else the `into`
    /// of the statement at the same index.
    pub fn into_for(&self, engine: knobs::Engine, j: usize) -> &[String] {
        let own = self
            .statements_for(engine)
            .get(j)
            .map(StatementSpec::into)
            .unwrap_or(&[]);
        if own.is_empty() {
            self.statements
                .get(j)
                .map(StatementSpec::into)
                .unwrap_or(&[])
        } else {
            own
        }
    }

    /// Every variable some statement of this transaction binds.
    pub fn bound_names(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .chain(self.mysql_statements.iter().flatten())
            .flat_map(|s| s.into().iter().map(String::as_str))
    }
}

/// A number, or the name of a variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    Number(f64),
    Variable(String),
}

/// A literal parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    Int(i64),
    Real(f64),
    Text(String),
}

/// How a parameter's values are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ParamSpec {
    Uniform {
        min: Bound,
        max: Bound,
    },
    Zipfian {
        min: Bound,
        max: Bound,
        #[serde(default = "default_theta")]
        theta: f64,
    },
    Real {
        min: Bound,
        max: Bound,
    },
    List {
        values: Vec<Literal>,
        #[serde(default)]
        weights: Vec<f64>,
    },
    String {
        length: usize,
    },
    /// Distinct increasing integers from `start`, shared by every client of a run (new keys).
    Sequence {
        start: Bound,
    },
    /// Values read from a column when the run starts.
    Sample {
        table: String,
        column: String,
        #[serde(default = "default_sample")]
        limit: usize,
    },
}

fn default_theta() -> f64 {
    0.99
}

fn default_sample() -> usize {
    1000
}

fn spec_error(file: &str, field: &str, reason: impl Into<String>) -> WorkloadError {
    WorkloadError::Spec {
        file: file.to_string(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl WorkloadSpec {
    /// Read a workload file (TOML when it ends in .toml, else JSON).
    pub fn load(path: &Path) -> Result<WorkloadSpec, WorkloadError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| spec_error(&file, "-", e.to_string()))?;
        WorkloadSpec::parse(&text, path.extension().is_some_and(|e| e == "toml"), &file)
    }

    pub fn parse(text: &str, toml_format: bool, file: &str) -> Result<WorkloadSpec, WorkloadError> {
        let spec: WorkloadSpec = if toml_format {
            toml::from_str(text)
                .map_err(|e| spec_error(file, "-", e.to_string().trim().to_string()))?
        } else {
            serde_json::from_str(text).map_err(|e| spec_error(file, "-", e.to_string()))?
        };
        spec.validate(file)?;
        Ok(spec)
    }

    /// Every check that would otherwise fail in the middle of a run.
    pub fn validate(&self, file: &str) -> Result<(), WorkloadError> {
        if self.version != VERSION {
            return Err(spec_error(
                file,
                "version",
                format!(
                    "version {} is not supported; this dbtuner reads version {VERSION}",
                    self.version
                ),
            ));
        }
        if self.transactions.is_empty() {
            return Err(spec_error(
                file,
                "transactions",
                "at least one transaction is needed",
            ));
        }
        if self.clients == Some(0) {
            return Err(spec_error(file, "clients", "must be at least 1"));
        }
        if self.statement_timeout_ms == Some(0) {
            return Err(spec_error(
                file,
                "statement_timeout_ms",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        for (name, p) in &self.params {
            let field = format!("params.{name}");
            let bound = |b: &Bound, which: &str| -> Result<f64, WorkloadError> {
                match b {
                    Bound::Number(n) => Ok(*n),
                    Bound::Variable(v) => self.variables.get(v).copied().ok_or_else(|| {
                        spec_error(
                            file,
                            &format!("{field}.{which}"),
                            format!("unknown variable '{v}'"),
                        )
                    }),
                }
            };
            match p {
                ParamSpec::Uniform { min, max }
                | ParamSpec::Zipfian { min, max, .. }
                | ParamSpec::Real { min, max } => {
                    let (lo, hi) = (bound(min, "min")?, bound(max, "max")?);
                    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                        return Err(spec_error(
                            file,
                            &field,
                            format!("min {lo} must not exceed max {hi}"),
                        ));
                    }
                    if matches!(p, ParamSpec::Real { .. }) && !(hi - lo).is_finite() {
                        return Err(spec_error(
                            file,
                            &field,
                            format!("the range {lo}..{hi} is too wide to draw from"),
                        ));
                    }
                    if !matches!(p, ParamSpec::Real { .. }) {
                        check_integer(file, &field, lo, hi)?;
                    }
                    if let ParamSpec::Zipfian { theta, .. } = p {
                        if !(*theta > 0.0 && *theta < 1.0) {
                            return Err(spec_error(
                                file,
                                &format!("{field}.theta"),
                                format!("{theta} must be between 0 and 1 (exclusive)"),
                            ));
                        }
                    }
                }
                ParamSpec::List { values, weights } => {
                    if values.is_empty() {
                        return Err(spec_error(file, &format!("{field}.values"), "empty list"));
                    }
                    if !weights.is_empty()
                        && (weights.len() != values.len()
                            || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
                            || weights.iter().sum::<f64>() <= 0.0)
                    {
                        return Err(spec_error(
                            file,
                            &format!("{field}.weights"),
                            "one non-negative weight per value, not all zero",
                        ));
                    }
                }
                ParamSpec::String { length } if *length == 0 || *length > 1 << 20 => {
                    return Err(spec_error(
                        file,
                        &format!("{field}.length"),
                        "between 1 and 1048576",
                    ))
                }
                ParamSpec::Sample {
                    table,
                    column,
                    limit,
                } => {
                    if !is_identifier(table) || !is_identifier(column) {
                        return Err(spec_error(
                            file,
                            &field,
                            "table and column must be plain identifiers (schema.table allowed)",
                        ));
                    }
                    if *limit == 0 {
                        return Err(spec_error(
                            file,
                            &format!("{field}.limit"),
                            "must be at least 1",
                        ));
                    }
                }
                ParamSpec::Sequence { start } => {
                    let start = bound(start, "start")?;
                    check_integer(file, &format!("{field}.start"), start, start)?;
                }
                _ => {}
            }
        }
        for (i, t) in self.transactions.iter().enumerate() {
            let field = format!("transactions[{i}] ({})", t.name);
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                return Err(spec_error(
                    file,
                    &format!("{field}.weight"),
                    format!("{} is not a non-negative number", t.weight),
                ));
            }
            if t.statements.is_empty() {
                return Err(spec_error(
                    file,
                    &format!("{field}.statements"),
                    "no statements",
                ));
            }
            if let Some(my) = &t.mysql_statements {
                if my.len() != t.statements.len() {
                    return Err(spec_error(
                        file,
                        &format!("{field}.mysql_statements"),
                        "needs as many statements as statements",
                    ));
                }
            }
            for (list, engine) in [
                ("statements", knobs::Engine::Postgres),
                ("mysql_statements", knobs::Engine::Mariadb),
            ] {
                if list == "mysql_statements" && t.mysql_statements.is_none() {
                    continue;
                }
                self.validate_statements(file, &format!("{field}.{list}"), t, engine)?;
            }
        }
        let total = self.transactions.iter().map(|t| t.weight).sum::<f64>();
        if total <= 0.0 {
            return Err(spec_error(file, "transactions", "all weights are zero"));
        }
        if !total.is_finite() {
            return Err(spec_error(
                file,
                "transactions",
                "the weights add up to more than a number can hold; use smaller weights",
            ));
        }
        Ok(())
    }

    /// One engine's statements of a transaction: none empty, every placeholder a parameter
    /// or a variable an earlier statement bound, every bound variable a new name.
    fn validate_statements(
        &self,
        file: &str,
        field: &str,
        t: &TransactionSpec,
        engine: knobs::Engine,
    ) -> Result<(), WorkloadError> {
        let mut bound: Vec<&str> = Vec::new();
        for (j, statement) in t.statements_for(engine).iter().enumerate() {
            let here = format!("{field}[{j}]");
            if statement.trim().is_empty() {
                return Err(spec_error(file, &here, "empty statement"));
            }
            for p in placeholders(statement) {
                if !self.params.contains_key(&p) && !bound.contains(&p.as_str()) {
                    let reason = if t.bound_names().any(|b| b == p) {
                        format!("placeholder :{p} is used before the statement that binds it")
                    } else {
                        format!("placeholder :{p} has no [params.{p}]")
                    };
                    return Err(spec_error(file, &here, reason));
                }
            }
            for name in t.into_for(engine, j) {
                let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                let reason = if !valid {
                    Some(format!(
                        "'{name}' is not a variable name (letters, digits, _)"
                    ))
                } else if self.params.contains_key(name) {
                    Some(format!(
                        "'{name}' is also a parameter: bind into another name"
                    ))
                } else if bound.contains(&name.as_str()) {
                    Some(format!("'{name}' is bound twice in this transaction"))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(spec_error(file, &format!("{here}.into"), reason));
                }
                bound.push(name);
            }
        }
        Ok(())
    }

    /// The generator of a parameter, `None` for a `sample` (read from the server when a run
    /// starts). Assumes a validated spec; out-of-range numbers saturate rather than panic.
    pub fn generator(&self, p: &ParamSpec) -> Option<Generator> {
        let int = |b: &Bound| self.bound(b) as i64;
        Some(match p {
            ParamSpec::Uniform { min, max } => {
                let (lo, hi) = (int(min), int(max));
                Generator::Uniform(lo.min(hi), hi.max(lo))
            }
            ParamSpec::Zipfian { min, max, theta } => {
                Generator::Zipfian(Zipf::new(int(min), int(max), *theta))
            }
            ParamSpec::Real { min, max } => Generator::Real(self.bound(min), self.bound(max)),
            ParamSpec::String { length } => Generator::String(*length),
            ParamSpec::List { values, weights } => {
                let mut acc = 0.0;
                let cumulative = weights.iter().map(|w| {
                    acc += w;
                    acc
                });
                Generator::List(values.iter().map(literal).collect(), cumulative.collect())
            }
            ParamSpec::Sequence { start } => Generator::Sequence(std::sync::Arc::new(
                std::sync::atomic::AtomicI64::new(int(start)),
            )),
            ParamSpec::Sample { .. } => return None,
        })
    }

    /// Numeric value of a bound (after validation, variables exist).
    pub fn bound(&self, b: &Bound) -> f64 {
        match b {
            Bound::Number(n) => *n,
            Bound::Variable(v) => self.variables.get(v).copied().unwrap_or(0.0),
        }
    }
}

/// Integer bounds must fit in 64 bits (a larger float would silently saturate).
fn check_integer(file: &str, field: &str, lo: f64, hi: f64) -> Result<(), WorkloadError> {
    // 2^63: i64::MAX as a float (it has no nearer one); it converts back to i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if lo < -LIMIT || hi > LIMIT {
        return Err(spec_error(
            file,
            field,
            format!("{lo}..{hi} does not fit in a 64-bit integer"),
        ));
    }
    Ok(())
}

fn literal(l: &Literal) -> ParamValue {
    match l {
        Literal::Int(i) => ParamValue::Int(*i),
        Literal::Real(r) => ParamValue::Real(*r),
        Literal::Text(t) => ParamValue::Text(t.clone()),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !part.starts_with(|c: char| c.is_ascii_digit())
        })
}

/// A piece of a statement: text, or a named placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Param(String),
}

/// Split a statement into text and `:name` placeholders, skipping `::casts`, quoted strings
/// and quoted identifiers.
pub fn split(sql: &str) -> Vec<Piece> {
    let chars: Vec<char> = sql.chars().collect();
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            text.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            quote = Some(c);
            text.push(c);
            i += 1;
            continue;
        }
        let prev_colon = i > 0 && chars[i - 1] == ':';
        let next = chars.get(i + 1).copied();
        if c == ':' && !prev_colon && next.is_some_and(|n| n.is_ascii_alphabetic() || n == '_') {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Param(chars[i + 1..j].iter().collect()));
            i = j;
            continue;
        }
        text.push(c);
        i += 1;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// Names of the placeholders of a statement, in order of appearance.
pub fn placeholders(sql: &str) -> Vec<String> {
    split(sql)
        .into_iter()
        .filter_map(|p| {
            if let Piece::Param(n) = p {
                Some(n)
            } else {
                None
            }
        })
        .collect()
}

/// A drawn parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// A parameter generator ready to draw (zipfian constants precomputed, samples loaded).
#[derive(Debug, Clone)]
pub enum Generator {
    /// Shared across sessions, so every drawn value is new.
    Sequence(std::sync::Arc<std::sync::atomic::AtomicI64>),
    Uniform(i64, i64),
    Zipfian(Zipf),
    Real(f64, f64),
    List(Vec<ParamValue>, Vec<f64>),
    String(usize),
}

impl Generator {
    pub fn draw(&self, rng: &mut impl Rng) -> ParamValue {
        match self {
            Generator::Uniform(lo, hi) => ParamValue::Int(rng.gen_range(*lo..=*hi)),
            Generator::Zipfian(z) => ParamValue::Int(z.draw(rng)),
            Generator::Real(lo, hi) => ParamValue::Real(if hi > lo {
                rng.gen_range(*lo..*hi)
            } else {
                *lo
            }),
            Generator::List(values, cumulative) => {
                let i = if cumulative.is_empty() {
                    rng.gen_range(0..values.len())
                } else {
                    let total = cumulative.last().copied().unwrap_or(1.0);
                    let x = rng.gen::<f64>() * total;
                    cumulative
                        .partition_point(|c| *c <= x)
                        .min(values.len() - 1)
                };
                values[i].clone()
            }
            Generator::Sequence(next) => {
                ParamValue::Int(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            }
            Generator::String(len) => ParamValue::Text(
                (0..*len)
                    .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
                    .collect(),
            ),
        }
    }
}

/// Zipfian integers in [min, max] (Gray et al.'s method, as YCSB draws them): rank 1 (= min) is
/// the hottest key.
#[derive(Debug, Clone)]
pub struct Zipf {
    min: i64,
    max: i64,
    n: f64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    pub fn new(min: i64, max: i64, theta: f64) -> Zipf {
        let max = max.max(min);
        // In i128: max - min + 1 overflows i64 for the widest ranges.
        let n = (i128::from(max) - i128::from(min) + 1) as f64;
        let zeta = |n: f64| -> f64 {
            // Exact up to a million items, then the integral approximation: the constant only
            // shapes the tail, and a long exact sum would stall session start.
            let exact = n.min(1_000_000.0) as u64;
            let mut sum: f64 = (1..=exact).map(|i| 1.0 / (i as f64).powf(theta)).sum();
            if n > exact as f64 {
                sum += ((n).powf(1.0 - theta) - (exact as f64).powf(1.0 - theta)) / (1.0 - theta);
            }
            sum
        };
        let zetan = zeta(n);
        let zeta2 = zeta(2.0);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipf {
            min,
            max,
            n,
            theta,
            alpha,
            zetan,
            eta,
        }
    }

    pub fn draw(&self, rng: &mut impl Rng) -> i64 {
        let u: f64 = rng.gen();
        let uz = u * self.zetan;
        let rank = if uz < 1.0 {
            0.0
        } else if uz < 1.0 + 0.5f64.powf(self.theta) {
            1.0
        } else {
            (self.n * (self.eta * u - self.eta + 1.0).powf(self.alpha)).floor()
        };
        // max(0.0) also maps NaN to 0.
        let rank = rank.max(0.0).min(self.n - 1.0) as i64;
        self.min.saturating_add(rank).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const YCSB: &str = r#"
version = 1
name = "mini"
[variables]
records = 1000
[params.key]
kind = "zipfian"
min = 1
max = "records"
[params.v]
kind = "string"
length = 10
[[transactions]]
name = "read"
weight = 1
statements = ["SELECT f FROM t WHERE k = :key AND s = ':not' AND x::int = 1"]
[[transactions]]
name = "write"
weight = 1
statements = ["UPDATE t SET f = :v WHERE k = :key"]
"#;

    #[test]
    fn parses_and_finds_placeholders() {
        let spec = WorkloadSpec::parse(YCSB, true, "mini.toml").unwrap();
        assert_eq!(spec.transactions.len(), 2);
        assert_eq!(placeholders(&spec.transactions[0].statements[0]), ["key"]);
        assert_eq!(
            placeholders("UPDATE t SET a = :a, b = :b_2 WHERE c = :a"),
            ["a", "b_2", "a"]
        );
    }

    #[test]
    fn errors_name_the_file_field_and_reason() {
        let cases = [
            (
                YCSB.replace("max = \"records\"", "max = \"rows\""),
                "params.key.max",
                "unknown variable 'rows'",
            ),
            (
                YCSB.replace("kind = \"string\"", "kind = \"gaussian\""),
                "-",
                "gaussian",
            ),
            (
                YCSB.replace("WHERE k = :key\"]", "WHERE k = :nokey\"]"),
                "transactions[1] (write).statements[0]",
                ":nokey",
            ),
            (
                YCSB.replace("version = 1", "version = 2"),
                "version",
                "not supported",
            ),
            (
                YCSB.replace(
                    "weight = 1\nstatements = [\"UPDATE",
                    "statements = [\"UPDATE",
                ),
                "-",
                "weight",
            ),
        ];
        for (text, field, reason) in cases {
            let err = WorkloadSpec::parse(&text, true, "mini.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("mini.toml") && err.contains(field) && err.contains(reason),
                "{field}: {err}"
            );
        }
    }

    const BOUND: &str = r#"
version = 1
name = "bound"
[params.d]
kind = "uniform"
min = 1
max = 10
[[transactions]]
name = "order"
weight = 1
statements = [
  { sql = "SELECT next_id FROM district WHERE id = :d FOR UPDATE", into = ["next_id"] },
  "INSERT INTO orders (d, id) VALUES (:d, :next_id)",
]
"#;

    #[test]
    fn bindings_are_read_and_checked() {
        let spec = WorkloadSpec::parse(BOUND, true, "bound.toml").unwrap();
        let t = &spec.transactions[0];
        assert_eq!(t.into_for(knobs::Engine::Postgres, 0), ["next_id"]);
        assert!(t.into_for(knobs::Engine::Mariadb, 1).is_empty());
        assert_eq!(
            t.statements[1].sql(),
            "INSERT INTO orders (d, id) VALUES (:d, :next_id)"
        );
        // Written back, a plain statement stays a string and a binding a table.
        let again = toml::to_string(&spec).unwrap();
        assert_eq!(
            WorkloadSpec::parse(&again, true, "again.toml").unwrap(),
            spec
        );
        let cases = [
            (
                BOUND.replace("into = [\"next_id\"]", "into = [\"d\"]"),
                "statements[0].into",
                "also a parameter",
            ),
            (
                BOUND.replace("into = [\"next_id\"]", "into = [\"next id\"]"),
                "statements[0].into",
                "not a variable name",
            ),
            (
                BOUND.replace("into = [\"next_id\"]", "into = [\"next_id\", \"next_id\"]"),
                "statements[0].into",
                "bound twice",
            ),
            (
                BOUND.replace("id = :d FOR", "id = :next_id FOR"),
                "statements[0]",
                "used before the statement that binds it",
            ),
            (
                BOUND.replace(":next_id)", ":next)"),
                "statements[1]",
                ":next has no [params.next]",
            ),
        ];
        for (text, field, reason) in cases {
            let err = WorkloadSpec::parse(&text, true, "bound.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(field) && err.contains(reason),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn zipfian_keys_are_skewed_and_in_range() {
        let z = Zipf::new(1, 10_000, 0.99);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut hits = [0u32; 3];
        for _ in 0..100_000 {
            let k = z.draw(&mut rng);
            assert!((1..=10_000).contains(&k));
            if k <= 10 {
                hits[0] += 1;
            } else if k > 5000 {
                hits[1] += 1;
            }
            hits[2] += 1;
        }
        // The hottest 0.1% of keys take far more than 0.1% of draws; the cold half far less.
        assert!(hits[0] > 20_000, "top 10 keys: {}", hits[0]);
        assert!(hits[1] < 10_000, "cold half: {}", hits[1]);
    }
}
