//! `dbtuner tune --indexes` end to end: a joint plan of knobs and indexes through one gate.
//! Its own test binary, so that no other benchmark shares the machine while it measures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn dbtuner(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .arg("--out")
        .arg(out)
        .env("DBTUNER_STATE", out.join("state"))
        .output()
        .unwrap()
}

/// `tune --indexes`: the advised indexes are built for the candidate arm only, so the gate's
/// ratio carries their gain, and the report and plan hold them next to the knobs.
#[test]
fn a_joint_tune_gates_knobs_and_indexes_together() {
    let dir = tempfile::tempdir().unwrap();
    let out = dbtuner(
        &[
            "tune",
            "--sandbox",
            "postgres",
            "--workload",
            "olap",
            "--scale",
            "1",
            "--clients",
            "2",
            "--knobs",
            "work_mem",
            "--indexes",
            "--index-budget",
            "100MB",
            "--trials",
            "1",
            "--time-budget",
            "100s",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "tune failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let indexes = report["indexes"].as_array().unwrap();
    assert!(!indexes.is_empty(), "{}", report["notes"]);
    assert!(indexes.iter().all(|i| i["ddl"]
        .as_str()
        .unwrap()
        .starts_with("CREATE INDEX CONCURRENTLY dbtuner_")));
    let v = &report["validation"];
    assert!(v["rounds"].as_u64().unwrap() >= 2, "{v}");
    // Knobs alone move this workload little; the indexes make several queries ~30-100x
    // cheaper, so the candidate arm (with them) must be clearly faster.
    assert!(v["ratio"].as_f64().unwrap() > 1.1, "{v}");
    if v["verdict"] == "accept" {
        let plan = agent::apply::Plan::load(&dir.path().join("plan.json")).unwrap();
        assert_eq!(plan.indexes.len(), indexes.len());
    }
}
