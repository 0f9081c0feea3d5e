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
