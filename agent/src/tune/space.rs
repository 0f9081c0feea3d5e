//! Which knobs a session searches, and the optimizer's view of them.
//!
//! `--knobs LIST` names them; `--knobs top:N` starts from the workload's default list and
//! narrows to the N that mattered most in the initial design (a Lasso ranking, OtterTune's
//! method); without `--knobs` the workload's default list is searched. Defaults are
//! durability-safe: the commit-losing knobs join only with `--allow-durability-risk`.

use anyhow::Result;
use knobs::{catalog, Durability, Engine, Knob, KnobKind, Space};
use models::{DimKind, SearchSpace};

use crate::BadInput;

/// What the user asked to search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnobSelection {
    /// The workload's default list.
    Default,
    /// These knobs exactly.
    List(Vec<String>),
    /// The workload's default list, narrowed after the initial design to the N most important.
    Top(usize),
}

impl KnobSelection {
    /// Parse `--knobs`: `top:N` or a comma-separated list of names.
    pub fn parse(text: &str) -> Result<KnobSelection, BadInput> {
        let text = text.trim();
        if let Some(n) = text.strip_prefix("top:") {
            return match n.trim().parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Ok(KnobSelection::Top(n)),
                _ => Err(BadInput(format!(
                    "--knobs {text}: top:N needs N between 1 and 64"
                ))),
            };
        }
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            return Err(BadInput(
                "--knobs: give knob names separated by commas, or top:N".into(),
            ));
        }
        Ok(KnobSelection::List(names))
    }
}

/// The kind of load a workload puts on the server, for its default knob list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// Small transactions bound by commits and checkpoints.
    Writes,
    /// Reads and analytic queries: caches, sorts, hashes, parallelism, planner costs.
    Reads,
    /// Both (a captured or hand-written workload).
    Mixed,
}

impl LoadKind {
    /// The kind of a built-in by name; files are `Mixed`.
    pub fn of_builtin(name: &str) -> LoadKind {
        match name {
            "tpcb" | "tpcc" | "ycsb-a" => LoadKind::Writes,
            _ => LoadKind::Reads,
        }
    }
}

const PG_WRITES: &[&str] = &[
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "checkpoint_completion_target",
    "wal_buffers",
    "commit_delay",
    "commit_siblings",
];
const PG_READS: &[&str] = &[
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "random_page_cost",
    "effective_io_concurrency",
    "jit",
    "max_parallel_workers_per_gather",
];
const MY_WRITES: &[&str] = &[
    "innodb_buffer_pool_size",
    "innodb_log_file_size",
    "innodb_log_buffer_size",
    "innodb_io_capacity",
    "innodb_flush_neighbors",
    "innodb_adaptive_hash_index",
];
const MY_READS: &[&str] = &[
    "innodb_buffer_pool_size",
    "innodb_adaptive_hash_index",
    "innodb_old_blocks_time",
    "innodb_read_ahead_threshold",
    "sort_buffer_size",
    "join_buffer_size",
    "tmp_table_size",
];

/// The default, durability-safe knobs for a load on an engine, plus the commit-losing knobs
/// of the catalog when the user allowed them.
pub fn default_knobs(
    engine: Engine,
    load: LoadKind,
    catalog: &[Knob],
    allow_durability_risk: bool,
) -> Vec<String> {
    let (writes, reads) = if engine.is_mysql_family() {
        (MY_WRITES, MY_READS)
    } else {
        (PG_WRITES, PG_READS)
    };
    let lists: &[&[&str]] = match load {
        LoadKind::Writes => &[writes],
        LoadKind::Reads => &[reads],
        LoadKind::Mixed => &[reads, writes],
    };
    let mut names: Vec<String> = Vec::new();
    for name in lists.iter().flat_map(|l| l.iter()) {
        // A knob this server version does not have is left out, not an error.
        if catalog::find(catalog, name).is_ok() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    if allow_durability_risk {
        names.extend(
            catalog
                .iter()
                .filter(|k| k.durability == Durability::MayLoseCommits)
                // Searchable ones only: sync_binlog, say, has no range worth searching.
                .filter(|k| {
                    k.range.is_some() || matches!(k.kind, KnobKind::Bool | KnobKind::Enum { .. })
                })
                .map(|k| k.name.clone()),
        );
    }
    names
}

/// The optimizer's view of a knob space: booleans and enums are categorical, small linear
/// integer ranges are integer levels, the rest continuous (as `models::space` documents).
pub fn search_space(space: &Space) -> Result<SearchSpace> {
    let kinds = space
        .dimensions()
        .iter()
        .map(|d| match (&d.knob.kind, d.range) {
            (KnobKind::Bool, _) => DimKind::Categorical { choices: 2 },
            (KnobKind::Enum { values }, _) => DimKind::Categorical {
                choices: values.len() as u32,
            },
            (KnobKind::Integer { unit, .. }, Some(r))
                if r.scale == knobs::Scale::Linear
                    && *unit != knobs::Unit::Bytes
                    && r.high - r.low + 1.0 <= 64.0 =>
            {
                DimKind::Integer {
                    levels: (r.high - r.low + 1.0) as u32,
                }
            }
            _ => DimKind::Continuous,
        })
        .collect();
    Ok(SearchSpace::new(kinds)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knob_selections_parse_and_bad_ones_are_named() {
        assert_eq!(
            KnobSelection::parse("top:3").unwrap(),
            KnobSelection::Top(3)
        );
        assert_eq!(
            KnobSelection::parse("work_mem, jit").unwrap(),
            KnobSelection::List(vec!["work_mem".into(), "jit".into()])
        );
        for bad in ["top:0", "top:x", "top:", " , ", ""] {
            let e = KnobSelection::parse(bad).unwrap_err();
            assert!(e.0.contains("--knobs"), "{bad}: {e}");
        }
    }

    #[test]
    fn default_lists_are_durability_safe_unless_allowed() {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        for load in [LoadKind::Writes, LoadKind::Reads, LoadKind::Mixed] {
            let names = default_knobs(Engine::Postgres, load, &cat, false);
            assert!(!names.is_empty());
            for n in &names {
                let k = catalog::find(&cat, n).unwrap();
                assert_eq!(k.durability, Durability::Safe, "{n}");
            }
        }
        let risky = default_knobs(Engine::Postgres, LoadKind::Writes, &cat, true);
        assert!(risky.iter().any(|n| n == "synchronous_commit"), "{risky:?}");
        let mixed = default_knobs(Engine::Postgres, LoadKind::Mixed, &cat, false);
        let unique: std::collections::BTreeSet<_> = mixed.iter().collect();
        assert_eq!(unique.len(), mixed.len(), "no knob twice: {mixed:?}");
    }
}
