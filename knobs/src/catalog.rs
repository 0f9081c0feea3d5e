//! Knob catalogs, kept as data (`knobs/catalog/*.toml`, embedded at build time) so that they
//! read like the manuals they come from and can be checked against live servers: PostgreSQL
//! 13–18 and MySQL 8.0 / MariaDB 10.6+ (InnoDB and the server layer). A catalog for a given
//! engine and version keeps only the knobs that version has, with that version's defaults.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::{
    ApplyMode, Durability, Engine, Knob, KnobError, KnobKind, Range, Result, Scale, Unit, Value,
    Version,
};

const POSTGRES: &str = include_str!("../catalog/postgres.toml");
const INNODB: &str = include_str!("../catalog/innodb.toml");

#[derive(Debug, Deserialize)]
struct File {
    knob: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    unit: Option<String>,
    min: Option<String>,
    max: Option<String>,
    default: String,
    apply: ApplyMode,
    mysql_apply: Option<ApplyMode>,
    values: Option<Vec<String>>,
    range: Option<[String; 2]>,
    scale: Option<Scale>,
    ram_fraction: Option<[f64; 2]>,
    #[serde(default)]
    special: Vec<String>,
    #[serde(default = "safe")]
    durability: Durability,
    #[serde(default)]
    risky: Vec<String>,
    only: Option<Engine>,
    since: Option<String>,
    until: Option<String>,
    mysql_since: Option<String>,
    mysql_until: Option<String>,
    mariadb_since: Option<String>,
    mariadb_until: Option<String>,
    #[serde(default)]
    defaults_by_version: BTreeMap<String, String>,
    /// Bounds and contexts that changed in some version, keyed like `defaults_by_version`.
    #[serde(default)]
    min_by_version: BTreeMap<String, String>,
    #[serde(default)]
    max_by_version: BTreeMap<String, String>,
    #[serde(default)]
    apply_by_version: BTreeMap<String, ApplyMode>,
    description: String,
}

fn safe() -> Durability {
    Durability::Safe
}

fn raw(engine: Engine) -> Result<&'static [Entry]> {
    static PG: OnceLock<std::result::Result<File, String>> = OnceLock::new();
    static MY: OnceLock<std::result::Result<File, String>> = OnceLock::new();
    let (cell, text, file) = match engine {
        Engine::Postgres => (&PG, POSTGRES, "postgres.toml"),
        Engine::Mysql | Engine::Mariadb => (&MY, INNODB, "innodb.toml"),
    };
    match cell.get_or_init(|| toml::from_str::<File>(text).map_err(|e| format!("{file}: {e}"))) {
        Ok(f) => Ok(&f.knob),
        Err(e) => Err(KnobError::Catalog(e.clone())),
    }
}

/// The catalog for an engine at its default version (PostgreSQL 15, MySQL 8.0, MariaDB 10.11).
pub fn for_engine(engine: Engine) -> Result<Vec<Knob>> {
    for_version(engine, Version::default_for(engine))
}

/// The knobs `version` of `engine` has, with that version's defaults.
pub fn for_version(engine: Engine, version: Version) -> Result<Vec<Knob>> {
    raw(engine)?
        .iter()
        .filter(|e| e.exists_in(engine, version))
        .map(|e| e.build(engine, version))
        .collect()
}

/// Every knob the catalog knows for an engine family, whatever the version (for reporting a
/// knob that a version lacks).
pub fn all_versions(engine: Engine) -> Result<Vec<Knob>> {
    raw(engine)?
        .iter()
        .filter(|e| e.only.is_none_or(|o| o == engine))
        .map(|e| e.build(engine, Version::default_for(engine)))
        .collect()
}

