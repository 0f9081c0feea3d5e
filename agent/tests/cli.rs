//! The CLI's surface: help, bad input exits 2 naming the argument, and nothing is started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn dbtuner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn help_lists_the_subcommands() {
    let out = dbtuner(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["demo", "knobs", "sandbox"] {
        assert!(text.contains(sub), "--help lacks {sub}:\n{text}");
    }
}

#[test]
fn unknown_engine_is_bad_input() {
    let out = dbtuner(&["demo", "--engine", "oracle"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--engine") && err.contains("oracle"), "{err}");
}

#[test]
fn zero_minutes_is_bad_input() {
    let out = dbtuner(&["demo", "--minutes", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--minutes"), "{}", stderr(&out));
}

#[test]
fn unwritable_out_is_bad_input_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out_arg = file.join("reports");
    let out = dbtuner(&["demo", "--out", out_arg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--out") && err.contains("cannot write there"),
        "{err}"
    );
}

#[test]
fn knobs_list_names_durability_classes() {
    let out = dbtuner(&["knobs", "list", "--engine", "postgres"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("shared_buffers"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("synchronous_commit") && l.contains("[may lose commits]")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("fsync") && l.contains("never tuned")),
        "{text}"
    );
    let json = dbtuner(&["knobs", "list", "--engine", "mariadb", "--json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(parsed
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["name"] == "innodb_buffer_pool_size"));
}

#[test]
fn telemetry_without_a_target_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(["telemetry", "snapshot"])
        .env_remove("DBTUNER_TARGET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--target"), "{}", stderr(&out));
    let out = dbtuner(&["telemetry", "watch", "--target", "oracle://h/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unsupported scheme"),
        "{}",
        stderr(&out)
    );
    let out = dbtuner(&[
        "telemetry",
        "watch",
        "--target",
        "postgres://h/x",
        "--interval",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--interval"), "{}", stderr(&out));
}

#[test]
fn telemetry_snapshot_and_watch_against_a_sandbox() {
    let sandbox = workloads::Sandbox::start(knobs::Engine::Postgres).unwrap();
    let url = sandbox
        .url_for_database("postgres")
        .replace("postgres@", "postgres:hunter2@");
    let out = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(["telemetry", "snapshot"])
        .env("DBTUNER_TARGET", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("postgres 15") || text.starts_with("postgres 1"),
        "{text}"
    );
    assert!(
        text.contains("transactions") && text.contains("buffer hit ratio"),
        "{text}"
    );
    assert!(
        text.contains("CREATE EXTENSION pg_stat_statements"),
        "{text}"
    );
    assert!(!text.contains("hunter2") && !stderr(&out).contains("hunter2"));

    let out = dbtuner(&["telemetry", "snapshot", "--target", &url, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["engine"], "postgres");
    assert!(
        json["counters"]["pg_stat_database/postgres/xact_commit"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("watch.db");
    let out = dbtuner(&[
        "telemetry",
        "watch",
        "--target",
        &url,
        "--interval",
        "200ms",
        "--count",
        "3",
        "--repo",
        repo.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .all(|l| l.contains("tps ") && l.contains("hit ")),
        "{text}"
    );
    let db = rusqlite::Connection::open(&repo).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM snapshots", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    let url_stored: String = db
        .query_row("SELECT url FROM targets", [], |r| r.get(0))
        .unwrap();
    assert!(!url_stored.contains("hunter2"), "{url_stored}");
}
