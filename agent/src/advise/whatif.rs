//! The what-if cost oracle: the workload's weighted planner cost if exactly a given set of
//! new indexes existed, plus the price of maintaining them on writes. The engine-specific
//! part (HypoPG's hypothetical indexes, or real IGNORED indexes on a MariaDB staging copy) is
//! a [`Planner`]; this module keeps the cache, keyed by statement and the candidate indexes
//! on the tables that statement touches, because what-if calls dominate the runtime.
//!
//! Write overhead (planner cost units, where reading one page sequentially costs 1): each row
//! an INSERT adds costs [`ROW_MAINTENANCE`] per new index on its table; an UPDATE pays it for
//! each new index holding a column it writes and, on PostgreSQL, when that index ends
//! heap-only (HOT) updates, for every existing index of the table too; a DELETE pays a
//! quarter (the entries are cleaned later by vacuum or purge). An estimate, stated: the
//! validation replay measures the real effect.

use std::collections::{BTreeSet, HashMap};

use knobs::Engine;
use models::index::{CostOracle, IndexDef};
use serde::Serialize;
use workloads::analysis::Access;

use super::catalog::Catalog;
use super::input::{AdvisedStatement, Skipped};
use super::AdviseError;

/// Planner cost of one index entry written, per row and index.
pub const ROW_MAINTENANCE: f64 = 1.0;

/// One planned statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub cost: f64,
    /// Rows a write statement changes, when it is one.
    pub rows_written: Option<f64>,
}

/// An engine's what-if mechanism.
pub trait Planner {
    /// Make exactly `wanted` the candidate indexes present on `tables` (other tables' are
    /// left as they are: they cannot change these plans).
    fn present(
        &mut self,
        tables: &BTreeSet<String>,
        wanted: &[IndexDef],
    ) -> Result<(), AdviseError>;
    fn explain(&mut self, sql: &str, access: Access, table: &str) -> Result<Plan, AdviseError>;
    fn size(&mut self, index: &IndexDef) -> Result<u64, AdviseError>;
    /// Remove every candidate index (at the end, and on the way out of an error).
    fn clear(&mut self) -> Result<(), AdviseError>;
    /// Hide an existing index from the planner, to see what its drop would slow; false when
    /// this mechanism cannot.
    fn hide(&mut self, _table: &str, _name: &str) -> Result<bool, AdviseError> {
        Ok(false)
    }
    fn unhide(&mut self, _table: &str, _name: &str) -> Result<(), AdviseError> {
        Ok(())
    }
}

impl<T: Planner + ?Sized> Planner for Box<T> {
    fn present(
        &mut self,
        tables: &BTreeSet<String>,
        wanted: &[IndexDef],
    ) -> Result<(), AdviseError> {
        (**self).present(tables, wanted)
    }
    fn explain(&mut self, sql: &str, access: Access, table: &str) -> Result<Plan, AdviseError> {
        (**self).explain(sql, access, table)
    }
    fn size(&mut self, index: &IndexDef) -> Result<u64, AdviseError> {
        (**self).size(index)
    }
    fn clear(&mut self) -> Result<(), AdviseError> {
        (**self).clear()
    }
    fn hide(&mut self, table: &str, name: &str) -> Result<bool, AdviseError> {
        (**self).hide(table, name)
    }
    fn unhide(&mut self, table: &str, name: &str) -> Result<(), AdviseError> {
        (**self).unhide(table, name)
    }
}

#[derive(Debug, Clone)]
struct Costed {
    statement: AdvisedStatement,
    tables: BTreeSet<String>,
    write: Option<Write>,
}

#[derive(Debug, Clone)]
struct Write {
    table: String,
    delete: bool,
    insert: bool,
    written: Vec<String>,
    rows: f64,
    /// No existing index holds a written column: PostgreSQL can update heap-only.
    hot: bool,
    existing_indexes: usize,
}

/// Costs of one statement with and without a set.
#[derive(Debug, Clone, Serialize)]
pub struct StatementCost {
    pub id: String,
    pub weight: f64,
    pub before: f64,
    pub after: f64,
    /// Of `after`: the write overhead of the new indexes.
    pub maintenance: f64,
}

impl StatementCost {
    /// Relative change, negative when faster.
    pub fn change(&self) -> f64 {
        if self.before > 0.0 {
            self.after / self.before - 1.0
        } else {
            0.0
        }
    }

