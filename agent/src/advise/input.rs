//! The statements the advisor costs, from what a DBA already has: a workload file (captured
//! or built-in), a plain `.sql` file, or the server's statement statistics. All three become
//! a workload (templates, weights, parameter generators), so parameters are always costed
//! with values drawn the way the data is distributed, never NULLs. Statements that do not
//! parse or touch tables the database does not have are listed with the reason and skipped.

use std::collections::BTreeMap;

use knobs::Engine;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use workloads::analysis::{analyze, Analysis};
use workloads::replay::Replay;
use workloads::spec::{TransactionSpec, WorkloadSpec, VERSION};
use workloads::statements::split_statements;
use workloads::TargetUrl;

use super::catalog::Catalog;
use super::AdviseError;

/// Parameter draws costed per template: the planner's cost of a template is the mean over
/// these, so that one hot or cold value does not decide.
pub const INSTANCES: usize = 3;

/// One statement the advisor costs.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisedStatement {
    /// Template name (workload) or `file:line`.
    pub id: String,
    /// As written, with its placeholders.
    pub template: String,
    /// With drawn values written in: what EXPLAIN sees.
    #[serde(skip)]
    pub instances: Vec<String>,
    /// Relative frequency (the transaction's weight, or its calls).
    pub weight: f64,
    #[serde(skip)]
    pub analysis: Analysis,
}

impl AdvisedStatement {
    /// A statement with no placeholders, costed as written.
    pub fn parsed(
        id: &str,
        sql: &str,
        weight: f64,
        engine: Engine,
    ) -> Result<AdvisedStatement, String> {
        let analysis = analyze(sql, engine)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or_else(|| "empty statement".to_string())?;
        Ok(AdvisedStatement {
            id: id.to_string(),
            template: sql.to_string(),
            instances: vec![sql.to_string()],
            weight,
            analysis,
        })
    }
}

/// A statement left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub id: String,
    pub statement: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Inputs {
    pub statements: Vec<AdvisedStatement>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    /// The statements advised on as a workload, for the validation replay.
    #[serde(skip)]
    pub workload: Option<WorkloadSpec>,
}

/// Add `other`'s transactions and parameters to `into` (names are distinct by construction).
fn merge(into: &mut Option<WorkloadSpec>, other: WorkloadSpec) {
    match into {
        None => *into = Some(other),
        Some(w) => {
            w.params.extend(other.params);
            w.transactions.extend(other.transactions);
        }
    }
}

fn skip(id: &str, statement: &str, reason: impl Into<String>) -> Skipped {
    let mut statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if statement.len() > 120 {
        let cut = (0..=117)
            .rev()
            .find(|i| statement.is_char_boundary(*i))
            .unwrap_or(0);
        statement.truncate(cut);
        statement.push('…');
    }
    Skipped {
        id: id.to_string(),
        statement,
        reason: reason.into(),
    }
}

/// Why a statement cannot be advised on against this catalog, if it cannot.
fn unusable(analysis: &Analysis, catalog: &Catalog) -> Option<String> {
    if analysis.tables.is_empty() {
        return Some("touches no table".into());
    }
    let unknown: Vec<&str> = analysis
        .tables
        .iter()
        .filter(|t| catalog.table(t).is_none())
        .map(|t| t.as_str())
        .collect();
    (!unknown.is_empty()).then(|| format!("unknown table {}", unknown.join(", ")))
}

