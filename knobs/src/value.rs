//! Knob values, the parsing of human quantities ("4GB", "10s") and rendering in each server's
//! syntax.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{Engine, Unit};

/// A knob value. Integers are stored in the knob's [`Unit`] (bytes, ms, µs, s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Real(f64),
    Enum(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(true) => f.write_str("on"),
            Value::Bool(false) => f.write_str("off"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Real(v) => write!(f, "{v}"),
            Value::Enum(v) => f.write_str(v),
        }
    }
}

impl Value {
    /// Human form with units ("256MB", "15min").
    pub fn human(&self, unit: Unit) -> String {
        match self {
            Value::Int(v) => format_quantity(*v, unit),
            other => other.to_string(),
        }
    }

    /// Form for people reading a report: the exact [`Value::human`] form, followed by a rounded
    /// reading in a larger unit when the exact form is an awkward number ("6170896kB (≈5.9GB)").
    pub fn readable(&self, unit: Unit) -> String {
        let exact = self.human(unit);
        let Value::Int(v) = self else {
            return exact;
        };
        let (table, base): (&[(&str, i64)], i64) = match unit {
            Unit::Bytes => (&SIZE_UNITS, *v),
            Unit::Millis => (&TIME_UNITS_MS, *v),
            Unit::Seconds => (&TIME_UNITS_MS, v.saturating_mul(1000)),
            Unit::Micros | Unit::None => return exact,
        };
        if base <= 0 {
            return exact;
        }
        let Some((name, factor)) = table.iter().find(|(_, f)| base >= *f) else {
            return exact;
        };
        let scaled = base as f64 / *factor as f64;
        let rounded = if scaled >= 100.0 {
            format!("{scaled:.0}")
        } else {
            format!("{scaled:.1}")
        };
        if base % factor == 0 {
            exact
        } else {
            format!("{exact} (≈{rounded}{name})")
        }
    }

    /// The value as the given engine accepts it in `ALTER SYSTEM`/`SET GLOBAL`/a config file.
    pub fn render(&self, engine: Engine, unit: Unit) -> String {
        match (self, engine) {
            // Negative integers are special values (-1 = auto) and carry no unit.
            (Value::Int(v), _) if *v < 0 => v.to_string(),
            (Value::Int(v), Engine::Postgres) => match unit {
                // PostgreSQL rounds to its own base unit (8kB pages for some knobs).
                Unit::Bytes => format!("{}kB", v / 1024),
                Unit::Millis => format!("{v}ms"),
                Unit::Seconds => format!("{v}s"),
                Unit::Micros | Unit::None => v.to_string(),
            },
            (Value::Bool(b), Engine::Mysql | Engine::Mariadb) => {
                if *b { "ON" } else { "OFF" }.to_string()
            }
            (Value::Real(v), _) => format!("{v}"),
            (other, _) => other.to_string(),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Real(v) => Some(*v),
            _ => None,
        }
    }
}

