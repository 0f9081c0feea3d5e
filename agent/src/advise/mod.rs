//! Index advice for a workload: candidates from its statements, what-if costing (HypoPG, or
//! real indexes on a staging copy), selection over the whole weighted workload under a
//! storage budget with write overhead priced in, per-statement gates (a minimum gain for each
//! index, a maximum regression for any statement), drops (invalid, duplicate, redundant,
//! unused), and the DDL of each with its rollback.
//!
//! Nothing here changes the target: HypoPG's indexes are hypothetical and session-local;
//! real indexes are only ever built on a staging URL, inside a transaction that is rolled
//! back (PostgreSQL) or with names dbtuner removes again (MariaDB).

pub mod candidates;
pub mod catalog;
pub mod ddl;
pub mod drops;
pub mod hypopg;
pub mod input;
pub mod real_indexes;
pub mod validate;
pub mod whatif;

use std::sync::Arc;
use std::time::{Duration, Instant};

use knobs::Engine;
use models::index::{self as select, CostOracle, ExtendSettings, IndexDef, SelectionError};
use serde::Serialize;
use thiserror::Error;
use workloads::spec::WorkloadSpec;
use workloads::TargetUrl;

use catalog::Catalog;
use drops::DropAdvice;
use input::{Inputs, Skipped};
use whatif::{Planner, StatementCost, WhatIf};

