//! Index-set selection over a what-if cost oracle: which indexes to build, under a storage
//! budget, to make a workload cheapest. The oracle (HypoPG on PostgreSQL, invisible indexes
//! on a MySQL staging copy) lives in the agent; here are the algorithms.
//!
//! - [`extend`]: Extend (Schlosser et al. 2019, best or near-best in the VLDB 2020
//!   evaluation): start empty; each round take the move with the best cost reduction per
//!   byte — add a single-column index, or append a column to a chosen index — until no move
//!   gains more than a threshold or fits the budget.
//! - [`greedy`]: AutoAdmin-style greedy(m, k): the best set of up to `m` candidates by
//!   exhaustive search, then greedy additions up to `k` indexes. (AutoAdmin also picks
//!   per-query candidates first; the caller's candidate list plays that role here.)
//! - [`exhaustive`]: every subset of a small candidate list within the budget: the
//!   reference the others are tested against.
//!
//! What-if calls dominate the run time, so every algorithm goes through a cache keyed by
//! the (sorted) index set.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An index: a table, its ordered key columns, the columns it only carries (`INCLUDE`, for
/// index-only scans) and the predicate of a partial index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexDef {
    pub table: String,
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// SQL of a partial index's WHERE clause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
}

impl IndexDef {
    pub fn new(table: &str, columns: &[&str]) -> IndexDef {
        IndexDef {
            table: table.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            include: Vec::new(),
            predicate: None,
        }
    }

    /// A plain index (no INCLUDE, no predicate) on these key columns.
    fn plain(table: &str, columns: Vec<String>) -> IndexDef {
        IndexDef {
            table: table.to_string(),
            columns,
            include: Vec::new(),
            predicate: None,
        }
    }
}

/// Costs of hypothetical index sets, from the database's planner.
pub trait CostOracle {
    type Error: std::error::Error + 'static;
    /// Estimated cost of the whole (weighted) workload if exactly `indexes` existed.
    fn workload_cost(&mut self, indexes: &[IndexDef]) -> Result<f64, Self::Error>;
    /// Estimated size of an index, in bytes.
    fn index_size(&mut self, index: &IndexDef) -> Result<u64, Self::Error>;
}

/// Errors of a selection run.
#[derive(Debug, Error)]
pub enum SelectionError<E: std::error::Error + 'static> {
    #[error("what-if oracle failed: {0}")]
    Oracle(#[source] E),
    #[error(
        "exhaustive search over {got} candidates is too large; at most {max}: use extend or greedy"
    )]
    TooManyCandidates { got: usize, max: usize },
}

/// A chosen index set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub indexes: Vec<IndexDef>,
    /// Workload cost with the chosen indexes.
    pub cost: f64,
    /// Workload cost with none.
    pub base_cost: f64,
    /// Total size of the chosen indexes, in bytes (never above the budget).
    pub size: u64,
    /// Distinct what-if cost evaluations made.
    pub whatif_calls: usize,
}

/// Settings of [`extend`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExtendSettings {
    /// Widest index considered.
    pub max_width: usize,
    /// Stop when the best move improves the cost by less than this fraction.
    pub min_relative_gain: f64,
    /// Most indexes chosen on one table.
    pub max_per_table: usize,
}

impl Default for ExtendSettings {
    fn default() -> Self {
        ExtendSettings {
            max_width: 3,
            min_relative_gain: 0.003,
            max_per_table: usize::MAX,
        }
    }
}

/// Most candidates [`exhaustive`] accepts (2^20 subsets).
pub const EXHAUSTIVE_MAX: usize = 20;

struct Cached<'a, O: CostOracle> {
    oracle: &'a mut O,
    costs: HashMap<BTreeSet<IndexDef>, f64>,
    sizes: HashMap<IndexDef, u64>,
}

