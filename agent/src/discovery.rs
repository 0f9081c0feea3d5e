//! Live discovery: what the server itself says about its knobs (`pg_settings`; MariaDB's
//! `information_schema.SYSTEM_VARIABLES`; MySQL's `performance_schema.variables_info`),
//! reconciled with the catalog. The live server's bounds, defaults and contexts win; every
//! disagreement becomes a warning, so a catalog error is seen, not silently trusted.

use std::collections::BTreeMap;

use knobs::{catalog, ApplyMode, Engine, Knob, KnobKind, Unit, Value, Version};
use mysql_async::prelude::Queryable;
use serde::Serialize;
use thiserror::Error;
use workloads::target::mysql_text_rows;
use workloads::Target;

#[derive(Debug, Error)]
pub enum DiscoveryError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    #[error(transparent)]
    Knobs(#[from] knobs::KnobError),
}

/// One knob as the server describes it, converted to the catalog's units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveKnob {
    pub name: String,
    /// bool, integer, real, enum, string (PostgreSQL vartype; mapped for MySQL).
    pub kind: String,
    /// Memory, time or none, from the server's unit.
    pub unit_class: Option<UnitClass>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub apply: Option<ApplyMode>,
    pub enum_values: Vec<String>,
    /// Built-in default, as text.
    pub default: Option<String>,
    /// Current value, as text.
    pub setting: String,
    pub pending_restart: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitClass {
    Memory,
    Time,
}

/// The catalog reconciled with the live server.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    pub engine: Engine,
    pub version: Version,
    pub catalog: Vec<Knob>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub live: BTreeMap<String, LiveKnob>,
}

/// Read the server's own description of its knobs.
pub async fn live_knobs(target: &mut Target) -> Result<BTreeMap<String, LiveKnob>, DiscoveryError> {
    match target {
        Target::Postgres { client, .. } => postgres(client).await,
        Target::Mysql { conn, engine, .. } => mysql(conn, *engine).await,
    }
}

/// Discover and reconcile with the catalog of the server's version (the nearest supported
/// one, with a warning, when the version is unknown to the catalog).
pub async fn discover(target: &mut Target) -> Result<Reconciled, DiscoveryError> {
    let engine = target.engine();
    let mut warnings = Vec::new();
    let version = match Version::parse(target.version()) {
        Some(v) if v.is_supported(engine) => v,
        other => {
            let fallback = Version::default_for(engine);
            warnings.push(format!("{} {} is not in dbtuner's catalog; using the {fallback} catalog reconciled with what the server reports", engine.display_name(), other.map(|v| v.to_string()).unwrap_or_else(|| target.version().to_string())));
            fallback
        }
    };
    let live = live_knobs(target).await?;
    let mut catalog = Vec::new();
    for knob in catalog::for_version(engine, version)? {
        match live.get(&knob.name) {
            Some(l) => catalog.push(reconcile(knob, l, &mut warnings)),
            None => warnings.push(format!(
                "{}: in the catalog for {version} but not on this server; left out",
                knob.name
            )),
        }
    }
    Ok(Reconciled {
        engine,
        version,
        catalog,
        warnings,
        live,
    })
}

fn kind_name(kind: &KnobKind) -> &'static str {
    match kind {
        KnobKind::Bool => "bool",
        KnobKind::Integer { .. } => "integer",
        KnobKind::Real { .. } => "real",
        KnobKind::Enum { .. } => "enum",
    }
}

/// Unit class of a catalog unit.
pub fn unit_class(unit: Unit) -> Option<UnitClass> {
    match unit {
        Unit::Bytes => Some(UnitClass::Memory),
        Unit::Millis | Unit::Seconds | Unit::Micros => Some(UnitClass::Time),
        Unit::None => None,
    }
}

/// What a catalog entry and the live server's description of a knob disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aspect {
    Type,
    Unit,
    /// How a change takes effect (pg_settings.context).
    Apply,
    /// The server's min and max.
    Bounds,
    /// The built-in default (pg_settings.boot_val).
    Default,
    /// Enum values the server does not accept.
    Values,
    /// The tuning range reaches outside the server's bounds.
    Range,
}

/// One disagreement between the catalog and a live server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub knob: String,
    pub aspect: Aspect,
    pub detail: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.knob, self.detail)
    }
}

