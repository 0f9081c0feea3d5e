//! The SQL analysis never panics, whatever it is fed, and understands every statement of the
//! built-in workloads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knobs::Engine;
use proptest::prelude::*;
use workloads::analysis::analyze;
use workloads::builtin::{Builtin, NAMES};

const WORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "JOIN", "ON", "GROUP", "BY", "ORDER", "LIMIT",
    "UPDATE", "SET", "INSERT", "INTO", "VALUES", "(", ")", ",", "=", "<", ">=", "BETWEEN", "LIKE",
    "IN", "t", "u", "a", "b.c", "$1", "?", ":p", "'x'", "1", "*", "sum(", "AS", ";", "::int",
    "NOT", "NULL", "IS", "--", "/*",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_token_soup(tokens in proptest::collection::vec(0usize..44, 0..40)) {
        let sql: Vec<&str> = tokens.iter().map(|&i| WORDS[i % WORDS.len()]).collect();
        let sql = sql.join(" ");
        let _ = analyze(&sql, Engine::Postgres);
        let _ = analyze(&sql, Engine::Mariadb);
    }

    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,80}") {
        let _ = analyze(&text, Engine::Postgres);
        let _ = analyze(&text, Engine::Mysql);
    }
}

#[test]
fn every_builtin_statement_is_understood() {
    for name in NAMES {
        let spec = Builtin::new(name, 1).unwrap().spec().unwrap();
        for t in &spec.transactions {
            for sql in &t.statements {
                let a =
                    analyze(sql, Engine::Postgres).unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
                assert!(!a[0].tables.is_empty(), "{name}: {sql}");
            }
            for sql in t.mysql_statements.iter().flatten().chain(&t.statements) {
                analyze(sql, Engine::Mariadb)
                    .unwrap_or_else(|e| panic!("{name} (mysql): {sql}: {e}"));
            }
        }
    }
}