const KB: i64 = 1024;
const SIZE_UNITS: [(&str, i64); 5] = [
    ("TB", KB * KB * KB * KB),
    ("GB", KB * KB * KB),
    ("MB", KB * KB),
    ("kB", KB),
    ("B", 1),
];
const TIME_UNITS_MS: [(&str, i64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("min", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parse "4GB", "512kB", "10s", "5min", "2.5ms" or a bare number (taken in the knob's unit)
/// into the knob's unit.
pub(crate) fn parse_scaled(text: &str, unit: Unit) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
        .unwrap_or(text.len());
    // "1e3" is a number but "1EB" is a size: only take the exponent when digits follow.
    let split = if text[..split].ends_with(['e', 'E']) {
        split - 1
    } else {
        split
    };
    let (number, suffix) = text.split_at(split);
    let suffix = suffix.trim();
    let number: f64 = number.parse().map_err(|_| "not a number".to_string())?;
    if !number.is_finite() {
        return Err("not a finite number".to_string());
    }
    let factor: f64 = if suffix.is_empty() {
        1.0
    } else {
        match unit {
            Unit::Bytes => size_factor(suffix).ok_or_else(|| {
                format!("unknown size unit '{suffix}'; use B, kB, MB, GB, TB or EB")
            })?,
            Unit::Millis | Unit::Seconds | Unit::Micros => {
                let ms = time_factor_ms(suffix).ok_or_else(|| {
                    format!("unknown time unit '{suffix}'; use us, ms, s, min, h or d")
                })?;
                match unit {
                    Unit::Millis => ms,
                    Unit::Seconds => ms / 1000.0,
                    _ => ms * 1000.0,
                }
            }
            Unit::None => return Err(format!("this knob takes a plain number, not '{suffix}'")),
        }
    };
    let scaled = number * factor;
    if !scaled.is_finite() {
        return Err("number too large".to_string());
    }
    Ok(scaled)
}

/// Parse a human size ("8GiB", "512MB") into bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let v = parse_quantity(text, Unit::Bytes)?;
    u64::try_from(v).map_err(|_| "a size cannot be negative".to_string())
}

/// [`parse_scaled`] for integer knobs: the result must be whole and fit in an i64.
pub(crate) fn parse_quantity(text: &str, unit: Unit) -> Result<i64, String> {
    let scaled = parse_scaled(text, unit)?;
    if scaled.abs() >= 9.2e18 {
        return Err("number too large".to_string());
    }
    if (scaled - scaled.round()).abs() > 1e-6 * scaled.abs().max(1.0) {
        return Err("not a whole number in this knob's unit".to_string());
    }
    Ok(scaled.round() as i64)
}

fn size_factor(suffix: &str) -> Option<f64> {
    let normalized = suffix.trim_end_matches("iB").trim_end_matches('B');
    let k = KB as f64;
    match normalized.to_ascii_lowercase().as_str() {
        "" => Some(1.0),
        "k" => Some(k),
        "m" => Some(k * k),
        "g" => Some(k * k * k),
        "t" => Some(k * k * k * k),
        "p" => Some(k * k * k * k * k),
        "e" => Some(k * k * k * k * k * k),
        _ => None,
    }
}

fn time_factor_ms(suffix: &str) -> Option<f64> {
    match suffix.to_ascii_lowercase().as_str() {
        "us" | "µs" => Some(0.001),
        "ms" => Some(1.0),
        "s" | "sec" => Some(1000.0),
        "min" | "m" => Some(60_000.0),
        "h" => Some(3_600_000.0),
        "d" => Some(86_400_000.0),
        _ => None,
    }
}

/// Format an integer in a unit with the largest exact human suffix.
pub(crate) fn format_quantity(value: i64, unit: Unit) -> String {
    // Negative values are special (-1 = auto, as for wal_buffers) and carry no unit.
    if value < 0 {
        return value.to_string();
    }
    let pick = |table: &[(&str, i64)], v: i64| {
        for (name, factor) in table {
            if v != 0 && v % factor == 0 {
                return format!("{}{}", v / factor, name);
            }
        }
        v.to_string()
    };
    match unit {
        Unit::Bytes => pick(&SIZE_UNITS, value),
        Unit::Millis => pick(&TIME_UNITS_MS, value),
        Unit::Seconds => pick(&TIME_UNITS_MS, value.saturating_mul(1000)),
        // PostgreSQL accepts no unit suffix on microsecond knobs (commit_delay): keep it bare.
        Unit::Micros => value.to_string(),
        Unit::None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_values_round_awkward_numbers_and_keep_the_exact_one() {
        let kb = Value::Int(6_170_896 * KB);
        assert_eq!(kb.readable(Unit::Bytes), "6170896kB (≈5.9GB)");
        assert_eq!(Value::Int(256 * KB * KB).readable(Unit::Bytes), "256MB");
        assert_eq!(Value::Int(-1).readable(Unit::Bytes), "-1");
        assert_eq!(Value::Int(-1).human(Unit::Bytes), "-1");
        assert_eq!(Value::Int(0).readable(Unit::Bytes), "0");
        assert_eq!(
            Value::Int(90_500).readable(Unit::Millis),
            "90500ms (≈1.5min)"
        );
        assert_eq!(Value::Int(300).readable(Unit::Seconds), "5min");
        assert_eq!(Value::Int(1500).readable(Unit::Micros), "1500");
        // The exact form still parses back to the same value.
        assert_eq!(
            parse_quantity(&kb.human(Unit::Bytes), Unit::Bytes),
            Ok(6_170_896 * KB)
        );
        assert_eq!(parse_quantity("-1", Unit::Bytes), Ok(-1));
    }

    #[test]
    fn parses_sizes_and_times() {
        assert_eq!(parse_quantity("4GB", Unit::Bytes), Ok(4 * KB * KB * KB));
        assert_eq!(parse_quantity("512kB", Unit::Bytes), Ok(512 * KB));
        assert_eq!(
            parse_quantity("1.5GiB", Unit::Bytes),
            Ok(3 * KB * KB * KB / 2)
        );
        assert_eq!(parse_quantity("10s", Unit::Millis), Ok(10_000));
        assert_eq!(parse_quantity("5min", Unit::Seconds), Ok(300));
        assert_eq!(parse_quantity("42", Unit::None), Ok(42));
        assert!(parse_quantity("5 apples", Unit::Bytes).is_err());
        assert!(parse_quantity("", Unit::Bytes).is_err());
        assert!(parse_quantity("1.5", Unit::None).is_err());
    }

    #[test]
    fn formats_round_trip() {
        for (v, unit) in [
            (128 * KB * KB, Unit::Bytes),
            (300_000, Unit::Millis),
            (900, Unit::Seconds),
            (3, Unit::None),
        ] {
            let text = format_quantity(v, unit);
            assert_eq!(parse_quantity(&text, unit), Ok(v), "{text}");
        }
        assert_eq!(format_quantity(2 * KB * KB * KB, Unit::Bytes), "2GB");
        assert_eq!(format_quantity(900, Unit::Seconds), "15min");
    }

    #[test]
    fn renders_for_each_engine() {
        assert_eq!(
            Value::Int(256 * KB * KB).render(Engine::Postgres, Unit::Bytes),
            "262144kB"
        );
        assert_eq!(
            Value::Int(256 * KB * KB).render(Engine::Mariadb, Unit::Bytes),
            "268435456"
        );
        assert_eq!(
            Value::Bool(false).render(Engine::Postgres, Unit::None),
            "off"
        );
        assert_eq!(Value::Bool(false).render(Engine::Mysql, Unit::None), "OFF");
    }
}
