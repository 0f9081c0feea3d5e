//! Indexes worth dropping: invalid ones (left by a failed concurrent build), exact duplicates,
//! redundant prefixes of another index, and indexes no scan used over a long enough window.
//! Never an index that backs a primary key, a unique or exclusion constraint, or a foreign
//! key's lookup. Pure: the catalog was read before; what a drop would slow is measured by the
//! caller with the what-if planner.

use std::time::Duration;

use serde::Serialize;

use super::catalog::{Catalog, ExistingIndex};
use super::ddl::drop_sql;
use super::whatif::StatementCost;

#[derive(Debug, Clone, Serialize)]
pub struct DropAdvice {
    pub table: String,
    pub index: String,
    pub reason: String,
    pub bytes: u64,
    /// The statement that drops it without blocking writes.
    pub ddl: String,
    /// How to build it again.
    pub rollback: String,
    /// Statements the drop would slow, by the what-if planner; `None` when it could not tell.
    pub slows: Option<Vec<StatementCost>>,
}

/// `CREATE … INDEX name ON` removed: two definitions equal after this are duplicates.
fn shape(i: &ExistingIndex) -> String {
    match i.definition.find(" ON ") {
        Some(at) if !i.definition.is_empty() => {
            let unique = i.definition.starts_with("CREATE UNIQUE");
            format!("{}{}", if unique { "u" } else { "" }, &i.definition[at..])
        }
        _ => format!(
            "{}|{:?}|{:?}|{:?}",
            i.method, i.columns, i.include, i.predicate
        ),
    }
}

/// The index is one we must never propose to drop.
fn protected(i: &ExistingIndex) -> bool {
    i.primary || i.constraint
}