#[derive(Debug, Error)]
pub enum AdviseError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the planner: {0}")]
    Planner(String),
    #[error(transparent)]
    Target(#[from] workloads::TargetError),
    #[error(transparent)]
    Workload(#[from] workloads::WorkloadError),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("MySQL: {0}")]
    Mysql(#[from] mysql_async::Error),
    #[error("the costing task failed: {0}")]
    Task(String),
}

impl AdviseError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            AdviseError::BadInput(_) | AdviseError::Unavailable(_) => true,
            AdviseError::Target(e) => e.is_bad_input(),
            AdviseError::Workload(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

/// Where the statements come from.
#[derive(Debug, Clone)]
pub enum Source {
    Workload(Box<WorkloadSpec>),
    Queries {
        text: String,
        file: String,
    },
    /// pg_stat_statements / performance_schema digests since their last reset.
    Stats {
        min_calls: u64,
        top: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    Extend,
    Greedy,
    Exhaustive,
    /// Dexter's way, as a baseline: per statement the best one- or two-column index, kept if
    /// it halves that statement's cost; the union, within the budget.
    PerStatement,
}

/// How hypothetical indexes are costed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// HypoPG in a session on the target (or staging): nothing is written.
    Hypopg,
    /// Real indexes in a transaction on a PostgreSQL staging copy, rolled back.
    StagingTransaction,
    /// Real indexes toggled IGNORED on a MariaDB staging copy, dropped at the end.
    StagingIgnored,
}

#[derive(Debug, Clone)]
pub struct AdviseSettings {
    /// Bytes the new indexes may take; `None`: 10% of the database's size.
    pub budget: Option<Budget>,
    pub max_per_table: usize,
    /// An index stays only if some statement gets at least this much cheaper with it.
    pub min_gain: f64,
    /// No statement may get more than this much costlier (write overhead included).
    pub max_regression: f64,
    pub algorithm: Algorithm,
    /// How long usage must have been counted before an index with no scan is "unused".
    pub min_unused_window: Duration,
    /// Force a mechanism (else HypoPG where it is, staging otherwise).
    pub mechanism: Option<Mechanism>,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Bytes(u64),
    /// A fraction of the database's size.
    Fraction(f64),
}

impl Default for AdviseSettings {
    fn default() -> Self {
        AdviseSettings {
            budget: None,
            max_per_table: 3,
            min_gain: 0.2,
            max_regression: 0.1,
            algorithm: Algorithm::Extend,
            min_unused_window: Duration::from_secs(7 * 86_400),
            mechanism: None,
            seed: 1,
        }
    }
}

/// Parse `--budget`: a size ("500MB") or a share of the database ("10%"); zero or negative
/// is refused.
pub fn parse_budget(text: &str) -> Result<Budget, AdviseError> {
    let t = text.trim();
    let bad = |why: &str| AdviseError::BadInput(format!("--budget '{text}': {why}"));
    if let Some(p) = t.strip_suffix('%') {
        let v: f64 = p.trim().parse().map_err(|_| bad("not a percentage"))?;
        if !(v.is_finite() && v > 0.0 && v <= 1000.0) {
            return Err(bad("the percentage must be above 0 (and at most 1000)"));
        }
        return Ok(Budget::Fraction(v / 100.0));
    }
    if t.starts_with('-') {
        return Err(bad("a budget cannot be negative"));
    }
    let bytes = knobs::parse_bytes(t).map_err(|e| bad(&e))?;
    if bytes == 0 {
        return Err(bad("a budget of zero allows no index"));
    }
    Ok(Budget::Bytes(bytes))
}

/// One index to build.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub index: IndexDef,
    pub name: String,
    pub ddl: String,
    pub rollback: String,
    pub bytes: u64,
    /// Weighted workload cost saved by this index given the others (planner units).
    pub gain: f64,
    /// Of which write overhead paid (weighted, planner units).
    pub write_overhead: f64,
    /// Statements it changes (by more than 1%), cheaper or costlier.
    pub statements: Vec<StatementCost>,
}

/// The advisor's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub engine: Engine,
    pub version: String,
    pub target: String,
    pub mechanism: Mechanism,
    pub database_bytes: u64,
    pub budget_bytes: u64,
    pub algorithm: Algorithm,
    pub min_gain: f64,
    pub max_regression: f64,
    pub statements: usize,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    pub unindexable: Vec<String>,
    pub candidates: usize,
    pub recommendations: Vec<Recommendation>,
    pub drops: Vec<DropAdvice>,
    /// Weighted workload cost with no new index and with the recommended ones.
    pub cost_before: f64,
    pub cost_after: f64,
    pub per_statement: Vec<StatementCost>,
    /// Distinct (statement, index set) costings, and the EXPLAINs they took.
    pub whatif_calls: usize,
    pub explains: usize,
    pub runtime_ms: u64,
    /// The measured replay without and with the recommended indexes (`--validate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<validate::Validation>,
    /// The statements as a workload, for the validation replay.
    #[serde(skip)]
    pub workload: Option<WorkloadSpec>,
}

impl Advice {
    /// Relative change of the workload's estimated cost (negative: cheaper).
    pub fn cost_change(&self) -> f64 {
        if self.cost_before > 0.0 {
            self.cost_after / self.cost_before - 1.0
        } else {
            0.0
        }
    }
}

enum Connection {
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
}

async fn connect(url: &TargetUrl) -> Result<(Connection, Engine, String, (u32, u32)), AdviseError> {
    let target = workloads::Target::connect(url).await?;
    let engine = target.engine();
    let version = target.version().to_string();
    let number = target.version_number();
    let conn = match target {
        workloads::Target::Postgres { client, .. } => Connection::Postgres(client),
        workloads::Target::Mysql { conn, .. } => Connection::Mysql(conn),
    };
    Ok((conn, engine, version, number))
}

/// Advise indexes for `source` on `target`; `staging` is a copy where real indexes may be
/// built for costing (required where HypoPG is missing, and on MySQL/MariaDB).
pub async fn advise(
    target: &TargetUrl,
    staging: Option<&TargetUrl>,
    source: Source,
    settings: &AdviseSettings,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Advice, AdviseError> {
    let started = Instant::now();
    let (conn, engine, version, number) = connect(target).await?;
    progress("reading the catalog");
    let mut notes = Vec::new();
    let handle = tokio::runtime::Handle::current();
    // Which mechanism costs, on which connection. Parameter values are sampled on
    // connections of their own, so the target's client can go to the planner.
    let (catalog, planner, mechanism): (Catalog, Box<dyn Planner + Send>, Mechanism) = match conn {
        Connection::Postgres(client) => {
            let catalog = catalog::read_postgres(&client).await?;
            let (planner, mechanism) =
                postgres_planner(client, target, staging, settings, number, &mut notes).await?;
            (catalog, planner, mechanism)
        }
        Connection::Mysql(mut c) => {
            let catalog = catalog::read_mysql(&mut c, engine, number).await?;
            drop(c);
            if engine == Engine::Mysql {
                return Err(AdviseError::Unavailable("MySQL 8 index advice (INVISIBLE indexes) is not built: it could not be tested here, where only MariaDB is available".into()));
            }
            if number < (10, 6) {
                return Err(AdviseError::Unavailable(format!(
                    "MariaDB {version}: IGNORED indexes need MariaDB 10.6 or later"
                )));
            }
            let Some(staging) = staging else {
                return Err(AdviseError::Unavailable("MariaDB has no hypothetical indexes: give --staging URL, a copy of the target where dbtuner may build indexes (they are removed at the end)".into()));
            };
            let (sconn, sengine, ..) = connect(staging).await?;
            let Connection::Mysql(sconn) = sconn else {
                return Err(AdviseError::BadInput(format!(
                    "--staging {staging} is {sengine}, the target is {engine}"
                )));
            };
            notes.push(format!("costed with real indexes on {staging}, switched IGNORED / NOT IGNORED, dropped at the end"));
            let h = handle.clone();
            let planner =
                tokio::task::spawn_blocking(move || real_indexes::MariadbIgnored::new(h, sconn))
                    .await
                    .map_err(|e| AdviseError::Task(e.to_string()))??;
            (catalog, Box::new(planner), Mechanism::StagingIgnored)
        }
    };

    progress("reading the statements");
    let inputs: Inputs = match source {
        Source::Workload(spec) => {
            input::from_workload(&spec, target, &catalog, settings.seed).await?
        }
        Source::Queries { text, file } => {
            input::from_sql_file(&text, &file, target, &catalog, settings.seed).await?
        }
        Source::Stats { min_calls, top } => {
            let captured = workloads::capture::capture(
                target,
                &workloads::capture::CaptureOptions {
                    window: Duration::ZERO,
                    top,
                    name: "from-stats".into(),
                    since_reset: true,
                    min_calls,
                    by_total_time: true,
                },
                || {},
            )
            .await?;
            notes.extend(captured.notes);
            input::from_workload(&captured.spec, target, &catalog, settings.seed).await?
        }
    };
    notes.extend(inputs.notes.iter().cloned());
    let candidates = candidates::generate(&inputs.statements, &catalog);
    let budget_bytes = match settings.budget.unwrap_or(Budget::Fraction(0.1)) {
        Budget::Bytes(b) => b,
        Budget::Fraction(f) => (catalog.database_bytes as f64 * f) as u64,
    };
    progress("costing candidates");
    let settings_c = settings.clone();
    let catalog_c = catalog.clone();
    let statements = inputs.statements.clone();
    let candidates_c = candidates.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        choose(
            planner,
            &catalog_c,
            statements,
            &candidates_c,
            budget_bytes,
            &settings_c,
        )
    })
    .await
    .map_err(|e| AdviseError::Task(e.to_string()))??;

    let mut skipped = inputs.skipped.clone();
    skipped.extend(outcome.skipped);
    Ok(Advice {
        engine,
        version,
        target: target.to_string(),
        mechanism,
        database_bytes: catalog.database_bytes,
        budget_bytes,
        algorithm: settings.algorithm,
        min_gain: settings.min_gain,
        max_regression: settings.max_regression,
        statements: outcome.per_statement.len(),
        skipped,
        notes,
        unindexable: candidates.unindexable.clone(),
        candidates: candidates.attributes.len() + candidates.whole.len(),
        recommendations: outcome.recommendations,
        drops: outcome.drops,
        cost_before: outcome.cost_before,
        cost_after: outcome.cost_after,
        per_statement: outcome.per_statement,
        whatif_calls: outcome.costings,
        explains: outcome.explains,
        runtime_ms: started.elapsed().as_millis() as u64,
        validation: None,
        workload: inputs.workload,
    })
}

