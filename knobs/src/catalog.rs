//! Knob catalogs. For now, the knobs that matter for write-heavy OLTP (the demo's workload) on
//! each engine, with the durability-relevant knobs beside them so that plans and reports can
//! name them.

use crate::{ApplyMode, Durability, Engine, Knob, KnobKind, Range, Scale, Unit, Value};

const KB: i64 = 1024;
const MB: i64 = 1024 * KB;
const GB: i64 = 1024 * MB;

/// The catalog used by the demo and the first tuner: a small set of knobs with full metadata.
pub fn demo(engine: Engine) -> Vec<Knob> {
    match engine {
        Engine::Postgres => postgres(),
        Engine::Mysql | Engine::Mariadb => innodb(engine),
    }
}

/// The names the demo searches by default on each engine (all durability-safe); with
/// `--allow-durability-risk` the durability-class knobs of the catalog are added.
pub fn demo_search_knobs(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Postgres => &[
            "shared_buffers",
            "max_wal_size",
            "checkpoint_timeout",
            "checkpoint_completion_target",
            "wal_buffers",
            "commit_delay",
            "commit_siblings",
        ],
        Engine::Mysql | Engine::Mariadb => &[
            "innodb_buffer_pool_size",
            "innodb_log_file_size",
            "innodb_log_buffer_size",
            "innodb_io_capacity",
            "innodb_flush_neighbors",
            "innodb_adaptive_hash_index",
        ],
    }
}

/// Look a knob up by name (case-insensitive), with a "did you mean" on a miss.
pub fn find<'a>(catalog: &'a [Knob], name: &str) -> crate::Result<&'a Knob> {
    catalog
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| crate::KnobError::UnknownKnob {
            engine: catalog
                .first()
                .map(|k| k.engine.to_string())
                .unwrap_or_default(),
            name: name.to_string(),
            suggestion: closest(catalog.iter().map(|k| k.name.as_str()), name),
        })
}