/// Look a knob up by name (case-insensitive), with a "did you mean" on a miss.
pub fn find<'a>(catalog: &'a [Knob], name: &str) -> Result<&'a Knob> {
    if let Some(knob) = catalog.iter().find(|k| k.name.eq_ignore_ascii_case(name)) {
        return Ok(knob);
    }
    // Known to another version? Say so rather than "unknown".
    if let Some(engine) = catalog.first().map(|k| k.engine) {
        if let Some(other) = all_versions(engine)
            .ok()
            .and_then(|all| all.into_iter().find(|k| k.name.eq_ignore_ascii_case(name)))
        {
            return Err(KnobError::NotInVersion {
                engine: engine.to_string(),
                name: other.name,
                versions: other.versions,
            });
        }
    }
    catalog
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| KnobError::UnknownKnob {
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

/// The value of the newest version-specific entry at or below `version`: `{ "13" = "1",
/// "15" = "2" }` gives 13 and 14 the first, 15 and later the second. MySQL's entries are keyed
/// "8.0" and apply to every 8.0 release; MariaDB's and PostgreSQL's by their own versions.
fn by_version<T>(map: &BTreeMap<String, T>, engine: Engine, version: Version) -> Option<&T> {
    let mut best: Option<(Version, &T)> = None;
    for (key, value) in map {
        let Some(k) = Version::parse(key) else {
            continue;
        };
        let applies = match engine {
            Engine::Mysql => k.major == 8,
            Engine::Mariadb => k.major >= 10 && version.at_least(key),
            Engine::Postgres => version.at_least(key),
        };
        if applies && best.is_none_or(|(b, _)| k > b) {
            best = Some((k, value));
        }
    }
    best.map(|(_, v)| v)
}

impl Entry {
    /// First and last version of `engine` that have the knob; `since`/`until` speak for
    /// PostgreSQL, or for the one engine named by `only`.
    fn bounds(&self, engine: Engine) -> (Option<&str>, Option<&str>) {
        let mine = engine == Engine::Postgres || self.only == Some(engine);
        fn own(s: &Option<String>, mine: bool) -> Option<&str> {
            s.as_deref().filter(|_| mine)
        }
        let own = |s| own(s, mine);
        match engine {
            Engine::Postgres => (own(&self.since), own(&self.until)),
            Engine::Mysql => (
                self.mysql_since.as_deref().or(own(&self.since)),
                self.mysql_until.as_deref().or(own(&self.until)),
            ),
            Engine::Mariadb => (
                self.mariadb_since.as_deref().or(own(&self.since)),
                self.mariadb_until.as_deref().or(own(&self.until)),
            ),
        }
    }

    fn exists_in(&self, engine: Engine, v: Version) -> bool {
        if self.only.is_some_and(|o| o != engine) {
            return false;
        }
        let (since, until) = self.bounds(engine);
        since.is_none_or(|s| v.at_least(s)) && until.is_none_or(|u| v.at_most(u))
    }

    fn build(&self, engine: Engine, version: Version) -> Result<Knob> {
        let bad = |what: &str| KnobError::Catalog(format!("{}: {what}", self.name));
        let unit = match self.unit.as_deref().unwrap_or("none") {
            "none" => Unit::None,
            "bytes" => Unit::Bytes,
            "ms" => Unit::Millis,
            "us" => Unit::Micros,
            "s" => Unit::Seconds,
            other => return Err(bad(&format!("unknown unit '{other}'"))),
        };
        let min = by_version(&self.min_by_version, engine, version)
            .or(self.min.as_ref())
            .cloned();
        let max = by_version(&self.max_by_version, engine, version)
            .or(self.max.as_ref())
            .cloned();
        let number = |text: &Option<String>, what: &str| -> Result<f64> {
            let text = text.as_ref().ok_or_else(|| bad(&format!("no {what}")))?;
            crate::value::parse_scaled(text, unit)
                .map_err(|e| bad(&format!("{what} '{text}': {e}")))
        };
        let kind = match self.kind.as_str() {
            "bool" => KnobKind::Bool,
            "integer" => KnobKind::Integer {
                min: number(&min, "min")? as i64,
                max: number(&max, "max")? as i64,
                unit,
            },
            "real" => KnobKind::Real {
                min: number(&min, "min")?,
                max: number(&max, "max")?,
                unit,
            },
            "enum" => KnobKind::Enum {
                values: self
                    .values
                    .clone()
                    .ok_or_else(|| bad("enum without values"))?,
            },
            other => return Err(bad(&format!("unknown type '{other}'"))),
        };
        let range = match &self.range {
            Some([low, high]) => Some(Range {
                low: crate::value::parse_scaled(low, unit)
                    .map_err(|e| bad(&format!("range low '{low}': {e}")))?,
                high: crate::value::parse_scaled(high, unit)
                    .map_err(|e| bad(&format!("range high '{high}': {e}")))?,
                scale: self.scale.unwrap_or(Scale::Linear),
            }),
            None => None,
        };
        let mut knob = Knob {
            name: self.name.clone(),
            engine,
            kind,
            default: Value::Bool(false),
            apply: match engine {
                Engine::Mysql => self.mysql_apply.unwrap_or(self.apply),
                _ => by_version(&self.apply_by_version, engine, version)
                    .copied()
                    .unwrap_or(self.apply),
            },
            durability: self.durability,
            risky_values: self.risky.clone(),
            range,
            ram_fraction: self.ram_fraction.map(|[a, b]| (a, b)),
            special_values: self.special.clone(),
            versions: self.version_note(engine),
            description: self.description.clone(),
        };
        let default_text = self.default_for(engine, version);
        knob.default = knob
            .parse_value(default_text)
            .map_err(|e| bad(&format!("default: {e}")))?;
        Ok(knob)
    }

    fn default_for(&self, engine: Engine, version: Version) -> &str {
        by_version(&self.defaults_by_version, engine, version).unwrap_or(&self.default)
    }

    fn version_note(&self, engine: Engine) -> String {
        match self.bounds(engine) {
            (Some(s), Some(u)) => format!("{s} to {u}"),
            (Some(s), None) => format!("{s}+"),
            (None, Some(u)) => format!("up to {u}"),
            (None, None) => "all".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_parse_with_valid_defaults_for_every_supported_version() {
        let versions = [
            (
                Engine::Postgres,
                vec![
                    Version::new(13, 0, 0),
                    Version::new(14, 0, 0),
                    Version::new(15, 0, 0),
                    Version::new(16, 0, 0),
                    Version::new(17, 0, 0),
                    Version::new(18, 0, 0),
                ],
            ),
            (
                Engine::Mysql,
                vec![Version::new(8, 0, 20), Version::new(8, 0, 36)],
            ),
            (
                Engine::Mariadb,
                vec![
                    Version::new(10, 6, 0),
                    Version::new(10, 11, 0),
                    Version::new(11, 4, 0),
                ],
            ),
        ];
        for (engine, vs) in versions {
            for v in vs {
                let cat = for_version(engine, v).unwrap_or_else(|e| panic!("{engine} {v}: {e}"));
                for knob in &cat {
                    knob.check(&knob.default)
                        .unwrap_or_else(|e| panic!("{engine} {v} {}: {e}", knob.name));
                    assert_eq!(
                        cat.iter().filter(|k| k.name == knob.name).count(),
                        1,
                        "{} twice",
                        knob.name
                    );
                    if let Some(r) = knob.range {
                        assert!(r.low <= r.high, "{}", knob.name);
                        let (lo, hi) = knob.numeric_bounds().unwrap();
                        assert!(
                            lo <= r.low && r.high <= hi,
                            "{engine} {}: range outside bounds",
                            knob.name
                        );
                    }
                }
                let minimum = if engine == Engine::Postgres { 40 } else { 30 };
                assert!(
                    cat.len() >= minimum,
                    "{engine} {v}: only {} knobs",
                    cat.len()
                );
            }
        }
    }

    #[test]
    fn versions_change_what_exists_and_the_defaults() {
        let names = |e, v| {
            for_version(e, v)
                .unwrap()
                .into_iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
        };
        assert!(!names(Engine::Postgres, Version::new(14, 0, 0))
            .contains(&"wal_compression".to_string()));
        assert!(names(Engine::Postgres, Version::new(15, 0, 0))
            .contains(&"wal_compression".to_string()));
        assert!(names(Engine::Postgres, Version::new(16, 0, 0))
            .contains(&"old_snapshot_threshold".to_string()));
        assert!(!names(Engine::Postgres, Version::new(17, 0, 0))
            .contains(&"old_snapshot_threshold".to_string()));
        assert!(names(Engine::Mysql, Version::new(8, 0, 36))
            .contains(&"innodb_redo_log_capacity".to_string()));
        assert!(!names(Engine::Mysql, Version::new(8, 0, 36))
            .contains(&"innodb_log_file_size".to_string()));
        assert!(!names(Engine::Mariadb, Version::new(10, 11, 0))
            .contains(&"innodb_buffer_pool_instances".to_string()));
        assert!(names(Engine::Mysql, Version::new(8, 0, 20))
            .contains(&"innodb_buffer_pool_instances".to_string()));
        assert!(!names(Engine::Mariadb, Version::new(10, 11, 0))
            .contains(&"innodb_redo_log_capacity".to_string()));
        let hash_mem = |v| {
            find(
                &for_version(Engine::Postgres, v).unwrap(),
                "hash_mem_multiplier",
            )
            .unwrap()
            .default
            .clone()
        };
        assert_eq!(hash_mem(Version::new(14, 0, 0)), Value::Real(1.0));
        assert_eq!(hash_mem(Version::new(15, 0, 0)), Value::Real(2.0));
        assert_eq!(hash_mem(Version::new(18, 4, 0)), Value::Real(2.0));
        // The newest entry at or below the version wins, for defaults, bounds and contexts.
        let pg = |v, name: &str| {
            find(&for_version(Engine::Postgres, v).unwrap(), name)
                .unwrap()
                .clone()
        };
        let (v13, v17, v18) = (
            Version::new(13, 23, 0),
            Version::new(17, 10, 0),
            Version::new(18, 4, 0),
        );
        assert_eq!(
            pg(v13, "checkpoint_completion_target").default,
            Value::Real(0.5)
        );
        assert_eq!(
            pg(v17, "checkpoint_completion_target").default,
            Value::Real(0.9)
        );
        assert_eq!(pg(v17, "effective_io_concurrency").default, Value::Int(1));
        assert_eq!(pg(v18, "effective_io_concurrency").default, Value::Int(16));
        assert_eq!(
            pg(v17, "vacuum_buffer_usage_limit").default,
            Value::Int(2 << 20)
        );
        assert_eq!(
            pg(v18, "vacuum_buffer_usage_limit").default,
            Value::Int(2 << 20)
        );
        assert_eq!(pg(v17, "autovacuum_max_workers").apply, ApplyMode::Restart);
        assert_eq!(pg(v18, "autovacuum_max_workers").apply, ApplyMode::Reload);
        assert_eq!(
            pg(Version::new(16, 0, 0), "maintenance_work_mem").numeric_bounds(),
            Some((1048576.0, 2147483647.0 * 1024.0))
        );
        assert_eq!(
            pg(v17, "maintenance_work_mem")
                .numeric_bounds()
                .map(|b| b.0),
            Some(65536.0)
        );
        assert_eq!(
            pg(v18, "io_combine_limit").numeric_bounds().map(|b| b.1),
            Some(1048576.0)
        );
        assert!(names(Engine::Postgres, v18).contains(&"io_method".to_string()));
        assert!(!names(Engine::Postgres, v17).contains(&"io_method".to_string()));
        let ahi = |e, v| {
            find(&for_version(e, v).unwrap(), "innodb_adaptive_hash_index")
                .unwrap()
                .default
                .clone()
        };
        assert_eq!(
            ahi(Engine::Mysql, Version::new(8, 0, 36)),
            Value::Bool(true)
        );
        assert_eq!(
            ahi(Engine::Mariadb, Version::new(10, 11, 0)),
            Value::Bool(false)
        );
    }

    #[test]
    fn unknown_knob_suggests_the_closest() {
        let cat = for_engine(Engine::Postgres).unwrap();
        let err = find(&cat, "shared_bufers").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown knob 'shared_bufers' for postgres; did you mean 'shared_buffers'?"
        );
        let err = find(&cat, "zzz").unwrap_err();
        assert_eq!(err.to_string(), "unknown knob 'zzz' for postgres");
        let pg14 = for_version(Engine::Postgres, Version::new(14, 0, 0)).unwrap();
        let err = find(&pg14, "wal_compression").unwrap_err();
        assert_eq!(
            err.to_string(),
            "wal_compression is not settable on this postgres version (it exists in 15+)"
        );
    }
}
