//! One knob's definition: type, unit, server bounds, default, how it applies, tuning range and
//! durability class.

use serde::{Deserialize, Serialize};

use crate::{Engine, KnobError, Result, Value};

/// The unit a knob's integer value is counted in, as dbtuner stores it (not always the server's
/// own base unit: sizes are always bytes and times always milliseconds or microseconds here,
/// and rendering converts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    None,
    Bytes,
    Millis,
    Micros,
    Seconds,
}

/// How a changed value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// Settable per session and globally without a reload.
    Session,
    /// Takes effect on a configuration reload (PostgreSQL `sighup`) or `SET GLOBAL`.
    Reload,
    /// Needs a server restart.
    Restart,
}

/// What a knob can cost on a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// No effect on durability.
    Safe,
    /// Some values can lose recently committed transactions on a crash.
    MayLoseCommits,
    /// Some values can corrupt data on a crash; never tuned.
    MayCorrupt,
}

/// How the optimizer walks a numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Linear,
    Log,
}

/// The type of a knob with its server bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KnobKind {
    Bool,
    Integer {
        min: i64,
        max: i64,
        unit: Unit,
    },
    Real {
        min: f64,
        max: f64,
        #[serde(default = "no_unit")]
        unit: Unit,
    },
    Enum {
        values: Vec<String>,
    },
}

fn no_unit() -> Unit {
    Unit::None
}

/// The part of a knob's range worth searching, in the knob's stored unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
    pub scale: Scale,
}

/// A knob definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knob {
    pub name: String,
    pub engine: Engine,
    pub kind: KnobKind,
    pub default: Value,
    pub apply: ApplyMode,
    pub durability: Durability,
    /// Which values of the knob are the risky ones (e.g. `off` for synchronous_commit).
    pub risky_values: Vec<String>,
    /// Tuning range, fixed; `None` for bool/enum knobs or when `ram_fraction` gives it.
    pub range: Option<Range>,
    /// Tuning range as fractions of the machine's RAM (memory knobs), resolved against
    /// [`crate::Hardware`].
    pub ram_fraction: Option<(f64, f64)>,
    /// Values with a meaning of their own (0 = off, -1 = auto), worth trying on their own.
    pub special_values: Vec<String>,
    /// Versions that have the knob ("15+", "up to 10.5", "all").
    pub versions: String,
    pub description: String,
}

impl Knob {
    /// Parse a human value ("4GB", "10s", "on", "0.9") for this knob, checking type and bounds.
    pub fn parse_value(&self, text: &str) -> Result<Value> {
        let text = text.trim();
        let value = match &self.kind {
            KnobKind::Bool => {
                Value::Bool(parse_bool(text).ok_or_else(|| {
                    self.bad(text, "not a boolean; use on/off, true/false or 1/0")
                })?)
            }
            KnobKind::Integer { unit, .. } => Value::Int(
                crate::value::parse_quantity(text, *unit)
                    .map_err(|reason| self.bad(text, &reason))?,
            ),
            KnobKind::Real { .. } => Value::Real(
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| self.bad(text, "not a number"))?,
            ),
            KnobKind::Enum { values } => {
                let found = values
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(text))
                    .ok_or_else(|| self.bad(text, &format!("not one of {}", values.join(", "))))?;
                Value::Enum(found.clone())
            }
        };
        self.check(&value)?;
        Ok(value)
    }

    /// Check a value against the type and server bounds.
    pub fn check(&self, value: &Value) -> Result<()> {
        match (&self.kind, value) {
            (KnobKind::Bool, Value::Bool(_)) => Ok(()),
            (KnobKind::Integer { min, max, unit }, Value::Int(v)) => {
                if v < min || v > max {
                    Err(KnobError::OutOfRange {
                        knob: self.name.clone(),
                        value: crate::value::format_quantity(*v, *unit),
                        min: crate::value::format_quantity(*min, *unit),
                        max: crate::value::format_quantity(*max, *unit),
                    })
                } else {
                    Ok(())
                }
            }
            (KnobKind::Real { min, max, .. }, Value::Real(v)) => {
                if v < min || v > max || !v.is_finite() {
                    Err(KnobError::OutOfRange {
                        knob: self.name.clone(),
                        value: v.to_string(),
                        min: min.to_string(),
                        max: max.to_string(),
                    })
                } else {
                    Ok(())
                }
            }
            (KnobKind::Enum { values }, Value::Enum(v)) if values.contains(v) => Ok(()),
            (_, other) => Err(self.bad(&other.to_string(), "wrong type for this knob")),
        }
    }

    /// True when this value of the knob can lose commits or corrupt data on a crash.
    pub fn is_risky_value(&self, value: &Value) -> bool {
        self.durability != Durability::Safe
            && self
                .risky_values
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&value.to_string()))
    }

    /// The unit numeric values are stored in (`Unit::None` for bool and enum knobs).
    pub fn unit(&self) -> Unit {
        match self.kind {
            KnobKind::Integer { unit, .. } | KnobKind::Real { unit, .. } => unit,
            _ => Unit::None,
        }
    }

    /// Server bounds of a numeric knob, in its unit.
    pub fn numeric_bounds(&self) -> Option<(f64, f64)> {
        match self.kind {
            KnobKind::Integer { min, max, .. } => Some((min as f64, max as f64)),
            KnobKind::Real { min, max, .. } => Some((min, max)),
            _ => None,
        }
    }

    fn bad(&self, value: &str, reason: &str) -> KnobError {
        KnobError::BadValue {
            knob: self.name.clone(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}