impl<'a, O: CostOracle> Cached<'a, O> {
    fn new(oracle: &'a mut O) -> Self {
        Cached {
            oracle,
            costs: HashMap::new(),
            sizes: HashMap::new(),
        }
    }

    fn cost(&mut self, set: &[IndexDef]) -> Result<f64, SelectionError<O::Error>> {
        let key: BTreeSet<IndexDef> = set.iter().cloned().collect();
        if let Some(c) = self.costs.get(&key) {
            return Ok(*c);
        }
        let sorted: Vec<IndexDef> = key.iter().cloned().collect();
        let c = self
            .oracle
            .workload_cost(&sorted)
            .map_err(SelectionError::Oracle)?;
        self.costs.insert(key, c);
        Ok(c)
    }

    fn size(&mut self, index: &IndexDef) -> Result<u64, SelectionError<O::Error>> {
        if let Some(s) = self.sizes.get(index) {
            return Ok(*s);
        }
        let s = self
            .oracle
            .index_size(index)
            .map_err(SelectionError::Oracle)?;
        self.sizes.insert(index.clone(), s);
        Ok(s)
    }

    fn total_size(&mut self, set: &[IndexDef]) -> Result<u64, SelectionError<O::Error>> {
        let mut t = 0u64;
        for i in set {
            t = t.saturating_add(self.size(i)?);
        }
        Ok(t)
    }

    fn finish(
        mut self,
        indexes: Vec<IndexDef>,
        base_cost: f64,
    ) -> Result<Selection, SelectionError<O::Error>> {
        let cost = self.cost(&indexes)?;
        let size = self.total_size(&indexes)?;
        Ok(Selection {
            indexes,
            cost,
            base_cost,
            size,
            whatif_calls: self.costs.len(),
        })
    }
}

/// Extend over single-column `attributes` (table, column) under `budget` bytes. `whole` are
/// indexes also tried as one move each (multi-column, covering or partial candidates built
/// for particular statements), so that an index whose first column alone gains nothing can
/// still be found.
pub fn extend<O: CostOracle>(
    oracle: &mut O,
    attributes: &[(String, String)],
    whole: &[IndexDef],
    budget: u64,
    settings: &ExtendSettings,
) -> Result<Selection, SelectionError<O::Error>> {
    let mut cache = Cached::new(oracle);
    let base = cache.cost(&[])?;
    let mut chosen: Vec<IndexDef> = Vec::new();
    let mut cost = base;
    let mut used = 0u64;
    loop {
        // (ratio, new set, new cost, new size)
        let mut best: Option<(f64, Vec<IndexDef>, f64, u64)> = None;
        let mut consider = |cache: &mut Cached<O>,
                            set: Vec<IndexDef>,
                            size: u64|
         -> Result<(), SelectionError<O::Error>> {
            if size > budget {
                return Ok(());
            }
            let c = cache.cost(&set)?;
            let gain = cost - c;
            if gain <= settings.min_relative_gain * cost.abs() {
                return Ok(());
            }
            let ratio = gain / (size.saturating_sub(used).max(1) as f64);
            if best.as_ref().is_none_or(|(r, ..)| ratio > *r) {
                best = Some((ratio, set, c, size));
            }
            Ok(())
        };
        let singles = attributes
            .iter()
            .map(|(table, column)| IndexDef::plain(table, vec![column.clone()]));
        for index in singles.chain(whole.iter().cloned()) {
            let on_table = chosen.iter().filter(|c| c.table == index.table).count();
            if chosen.contains(&index) || on_table >= settings.max_per_table {
                continue;
            }
            let size = used.saturating_add(cache.size(&index)?);
            let mut set = chosen.clone();
            set.push(index);
            consider(&mut cache, set, size)?;
        }
        for i in 0..chosen.len() {
            // Covering and partial indexes are taken as built; only plain ones widen.
            if chosen[i].columns.len() >= settings.max_width
                || !chosen[i].include.is_empty()
                || chosen[i].predicate.is_some()
            {
                continue;
            }
            for (table, column) in attributes {
                if *table != chosen[i].table || chosen[i].columns.contains(column) {
                    continue;
                }
                let mut wider = chosen[i].clone();
                wider.columns.push(column.clone());
                if chosen.contains(&wider) {
                    continue;
                }
                let size = (used - cache.size(&chosen[i])?).saturating_add(cache.size(&wider)?);
                let mut set = chosen.clone();
                set[i] = wider;
                consider(&mut cache, set, size)?;
            }
        }
        match best {
            Some((_, set, c, size)) => {
                chosen = set;
                cost = c;
                used = size;
            }
            None => break,
        }
    }
    cache.finish(chosen, base)
}