/// A live figure, in bytes or milliseconds, in the catalog's unit for `knob` (which counts
/// time in the knob's own unit). Negative figures are special values (-1 = off), not times.
fn in_catalog_unit(knob: &Knob, live: &LiveKnob, x: f64) -> f64 {
    let is_time = live.unit_class == Some(UnitClass::Time);
    match knob.unit() {
        Unit::Seconds if is_time && x >= 0.0 => x / 1000.0,
        Unit::Micros if is_time && x >= 0.0 => x * 1000.0,
        _ => x,
    }
}

/// The server's bounds in the catalog's unit for `knob`.
fn live_bounds_in_unit(knob: &Knob, live: &LiveKnob) -> (Option<f64>, Option<f64>) {
    let to_unit = |x| in_catalog_unit(knob, live, x);
    (live.min.map(to_unit), live.max.map(to_unit))
}

/// Every way the catalog's `knob` disagrees with the server's own description of it. The
/// tests hold PostgreSQL catalogs to none of these; [`discover`] warns about those that
/// change what dbtuner does and takes the server's word.
pub fn disagreements(knob: &Knob, live: &LiveKnob) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let mut say = |aspect, detail: String| {
        out.push(Disagreement {
            knob: knob.name.clone(),
            aspect,
            detail,
        })
    };
    let kind = kind_name(&knob.kind);
    if kind != live.kind {
        say(
            Aspect::Type,
            format!("catalog says {kind}, server says {}", live.kind),
        );
    }
    if let Some(apply) = live.apply.filter(|a| *a != knob.apply) {
        say(
            Aspect::Apply,
            format!(
                "catalog says it applies by {:?}, server says {apply:?}",
                knob.apply
            ),
        );
    }
    let unit = knob.unit();
    // MySQL and MariaDB do not report units; PostgreSQL reports none for commit_delay's
    // microseconds.
    let unit_known = knob.engine == Engine::Postgres || live.unit_class.is_some();
    if unit_known
        && live.unit_class != unit_class(unit)
        && !(live.unit_class.is_none() && unit == Unit::Micros)
    {
        say(
            Aspect::Unit,
            format!(
                "catalog unit {unit:?} does not match the server's unit class {:?}",
                live.unit_class
            ),
        );
    }
    let (live_min, live_max) = live_bounds_in_unit(knob, live);
    if let (Some((min, max)), Some(lmin), Some(lmax)) = (knob.numeric_bounds(), live_min, live_max)
    {
        // Integers compare exactly: a catalog max one unit above the server's lets through a
        // value the server refuses. Reals within rounding of their decimal text.
        let same = |a: f64, b: f64| match knob.kind {
            KnobKind::Integer { .. } => a.round() == b.round(),
            _ => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        };
        let show = |x: f64| match knob.kind {
            KnobKind::Integer { .. } => Value::Int(x as i64).human(unit),
            _ => x.to_string(),
        };
        if !same(min, lmin) || !same(max, lmax) {
            say(
                Aspect::Bounds,
                format!(
                    "bounds {}..{} in the catalog, {}..{} on the server",
                    show(min),
                    show(max),
                    show(lmin),
                    show(lmax)
                ),
            );
        }
        if let Some(range) = knob.range {
            if range.low < lmin - 1e-9 || range.high > lmax + 1e-9 {
                say(
                    Aspect::Range,
                    format!(
                        "tuning range {}..{} outside the server's bounds {}..{}",
                        show(range.low),
                        show(range.high),
                        show(lmin),
                        show(lmax)
                    ),
                );
            }
        }
    }
    if let KnobKind::Enum { values } = &knob.kind {
        let missing: Vec<&String> = values
            .iter()
            .filter(|v| !live.enum_values.iter().any(|l| l.eq_ignore_ascii_case(v)))
            .collect();
        if !live.enum_values.is_empty() && !missing.is_empty() {
            say(
                Aspect::Values,
                format!("values {missing:?} not accepted by this server"),
            );
        }
    }
    if let Some(text) = &live.default {
        match live_default(knob, live, text) {
            Ok(v) if v != knob.default => say(
                Aspect::Default,
                format!(
                    "default is {} on this server, {} in the catalog",
                    v.human(unit),
                    knob.default.human(unit)
                ),
            ),
            Ok(_) => {}
            Err(e) => say(
                Aspect::Default,
                format!("the server's default '{text}' is not a value of the catalog's knob: {e}"),
            ),
        }
    }
    out
}

