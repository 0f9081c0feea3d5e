//! Index candidates from the statements of a workload: per statement and table, B-tree keys
//! ordered equality columns → one range column → ORDER BY / GROUP BY columns; join columns;
//! covering indexes (INCLUDE, PostgreSQL 11+) where the statement reads few other columns;
//! partial indexes where the same constant predicate recurs. Merged across statements;
//! nothing an existing index (or its prefix) already provides; columns a B-tree cannot index
//! are left out with the reason. Pure: the catalog was read before.

use std::collections::{BTreeMap, BTreeSet};

use knobs::Engine;
use models::index::IndexDef;
use serde::Serialize;
use workloads::analysis::{Access, ColumnRef};

use super::catalog::Catalog;
use super::input::AdvisedStatement;

/// Widest key considered.
pub const MAX_WIDTH: usize = 3;
/// Most columns carried in INCLUDE for an index-only scan.
const MAX_INCLUDE: usize = 3;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Candidates {
    /// Single columns, for Extend's add and widen moves.
    pub attributes: Vec<(String, String)>,
    /// Whole indexes built for particular statements (composite, covering, partial).
    pub whole: Vec<IndexDef>,
    /// Columns left out, with the reason.
    pub unindexable: Vec<String>,
}

impl Candidates {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.whole.is_empty()
    }
}

/// The candidates for `statements` against `catalog`.
pub fn generate(statements: &[AdvisedStatement], catalog: &Catalog) -> Candidates {
    let mut attributes: BTreeSet<(String, String)> = BTreeSet::new();
    let mut whole: BTreeSet<IndexDef> = BTreeSet::new();
    let mut unindexable: BTreeSet<String> = BTreeSet::new();
    let covering = catalog.engine == Engine::Postgres && catalog.version.0 >= 11;
    let partial = catalog.engine == Engine::Postgres;

    // Constant predicates seen in more than one statement.
    let mut constants: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for s in statements {
        for (c, v) in &s.analysis.constant_equalities {
            if let Some(t) = &c.table {
                *constants
                    .entry((t.clone(), c.column.clone(), v.clone()))
                    .or_default() += 1;
            }
        }
    }

    for s in statements {
        let a = &s.analysis;
        for table in &a.tables {
            let Some(info) = catalog.table(table) else {
                continue;
            };
            // The columns of this table in a list, in order, that a B-tree can index.
            let mut usable = |cols: &[ColumnRef]| -> Vec<String> {
                let mut out: Vec<String> = Vec::new();
                for c in cols.iter().filter(|c| c.table.as_deref() == Some(table)) {
                    match info.columns.get(&c.column) {
                        Some(col) if col.btree && !out.contains(&c.column) => {
                            out.push(c.column.clone());
                        }
                        Some(col) if col.btree => {}
                        Some(col) => {
                            unindexable.insert(format!(
                                "{table}.{} ({}): no B-tree operator class for its type",
                                c.column, col.type_name
                            ));
                        }
                        None => {}
                    }
                }
                out
            };
            let equality = usable(&a.equality);
            let range = usable(&a.range);
            let mut ordering = usable(&a.order_by);
            for g in usable(&a.group_by) {
                if !ordering.contains(&g) {
                    ordering.push(g);
                }
            }
            let join_refs: Vec<ColumnRef> = a
                .joins
                .iter()
                .flat_map(|(l, r)| [l.clone(), r.clone()])
                .collect();
            let joins = usable(&join_refs);
            for c in equality.iter().chain(&range).chain(&ordering).chain(&joins) {
                attributes.insert((table.clone(), c.clone()));
            }
            // Keys for this statement: filters first, then the ordering they can serve.
            let mut keys: Vec<Vec<String>> = Vec::new();
            let mut filter = equality.clone();
            if let Some(r) = range.first() {
                if !filter.contains(r) {
                    filter.push(r.clone());
                }
            }
            keys.push(filter.clone());
            let mut sorted = equality.clone();
            for o in &ordering {
                if !sorted.contains(o) {
                    sorted.push(o.clone());
                }
            }
            keys.push(sorted);
            for j in &joins {
                let mut k = vec![j.clone()];
                k.extend(equality.iter().filter(|e| *e != j).cloned());
                keys.push(k);
                let mut k = equality.clone();
                if !k.contains(j) {
                    k.push(j.clone());
                }
                keys.push(k);
            }
            let referenced = usable(&a.referenced);
            for mut key in keys {
                key.truncate(MAX_WIDTH);
                // Single columns are Extend's attributes already.
                if key.len() >= 2 {
                    whole.insert(IndexDef {
                        table: table.clone(),
                        columns: key.clone(),
                        include: Vec::new(),
                        predicate: None,
                    });
                }
                if covering && a.access == Access::Read && !a.select_star && !key.is_empty() {
                    let include: Vec<String> = referenced
                        .iter()
                        .filter(|c| !key.contains(c))
                        .cloned()
                        .collect();
                    if !include.is_empty() && include.len() <= MAX_INCLUDE {
                        whole.insert(IndexDef {
                            table: table.clone(),
                            columns: key.clone(),
                            include,
                            predicate: None,
                        });
                    }
                }
            }
            if partial {
                for (c, v) in &a.constant_equalities {
                    if c.table.as_deref() != Some(table) {
                        continue;
                    }
                    let seen = constants
                        .get(&(table.clone(), c.column.clone(), v.clone()))
                        .copied()
                        .unwrap_or(0);
                    if seen < 2 || !info.columns.contains_key(&c.column) {
                        continue;
                    }
                    let mut key: Vec<String> = filter
                        .iter()
                        .chain(&ordering)
                        .filter(|k| **k != c.column)
                        .cloned()
                        .collect();
                    key.dedup();
                    key.truncate(MAX_WIDTH);
                    if key.is_empty() {
                        key.push(c.column.clone());
                    }
                    whole.insert(IndexDef {
                        table: table.clone(),
                        columns: key,
                        include: Vec::new(),
                        predicate: Some(format!("{} = {v}", c.column)),
                    });
                }
            }
        }
    }
    let attributes = attributes
        .into_iter()
        .filter(|(t, c)| !provided(catalog, &IndexDef::new(t, &[c])))
        .collect();
    let whole = whole
        .into_iter()
        .filter(|i| !provided(catalog, i))
        .collect();
    Candidates {
        attributes,
        whole,
        unindexable: unindexable.into_iter().collect(),
    }
}