/// HypoPG on the target when its database has the extension; otherwise HypoPG on the
/// staging copy, or real indexes in a rolled-back transaction there.
async fn postgres_planner(
    client: tokio_postgres::Client,
    target: &TargetUrl,
    staging: Option<&TargetUrl>,
    settings: &AdviseSettings,
    number: (u32, u32),
    notes: &mut Vec<String>,
) -> Result<(Box<dyn Planner + Send>, Mechanism), AdviseError> {
    let handle = tokio::runtime::Handle::current();
    let forced = settings.mechanism;
    if forced != Some(Mechanism::StagingTransaction) && hypopg::in_database(&client).await? {
        let planner = hypopg::HypoPg::new(handle, Arc::new(client)).await;
        return Ok((Box::new(planner), Mechanism::Hypopg));
    }
    let Some(staging) = staging else {
        let why = if forced == Some(Mechanism::StagingTransaction) {
            "--whatif staging needs --staging URL".to_string()
        } else if hypopg::on_server(&client).await? {
            format!("HypoPG is installed on the server of {target} but not created in its database: run CREATE EXTENSION hypopg; there (hypothetical indexes are session-local and write nothing), or give --staging URL")
        } else {
            format!("HypoPG is not installed on {target} (Debian: postgresql-{}-hypopg): install it, or give --staging URL, a copy where dbtuner may build indexes inside a transaction it rolls back", number.0)
        };
        return Err(AdviseError::Unavailable(why));
    };
    let (sconn, sengine, ..) = connect(staging).await?;
    let Connection::Postgres(sclient) = sconn else {
        return Err(AdviseError::BadInput(format!(
            "--staging {staging} is {sengine}, the target is PostgreSQL"
        )));
    };
    if forced != Some(Mechanism::StagingTransaction) && hypopg::ensure(&sclient).await? {
        notes.push(format!(
            "HypoPG is not in the target's database: costed with HypoPG on the staging copy {staging}"
        ));
        let planner = hypopg::HypoPg::new(handle, Arc::new(sclient)).await;
        return Ok((Box::new(planner), Mechanism::Hypopg));
    }
    if forced == Some(Mechanism::Hypopg) {
        return Err(AdviseError::Unavailable(format!(
            "--whatif hypopg: HypoPG is available on neither {target} nor {staging}"
        )));
    }
    notes.push(format!("without HypoPG: costed with real indexes built inside a transaction on {staging}, rolled back at the end"));
    Ok((
        Box::new(real_indexes::PgTransaction::new(handle, sclient)),
        Mechanism::StagingTransaction,
    ))
}

