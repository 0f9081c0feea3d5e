//! Rendering a configuration in each engine's own syntax: `ALTER SYSTEM` (PostgreSQL),
//! `SET PERSIST` / `SET PERSIST_ONLY` (MySQL 8), `SET GLOBAL` plus a my.cnf note (MariaDB, which
//! has no persisted SET), configuration-file snippets and JSON.

use crate::{catalog, ApplyMode, Config, Engine, Knob, Value};

fn rows<'a>(
    config: &'a Config,
    catalog: &'a [Knob],
) -> impl Iterator<Item = (&'a Knob, &'a Value)> {
    config
        .iter()
        .filter_map(move |(name, value)| catalog::find(catalog, name).ok().map(|k| (k, value)))
}

fn notes(knob: &Knob, value: &Value) -> String {
    let mut n = Vec::new();
    if knob.apply == ApplyMode::Restart {
        n.push("needs a restart");
    }
    if knob.is_risky_value(value) {
        n.push("DURABILITY RISK: can lose committed transactions on a crash");
    }
    if n.is_empty() {
        String::new()
    } else {
        format!("  -- {}", n.join("; "))
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQL statements that make `config` persistent on the server.
pub fn sql(engine: Engine, config: &Config, catalog: &[Knob]) -> Vec<String> {
    rows(config, catalog)
        .map(|(knob, value)| {
            let v = value.render(engine, knob.unit());
            let note = notes(knob, value);
            match engine {
                Engine::Postgres => format!("ALTER SYSTEM SET {} = {};{note}", knob.name, quote(&v)),
                Engine::Mysql => {
                    let verb = if knob.apply == ApplyMode::Restart { "SET PERSIST_ONLY" } else { "SET PERSIST" };
                    format!("{verb} {} = {};{note}", knob.name, mysql_value(&v))
                }
                Engine::Mariadb if knob.apply == ApplyMode::Restart => format!("-- {} = {} goes in my.cnf ([mysqld]); MariaDB cannot set it at run time{note}", knob.name, v),
                Engine::Mariadb => format!("SET GLOBAL {} = {};{note}  -- also put it in my.cnf: MariaDB has no SET PERSIST", knob.name, mysql_value(&v)),
            }
        })
        .collect()
}

/// A configuration-file snippet: postgresql.conf lines or a my.cnf `[mysqld]` section.
pub fn conf(engine: Engine, config: &Config, catalog: &[Knob]) -> Vec<String> {
    let mut lines = Vec::new();
    if engine.is_mysql_family() {
        lines.push("[mysqld]".to_string());
    }
    for (knob, value) in rows(config, catalog) {
        let note = notes(knob, value).replace("  --", "  #");
        match engine {
            Engine::Postgres => lines.push(format!(
                "{} = {}{note}",
                knob.name,
                quote(&value.human(knob.unit()))
            )),
            Engine::Mysql | Engine::Mariadb => lines.push(format!(
                "{} = {}{note}",
                knob.name,
                value.render(engine, knob.unit())
            )),
        }
    }
    lines
}

/// Numbers and ON/OFF go bare in MySQL SET statements; anything else quoted.
pub fn mysql_value(rendered: &str) -> String {
    if rendered.parse::<f64>().is_ok() || rendered == "ON" || rendered == "OFF" {
        rendered.to_string()
    } else {
        quote(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_engine_in_its_own_syntax() {
        let pg = catalog::for_engine(Engine::Postgres).unwrap();
        let c = Config::parse_pairs(
            &pg,
            [
                ("shared_buffers", "2GB"),
                ("synchronous_commit", "off"),
                ("random_page_cost", "1.1"),
            ],
        )
        .unwrap();
        let lines = super::sql(Engine::Postgres, &c, &pg);
        assert!(
            lines.contains(&"ALTER SYSTEM SET random_page_cost = '1.1';".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(
                |l| l.starts_with("ALTER SYSTEM SET shared_buffers = '2097152kB';")
                    && l.contains("needs a restart")
            ),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("synchronous_commit = 'off'") && l.contains("DURABILITY RISK")),
            "{lines:?}"
        );
        assert!(super::conf(Engine::Postgres, &c, &pg)
            .contains(&"random_page_cost = '1.1'".to_string()));

        let my = catalog::for_engine(Engine::Mysql).unwrap();
        let c = Config::parse_pairs(
            &my,
            [
                ("innodb_buffer_pool_size", "1GB"),
                ("innodb_log_buffer_size", "64MB"),
            ],
        )
        .unwrap();
        let lines = super::sql(Engine::Mysql, &c, &my);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("SET PERSIST innodb_buffer_pool_size = 1073741824;")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("SET PERSIST_ONLY innodb_log_buffer_size = 67108864;")),
            "{lines:?}"
        );

        let maria = catalog::for_engine(Engine::Mariadb).unwrap();
        let c = Config::parse_pairs(
            &maria,
            [
                ("innodb_log_buffer_size", "64MB"),
                ("innodb_io_capacity", "2000"),
            ],
        )
        .unwrap();
        let conf = super::conf(Engine::Mariadb, &c, &maria);
        assert_eq!(conf[0], "[mysqld]");
        assert!(conf
            .iter()
            .any(|l| l.starts_with("innodb_io_capacity = 2000")));
        assert!(super::sql(Engine::Mariadb, &c, &maria)
            .iter()
            .any(|l| l.starts_with("-- innodb_log_buffer_size = 67108864 goes in my.cnf")));
    }
}