/// An existing valid B-tree already gives what `index` would: its key columns start with the
/// candidate's, it carries every INCLUDE column, and its predicate is the same or absent.
pub fn provided(catalog: &Catalog, index: &IndexDef) -> bool {
    let Some(t) = catalog.table(&index.table) else {
        return false;
    };
    t.indexes.iter().any(|e| {
        let Some(cols) = e.plain_columns() else {
            return false;
        };
        e.valid
            && e.method == "btree"
            && cols.len() >= index.columns.len()
            && cols[..index.columns.len()] == index.columns[..]
            && index
                .include
                .iter()
                .all(|c| cols.contains(c) || e.include.contains(c))
            && (e.predicate.is_none() || e.predicate == index.predicate)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::catalog::{ColumnInfo, ExistingIndex, TableInfo};

    fn catalog() -> Catalog {
        let col = |t: &str, btree| ColumnInfo {
            type_name: t.into(),
            btree,
            width: 4.0,
        };
        let mut orders = TableInfo {
            rows: 1e6,
            bytes: 1 << 26,
            row_width: 40.0,
            columns: BTreeMap::new(),
            indexes: vec![ExistingIndex {
                name: "orders_pkey".into(),
                table: "orders".into(),
                columns: vec![Some("id".into())],
                include: vec![],
                predicate: None,
                method: "btree".into(),
                unique: true,
                primary: true,
                constraint: true,
                valid: true,
                bytes: 1 << 20,
                scans: Some(0),
                definition: String::new(),
            }],
        };
        for c in ["id", "customer", "status", "created", "total"] {
            orders.columns.insert(c.into(), col("int4", true));
        }
        orders.columns.insert("doc".into(), col("json", false));
        Catalog {
            engine: Engine::Postgres,
            version: (15, 0),
            database_bytes: 1 << 27,
            tables: BTreeMap::from([("orders".to_string(), orders)]),
            usage_window: None,
        }
    }

    fn statement(sql: &str) -> AdvisedStatement {
        AdvisedStatement::parsed("s", sql, 1.0, Engine::Postgres).unwrap()
    }

    #[test]
    fn keys_are_equality_then_range_then_ordering_and_covering() {
        let c = generate(
            &[statement(
                "SELECT total FROM orders WHERE customer = $1 AND created > $2 ORDER BY created",
            )],
            &catalog(),
        );
        assert!(c
            .whole
            .contains(&IndexDef::new("orders", &["customer", "created"])));
        assert!(c
            .whole
            .iter()
            .any(|i| i.columns == ["customer", "created"] && i.include == ["total"]));
        assert!(c
            .attributes
            .contains(&("orders".to_string(), "customer".to_string())));
    }

    #[test]
    fn existing_prefixes_unindexable_types_and_recurring_constants() {
        let c = generate(
            &[
                statement("SELECT * FROM orders WHERE id = $1"),
                statement("SELECT id FROM orders WHERE doc = $1"),
                statement("SELECT id FROM orders WHERE status = 'open' AND customer = $1"),
                statement("SELECT count(*) FROM orders WHERE status = 'open' AND created > $1"),
            ],
            &catalog(),
        );
        // The primary key already serves `id = $1`.
        assert!(!c.attributes.iter().any(|(_, col)| col == "id"), "{c:?}");
        assert!(!c
            .whole
            .iter()
            .any(|i| i.columns == ["id"] && i.include.is_empty()));
        assert!(
            c.unindexable
                .iter()
                .any(|u| u.contains("orders.doc (json)")),
            "{c:?}"
        );
        assert!(c.whole.iter().any(
            |i| i.predicate.as_deref() == Some("status = 'open'") && i.columns == ["customer"]
        ));
        // A constant seen once makes no partial index.
        let once = generate(
            &[statement(
                "SELECT id FROM orders WHERE status = 'open' AND customer = $1",
            )],
            &catalog(),
        );
        assert!(once.whole.iter().all(|i| i.predicate.is_none()));
    }
}