/// Statements of a workload, each drawn [`INSTANCES`] times.
pub async fn from_workload(
    spec: &WorkloadSpec,
    url: &TargetUrl,
    catalog: &Catalog,
    seed: u64,
) -> Result<Inputs, AdviseError> {
    let engine = catalog.engine;
    let replay = Replay::new(spec, url).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut inputs = Inputs {
        workload: Some(spec.clone()),
        ..Inputs::default()
    };
    let total: f64 = spec
        .transactions
        .iter()
        .map(|t| t.weight)
        .sum::<f64>()
        .max(1e-12);
    for (ti, t) in spec.transactions.iter().enumerate() {
        let templates = t.statements_for(engine);
        let mut draws: Vec<Vec<Option<String>>> = Vec::with_capacity(INSTANCES);
        for _ in 0..INSTANCES {
            draws.push(replay.instantiate(ti, &mut rng, url).await?);
        }
        for (si, template) in templates.iter().enumerate() {
            let id = if templates.len() == 1 {
                t.name.clone()
            } else {
                format!("{}#{}", t.name, si + 1)
            };
            let Some(first) = draws.first().and_then(|d| d.get(si)) else {
                continue;
            };
            let Some(first) = first else {
                inputs.skipped.push(skip(
                    &id,
                    template,
                    "uses a variable an earlier write of its transaction binds: it has no value without running the write",
                ));
                continue;
            };
            let analysis = match analyze(first, engine) {
                Ok(a) if !a.is_empty() => a.into_iter().next(),
                Ok(_) => None,
                Err(e) => {
                    inputs
                        .skipped
                        .push(skip(&id, template, format!("does not parse: {e}")));
                    continue;
                }
            };
            let Some(analysis) = analysis else { continue };
            if let Some(reason) = unusable(&analysis, catalog) {
                inputs.skipped.push(skip(&id, template, reason));
                continue;
            }
            inputs.statements.push(AdvisedStatement {
                id,
                template: template.to_string(),
                instances: draws
                    .iter()
                    .filter_map(|d| d.get(si).cloned().flatten())
                    .collect(),
                weight: t.weight / total,
                analysis,
            });
        }
    }
    Ok(inputs)
}

/// Statements of a `.sql` file (one per `;`, `$n` or `?` parameters, comments allowed), each
/// weighted 1: parameters get generators from the column statistics, then go the workload
/// way.
pub async fn from_sql_file(
    text: &str,
    file: &str,
    url: &TargetUrl,
    catalog: &Catalog,
    seed: u64,
) -> Result<Inputs, AdviseError> {
    let engine = catalog.engine;
    let mut inputs = Inputs::default();
    for (n, s) in split_statements(text, engine).into_iter().enumerate() {
        let id = format!("{file}:{}", s.line);
        // Parse with placeholders as they are, before anything reads the database.
        let analysis = match analyze(&s.text, engine) {
            Ok(a) => a,
            Err(e) => {
                inputs
                    .skipped
                    .push(skip(&id, &s.text, format!("does not parse: {e}")));
                continue;
            }
        };
        let Some(analysis) = analysis.first() else {
            continue;
        };
        if let Some(reason) = unusable(analysis, catalog) {
            inputs.skipped.push(skip(&id, &s.text, reason));
            continue;
        }
        // One workload per statement, so that a parameter that cannot be drawn (a column
        // without values) skips its statement only.
        let mut notes = Vec::new();
        let drawn = async {
            let (template, params) = workloads::capture::parameterize(
                url,
                engine,
                &s.text,
                &format!("q{}", n + 1),
                &mut notes,
            )
            .await?;
            let spec = WorkloadSpec {
                version: VERSION,
                name: file.to_string(),
                description: format!("statements of {file}"),
                clients: None,
                statement_timeout_ms: None,
                variables: BTreeMap::new(),
                params,
                transactions: vec![TransactionSpec {
                    name: id.clone(),
                    weight: 1.0,
                    statements: vec![template.clone().into()],
                    mysql_statements: engine.is_mysql_family().then(|| vec![template.into()]),
                    captured_calls: None,
                    captured_mean_ms: None,
                }],
            };
            from_workload(&spec, url, catalog, seed.wrapping_add(n as u64)).await
        };
        match drawn.await {
            Ok(mut one) => {
                for st in &mut one.statements {
                    // The file's own text is what the DBA recognizes; every statement
                    // of a file weighs the same.
                    st.template = s.text.clone();
                    st.weight = 1.0;
                }
                inputs.statements.append(&mut one.statements);
                if let Some(w) = one.workload.take() {
                    merge(&mut inputs.workload, w);
                }
                inputs.skipped.append(&mut one.skipped);
                inputs.notes.append(&mut notes);
            }
            Err(e) => inputs.skipped.push(skip(
                &id,
                &s.text,
                format!("its parameters cannot be drawn: {e}"),
            )),
        }
    }
    Ok(inputs)
}