    /// Relative change of the plan alone, write overhead left out: a plan that got worse.
    /// (The planner prices an INSERT at almost nothing, so overhead relative to its plan
    /// says nothing; overhead is weighed in the workload's total instead.)
    pub fn plan_change(&self) -> f64 {
        if self.before > 0.0 {
            (self.after - self.maintenance) / self.before - 1.0
        } else {
            0.0
        }
    }
}

pub struct WhatIf<P: Planner> {
    planner: P,
    engine: Engine,
    statements: Vec<Costed>,
    cache: HashMap<(usize, Vec<IndexDef>), f64>,
    sizes: HashMap<IndexDef, u64>,
    /// Planner calls made (EXPLAINs).
    pub explains: usize,
}

impl<P: Planner> std::fmt::Debug for WhatIf<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatIf")
            .field("statements", &self.statements.len())
            .field("explains", &self.explains)
            .finish_non_exhaustive()
    }
}

impl<P: Planner> WhatIf<P> {
    /// Plan every statement once with no candidate index; the ones the planner rejects are
    /// returned as skipped with its message.
    pub fn new(
        mut planner: P,
        catalog: &Catalog,
        statements: Vec<AdvisedStatement>,
    ) -> Result<(WhatIf<P>, Vec<Skipped>), AdviseError> {
        let mut kept = Vec::new();
        let mut skipped = Vec::new();
        let mut explains = 0;
        for s in statements {
            let tables: BTreeSet<String> = s.analysis.tables.iter().cloned().collect();
            let first = s.analysis.tables.first().cloned().unwrap_or_default();
            let mut rows = 0.0;
            let mut failed = None;
            for sql in &s.instances {
                explains += 1;
                match planner.explain(sql, s.analysis.access, &first) {
                    Ok(p) => rows += p.rows_written.unwrap_or(0.0),
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            if let Some(reason) = failed {
                skipped.push(Skipped {
                    id: s.id.clone(),
                    statement: s.template.clone(),
                    reason: format!("the planner rejected it: {reason}"),
                });
                continue;
            }
            let write = (s.analysis.access == Access::Write).then(|| {
                let verb = s.template.trim_start().to_ascii_lowercase();
                let written: Vec<String> = s
                    .analysis
                    .written
                    .iter()
                    .map(|c| c.column.clone())
                    .collect();
                let info = catalog.table(&first);
                let existing: Vec<Vec<String>> = info
                    .map(|t| {
                        t.indexes
                            .iter()
                            .map(|i| {
                                i.columns
                                    .iter()
                                    .flatten()
                                    .chain(&i.include)
                                    .cloned()
                                    .collect()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Write {
                    table: first.clone(),
                    delete: verb.starts_with("delete"),
                    insert: verb.starts_with("insert") || verb.starts_with("replace"),
                    hot: !existing
                        .iter()
                        .any(|cols| cols.iter().any(|c| written.contains(c))),
                    existing_indexes: existing.len(),
                    written,
                    rows: rows / s.instances.len().max(1) as f64,
                }
            });
            kept.push(Costed {
                statement: s,
                tables,
                write,
            });
        }
        Ok((
            WhatIf {
                planner,
                engine: catalog.engine,
                statements: kept,
                cache: HashMap::new(),
                sizes: HashMap::new(),
                explains,
            },
            skipped,
        ))
    }

    pub fn statements(&self) -> impl Iterator<Item = &AdvisedStatement> {
        self.statements.iter().map(|c| &c.statement)
    }

    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Distinct (statement, relevant index set) costings made.
    pub fn costings(&self) -> usize {
        self.cache.len()
    }

    /// The planner cost of statement `i` (mean over its instances) with `set`'s indexes on
    /// its tables.
    fn plan_cost(&mut self, i: usize, set: &[IndexDef]) -> Result<f64, AdviseError> {
        let c = &self.statements[i];
        let mut relevant: Vec<IndexDef> = set
            .iter()
            .filter(|x| c.tables.contains(&x.table))
            .cloned()
            .collect();
        relevant.sort();
        relevant.dedup();
        if let Some(v) = self.cache.get(&(i, relevant.clone())) {
            return Ok(*v);
        }
        self.planner.present(&c.tables, &relevant)?;
        let mean = self.mean_cost(i)?;
        self.cache.insert((i, relevant), mean);
        Ok(mean)
    }

    /// The planner's cost of statement `i` (mean over its instances) with the indexes the
    /// planner has now.
    fn mean_cost(&mut self, i: usize) -> Result<f64, AdviseError> {
        let s = &self.statements[i].statement;
        let first = s.analysis.tables.first().cloned().unwrap_or_default();
        let mut total = 0.0;
        for sql in &s.instances {
            self.explains += 1;
            total += self.planner.explain(sql, s.analysis.access, &first)?.cost;
        }
        Ok(total / s.instances.len().max(1) as f64)
    }

    /// Write overhead of `set` for statement `i`, per execution.
    fn maintenance(&self, i: usize, set: &[IndexDef]) -> f64 {
        let Some(w) = &self.statements[i].write else {
            return 0.0;
        };
        let mut entries = 0.0;
        let mut breaks_hot = false;
        for index in set.iter().filter(|x| x.table == w.table) {
            if w.insert {
                entries += 1.0;
            } else if w.delete {
                entries += 0.25;
            } else if index
                .columns
                .iter()
                .chain(&index.include)
                .any(|c| w.written.contains(c))
            {
                entries += 1.0;
                breaks_hot = true;
            }
        }
        if breaks_hot && w.hot && self.engine == Engine::Postgres {
            entries += w.existing_indexes as f64;
        }
        entries * w.rows * ROW_MAINTENANCE
    }

    /// Per statement: cost with no candidate and with `set`.
    pub fn compare(&mut self, set: &[IndexDef]) -> Result<Vec<StatementCost>, AdviseError> {
        let mut out = Vec::with_capacity(self.statements.len());
        for i in 0..self.statements.len() {
            let before = self.plan_cost(i, &[])?;
            let plan = self.plan_cost(i, set)?;
            let maintenance = self.maintenance(i, set);
            let s = &self.statements[i].statement;
            out.push(StatementCost {
                id: s.id.clone(),
                weight: s.weight,
                before,
                after: plan + maintenance,
                maintenance,
            });
        }
        Ok(out)
    }

    pub fn clear(&mut self) -> Result<(), AdviseError> {
        self.planner.clear()
    }

    /// The statements that would get slower (by more than 1%) if the existing index `name` on
    /// `table` were dropped, with no candidate index present; `None` when the mechanism
    /// cannot hide an index.
    pub fn drop_impact(
        &mut self,
        table: &str,
        name: &str,
    ) -> Result<Option<Vec<StatementCost>>, AdviseError> {
        let affected: Vec<usize> = (0..self.statements.len())
            .filter(|i| self.statements[*i].tables.contains(table))
            .collect();
        let mut before = Vec::with_capacity(affected.len());
        for &i in &affected {
            before.push(self.plan_cost(i, &[])?);
        }
        for &i in &affected {
            let tables = self.statements[i].tables.clone();
            self.planner.present(&tables, &[])?;
        }
        if !self.planner.hide(table, name)? {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut failure = None;
        for (k, &i) in affected.iter().enumerate() {
            // Unhide before any error goes out.
            let after = match self.mean_cost(i) {
                Ok(a) => a,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if after > before[k] * 1.01 {
                let c = &self.statements[i].statement;
                out.push(StatementCost {
                    id: c.id.clone(),
                    weight: c.weight,
                    before: before[k],
                    after,
                    maintenance: 0.0,
                });
            }
        }
        self.planner.unhide(table, name)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(Some(out)),
        }
    }

    pub fn into_planner(self) -> P {
        self.planner
    }
}

impl<P: Planner> CostOracle for WhatIf<P> {
    type Error = AdviseError;

    fn workload_cost(&mut self, indexes: &[IndexDef]) -> Result<f64, AdviseError> {
        let mut total = 0.0;
        for i in 0..self.statements.len() {
            let w = self.statements[i].statement.weight;
            total += w * (self.plan_cost(i, indexes)? + self.maintenance(i, indexes));
        }
        Ok(total)
    }

    fn index_size(&mut self, index: &IndexDef) -> Result<u64, AdviseError> {
        if let Some(s) = self.sizes.get(index) {
            return Ok(*s);
        }
        let s = self.planner.size(index)?;
        self.sizes.insert(index.clone(), s);
        Ok(s)
    }
}