fn closest<'a>(names: impl Iterator<Item = &'a str>, name: &str) -> Option<String> {
    names
        .map(|n| (edit_distance(n, &name.to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= (n.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

struct Def {
    name: &'static str,
    kind: KnobKind,
    default: Value,
    apply: ApplyMode,
    range: Option<Range>,
    description: &'static str,
}

fn int(min: i64, max: i64, unit: Unit) -> KnobKind {
    KnobKind::Integer { min, max, unit }
}

fn range(low: f64, high: f64, scale: Scale) -> Option<Range> {
    Some(Range { low, high, scale })
}

fn build(engine: Engine, def: Def) -> Knob {
    Knob {
        name: def.name.to_string(),
        engine,
        kind: def.kind,
        default: def.default,
        apply: def.apply,
        durability: Durability::Safe,
        risky_values: Vec::new(),
        range: def.range,
        ram_fraction: None,
        description: def.description.to_string(),
    }
}

fn with_ram_fraction(mut knob: Knob, low: f64, high: f64) -> Knob {
    knob.ram_fraction = Some((low, high));
    knob
}

fn risky(mut knob: Knob, durability: Durability, values: &[&str]) -> Knob {
    knob.durability = durability;
    knob.risky_values = values.iter().map(|v| v.to_string()).collect();
    knob
}

fn enum_kind(values: &[&str]) -> KnobKind {
    KnobKind::Enum {
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn postgres() -> Vec<Knob> {
    let e = Engine::Postgres;
    use ApplyMode::*;
    vec![
        with_ram_fraction(
            build(
                e,
                Def {
                    name: "shared_buffers",
                    kind: int(128 * KB, 8 * 1024 * GB, Unit::Bytes),
                    default: Value::Int(128 * MB),
                    apply: Restart,
                    range: None,
                    description: "memory for PostgreSQL's own page cache",
                },
            ),
            0.005,
            0.4,
        ),
        build(
            e,
            Def {
                name: "wal_buffers",
                kind: int(-1, 2 * GB, Unit::Bytes),
                default: Value::Int(-1),
                apply: Restart,
                range: range((64 * KB) as f64, (256 * MB) as f64, Scale::Log),
                description:
                    "WAL kept in shared memory before it is written (-1 = 1/32 of shared_buffers)",
            },
        ),
        build(
            e,
            Def {
                name: "max_wal_size",
                kind: int(2 * MB, 2 * 1024 * 1024 * GB, Unit::Bytes),
                default: Value::Int(GB),
                apply: Reload,
                range: range((256 * MB) as f64, (16 * GB) as f64, Scale::Log),
                description: "WAL growth that triggers a checkpoint",
            },
        ),
        build(
            e,
            Def {
                name: "checkpoint_timeout",
                kind: int(30, 86_400, Unit::Seconds),
                default: Value::Int(300),
                apply: Reload,
                range: range(30.0, 3600.0, Scale::Log),
                description: "longest time between automatic checkpoints",
            },
        ),
        build(
            e,
            Def {
                name: "checkpoint_completion_target",
                kind: KnobKind::Real { min: 0.0, max: 1.0 },
                default: Value::Real(0.9),
                apply: Reload,
                range: range(0.5, 0.99, Scale::Linear),
                description:
                    "share of the checkpoint interval over which checkpoint writes are spread",
            },
        ),
        build(
            e,
            Def {
                name: "commit_delay",
                kind: int(0, 100_000, Unit::Micros),
                default: Value::Int(0),
                apply: Reload,
                range: range(0.0, 1000.0, Scale::Linear),
                description:
                    "delay before a WAL flush so that concurrent commits share it (group commit)",
            },
        ),
        build(
            e,
            Def {
                name: "commit_siblings",
                kind: int(0, 1000, Unit::None),
                default: Value::Int(5),
                apply: Reload,
                range: range(1.0, 20.0, Scale::Linear),
                description: "concurrent open transactions needed before commit_delay applies",
            },
        ),
        build(
            e,
            Def {
                name: "work_mem",
                kind: int(64 * KB, 2 * 1024 * GB, Unit::Bytes),
                default: Value::Int(4 * MB),
                apply: Session,
                range: range((MB) as f64, (GB) as f64, Scale::Log),
                description: "memory per sort or hash before spilling to disk",
            },
        ),
        build(
            e,
            Def {
                name: "max_connections",
                kind: int(1, 262_143, Unit::None),
                default: Value::Int(100),
                apply: Restart,
                range: None,
                description: "most concurrent connections",
            },
        ),
        build(
            e,
            Def {
                name: "maintenance_work_mem",
                kind: int(MB, 2 * 1024 * GB, Unit::Bytes),
                default: Value::Int(64 * MB),
                apply: Reload,
                range: range((16 * MB) as f64, (2 * GB) as f64, Scale::Log),
                description: "memory for VACUUM, CREATE INDEX and similar",
            },
        ),
        build(
            e,
            Def {
                name: "autovacuum_max_workers",
                kind: int(1, 262_143, Unit::None),
                default: Value::Int(3),
                apply: Restart,
                range: None,
                description: "most concurrent autovacuum workers",
            },
        ),
        risky(
            build(
                e,
                Def {
                    name: "synchronous_commit",
                    kind: enum_kind(&["on", "off", "local", "remote_write", "remote_apply"]),
                    default: Value::Enum("on".into()),
                    apply: Session,
                    range: None,
                    description: "whether a commit waits for its WAL to reach disk",
                },
            ),
            Durability::MayLoseCommits,
            &["off"],
        ),
        risky(
            build(
                e,
                Def {
                    name: "fsync",
                    kind: KnobKind::Bool,
                    default: Value::Bool(true),
                    apply: Reload,
                    range: None,
                    description:
                        "force WAL and data to disk; off can corrupt the cluster on a crash",
                },
            ),
            Durability::MayCorrupt,
            &["off"],
        ),
        risky(
            build(
                e,
                Def {
                    name: "full_page_writes",
                    kind: KnobKind::Bool,
                    default: Value::Bool(true),
                    apply: Reload,
                    range: None,
                    description:
                        "write whole pages after a checkpoint; off can corrupt data on a crash",
                },
            ),
            Durability::MayCorrupt,
            &["off"],
        ),
    ]
}

fn innodb(e: Engine) -> Vec<Knob> {
    use ApplyMode::*;
    let ulong_max = i64::MAX;
    vec![
        with_ram_fraction(
            build(
                e,
                Def {
                    name: "innodb_buffer_pool_size",
                    kind: int(5 * MB, ulong_max, Unit::Bytes),
                    default: Value::Int(128 * MB),
                    apply: Restart,
                    range: None,
                    description: "InnoDB's page cache",
                },
            ),
            0.005,
            0.5,
        ),
        build(
            e,
            Def {
                name: "innodb_log_file_size",
                kind: int(4 * MB, 512 * GB, Unit::Bytes),
                default: Value::Int(96 * MB),
                apply: Restart,
                range: range((48 * MB) as f64, (4 * GB) as f64, Scale::Log),
                description: "redo log size; larger means fewer forced flushes",
            },
        ),
        build(
            e,
            Def {
                name: "innodb_log_buffer_size",
                kind: int(256 * KB, 4 * GB, Unit::Bytes),
                default: Value::Int(16 * MB),
                apply: Restart,
                range: range((MB) as f64, (256 * MB) as f64, Scale::Log),
                description: "redo kept in memory before it is written",
            },
        ),
        build(
            e,
            Def {
                name: "innodb_io_capacity",
                kind: int(100, ulong_max, Unit::None),
                default: Value::Int(200),
                apply: Reload,
                range: range(100.0, 20_000.0, Scale::Log),
                description: "background flushing rate (IOPS)",
            },
        ),
        build(
            e,
            Def {
                name: "innodb_flush_neighbors",
                kind: enum_kind(&["0", "1", "2"]),
                default: Value::Enum("1".into()),
                apply: Reload,
                range: None,
                description: "flush neighbouring pages together (helps HDDs, not SSDs)",
            },
        ),
        build(
            e,
            Def {
                name: "innodb_adaptive_hash_index",
                kind: KnobKind::Bool,
                default: Value::Bool(false),
                apply: Reload,
                range: None,
                description: "hash index built on hot B-tree pages",
            },
        ),
        build(
            e,
            Def {
                name: "max_connections",
                kind: int(10, 100_000, Unit::None),
                default: Value::Int(151),
                apply: Reload,
                range: None,
                description: "most concurrent connections",
            },
        ),
        build(
            e,
            Def {
                name: "sort_buffer_size",
                kind: int(32 * KB, ulong_max, Unit::Bytes),
                default: Value::Int(2 * MB),
                apply: Session,
                range: range((256 * KB) as f64, (64 * MB) as f64, Scale::Log),
                description: "per-session sort memory",
            },
        ),
        build(
            e,
            Def {
                name: "join_buffer_size",
                kind: int(128, ulong_max, Unit::Bytes),
                default: Value::Int(256 * KB),
                apply: Session,
                range: range((128 * KB) as f64, (64 * MB) as f64, Scale::Log),
                description: "per-join buffer for joins without indexes",
            },
        ),
        risky(
            build(
                e,
                Def {
                    name: "innodb_flush_log_at_trx_commit",
                    kind: enum_kind(&["0", "1", "2"]),
                    default: Value::Enum("1".into()),
                    apply: Reload,
                    range: None,
                    description:
                        "1 = flush redo at every commit; 0 or 2 can lose about a second of commits",
                },
            ),
            Durability::MayLoseCommits,
            &["0", "2"],
        ),
        risky(
            build(
                e,
                Def {
                    name: "innodb_doublewrite",
                    kind: KnobKind::Bool,
                    default: Value::Bool(true),
                    apply: Restart,
                    range: None,
                    description: "protects against torn pages; off can corrupt data on a crash",
                },
            ),
            Durability::MayCorrupt,
            &["off"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_names_unique() {
        for engine in [Engine::Postgres, Engine::Mariadb, Engine::Mysql] {
            let cat = demo(engine);
            for knob in &cat {
                knob.check(&knob.default)
                    .unwrap_or_else(|e| panic!("{}: {e}", knob.name));
                assert_eq!(cat.iter().filter(|k| k.name == knob.name).count(), 1);
            }
            for name in demo_search_knobs(engine) {
                let knob = find(&cat, name).unwrap();
                assert_eq!(
                    knob.durability,
                    Durability::Safe,
                    "{name} must be durability-safe"
                );
            }
        }
    }

    #[test]
    fn unknown_knob_suggests_the_closest() {
        let cat = demo(Engine::Postgres);
        let err = find(&cat, "shared_bufers").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown knob 'shared_bufers' for postgres; did you mean 'shared_buffers'?"
        );
        let err = find(&cat, "zzz").unwrap_err();
        assert_eq!(err.to_string(), "unknown knob 'zzz' for postgres");
    }
}
