//! Bad input from outside — a workload file with numbers no generator can draw, a malformed
//! connect_timeout — is exit 2 with a message naming what was wrong, before anything starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn dbtuner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .env_remove("DBTUNER_TARGET")
        .output()
        .unwrap()
}

/// A port nothing listens on: nothing may be reached for these to fail as they should.
fn closed_target() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("postgres://u@127.0.0.1:{port}/db")
}

#[test]
fn workload_files_with_numbers_out_of_reach_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let target = closed_target();
    let cases = [
        (
            "kind = \"uniform\"\nmin = 0\nmax = 1e300",
            "does not fit in a 64-bit integer",
        ),
        (
            "kind = \"zipfian\"\nmin = -1e19\nmax = 5",
            "does not fit in a 64-bit integer",
        ),
        (
            "kind = \"real\"\nmin = -1e308\nmax = 1e308",
            "too wide to draw from",
        ),
        (
            "kind = \"sequence\"\nstart = 1e30",
            "does not fit in a 64-bit integer",
        ),
    ];
    for (param, expected) in cases {
        let file = dir.path().join("w.toml");
        std::fs::write(
            &file,
            format!("version = 1\nname = \"w\"\n[params.k]\n{param}\n[[transactions]]\nname = \"t\"\nweight = 1\nstatements = [\"SELECT :k\"]\n"),
        )
        .unwrap();
        let out = dbtuner(&[
            "bench",
            "--target",
            &target,
            "--workload",
            file.to_str().unwrap(),
            "--duration",
            "1s",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{param}: {err}");
        assert!(
            err.contains("params.k") && err.contains(expected),
            "{param}: {err}"
        );
    }
}

#[test]
fn a_malformed_connect_timeout_exits_2_naming_it() {
    let target = format!("{}?connect_timeout=10s", closed_target());
    let out = dbtuner(&["telemetry", "snapshot", "--target", &target]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("connect_timeout '10s' is not a whole number of seconds"),
        "{err}"
    );
}