/// Drop candidates in `catalog`. `min_unused_window`: how long usage must have been counted
/// before an index with no scan is called unused.
pub fn candidates(catalog: &Catalog, min_unused_window: Duration) -> Vec<DropAdvice> {
    let engine = catalog.engine;
    let mut out: Vec<DropAdvice> = Vec::new();
    let advice = |i: &ExistingIndex, reason: String| DropAdvice {
        table: i.table.clone(),
        index: i.name.clone(),
        reason,
        bytes: i.bytes,
        ddl: drop_sql(engine, &i.table, &i.name),
        rollback: if engine.is_mysql_family() {
            i.definition.clone()
        } else {
            super::ddl::concurrently(&i.definition)
        },
        slows: None,
    };
    for (table, t) in &catalog.tables {
        let _ = table;
        let mut taken: Vec<&str> = Vec::new();
        for i in &t.indexes {
            if !i.valid && !i.primary {
                out.push(advice(
                    i,
                    "invalid: left by a failed CREATE INDEX CONCURRENTLY; it is maintained on writes but never used".into(),
                ));
                taken.push(&i.name);
            }
        }
        // Exact duplicates: keep the protected one, else the first by name.
        for (a_at, a) in t.indexes.iter().enumerate() {
            if taken.contains(&a.name.as_str()) || protected(a) {
                continue;
            }
            let twin = t.indexes.iter().enumerate().find(|(b_at, b)| {
                *b_at != a_at
                    && b.valid
                    && !taken.contains(&b.name.as_str())
                    && shape(b).trim_start_matches('u') == shape(a).trim_start_matches('u')
                    && (protected(b) || b.unique || (!a.unique && *b_at < a_at))
            });
            if let Some((_, b)) = twin {
                out.push(advice(a, format!("duplicate of {}", b.name)));
                taken.push(&a.name);
            }
        }
        // Redundant prefixes: every key of `a` leads `b`'s keys, same predicate.
        for a in &t.indexes {
            if taken.contains(&a.name.as_str()) || protected(a) || a.unique || !a.valid {
                continue;
            }
            let Some(a_cols) = a.plain_columns() else {
                continue;
            };
            let wider = t.indexes.iter().find(|b| {
                let Some(b_cols) = b.plain_columns() else {
                    return false;
                };
                b.name != a.name
                    && b.valid
                    && b.method == a.method
                    && !taken.contains(&b.name.as_str())
                    && b_cols.len() > a_cols.len()
                    && b_cols[..a_cols.len()] == a_cols[..]
                    && a.predicate == b.predicate
                    && a.include
                        .iter()
                        .all(|c| b_cols.contains(c) || b.include.contains(c))
            });
            if let Some(b) = wider {
                out.push(advice(
                    a,
                    format!(
                        "redundant: its keys ({}) lead {} ({})",
                        a_cols.join(", "),
                        b.name,
                        b.plain_columns().unwrap_or_default().join(", ")
                    ),
                ));
                taken.push(&a.name);
            }
        }
        if let Some(window) = catalog.usage_window.filter(|w| *w >= min_unused_window) {
            for i in &t.indexes {
                if taken.contains(&i.name.as_str()) || protected(i) || i.unique {
                    continue;
                }
                if i.scans == Some(0) {
                    out.push(advice(
                        i,
                        format!(
                            "unused: no scan in {} of statistics",
                            humantime::format_duration(Duration::from_secs(window.as_secs()))
                        ),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use knobs::Engine;

    use super::*;
    use crate::advise::catalog::TableInfo;

    fn index(name: &str, cols: &[&str], unique: bool, primary: bool, scans: u64) -> ExistingIndex {
        ExistingIndex {
            name: name.into(),
            table: "t".into(),
            columns: cols.iter().map(|c| Some(c.to_string())).collect(),
            include: vec![],
            predicate: None,
            method: "btree".into(),
            unique,
            primary,
            constraint: primary || unique,
            valid: true,
            bytes: 8192,
            scans: Some(scans),
            definition: format!(
                "CREATE {}INDEX {name} ON public.t USING btree ({})",
                if unique { "UNIQUE " } else { "" },
                cols.join(", ")
            ),
        }
    }

    fn catalog(indexes: Vec<ExistingIndex>, window: u64) -> Catalog {
        Catalog {
            engine: Engine::Postgres,
            version: (15, 0),
            database_bytes: 1 << 20,
            tables: BTreeMap::from([(
                "t".to_string(),
                TableInfo {
                    rows: 1000.0,
                    bytes: 1 << 16,
                    row_width: 20.0,
                    columns: BTreeMap::new(),
                    indexes,
                },
            )]),
            usage_window: Some(Duration::from_secs(window)),
        }
    }

    #[test]
    fn duplicates_prefixes_and_unused_but_never_a_primary_key() {
        let c = catalog(
            vec![
                index("t_pkey", &["id"], true, true, 0),
                index("t_id_copy", &["id"], false, false, 5),
                index("t_a", &["a"], false, false, 3),
                index("t_a_b", &["a", "b"], false, false, 9),
                index("t_c", &["c"], false, false, 0),
            ],
            30 * 86_400,
        );
        let d = candidates(&c, Duration::from_secs(7 * 86_400));
        let names: Vec<(&str, &str)> = d
            .iter()
            .map(|d| (d.index.as_str(), d.reason.split(':').next().unwrap_or("")))
            .collect();
        assert!(
            names.contains(&("t_id_copy", "duplicate of t_pkey")),
            "{names:?}"
        );
        assert!(names.contains(&("t_a", "redundant")), "{names:?}");
        assert!(names.contains(&("t_c", "unused")), "{names:?}");
        assert!(
            !names.iter().any(|(n, _)| *n == "t_pkey" || *n == "t_a_b"),
            "{names:?}"
        );
        assert_eq!(d[0].ddl, "DROP INDEX CONCURRENTLY IF EXISTS t_id_copy");
        assert!(d[0]
            .rollback
            .starts_with("CREATE INDEX CONCURRENTLY t_id_copy"));
        // A short window calls nothing unused.
        let short = candidates(
            &catalog(vec![index("t_c", &["c"], false, false, 0)], 60),
            Duration::from_secs(7 * 86_400),
        );
        assert!(short.is_empty(), "{short:?}");
    }
}