struct Outcome {
    recommendations: Vec<Recommendation>,
    drops: Vec<DropAdvice>,
    per_statement: Vec<StatementCost>,
    cost_before: f64,
    cost_after: f64,
    skipped: Vec<Skipped>,
    costings: usize,
    explains: usize,
}

fn weighted(costs: &[StatementCost], after: bool) -> f64 {
    costs
        .iter()
        .map(|c| c.weight * if after { c.after } else { c.before })
        .sum()
}

/// The Dexter-like baseline: for each statement, the one- or two-column candidate on its
/// tables that makes it cheapest, kept when it halves the statement's cost; the union, the
/// biggest gains first, within the budget.
fn per_statement<P: Planner>(
    whatif: &mut WhatIf<P>,
    all: &[IndexDef],
    budget: u64,
) -> Result<Vec<IndexDef>, AdviseError> {
    let base = whatif.compare(&[])?;
    let narrow: Vec<&IndexDef> = all
        .iter()
        .filter(|i| i.columns.len() <= 2 && i.include.is_empty() && i.predicate.is_none())
        .collect();
    let mut best: Vec<Option<(f64, IndexDef)>> = vec![None; base.len()];
    for cand in narrow {
        let with = whatif.compare(std::slice::from_ref(cand))?;
        for (i, (b, w)) in base.iter().zip(&with).enumerate() {
            let gain = b.after - w.after;
            if w.after <= 0.5 * b.after && best[i].as_ref().is_none_or(|(g, _)| gain > *g) {
                best[i] = Some((gain, cand.clone()));
            }
        }
    }
    let mut picks: Vec<(f64, IndexDef)> = best
        .into_iter()
        .zip(&base)
        .filter_map(|(b, s)| b.map(|(gain, index)| (gain * s.weight, index)))
        .collect();
    picks.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut chosen: Vec<IndexDef> = Vec::new();
    let mut used = 0u64;
    for (_, index) in picks {
        if chosen.contains(&index) {
            continue;
        }
        let size = whatif.index_size(&index)?;
        if used.saturating_add(size) <= budget {
            used += size;
            chosen.push(index);
        }
    }
    Ok(chosen)
}

/// Selection, gates, attribution and drop impacts, on the blocking pool (the planners block
/// on the runtime for each call). Candidate indexes are cleared on every way out.
fn choose(
    planner: Box<dyn Planner + Send>,
    catalog: &Catalog,
    statements: Vec<input::AdvisedStatement>,
    candidates: &candidates::Candidates,
    budget: u64,
    settings: &AdviseSettings,
) -> Result<Outcome, AdviseError> {
    let (mut whatif, skipped) = WhatIf::new(planner, catalog, statements)?;
    let result = choose_with(&mut whatif, catalog, candidates, budget, settings);
    let cleared = whatif.clear();
    let mut outcome = result?;
    cleared?;
    outcome.skipped = skipped;
    outcome.costings = whatif.costings();
    outcome.explains = whatif.explains;
    Ok(outcome)
}