/// The server's default as a value of `knob`. A real with a unit (vacuum_cost_delay's ms)
/// comes as a plain number in bytes or milliseconds, rescaled like the bounds; everything
/// else as text with its unit ("4MB", "5min").
fn live_default(knob: &Knob, live: &LiveKnob, text: &str) -> knobs::Result<Value> {
    match (&knob.kind, text.trim().parse::<f64>()) {
        (KnobKind::Real { .. }, Ok(x)) if live.unit_class.is_some() => {
            knob.parse_value(&in_catalog_unit(knob, live, x).to_string())
        }
        _ => knob.parse_value(text),
    }
}

fn reconcile(mut knob: Knob, live: &LiveKnob, warnings: &mut Vec<String>) -> Knob {
    let name = knob.name.clone();
    // Bounds are taken from the server below without a word: that is the safe direction, and
    // MySQL's and MariaDB's reported bounds rarely match a manual's round numbers.
    for d in disagreements(&knob, live) {
        match d.aspect {
            Aspect::Type | Aspect::Unit => warnings.push(d.to_string()),
            Aspect::Apply | Aspect::Default => warnings.push(format!("{d}; using the server's")),
            Aspect::Values => warnings.push(format!("{d}; left out")),
            Aspect::Bounds | Aspect::Range => tracing::debug!("{d}"),
        }
    }
    if let Some(apply) = live.apply {
        knob.apply = apply;
    }
    let (mut live_min, mut live_max) = live_bounds_in_unit(&knob, live);
    if let (Some(lo), Some(hi)) = (live_min, live_max) {
        // A server's bounds are outside data: NaN or min > max would panic in clamp below.
        if lo.is_nan() || hi.is_nan() || lo > hi {
            warnings.push(format!(
                "{name}: the server reports bounds {lo}..{hi}, which are not a range; using the catalog's"
            ));
            (live_min, live_max) = (None, None);
        }
    }
    match &mut knob.kind {
        KnobKind::Integer { min, max, .. } => {
            if let (Some(lmin), Some(lmax)) = (live_min, live_max) {
                let (lmin, lmax) = (
                    lmin.max(i64::MIN as f64) as i64,
                    lmax.min(i64::MAX as f64) as i64,
                );
                if (*min, *max) != (lmin, lmax) {
                    tracing::debug!(knob = %name, "bounds {min}..{max} -> server {lmin}..{lmax}");
                    *min = lmin;
                    *max = lmax;
                }
            }
        }
        KnobKind::Real { min, max, .. } => {
            if let (Some(lmin), Some(lmax)) = (live_min, live_max) {
                *min = lmin;
                *max = lmax;
            }
        }
        KnobKind::Enum { values } if !live.enum_values.is_empty() => {
            let missing: Vec<&String> = values
                .iter()
                .filter(|v| !live.enum_values.iter().any(|l| l.eq_ignore_ascii_case(v)))
                .collect();
            if !missing.is_empty() {
                values.retain(|v| live.enum_values.iter().any(|l| l.eq_ignore_ascii_case(v)));
            }
        }
        _ => {}
    }
    let bounds = knob.numeric_bounds();
    if let (Some(range), Some((lo, hi))) = (knob.range.as_mut(), bounds) {
        if lo <= hi {
            range.low = range.low.clamp(lo, hi);
            range.high = range.high.clamp(lo, hi);
        } else {
            warnings.push(format!(
                "{name}: bounds {lo}..{hi} are not a range; its search range is left as is"
            ));
        }
    }
    if let Some(v) = live
        .default
        .as_deref()
        .and_then(|t| live_default(&knob, live, t).ok())
    {
        knob.default = v;
    }
    knob
}

/// Factor from a pg_settings unit to bytes or milliseconds, and its class.
fn pg_unit(unit: &str) -> Option<(UnitClass, f64)> {
    Some(match unit {
        "B" => (UnitClass::Memory, 1.0),
        "kB" => (UnitClass::Memory, 1024.0),
        "8kB" => (UnitClass::Memory, 8192.0),
        "16kB" => (UnitClass::Memory, 16384.0),
        "32kB" => (UnitClass::Memory, 32768.0),
        "MB" => (UnitClass::Memory, 1024.0 * 1024.0),
        "us" => (UnitClass::Time, 0.001),
        "ms" => (UnitClass::Time, 1.0),
        "s" => (UnitClass::Time, 1000.0),
        "min" => (UnitClass::Time, 60_000.0),
        _ => return None,
    })
}