/// AutoAdmin-style greedy(m, k) over `candidates` under `budget` bytes.
pub fn greedy<O: CostOracle>(
    oracle: &mut O,
    candidates: &[IndexDef],
    budget: u64,
    m: usize,
    k: usize,
) -> Result<Selection, SelectionError<O::Error>> {
    let mut cache = Cached::new(oracle);
    let base = cache.cost(&[])?;
    // Exhaustive seed over subsets of size ≤ m.
    let mut seed: Vec<IndexDef> = Vec::new();
    let mut seed_cost = base;
    let mut stack: Vec<(usize, Vec<IndexDef>)> = vec![(0, Vec::new())];
    while let Some((start, set)) = stack.pop() {
        if set.len() >= m.min(k) {
            continue;
        }
        for (j, cand) in candidates.iter().enumerate().skip(start) {
            let mut next = set.clone();
            next.push(cand.clone());
            if cache.total_size(&next)? > budget {
                continue;
            }
            let c = cache.cost(&next)?;
            if c < seed_cost {
                seed_cost = c;
                seed.clone_from(&next);
            }
            stack.push((j + 1, next));
        }
    }
    let mut chosen = seed;
    let mut cost = seed_cost;
    while chosen.len() < k {
        let mut best: Option<(f64, IndexDef)> = None;
        for cand in candidates {
            if chosen.contains(cand) {
                continue;
            }
            let mut next = chosen.clone();
            next.push(cand.clone());
            if cache.total_size(&next)? > budget {
                continue;
            }
            let c = cache.cost(&next)?;
            if c < cost && best.as_ref().is_none_or(|(b, _)| c < *b) {
                best = Some((c, cand.clone()));
            }
        }
        match best {
            Some((c, cand)) => {
                chosen.push(cand);
                cost = c;
            }
            None => break,
        }
    }
    cache.finish(chosen, base)
}