fn choose_with<P: Planner>(
    whatif: &mut WhatIf<P>,
    catalog: &Catalog,
    candidates: &candidates::Candidates,
    budget: u64,
    settings: &AdviseSettings,
) -> Result<Outcome, AdviseError> {
    let unwrap = |e: SelectionError<AdviseError>| match e {
        SelectionError::Oracle(e) => e,
        other => AdviseError::BadInput(other.to_string()),
    };
    let mut chosen = if whatif.is_empty() || candidates.is_empty() {
        Vec::new()
    } else {
        let all: Vec<IndexDef> = candidates
            .attributes
            .iter()
            .map(|(t, c)| IndexDef::new(t, &[c]))
            .chain(candidates.whole.iter().cloned())
            .collect();
        match settings.algorithm {
            Algorithm::Extend => {
                let s = ExtendSettings {
                    max_per_table: settings.max_per_table,
                    ..ExtendSettings::default()
                };
                select::extend(
                    whatif,
                    &candidates.attributes,
                    &candidates.whole,
                    budget,
                    &s,
                )
                .map_err(unwrap)?
                .indexes
            }
            Algorithm::Greedy => {
                select::greedy(whatif, &all, budget, 2, 3 * catalog.tables.len().max(1))
                    .map_err(unwrap)?
                    .indexes
            }
            Algorithm::Exhaustive => {
                select::exhaustive(whatif, &all, budget)
                    .map_err(unwrap)?
                    .indexes
            }
            Algorithm::PerStatement => per_statement(whatif, &all, budget)?,
        }
    };

    // Gates: no statement regresses beyond the limit; every index earns its place.
    loop {
        let costs = whatif.compare(&chosen)?;
        if let Some(worst) = costs
            .iter()
            .filter(|c| c.plan_change() > settings.max_regression)
            .max_by(|a, b| a.plan_change().total_cmp(&b.plan_change()))
        {
            // Remove the index whose absence helps that statement most.
            let id = worst.id.clone();
            let mut best: Option<(f64, usize)> = None;
            for k in 0..chosen.len() {
                let mut without = chosen.clone();
                without.remove(k);
                let c = whatif.compare(&without)?;
                if let Some(s) = c.iter().find(|s| s.id == id) {
                    if best.is_none_or(|(b, _)| s.after < b) {
                        best = Some((s.after, k));
                    }
                }
            }
            match best {
                Some((_, k)) => {
                    chosen.remove(k);
                    continue;
                }
                None => break,
            }
        }
        let mut useless = None;
        for k in 0..chosen.len() {
            let mut without = chosen.clone();
            without.remove(k);
            let less = whatif.compare(&without)?;
            let earns = costs.iter().zip(&less).any(|(with, without)| {
                without.after > 0.0 && with.after <= (1.0 - settings.min_gain) * without.after
            });
            if !earns {
                useless = Some(k);
                break;
            }
        }
        match useless {
            Some(k) => {
                chosen.remove(k);
            }
            None => break,
        }
    }

    let per_statement = whatif.compare(&chosen)?;
    let cost_before = weighted(&per_statement, false);
    let cost_after = weighted(&per_statement, true);
    let mut recommendations = Vec::new();
    for k in 0..chosen.len() {
        let mut without = chosen.clone();
        without.remove(k);
        let less = whatif.compare(&without)?;
        let only = whatif.compare(std::slice::from_ref(&chosen[k]))?;
        let index = chosen[k].clone();
        let name = ddl::index_name(&index);
        let bytes = whatif.index_size(&index)?;
        let changed: Vec<StatementCost> = per_statement
            .iter()
            .zip(&less)
            .filter(|(with, without)| {
                (with.after - without.after).abs() > 0.01 * without.after.abs().max(1e-9)
            })
            .map(|(with, without)| StatementCost {
                id: with.id.clone(),
                weight: with.weight,
                before: without.after,
                after: with.after,
                maintenance: with.maintenance - without.maintenance,
            })
            .collect();
        recommendations.push(Recommendation {
            ddl: ddl::create_sql(catalog.engine, &index, &name),
            rollback: ddl::drop_sql(catalog.engine, &index.table, &name),
            name,
            bytes,
            gain: weighted(&less, true) - cost_after,
            write_overhead: only.iter().map(|c| c.weight * c.maintenance).sum(),
            statements: changed,
            index,
        });
    }
    recommendations.sort_by(|a, b| b.gain.total_cmp(&a.gain));

    let mut drops = drops::candidates(catalog, settings.min_unused_window);
    for d in &mut drops {
        d.slows = whatif.drop_impact(&d.table, &d.index)?;
    }
    Ok(Outcome {
        recommendations,
        drops,
        per_statement,
        cost_before,
        cost_after,
        skipped: Vec::new(),
        costings: 0,
        explains: 0,
    })
}
