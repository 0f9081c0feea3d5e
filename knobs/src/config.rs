//! A configuration (knob → value) and the difference between two.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::{catalog, Knob, Result, Value};

/// Knob values by name. Knobs not present keep whatever the server has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Config {
    values: BTreeMap<String, Value>,
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse `name=value` pairs against a catalog, validating every one.
    pub fn parse_pairs<'a>(
        catalog: &[Knob],
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        let mut config = Config::new();
        for (name, text) in pairs {
            let knob = catalog::find(catalog, name)?;
            config.set(&knob.name, knob.parse_value(text)?);
        }
        Ok(config)
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value in force: this configuration's, else the catalog default.
    pub fn effective<'a>(&'a self, knob: &'a Knob) -> &'a Value {
        self.values.get(&knob.name).unwrap_or(&knob.default)
    }

    /// Changes needed to go from `self` to `to`; a knob absent from `to` but present here goes
    /// back to its catalog default.
    pub fn diff(&self, to: &Config, catalog: &[Knob]) -> ConfigDiff {
        let mut changes = Vec::new();
        for knob in catalog {
            let from = self.effective(knob);
            let target = to.effective(knob);
            if from != target {
                changes.push(KnobChange {
                    knob: knob.clone(),
                    from: from.clone(),
                    to: target.clone(),
                });
            }
        }
        ConfigDiff { changes }
    }

    /// Human rendering, one `name = value` per knob, values with units.
    pub fn describe(&self, catalog: &[Knob]) -> Vec<(String, String)> {
        self.iter()
            .map(|(name, value)| {
                let unit = catalog::find(catalog, name)
                    .map(|k| k.unit())
                    .unwrap_or(crate::Unit::None);
                (name.to_string(), value.human(unit))
            })
            .collect()
    }
}

/// One knob's change.
#[derive(Debug, Clone, PartialEq)]
pub struct KnobChange {
    pub knob: Knob,
    pub from: Value,
    pub to: Value,
}

/// The set of changes between two configurations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigDiff {
    pub changes: Vec<KnobChange>,
}

impl ConfigDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when any change needs a server restart to take effect.
    pub fn needs_restart(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.knob.apply == crate::ApplyMode::Restart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, KnobError};

    #[test]
    fn parses_validates_and_diffs() {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let config = Config::parse_pairs(
            &cat,
            [("shared_buffers", "1GB"), ("checkpoint_timeout", "15min")],
        )
        .unwrap();
        assert_eq!(config.get("shared_buffers"), Some(&Value::Int(1 << 30)));
        assert_eq!(config.get("checkpoint_timeout"), Some(&Value::Int(900)));
        let diff = Config::new().diff(&config, &cat);
        assert_eq!(diff.changes.len(), 2);
        assert!(diff.needs_restart());
        let back = config.diff(&Config::new(), &cat);
        assert_eq!(back.changes.len(), 2);
        assert_eq!(back.changes[0].to, back.changes[0].knob.default);
    }

    #[test]
    fn errors_name_the_knob_and_the_value() {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let err = Config::parse_pairs(&cat, [("shared_buffers", "5 apples")]).unwrap_err();
        assert!(
            err.to_string().starts_with("shared_buffers = '5 apples'"),
            "{err}"
        );
        let err = Config::parse_pairs(&cat, [("checkpoint_timeout", "10ms")]).unwrap_err();
        assert!(matches!(err, KnobError::BadValue { .. }), "{err}");
        let err = Config::parse_pairs(&cat, [("checkpoint_timeout", "2d")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "checkpoint_timeout = 2d is out of range; allowed 30s .. 1d"
        );
    }
}