/// The cheapest subset of `candidates` within `budget` bytes (at most [`EXHAUSTIVE_MAX`]
/// candidates). Ties go to the smaller total size.
pub fn exhaustive<O: CostOracle>(
    oracle: &mut O,
    candidates: &[IndexDef],
    budget: u64,
) -> Result<Selection, SelectionError<O::Error>> {
    if candidates.len() > EXHAUSTIVE_MAX {
        return Err(SelectionError::TooManyCandidates {
            got: candidates.len(),
            max: EXHAUSTIVE_MAX,
        });
    }
    let mut cache = Cached::new(oracle);
    let base = cache.cost(&[])?;
    let mut best: (f64, u64, Vec<IndexDef>) = (base, 0, Vec::new());
    for mask in 1u32..(1u32 << candidates.len()) {
        let set: Vec<IndexDef> = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1)
            .map(|(_, c)| c.clone())
            .collect();
        let size = cache.total_size(&set)?;
        if size > budget {
            continue;
        }
        let c = cache.cost(&set)?;
        if c < best.0 || (c == best.0 && size < best.1) {
            best = (c, size, set);
        }
    }
    cache.finish(best.2, base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Queries filter on a prefix of columns of one table. An index serves a query when its
    /// leading columns are a prefix of the query's columns; the query's cost is divided by
    /// `speedup ^ (matched columns)`. A query uses its best index.
    struct Synthetic {
        queries: Vec<(String, Vec<String>, f64, f64)>, // table, columns, base cost, speedup
        sizes: HashMap<IndexDef, u64>,
        column_size: u64,
    }

    #[derive(Debug, Error)]
    #[error("never")]
    struct Never;

    impl CostOracle for Synthetic {
        type Error = Never;
        fn workload_cost(&mut self, indexes: &[IndexDef]) -> Result<f64, Never> {
            Ok(self
                .queries
                .iter()
                .map(|(t, cols, base, speedup)| {
                    let matched = indexes
                        .iter()
                        .filter(|i| &i.table == t)
                        .map(|i| {
                            i.columns
                                .iter()
                                .zip(cols)
                                .take_while(|(a, b)| a == b)
                                .count()
                        })
                        .max()
                        .unwrap_or(0);
                    base / speedup.powi(matched as i32)
                })
                .sum())
        }
        fn index_size(&mut self, index: &IndexDef) -> Result<u64, Never> {
            Ok(*self
                .sizes
                .get(index)
                .unwrap_or(&(self.column_size * index.columns.len() as u64)))
        }
    }

    fn attrs(oracle: &Synthetic) -> Vec<(String, String)> {
        let mut a: BTreeSet<(String, String)> = BTreeSet::new();
        for (t, cols, ..) in &oracle.queries {
            for c in cols {
                a.insert((t.clone(), c.clone()));
            }
        }
        a.into_iter().collect()
    }

    fn single_column_candidates(oracle: &Synthetic) -> Vec<IndexDef> {
        attrs(oracle)
            .into_iter()
            .map(|(t, c)| IndexDef::plain(&t, vec![c]))
            .collect()
    }

    /// Each query filters one distinct column: benefits add up, sizes are equal, so greedy
    /// choices are optimal for any budget (a modular objective with a cardinality limit).
    fn modular(seed: u64) -> Synthetic {
        let mut rng = StdRng::seed_from_u64(seed);
        Synthetic {
            queries: (0..8)
                .map(|i| {
                    (
                        format!("t{}", i % 3),
                        vec![format!("c{i}")],
                        rng.gen_range(10.0..100.0),
                        rng.gen_range(1.5..20.0),
                    )
                })
                .collect(),
            sizes: HashMap::new(),
            column_size: 100,
        }
    }

    #[test]
    fn extend_and_greedy_match_exhaustive_on_modular_instances() {
        for seed in 0..10 {
            for budget in [0, 100, 250, 300, 500, 800] {
                let mut o = modular(seed);
                let cands = single_column_candidates(&o);
                let reference = exhaustive(&mut o, &cands, budget).unwrap();
                let settings = ExtendSettings {
                    min_relative_gain: 0.0,
                    ..ExtendSettings::default()
                };
                let a = attrs(&o);
                let e = extend(&mut o, &a, &[], budget, &settings).unwrap();
                let g = greedy(&mut o, &cands, budget, 1, cands.len()).unwrap();
                for s in [&e, &g] {
                    assert!(s.size <= budget, "{s:?}");
                    assert!(
                        (s.cost - reference.cost).abs() < 1e-9,
                        "seed {seed} budget {budget}: {} vs optimum {}",
                        s.cost,
                        reference.cost
                    );
                }
            }
        }
    }

    #[test]
    fn extend_widens_an_index_when_a_query_needs_two_columns() {
        let mut o = Synthetic {
            queries: vec![
                (
                    "orders".into(),
                    vec!["customer".into(), "day".into()],
                    100.0,
                    10.0,
                ),
                ("orders".into(), vec!["status".into()], 5.0, 2.0),
            ],
            sizes: HashMap::new(),
            column_size: 100,
        };
        let a = attrs(&o);
        let s = extend(&mut o, &a, &[], 200, &ExtendSettings::default()).unwrap();
        assert_eq!(
            s.indexes,
            vec![IndexDef::new("orders", &["customer", "day"])]
        );
        assert_eq!(s.size, 200);
        assert!((s.cost - (1.0 + 5.0)).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn extend_respects_the_per_table_cap_and_tries_whole_candidates() {
        let queries = vec![
            ("t".to_string(), vec!["a".to_string()], 100.0, 10.0),
            ("t".to_string(), vec!["b".to_string()], 50.0, 10.0),
            ("u".to_string(), vec!["c".to_string()], 10.0, 10.0),
        ];
        let mut o = Synthetic {
            queries: queries.clone(),
            sizes: HashMap::new(),
            column_size: 100,
        };
        let a = attrs(&o);
        let capped = ExtendSettings {
            max_per_table: 1,
            ..ExtendSettings::default()
        };
        let s = extend(&mut o, &a, &[], 10_000, &capped).unwrap();
        assert_eq!(
            s.indexes,
            vec![IndexDef::new("t", &["a"]), IndexDef::new("u", &["c"])]
        );
        let uncapped = extend(&mut o, &a, &[], 10_000, &ExtendSettings::default()).unwrap();
        assert_eq!(uncapped.indexes.len(), 3, "{uncapped:?}");
        // A whole candidate is one move: a cheap two-column index serving both columns of a
        // query beats widening step by step when singles are priced out.
        let mut o = Synthetic {
            queries: vec![("t".into(), vec!["a".into(), "b".into()], 100.0, 10.0)],
            sizes: HashMap::from([
                (IndexDef::new("t", &["a"]), 1_000),
                (IndexDef::new("t", &["a", "b"]), 150),
            ]),
            column_size: 1_000,
        };
        let a = attrs(&o);
        let none = extend(&mut o, &a, &[], 200, &ExtendSettings::default()).unwrap();
        assert!(none.indexes.is_empty(), "{none:?}");
        let whole = [IndexDef::new("t", &["a", "b"])];
        let s = extend(&mut o, &a, &whole, 200, &ExtendSettings::default()).unwrap();
        assert_eq!(s.indexes, whole.to_vec());
    }

    #[test]
    fn never_exceed_the_budget_and_never_beat_the_optimum() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut o = Synthetic {
                queries: (0..6)
                    .map(|_| {
                        let t = format!("t{}", rng.gen_range(0..2));
                        let cols: Vec<String> = (0..rng.gen_range(1..3))
                            .map(|_| format!("c{}", rng.gen_range(0..4)))
                            .collect();
                        (t, cols, rng.gen_range(1.0..50.0), rng.gen_range(1.1..10.0))
                    })
                    .collect(),
                sizes: HashMap::new(),
                column_size: 0,
            };
            let cands = single_column_candidates(&o);
            for c in &cands {
                o.sizes.insert(c.clone(), rng.gen_range(10..200));
            }
            let budget = rng.gen_range(0..400);
            let reference = exhaustive(&mut o, &cands, budget).unwrap();
            let a = attrs(&o);
            let e = extend(&mut o, &a, &[], budget, &ExtendSettings::default()).unwrap();
            let g = greedy(&mut o, &cands, budget, 2, 4).unwrap();
            for s in [&e, &g] {
                assert!(s.size <= budget, "{s:?} over {budget}");
                assert!(s.cost <= s.base_cost);
            }
            // Extend may build wider indexes than the single-column reference; greedy cannot
            // beat the optimum over its own candidates.
            assert!(g.cost >= reference.cost - 1e-9);
        }
        let mut o = modular(0);
        let many: Vec<IndexDef> = (0..21)
            .map(|i| IndexDef::new("t", &[&format!("c{i}")]))
            .collect();
        assert!(matches!(
            exhaustive(&mut o, &many, 10),
            Err(SelectionError::TooManyCandidates { got: 21, .. })
        ));
    }
}
