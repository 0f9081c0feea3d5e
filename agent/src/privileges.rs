//! What the connected role may do, checked before a command changes anything: each missing
//! privilege is named with the statement that grants it, so a DBA who gives dbtuner a
//! least-privilege role learns in one run what that role lacks (not one error at a time,
//! halfway through a change).
//!
//! PostgreSQL: a superuser may do everything. Otherwise changing a setting needs `ALTER
//! SYSTEM` on that parameter (PostgreSQL 15+; before 15 only superusers may run ALTER SYSTEM)
//! and `EXECUTE` on `pg_reload_conf()`; building an index needs ownership of its table;
//! creating the tune workload's database needs `CREATEDB`. MySQL/MariaDB: `SET GLOBAL` needs
//! `SUPER` (MySQL 8 also takes `SYSTEM_VARIABLES_ADMIN`), an index needs `INDEX` on its
//! table, the workload's database needs `CREATE` (and the rest of ALL) on it.

use workloads::Target;

/// One privilege the role lacks, and how a DBA grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub need: String,
    pub grant: String,
}

/// What a command is about to do.
#[derive(Debug, Clone, Default)]
pub struct Intent<'a> {
    /// Settings it will change (ALTER SYSTEM / SET GLOBAL).
    pub settings: &'a [String],
    /// Tables it will build indexes on (`schema.table` or `table`).
    pub index_tables: &'a [String],
    /// A database it will create when missing, and then fill.
    pub database: Option<&'a str>,
    /// It records the server's ALTER SYSTEM entries before changing anything (PostgreSQL:
    /// `pg_file_settings`, superuser-only by default).
    pub record_configuration: bool,
}

/// The privileges `intent` needs that the connected role does not have. A query that fails is
/// not taken as a missing privilege (the command itself reports what the server says).
pub async fn missing(target: &mut Target, intent: &Intent<'_>) -> Vec<Missing> {
    match target {
        Target::Postgres {
            client, version, ..
        } => postgres(client, version, intent).await,
        Target::Mysql { conn, engine, .. } => mysql(conn, *engine, intent).await,
    }
}

