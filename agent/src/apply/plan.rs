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
//!
//! `dbtuner tune` writes `plan.json` with more: the gate's evidence, each change with the
//! statements that apply and undo it, and a digest of the engine and knobs. A plan whose knobs
//! no longer match its digest was changed after dbtuner wrote it and is refused (remove the
//! digest to apply a hand-edited plan on purpose).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// The gate's evidence for this plan (written by `tune`; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<PlanEvidence>,
    /// Each change with how to apply and undo it (written by `tune`; informational: `apply`
    /// records the target's own previous values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<PlannedChange>,
    /// Indexes to create or drop (written by `advise indexes --plan`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<PlanIndex>,
    /// SHA-256 of the engine, knobs and indexes, hex (written by `tune` and `advise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One index of a plan: exactly one of `create` (table, key columns, optional INCLUDE
/// columns and partial predicate; dbtuner names it and builds it concurrently) or `drop`
/// (an index name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanIndex {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<models::index::IndexDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<String>,
    /// Why (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the gate measured for a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEvidence {
    pub session_id: i64,
    pub verdict: String,
    pub reason: String,
    pub objective: String,
    /// Candidate / baseline of the objective's score (above 1 is better).
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
    pub rounds: usize,
    pub round_ratios: Vec<f64>,
    /// Candidate / baseline p99 (above 1 is slower).
    pub p99_ratio: f64,
    pub method: String,
}

/// One knob of a plan with its statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedChange {
    pub name: String,
    pub value: String,
    /// The value on staging before the session (the target's own is recorded at apply).
    pub previous: String,
    pub apply_statement: String,
    pub rollback_statement: String,
    pub needs_restart: bool,
    /// "safe" or "may_lose_commits".
    pub durability: String,
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
            evidence: None,
            changes: Vec::new(),
            indexes: Vec::new(),
            digest: None,
        }
    }

    /// The advisor's indexes to create and drop as a sealed plan.
    pub fn from_advice(advice: &crate::advise::Advice) -> Plan {
        let mut indexes: Vec<PlanIndex> = advice
            .recommendations
            .iter()
            .map(|r| PlanIndex {
                create: Some(r.index.clone()),
                drop: None,
                reason: Some(format!(
                    "saves {:.1} estimated cost units per weighted statement",
                    r.gain
                )),
            })
            .collect();
        indexes.extend(advice.drops.iter().map(|d| PlanIndex {
            create: None,
            drop: Some(d.index.clone()),
            reason: Some(d.reason.clone()),
        }));
        let mut plan = Plan {
            engine: Some(advice.engine.to_string()),
            note: Some(format!(
                "dbtuner advise indexes: estimated workload cost {:+.1}%",
                advice.cost_change() * 100.0
            )),
            indexes,
            ..Plan::default()
        };
        plan.seal();
        plan
    }

    /// Write the plan: TOML when the path ends in .toml, else JSON.
    pub fn save(&self, path: &Path) -> Result<(), std::io::Error> {
        let text = if path.extension().is_some_and(|e| e == "toml") {
            self.to_toml().map_err(std::io::Error::other)?
        } else {
            self.to_json().map_err(std::io::Error::other)?
        };
        std::fs::write(path, text)
    }

    /// The digest of the engine and knobs: what `tune` vouches for.
    pub fn compute_digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"dbtuner-plan-v1\n");
        h.update(format!("engine={}\n", self.engine.as_deref().unwrap_or("")).as_bytes());
        for (name, value) in &self.knobs {
            h.update(format!("{name}={}\n", value.as_text()).as_bytes());
        }
        // Plans without indexes keep the digest they always had.
        for i in &self.indexes {
            h.update(format!("index={:?}|{:?}\n", i.create, i.drop).as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Set the digest (after the knobs are final).
    pub fn seal(&mut self) {
        self.digest = Some(self.compute_digest());
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
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
        if plan.knobs.is_empty() && plan.indexes.is_empty() {
            return Err(
                "the plan changes nothing: add a [knobs] table (TOML) or a \"knobs\" object (JSON), or indexes"
                    .into(),
            );
        }
        for (n, i) in plan.indexes.iter().enumerate() {
            match (&i.create, &i.drop) {
                (Some(c), None) => {
                    if c.table.trim().is_empty() || c.columns.is_empty() {
                        return Err(format!("indexes[{n}].create: needs a table and at least one column"));
                    }
                }
                (None, Some(d)) if !d.trim().is_empty() => {}
                _ => {
                    return Err(format!(
                        "indexes[{n}]: give exactly one of create = {{ table, columns }} or drop = \"name\""
                    ))
                }
            }
        }
        if let Some(digest) = &plan.digest {
            if *digest != plan.compute_digest() {
                return Err("its engine or knobs do not match its digest: the plan was changed after dbtuner wrote it (remove the \"digest\" field to apply a hand-edited plan on purpose)".into());
            }
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

    #[test]
    fn a_sealed_plan_refuses_edits_to_its_knobs() {
        let cat = knobs::catalog::for_engine(knobs::Engine::Postgres).unwrap();
        let config =
            knobs::Config::parse_pairs(&cat, [("shared_buffers", "2GB"), ("jit", "off")]).unwrap();
        let mut plan = Plan::from_config(knobs::Engine::Postgres, &config, &cat, None);
        plan.seal();
        let json = plan.to_json().unwrap();
        assert_eq!(Plan::parse(&json, false).unwrap(), plan);
        let tampered = json.replace("\"2GB\"", "\"20GB\"");
        assert_ne!(tampered, json);
        let e = Plan::parse(&tampered, false).unwrap_err();
        assert!(e.contains("digest"), "{e}");
        let other_engine = json.replace("\"postgres\"", "\"mariadb\"");
        assert!(Plan::parse(&other_engine, false)
            .unwrap_err()
            .contains("digest"));
        // Without the digest a hand-edited plan is the user's own and parses.
        let mut unsealed: serde_json::Value = serde_json::from_str(&tampered).unwrap();
        unsealed.as_object_mut().unwrap().remove("digest");
        assert!(Plan::parse(&unsealed.to_string(), false).is_ok());
    }
}
