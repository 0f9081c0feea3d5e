//! The change a session advises: each knob of the gate's candidate against the default, the
//! current value and the heuristic's, with copy-paste snippets (in the engine's own syntax,
//! through `knobs::render`) and their rollbacks, and the `dbtuner apply` command.

use std::path::Path;

use knobs::{catalog, ApplyMode, Config, Engine, Knob};
use reports::{ApplyKind, KnobChange, Snippet};

/// The candidate's knobs that differ from the default.
pub fn non_default(config: &Config, catalog: &[Knob]) -> Config {
    let mut out = Config::new();
    for (name, value) in config.iter() {
        if catalog::find(catalog, name).is_ok_and(|k| *value != k.default) {
            out.set(name, value.clone());
        }
    }
    out
}

pub struct Inputs<'a> {
    pub catalog: &'a [Knob],
    pub candidate: &'a Config,
    pub heuristic: Option<&'a Config>,
    /// A sandbox runs the defaults, so its current values are known.
    pub current_is_default: bool,
    pub evidence: String,
}

pub fn changes(i: &Inputs<'_>) -> Vec<KnobChange> {
    non_default(i.candidate, i.catalog)
        .iter()
        .filter_map(|(name, value)| {
            let knob = catalog::find(i.catalog, name).ok()?;
            let unit = knob.unit();
            let default = knob.default.readable(unit);
            Some(KnobChange {
                name: name.to_string(),
                current: i.current_is_default.then(|| default.clone()),
                default,
                heuristic: i
                    .heuristic
                    .and_then(|h| h.get(name))
                    .map(|v| v.readable(unit)),
                candidate: value.readable(unit),
                apply: match knob.apply {
                    ApplyMode::Session => ApplyKind::Session,
                    ApplyMode::Reload => ApplyKind::Reload,
                    ApplyMode::Restart => ApplyKind::Restart,
                },
                durability_risk: knob.is_risky_value(value),
                description: knob.description.clone(),
                evidence: i.evidence.clone(),
            })
        })
        .collect()
}

/// The defaults of the knobs `changed` sets: what a rollback writes back.
fn defaults_of(changed: &Config, catalog: &[Knob]) -> Config {
    let mut out = Config::new();
    for (name, _) in changed.iter() {
        if let Ok(k) = catalog::find(catalog, name) {
            out.set(name, k.default.clone());
        }
    }
    out
}

/// SQL and configuration-file forms of the change, each with its rollback.
pub fn snippets(engine: Engine, candidate: &Config, catalog: &[Knob]) -> Vec<Snippet> {
    let changed = non_default(candidate, catalog);
    if changed.iter().next().is_none() {
        return Vec::new();
    }
    let names: Vec<&str> = changed.iter().map(|(n, _)| n).collect();
    let restart = names
        .iter()
        .any(|n| catalog::find(catalog, n).is_ok_and(|k| k.apply == ApplyMode::Restart));
    let sql = knobs::render::sql(engine, &changed, catalog).join("\n");
    let conf = knobs::render::conf(engine, &changed, catalog).join("\n");
    let defaults = knobs::render::conf(engine, &defaults_of(&changed, catalog), catalog).join("\n");
    let restart_note = if restart {
        "\n-- then restart the server: some settings only take effect at start"
    } else {
        ""
    };
    let conf_rollback =
        format!("# Remove the lines dbtuner added. For reference, the server's built-in defaults\n# (initdb may have written other values into the file; those are what to keep):\n{defaults}");
    match engine {
        Engine::Postgres => {
            let resets: Vec<String> = names
                .iter()
                .map(|n| format!("ALTER SYSTEM RESET {n};"))
                .collect();
            vec![
                Snippet {
                    title: "ALTER SYSTEM".into(),
                    file_name: "change.sql".into(),
                    apply: format!("{sql}\nSELECT pg_reload_conf();{restart_note}"),
                    rollback: format!(
                        "{}\nSELECT pg_reload_conf();{restart_note}",
                        resets.join("\n")
                    ),
                },
                Snippet {
                    title: "postgresql.conf".into(),
                    file_name: "postgresql.conf.snippet".into(),
                    apply: conf,
                    rollback: conf_rollback,
                },
            ]
        }
        Engine::Mysql => {
            let resets: Vec<String> = names
                .iter()
                .map(|n| format!("RESET PERSIST {n};"))
                .collect();
            vec![
                Snippet {
                    title: "SET PERSIST".into(),
                    file_name: "change.sql".into(),
                    apply: format!("{sql}{restart_note}"),
                    rollback: format!("{}{restart_note}", resets.join("\n")),
                },
                Snippet {
                    title: "my.cnf".into(),
                    file_name: "my.cnf.snippet".into(),
                    apply: conf,
                    rollback: conf_rollback,
                },
            ]
        }
        Engine::Mariadb => {
            let resets: Vec<String> = names
                .iter()
                .map(|n| match catalog::find(catalog, n) {
                    Ok(k) if k.apply == ApplyMode::Restart => {
                        format!("-- {n}: remove it from my.cnf and restart")
                    }
                    _ => format!("SET GLOBAL {n} = DEFAULT;"),
                })
                .collect();
            vec![
                Snippet {
                    title: "SET GLOBAL".into(),
                    file_name: "change.sql".into(),
                    apply: format!("{sql}{restart_note}"),
                    rollback: format!(
                        "{}\n-- and remove the settings from my.cnf",
                        resets.join("\n")
                    ),
                },
                Snippet {
                    title: "my.cnf".into(),
                    file_name: "my.cnf.snippet".into(),
                    apply: conf,
                    rollback: conf_rollback,
                },
            ]
        }
    }
}

/// The commands that apply the plan written beside the report (a dry run first).
pub fn apply_command(plan: &Path, restart: bool) -> String {
    let plan = plan.display();
    let flag = if restart { " --allow-restart" } else { "" };
    format!(
        "dbtuner apply --target \"$DBTUNER_TARGET\" --plan {plan} --dry-run\n\
         dbtuner apply --target \"$DBTUNER_TARGET\" --plan {plan}{flag}"
    )
}