/// One message naming every missing privilege and its grant, for an error.
pub fn explain(missing: &[Missing]) -> String {
    let needs: Vec<&str> = missing.iter().map(|m| m.need.as_str()).collect();
    let grants: Vec<&str> = missing.iter().map(|m| m.grant.as_str()).collect();
    format!(
        "the connected role may not {}; nothing was changed. As an administrator, run: {}",
        needs.join(", "),
        grants.join(" ")
    )
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn postgres(
    client: &tokio_postgres::Client,
    version: &str,
    intent: &Intent<'_>,
) -> Vec<Missing> {
    let Ok(row) = client
        .query_one(
            "SELECT current_user::text, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
    else {
        return Vec::new();
    };
    let (role, superuser, createdb): (String, bool, bool) = (row.get(0), row.get(1), row.get(2));
    if superuser {
        return Vec::new();
    }
    let role_sql = quote_ident(&role);
    let major = knobs::Version::parse(version).map_or(0, |v| v.major);
    let mut out = Vec::new();
    if !intent.settings.is_empty() {
        if major < 15 {
            out.push(Missing {
                need: format!("run ALTER SYSTEM (PostgreSQL {major} allows it to superusers only)"),
                grant: format!("ALTER ROLE {role_sql} SUPERUSER;"),
            });
        } else {
            for name in intent.settings {
                let allowed = client
                    .query_one(
                        "SELECT has_parameter_privilege($1, 'ALTER SYSTEM')",
                        &[name],
                    )
                    .await
                    .map(|r| r.get::<_, bool>(0));
                if matches!(allowed, Ok(false)) {
                    out.push(Missing {
                        need: format!("ALTER SYSTEM SET {name}"),
                        grant: format!("GRANT ALTER SYSTEM ON PARAMETER {name} TO {role_sql};"),
                    });
                }
            }
        }
        let reload = client
            .query_one(
                "SELECT has_function_privilege('pg_catalog.pg_reload_conf()', 'EXECUTE')",
                &[],
            )
            .await
            .map(|r| r.get::<_, bool>(0));
        if matches!(reload, Ok(false)) {
            out.push(Missing {
                need: "reload the configuration (pg_reload_conf)".into(),
                grant: format!(
                    "GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO {role_sql};"
                ),
            });
        }
    }
    if intent.record_configuration {
        let readable = client
            .query_one(
                "SELECT has_table_privilege('pg_catalog.pg_file_settings', 'SELECT') \
                 AND has_function_privilege('pg_catalog.pg_show_all_file_settings()', 'EXECUTE')",
                &[],
            )
            .await
            .map(|r| r.get::<_, bool>(0));
        if matches!(readable, Ok(false)) {
            out.push(Missing {
                need: "read what ALTER SYSTEM set (pg_file_settings), to put it back".into(),
                grant: format!("GRANT SELECT ON pg_catalog.pg_file_settings TO {role_sql}; GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO {role_sql};"),
            });
        }
    }
    for table in intent.index_tables {
        let owner = client
            .query_opt(
                "SELECT pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[table],
            )
            .await;
        if let Ok(Some(row)) = owner {
            let (owns, owner): (bool, String) = (row.get(0), row.get(1));
            if !owns {
                out.push(Missing {
                    need: format!("build indexes on {table} (only its owner may)"),
                    grant: format!("GRANT {} TO {role_sql};", quote_ident(&owner)),
                });
            }
        }
    }
    if let Some(database) = intent.database {
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await
            .map(|r| r.is_some());
        if matches!(exists, Ok(false)) && !createdb {
            out.push(Missing {
                need: format!("create the database {database}"),
                grant: format!("ALTER ROLE {role_sql} CREATEDB;"),
            });
        }
    }
    out
}

/// The role's global privileges and the databases it holds ALL on, from SHOW GRANTS.
struct MysqlGrants {
    user: String,
    global: Vec<String>,
    text: Vec<String>,
}

impl MysqlGrants {
    fn global_has(&self, privilege: &str) -> bool {
        self.global
            .iter()
            .any(|p| p == "ALL PRIVILEGES" || p == privilege)
    }

    /// A privilege globally or on `database.*` (or the table itself).
    fn on_database_has(&self, privilege: &str, database: &str, table: Option<&str>) -> bool {
        if self.global_has(privilege) {
            return true;
        }
        let mut scopes = vec![format!("`{database}`.*")];
        if let Some(t) = table {
            scopes.push(format!("`{database}`.`{t}`"));
        }
        self.text.iter().any(|line| {
            scopes.iter().any(|s| line.contains(&format!(" ON {s} ")))
                && privileges_of(line)
                    .iter()
                    .any(|p| p == "ALL PRIVILEGES" || p == privilege)
        })
    }
}

/// "GRANT SELECT, PROCESS ON *.* TO …" → ["SELECT", "PROCESS"].
fn privileges_of(line: &str) -> Vec<String> {
    line.strip_prefix("GRANT ")
        .and_then(|rest| rest.split(" ON ").next())
        .map(|list| list.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

async fn mysql_grants(conn: &mut mysql_async::Conn) -> Option<MysqlGrants> {
    use mysql_async::prelude::Queryable;
    let rows: Vec<mysql_async::Row> = conn.query("SHOW GRANTS").await.ok()?;
    let text: Vec<String> = workloads::target::mysql_text_rows(rows)
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    let user: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.ok()?;
    let global = text
        .iter()
        .filter(|l| l.contains(" ON *.* "))
        .flat_map(|l| privileges_of(l))
        .collect();
    Some(MysqlGrants {
        user: user.unwrap_or_default(),
        global,
        text,
    })
}

async fn mysql(
    conn: &mut mysql_async::Conn,
    engine: knobs::Engine,
    intent: &Intent<'_>,
) -> Vec<Missing> {
    let Some(grants) = mysql_grants(conn).await else {
        return Vec::new();
    };
    let account = match grants.user.split_once('@') {
        Some((user, host)) => format!("'{user}'@'{host}'"),
        None => format!("'{}'", grants.user),
    };
    let mut out = Vec::new();
    let can_set_global = grants.global_has("SUPER")
        || (engine == knobs::Engine::Mysql && grants.global_has("SYSTEM_VARIABLES_ADMIN"));
    if !intent.settings.is_empty() && !can_set_global {
        let privilege = if engine == knobs::Engine::Mysql {
            "SYSTEM_VARIABLES_ADMIN"
        } else {
            "SUPER"
        };
        out.push(Missing {
            need: format!("SET GLOBAL {}", intent.settings.join(", ")),
            grant: format!("GRANT {privilege} ON *.* TO {account};"),
        });
    }
    for table in intent.index_tables {
        let (database, name) = match table.split_once('.') {
            Some((d, t)) => (d.to_string(), t.to_string()),
            None => {
                use mysql_async::prelude::Queryable;
                let current: Option<Option<String>> =
                    conn.query_first("SELECT DATABASE()").await.ok().flatten();
                (current.flatten().unwrap_or_default(), table.clone())
            }
        };
        if !grants.on_database_has("INDEX", &database, Some(&name)) {
            out.push(Missing {
                need: format!("build indexes on {table}"),
                grant: format!("GRANT INDEX ON `{database}`.`{name}` TO {account};"),
            });
        }
    }
    if let Some(database) = intent.database {
        if !grants.on_database_has("CREATE", database, None) {
            out.push(Missing {
                need: format!("create and fill the database {database}"),
                grant: format!("GRANT ALL ON `{database}`.* TO {account};"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_read_from_a_grant_line() {
        assert_eq!(
            privileges_of("GRANT SELECT, PROCESS ON *.* TO `m`@`%`"),
            vec!["SELECT", "PROCESS"]
        );
        let grants = MysqlGrants {
            user: "t@%".into(),
            global: vec!["PROCESS".into()],
            text: vec![
                "GRANT PROCESS ON *.* TO `t`@`%`".into(),
                "GRANT ALL PRIVILEGES ON `app`.* TO `t`@`%`".into(),
                "GRANT INDEX ON `shop`.`orders` TO `t`@`%`".into(),
            ],
        };
        assert!(!grants.global_has("SUPER"));
        assert!(grants.on_database_has("CREATE", "app", None));
        assert!(!grants.on_database_has("CREATE", "shop", None));
        assert!(grants.on_database_has("INDEX", "shop", Some("orders")));
        assert!(!grants.on_database_has("INDEX", "shop", Some("items")));
    }
}
