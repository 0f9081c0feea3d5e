//! `dbtuner bench` and `dbtuner workload capture` end to end against a real server, and their
//! answers to bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use knobs::Engine;
use workloads::target::connect_postgres;
use workloads::{Sandbox, TargetUrl};

fn dbtuner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_workloads_exit_2_naming_what_is_wrong() {
    let out = dbtuner(&["bench", "--sandbox", "postgres", "--workload", "tpcx"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tpcx") && err.contains("ycsb-a"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, "version = 1\nname = \"w\"\n[params.k]\nkind = \"gaussian\"\n[[transactions]]\nname = \"t\"\nweight = 1\nstatements = [\"SELECT 1\"]\n").unwrap();
    let out = dbtuner(&[
        "bench",
        "--sandbox",
        "postgres",
        "--workload",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("w.toml") && err.contains("gaussian"), "{err}");

    std::fs::write(&file, "version = 1\nname = \"w\"\n[[transactions]]\nname = \"t\"\nweight = 1\nstatements = [\"SELECT :missing\"]\n").unwrap();
    let out = dbtuner(&[
        "bench",
        "--sandbox",
        "postgres",
        "--workload",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("transactions[0] (t).statements[0]: placeholder :missing"));

    let out = dbtuner(&[
        "bench",
        "--sandbox",
        "postgres",
        "--workload",
        "tpcb",
        "--duration",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration 'soon'"));
    let out = dbtuner(&[
        "workload",
        "capture",
        "--target",
        "postgres://u@127.0.0.1:1/db",
        "--out",
        "/tmp/x.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".toml or .json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_then_capture_then_replay_the_capture() {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    connect_postgres(&url)
        .await
        .unwrap()
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let target = sandbox.url();

    let out = dbtuner(&[
        "bench",
        "--target",
        &target,
        "--workload",
        "tpcb",
        "--load",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--clients",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(result["measurement"]["committed"].as_u64().unwrap() > 0);
    assert_eq!(result["load"]["rows"], 100_011);
    // Throughput is stated with its spread, consistent with the raw figures.
    let t = &result["throughput"];
    let committed = result["measurement"]["committed"].as_f64().unwrap();
    let secs = result["measurement"]["duration_secs"].as_f64().unwrap();
    assert!(
        (t["mean"].as_f64().unwrap() - committed / secs).abs() < 1e-6,
        "{t}"
    );
    assert!(
        t["stdev"].as_f64().unwrap() >= 0.0 && t["seconds"].as_u64().unwrap() >= 1,
        "{t}"
    );
    assert!(
        t["min"].as_f64().unwrap() <= t["max"].as_f64().unwrap(),
        "{t}"
    );

    // Capture while select-only runs in the background, then replay the capture.
    let load = {
        let target = target.clone();
        std::thread::spawn(move || {
            dbtuner(&[
                "bench",
                "--target",
                &target,
                "--workload",
                "select-only",
                "--duration",
                "5s",
                "--warmup",
                "0s",
                "--clients",
                "2",
            ])
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("captured.toml");
    let out = dbtuner(&[
        "workload",
        "capture",
        "--target",
        &target,
        "--out",
        file.to_str().unwrap(),
        "--window",
        "3s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("tpcb_accounts"));
    assert!(load.join().unwrap().status.success());

    let out = dbtuner(&[
        "bench",
        "--target",
        &target,
        "--workload",
        file.to_str().unwrap(),
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["measurement"]["errors"], serde_json::json!({}));
    let fidelity = replayed["fidelity"].as_array().unwrap();
    let accounts = fidelity
        .iter()
        .find(|f| f["template"].as_str().unwrap().contains("tpcb_accounts"))
        .unwrap();
    assert!(
        accounts["captured_share"].as_f64().unwrap() > 0.9,
        "{fidelity:?}"
    );
    assert!(
        accounts["replay_share"].as_f64().unwrap() > 0.9,
        "{fidelity:?}"
    );
}
