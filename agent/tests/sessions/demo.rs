//! A short demo run completes against real sandboxes and reports measured trials.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run_demo(engine: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args([
            "demo",
            "--engine",
            engine,
            "--minutes",
            "2",
            // TPC-B, not the demo's default (select-only): the checks below are about writes.
            "--workload",
            "tpcb",
            "--scale",
            "2",
            "--json",
            "--out",
        ])
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(printed, written, "--json output and report.json differ");
    assert!(
        dir.path().join("dbtuner.db").exists(),
        "the observation repository is next to the report"
    );
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(markdown.contains("## Trials"));
    // An accepted recommendation comes as a plan `dbtuner apply` reads; otherwise no plan.
    let plan = dir.path().join("plan.json");
    if written["validation"]["verdict"] == "accept" {
        let plan = agent::apply::Plan::load(&plan).unwrap();
        assert!(!plan.knobs.is_empty());
    } else {
        assert!(!plan.exists(), "a plan without an accepted recommendation");
    }
    written
}

fn check_report(report: &serde_json::Value) {
    let default_tps = report["default"]["throughput"]["mean"].as_f64().unwrap();
    assert!(default_tps > 0.0, "default not measured: {report}");
    let trials = report["trials"].as_array().unwrap();
    let measured: Vec<_> = trials
        .iter()
        .filter(|t| t["status"]["status"] == "measured")
        .collect();
    assert!(
        measured.len() >= 3,
        "only {} measured trials",
        measured.len()
    );
    for t in &measured {
        assert!(t["throughput"]["mean"].as_f64().unwrap() > 0.0);
        assert!(t["throughput"]["samples"].as_u64().unwrap() >= 3);
        assert!(!t["knobs"].as_array().unwrap().is_empty());
    }
    let heuristic = trials
        .iter()
        .find(|t| t["label"] == "heuristic")
        .expect("the heuristic baseline is a trial");
    assert_eq!(heuristic["status"]["status"], "measured", "{heuristic}");
    let v = &report["validation"];
    assert!(v["rounds"].as_u64().unwrap() >= 2, "{v}");
    let (low, ratio, high) = (
        v["ci_low"].as_f64().unwrap(),
        v["ratio"].as_f64().unwrap(),
        v["ci_high"].as_f64().unwrap(),
    );
    assert!(low <= ratio && ratio <= high, "{v}");
}

#[test]
fn postgres_demo_measures_default_and_trials() {
    let report = run_demo("postgres", &[]);
    check_report(&report);
    // Server telemetry per trial: PostgreSQL reports its buffer hit ratio and WAL per transaction.
    let telemetry = &report["default"]["telemetry"];
    assert!(
        telemetry["buffer_hit_ratio"]
            .as_f64()
            .is_some_and(|h| h > 0.5 && h <= 1.0),
        "{telemetry}"
    );
    assert!(
        telemetry["wal_bytes_per_xact"]
            .as_f64()
            .is_some_and(|w| w > 0.0),
        "{telemetry}"
    );
    // The server's own statement counters over the default's trial: the TPC-B update leads.
    let top = report["default"]["top_statements"].as_array().unwrap();
    assert!(
        top.iter().any(|s| s["text"]
            .as_str()
            .is_some_and(|t| t.contains("UPDATE") && t.contains("abalance"))
            && s["calls"].as_f64().is_some_and(|c| c > 0.0)),
        "{top:?}"
    );
    assert_eq!(report["allow_durability_risk"], false);
    let space: Vec<&str> = report["search_space"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !space.contains(&"synchronous_commit") && !space.contains(&"fsync"),
        "{space:?}"
    );
    assert!(report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["knobs"].as_array().unwrap())
        .all(|k| k["durability_risk"] == false));
}