async fn postgres(
    client: &tokio_postgres::Client,
) -> Result<BTreeMap<String, LiveKnob>, DiscoveryError> {
    let rows = client.query("SELECT name, vartype, coalesce(unit, ''), min_val, max_val, context, enumvals, boot_val, setting, pending_restart FROM pg_settings", &[]).await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let name: String = row.get(0);
        let unit: String = row.get(2);
        let context: String = row.get(5);
        let unit_info = pg_unit(&unit);
        // Our catalog stores memory in bytes and time in the knob's own unit; convert the
        // server's bounds to bytes / milliseconds here and let the caller rescale time.
        let scale = |v: Option<String>| {
            v.and_then(|t| t.parse::<f64>().ok()).map(|x| {
                if x < 0.0 {
                    x
                } else {
                    x * unit_info.map(|(_, f)| f).unwrap_or(1.0)
                }
            })
        };
        let kind: String = row.get(1);
        let boot: Option<String> = row.get(7);
        let default = boot.map(|b| {
            if kind == "real" && !b.starts_with('-') {
                // A real's unit cannot be spelled after it ("2ms" is not a number): give it in
                // bytes or milliseconds, as its bounds are.
                match (b.parse::<f64>(), unit_info) {
                    (Ok(x), Some((_, factor))) => (x * factor).to_string(),
                    _ => b,
                }
            } else if unit.is_empty() || b.starts_with('-') {
                b
            } else {
                format!(
                    "{b}{}",
                    if unit == "8kB" {
                        String::new()
                    } else {
                        unit.clone()
                    }
                )
            }
        });
        let default = match (unit.as_str(), default) {
            // boot_val is in the unit's count, e.g. 16384 x 8kB: express it in kB.
            ("8kB", Some(d)) => d.parse::<i64>().ok().and_then(|n| {
                if n < 0 {
                    Some(n.to_string())
                } else {
                    n.checked_mul(8).map(|kb| format!("{kb}kB"))
                }
            }),
            (_, d) => d,
        };
        out.insert(
            name.clone(),
            LiveKnob {
                name,
                kind,
                unit_class: unit_info.map(|(c, _)| c),
                min: scale(row.get(3)),
                max: scale(row.get(4)),
                apply: match context.as_str() {
                    "postmaster" => Some(ApplyMode::Restart),
                    "sighup" | "backend" | "superuser-backend" => Some(ApplyMode::Reload),
                    "user" | "superuser" => Some(ApplyMode::Session),
                    _ => None,
                },
                enum_values: row.get::<_, Option<Vec<String>>>(6).unwrap_or_default(),
                default,
                setting: row.get(8),
                pending_restart: row.get(9),
            },
        );
    }
    Ok(out)
}

/// A row's first N columns; missing ones are NULL.
fn columns<const N: usize>(row: Vec<Option<String>>) -> [Option<String>; N] {
    let mut row = row.into_iter();
    std::array::from_fn(|_| row.next().flatten())
}

