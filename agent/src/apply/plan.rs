//! Plan files: what `dbtuner apply` applies. JSON or TOML:
//!
//! ```toml
//! engine = "postgres"        # optional: refused if the target is another engine
//! [knobs]
//! shared_buffers = "2GB"
//! work_mem = "16MB"
//! ```
//!
//! Values are human values ("2GB", "15min", "on"); they are validated against the target's own
//! catalog before anything is changed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::BadInput;

/// A plan as written in the file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub engine: Option<String>,
    #[serde(default)]
    pub knobs: BTreeMap<String, PlanValue>,
    /// Free text kept with the change record.
    pub note: Option<String>,
}

/// A value as written: text, number or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PlanValue {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
}

impl PlanValue {
    pub fn as_text(&self) -> String {
        match self {
            PlanValue::Text(t) => t.clone(),
            PlanValue::Integer(i) => i.to_string(),
            PlanValue::Real(r) => r.to_string(),
            PlanValue::Bool(b) => if *b { "on" } else { "off" }.to_string(),
        }
    }
}

impl Plan {
    /// The non-default values of a configuration as a plan, values in human units.
    pub fn from_config(
        engine: knobs::Engine,
        config: &knobs::Config,
        catalog: &[knobs::Knob],
        note: Option<String>,
    ) -> Plan {
        let knobs = config
            .iter()
            .filter_map(|(name, value)| {
                let knob = knobs::catalog::find(catalog, name).ok()?;
                (*value != knob.default)
                    .then(|| (name.to_string(), PlanValue::Text(value.human(knob.unit()))))
            })
            .collect();
        Plan {
            engine: Some(engine.to_string()),
            knobs,
            note,
        }
    }

    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Read a plan file (TOML when it ends in .toml, else JSON), naming the file and the
    /// field on errors.
    pub fn load(path: &Path) -> Result<Plan, BadInput> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BadInput(format!("--plan {}: {e}", path.display())))?;
        Plan::parse(&text, path.extension().is_some_and(|e| e == "toml"))
            .map_err(|e| BadInput(format!("--plan {}: {e}", path.display())))
    }

    pub fn parse(text: &str, toml_format: bool) -> Result<Plan, String> {
        let plan: Plan = if toml_format {
            toml::from_str(text).map_err(|e| e.to_string())?
        } else {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        };
        if plan.knobs.is_empty() {
            return Err(
                "the plan changes nothing: add a [knobs] table (TOML) or a \"knobs\" object (JSON)"
                    .into(),
            );
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_json_and_names_what_is_wrong() {
        let p = Plan::parse("engine = \"postgres\"\n[knobs]\nshared_buffers = \"2GB\"\nrandom_page_cost = 1.1\njit = false\nmax_connections = 200\n", true).unwrap();
        assert_eq!(p.knobs["shared_buffers"].as_text(), "2GB");
        assert_eq!(p.knobs["random_page_cost"].as_text(), "1.1");
        assert_eq!(p.knobs["jit"].as_text(), "off");
        assert_eq!(p.knobs["max_connections"].as_text(), "200");
        let p = Plan::parse(r#"{"knobs": {"work_mem": "16MB"}}"#, false).unwrap();
        assert_eq!(p.knobs.len(), 1);
        assert!(Plan::parse("[knobs]\n", true)
            .unwrap_err()
            .contains("changes nothing"));
        assert!(Plan::parse("knobz = 1", true)
            .unwrap_err()
            .contains("knobz"));
        assert!(Plan::parse("{", false).is_err());
    }

    #[test]
    fn a_configuration_becomes_a_plan_that_parses_back() {
        let cat = knobs::catalog::for_engine(knobs::Engine::Postgres).unwrap();
        let config = knobs::Config::parse_pairs(
            &cat,
            [
                ("shared_buffers", "2GB"),
                ("work_mem", "4MB"),
                ("random_page_cost", "1.1"),
            ],
        )
        .unwrap();
        let plan = Plan::from_config(knobs::Engine::Postgres, &config, &cat, Some("note".into()));
        assert!(
            !plan.knobs.contains_key("work_mem"),
            "defaults are left out"
        );
        let back = Plan::parse(&plan.to_toml().unwrap(), true).unwrap();
        assert_eq!(back, plan);
        assert_eq!(back.knobs["shared_buffers"].as_text(), "2GB");
    }
}
