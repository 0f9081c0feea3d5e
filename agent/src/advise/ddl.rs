//! SQL for an index: its name (every index dbtuner creates starts with [`NAME_PREFIX`], so it
//! never mistakes another's index for its own), the CREATE that builds it without blocking
//! writes, and the DROP that undoes it.

use knobs::Engine;
use models::index::IndexDef;
use sha2::{Digest, Sha256};

/// Names of indexes dbtuner creates start with this.
pub const NAME_PREFIX: &str = "dbtuner_";

/// Longest identifier PostgreSQL keeps (63 bytes); MySQL allows 64.
const MAX_NAME: usize = 63;

/// Words PostgreSQL reserves: a column so named must be quoted.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
    "key",
    "index",
];

fn simple(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name)
}

/// A PostgreSQL identifier, quoted when it must be.
pub fn pg_ident(name: &str) -> String {
    if simple(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A MySQL identifier, quoted when it must be.
pub fn mysql_ident(name: &str) -> String {
    if simple(name) {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn ident(engine: Engine, name: &str) -> String {
    if engine.is_mysql_family() {
        mysql_ident(name)
    } else {
        pg_ident(name)
    }
}

/// `table (a, b) INCLUDE (c) WHERE p`, what follows `CREATE INDEX [name] ON` on PostgreSQL.
pub fn pg_index_body(index: &IndexDef) -> String {
    let cols = |c: &[String]| c.iter().map(|c| pg_ident(c)).collect::<Vec<_>>().join(", ");
    let mut body = format!("{} ({})", pg_ident(&index.table), cols(&index.columns));
    if !index.include.is_empty() {
        body.push_str(&format!(" INCLUDE ({})", cols(&index.include)));
    }
    if let Some(p) = &index.predicate {
        body.push_str(&format!(" WHERE {p}"));
    }
    body
}

/// The name dbtuner gives `index`: prefix, table, columns, and a short digest of the whole
/// definition so that a covering or partial variant never collides with the plain one.
pub fn index_name(index: &IndexDef) -> String {
    let digest = Sha256::digest(format!("{index:?}").as_bytes());
    let tag: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let readable: String = std::iter::once(index.table.as_str())
        .chain(index.columns.iter().map(|c| c.as_str()))
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let room = MAX_NAME - NAME_PREFIX.len() - tag.len() - 1;
    let readable: String = readable.chars().take(room).collect();
    format!("{NAME_PREFIX}{readable}_{tag}")
}

/// `a, b, c`: the key columns and then the INCLUDE ones, which MySQL has no INCLUDE for and
/// carries as trailing key columns.
pub fn mysql_key_columns(index: &IndexDef) -> String {
    index
        .columns
        .iter()
        .chain(&index.include)
        .map(|c| mysql_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement that builds `index` named `name` without blocking writes.
pub fn create_sql(engine: Engine, index: &IndexDef, name: &str) -> String {
    if engine.is_mysql_family() {
        let cols = mysql_key_columns(index);
        format!(
            "ALTER TABLE {} ADD INDEX {} ({cols}), ALGORITHM=INPLACE, LOCK=NONE",
            mysql_ident(&index.table),
            mysql_ident(name)
        )
    } else {
        format!(
            "CREATE INDEX CONCURRENTLY {} ON {}",
            pg_ident(name),
            pg_index_body(index)
        )
    }
}

/// PostgreSQL's definition of an index (pg_get_indexdef) as a statement that builds it
/// again without blocking writes.
pub fn concurrently(definition: &str) -> String {
    definition
        .replacen("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
        .replacen(
            "CREATE UNIQUE INDEX ",
            "CREATE UNIQUE INDEX CONCURRENTLY ",
            1,
        )
}

/// The statement that drops the index `name` of `table` without blocking writes.
pub fn drop_sql(engine: Engine, table: &str, name: &str) -> String {
    if engine.is_mysql_family() {
        format!(
            "ALTER TABLE {} DROP INDEX {}, ALGORITHM=INPLACE, LOCK=NONE",
            mysql_ident(table),
            mysql_ident(name)
        )
    } else {
        format!("DROP INDEX CONCURRENTLY IF EXISTS {}", ident(engine, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_quotes_what_it_must_and_names_carry_the_prefix() {
        let mut i = IndexDef::new("orders", &["customer", "order"]);
        assert_eq!(pg_index_body(&i), "orders (customer, \"order\")");
        i.include = vec!["Total".into()];
        i.predicate = Some("status = 'open'".into());
        assert_eq!(
            pg_index_body(&i),
            "orders (customer, \"order\") INCLUDE (\"Total\") WHERE status = 'open'"
        );
        let name = index_name(&i);
        assert!(name.starts_with("dbtuner_orders_customer_order_"), "{name}");
        assert_ne!(
            name,
            index_name(&IndexDef::new("orders", &["customer", "order"]))
        );
        let long = IndexDef::new(&"t".repeat(80), &["a"]);
        assert!(index_name(&long).len() <= MAX_NAME);
        assert!(create_sql(Engine::Postgres, &i, &name)
            .starts_with("CREATE INDEX CONCURRENTLY dbtuner_"));
        assert_eq!(
            create_sql(
                Engine::Mariadb,
                &IndexDef::new("t", &["a", "b"]),
                "dbtuner_x"
            ),
            "ALTER TABLE t ADD INDEX dbtuner_x (a, b), ALGORITHM=INPLACE, LOCK=NONE"
        );
        assert_eq!(
            drop_sql(Engine::Postgres, "t", "Odd"),
            "DROP INDEX CONCURRENTLY IF EXISTS \"Odd\""
        );
    }
}