async fn mysql(
    conn: &mut mysql_async::Conn,
    engine: Engine,
) -> Result<BTreeMap<String, LiveKnob>, DiscoveryError> {
    let mut out = BTreeMap::new();
    // Every row as raw values: a server's NULL or non-UTF-8 value must not panic in the row
    // decoder (typed tuples do); a row without a name is left out.
    let globals: Vec<mysql_async::Row> = conn.query("SHOW GLOBAL VARIABLES").await?;
    for row in mysql_text_rows(globals) {
        let [Some(name), setting] = columns(row) else {
            continue;
        };
        let setting = setting.unwrap_or_default();
        out.insert(
            name.clone(),
            LiveKnob {
                name,
                kind: "string".into(),
                unit_class: None,
                min: None,
                max: None,
                apply: None,
                enum_values: Vec::new(),
                default: None,
                setting,
                pending_restart: false,
            },
        );
    }
    if engine == Engine::Mariadb {
        let rows: Vec<mysql_async::Row> = conn
            .query("SELECT LOWER(VARIABLE_NAME), VARIABLE_SCOPE, VARIABLE_TYPE, READ_ONLY, CAST(NUMERIC_MIN_VALUE AS CHAR), CAST(NUMERIC_MAX_VALUE AS CHAR), DEFAULT_VALUE, ENUM_VALUE_LIST FROM information_schema.SYSTEM_VARIABLES")
            .await?;
        for row in mysql_text_rows(rows) {
            let [Some(name), Some(scope), Some(ty), Some(read_only), min, max, default, enums] =
                columns(row)
            else {
                continue;
            };
            let Some(k) = out.get_mut(&name) else {
                continue;
            };
            let ty = ty.to_ascii_uppercase();
            k.kind = if ty == "BOOLEAN" {
                "bool"
            } else if ty == "ENUM" {
                "enum"
            } else if ty.contains("INT") {
                "integer"
            } else if ty == "DOUBLE" {
                "real"
            } else {
                "string"
            }
            .into();
            k.min = min.and_then(|m| m.parse().ok());
            k.max = max.and_then(|m| m.parse().ok());
            k.apply = Some(if read_only == "YES" {
                ApplyMode::Restart
            } else if scope == "SESSION" {
                ApplyMode::Session
            } else {
                ApplyMode::Reload
            });
            if k.kind != "bool" {
                k.enum_values = enums
                    .map(|e| e.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
            }
            k.default = default;
        }
    } else {
        // MySQL 8: bounds from performance_schema (types and contexts are not exposed).
        let rows: Result<Vec<mysql_async::Row>, _> = conn
            .query(
                "SELECT VARIABLE_NAME, MIN_VALUE, MAX_VALUE FROM performance_schema.variables_info",
            )
            .await;
        match rows {
            Ok(rows) => {
                for row in mysql_text_rows(rows) {
                    let [Some(name), min, max] = columns(row) else {
                        continue;
                    };
                    if let Some(k) = out.get_mut(&name) {
                        k.min = min
                            .and_then(|m| m.parse().ok())
                            .filter(|m: &f64| *m != 0.0 || max.is_some());
                        k.max = max.and_then(|m| m.parse().ok());
                    }
                }
            }
            Err(e) => tracing::warn!(
                "performance_schema.variables_info not readable ({e}); using catalog bounds"
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(min: Option<f64>, max: Option<f64>) -> LiveKnob {
        LiveKnob {
            name: "work_mem".into(),
            kind: "integer".into(),
            unit_class: Some(UnitClass::Memory),
            min,
            max,
            apply: None,
            enum_values: Vec::new(),
            default: None,
            setting: "4096".into(),
            pending_restart: false,
        }
    }

    #[test]
    fn bounds_that_are_not_a_range_are_ignored_with_a_warning() {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let knob = catalog::find(&cat, "work_mem").unwrap().clone();
        for (min, max) in [
            (Some(1e9), Some(1e3)),
            (Some(f64::NAN), Some(1e9)),
            (Some(64.0 * 1024.0), Some(f64::NAN)),
        ] {
            let mut warnings = Vec::new();
            let out = reconcile(knob.clone(), &live(min, max), &mut warnings);
            assert_eq!(out.kind, knob.kind, "{min:?}..{max:?}: catalog bounds kept");
            assert!(
                warnings.iter().any(|w| w.contains("not a range")),
                "{min:?}..{max:?}: {warnings:?}"
            );
        }
        // Sane bounds are still taken from the server.
        let mut warnings = Vec::new();
        let out = reconcile(knob.clone(), &live(Some(65536.0), Some(1e9)), &mut warnings);
        assert_eq!(out.numeric_bounds(), Some((65536.0, 1e9)));
    }

    #[test]
    fn a_real_with_a_unit_has_its_default_compared_as_a_number() {
        // The server's "2" ms came out as "2ms", which no real parses: every major disagreed.
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let knob = catalog::find(&cat, "autovacuum_vacuum_cost_delay")
            .unwrap()
            .clone();
        let live = |default: &str| LiveKnob {
            name: knob.name.clone(),
            kind: "real".into(),
            unit_class: Some(UnitClass::Time),
            min: Some(-1.0),
            max: Some(100.0),
            apply: Some(ApplyMode::Reload),
            enum_values: Vec::new(),
            default: Some(default.into()),
            setting: default.into(),
            pending_restart: false,
        };
        assert_eq!(disagreements(&knob, &live("2")), []);
        let found = disagreements(&knob, &live("20"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].aspect, Aspect::Default);
    }
}
