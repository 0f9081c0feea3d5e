//! `dbtuner report` against a SQLite repository written through the repository API in the
//! shapes a tune session stores (trials, a verdict with its rounds, the report's context):
//! the report is rebuilt from the repository alone, `--list` lists the sessions, and a wrong
//! id is bad input naming the nearest ids. No server is started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use agent::repository::{NewSession, NewTrial, NewVerdict, Repository};
use agent::tune::{
    KnobSelection, Objective, OptimizerChoice, StagingChoice, TuneSettings, WorkloadChoice,
};
use knobs::Engine;
use models::gate::{Decision, GateEvidence, GateSettings, RatioInterval};
use serde_json::json;
use workloads::Measurement;

fn dbtuner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .output()
        .unwrap()
}

fn measurement(tps: f64, p99: f64) -> Measurement {
    let mut m = Measurement {
        clients: 1,
        duration_secs: 5.0,
        committed: (tps * 5.0) as u64,
        per_second: vec![tps * 0.98, tps * 1.01, tps, tps * 1.02, tps * 0.99],
        ..Measurement::default()
    };
    m.latency.mean_ms = p99 / 3.0;
    m.latency.p50_ms = p99 / 4.0;
    m.latency.p95_ms = p99 / 2.0;
    m.latency.p99_ms = p99;
    m.latency.p999_ms = p99 * 2.0;
    m.latency.max_ms = p99 * 3.0;
    let mut t = workloads::driver::TemplateStats {
        count: 100,
        ..Default::default()
    };
    t.latency.mean_ms = p99 / 3.0;
    t.latency.p99_ms = p99;
    m.per_template
        .insert("UPDATE accounts SET balance = balance + $1".into(), t);
    m
}

fn settings(out: &Path, risky: bool, optimizer: OptimizerChoice) -> TuneSettings {
    TuneSettings {
        kind: "tune".into(),
        staging: StagingChoice::Sandbox(Engine::Postgres),
        workload: WorkloadChoice::Builtin {
            name: "tpcb".into(),
            scale: 1.0,
        },
        trials: Some(2),
        time_budget: Duration::from_secs(120),
        knobs: KnobSelection::Default,
        objective: Objective::Throughput,
        p99_limit_ms: None,
        optimizer,
        seed: 3,
        out: out.to_path_buf(),
        clients: 1,
        allow_durability_risk: risky,
        gate: GateSettings::default(),
        resume_from: None,
        indexes: false,
        index_budget: None,
        window: None,
    }
}

/// One session as `tune` stores it: the default, the heuristic, a failed trial and a
/// candidate, then the gate's verdict on the candidate and the report's context.
async fn session(
    repo: &dyn Repository,
    out: &Path,
    candidate: serde_json::Value,
    decision: Decision,
    risky: bool,
    optimizer: OptimizerChoice,
) -> i64 {
    let url: workloads::TargetUrl = "postgres://postgres:secret@127.0.0.1:40123/dbtuner"
        .parse()
        .unwrap();
    let target = repo.upsert_target(&url, "postgres", "15.8").await.unwrap();
    let id = repo
        .create_session(&NewSession {
            target_id: Some(target),
            kind: "tune".into(),
            settings: json!({ "tune_settings": settings(out, risky, optimizer) }),
        })
        .await
        .unwrap();
    let measured = |label: &str, tps: f64| {
        json!({
            "label": label,
            "measurement": measurement(tps, 10.0),
            "score": tps,
            "objective": "throughput",
            "derived": { "buffer_hit_ratio": 0.99, "wal_bytes_per_xact": 600.0, "top_waits": [["Lock:transactionid", 4]] },
            "top_statements": [{ "text": format!("UPDATE tpcb_accounts SET abalance = abalance + $1 -- {label}"), "calls": tps * 10.0, "total_ms": tps * 2.0 }],
            "applied": {},
            "restarted": false,
        })
    };
    let trials = [
        (0, "measured", json!({}), measured("default", 1000.0)),
        (
            1,
            "measured",
            json!({ "shared_buffers": "256MB" }),
            measured("heuristic", 1050.0),
        ),
        (
            2,
            "failed",
            json!({ "shared_buffers": "6GB" }),
            json!({ "label": "2", "reason": "the server did not start: could not map anonymous shared memory" }),
        ),
        (3, "measured", candidate, measured("3", 1300.0)),
    ];
    for (seq, status, config, m) in trials {
        repo.add_trial(&NewTrial {
            session_id: id,
            seq,
            status: status.into(),
            config,
            measurement: m,
            snapshot_id: None,
        })
        .await
        .unwrap();
    }
    let ratios = vec![1.28, 1.31, 1.29, 1.30];
    let evidence = GateEvidence {
        rounds: 4,
        confidence: 0.95,
        score: RatioInterval {
            ratio: 1.295,
            low: if decision == Decision::Accept {
                1.27
            } else {
                0.98
            },
            high: 1.32,
        },
        p99: RatioInterval {
            ratio: 0.9,
            low: 0.85,
            high: 0.95,
        },
        round_ratios: ratios,
        query_regressions: Vec::new(),
        decision,
        reason: "decided by the test".into(),
    };
    repo.add_verdict(&NewVerdict {
        session_id: id,
        candidate_seq: 3,
        verdict: format!("{decision:?}").to_lowercase(),
        evidence: json!({
            "evidence": evidence,
            "method": "Student-t interval over the rounds' log ratios",
            "baseline_runs": (0..4).map(|_| measurement(1000.0, 10.0)).collect::<Vec<_>>(),
            "candidate_runs": (0..4).map(|_| measurement(1300.0, 9.0)).collect::<Vec<_>>(),
        }),
    })
    .await
    .unwrap();
    agent::report::record_context(
        repo,
        Some(target),
        &agent::report::SessionContext {
            session_id: id,
            engine: "PostgreSQL".into(),
            server_version: "15.8".into(),
            hardware: "8 GiB RAM, 2 CPUs".into(),
            ram_bytes: 8 << 30,
            workload: "tpcb, scale 1".into(),
            search_space: vec!["shared_buffers".into(), "synchronous_commit".into()],
            optimizer: "Bayesian optimization".into(),
            elapsed_secs: 100.0,
            measure_secs: 5.0,
            importance: Vec::new(),
            narrowed_to: Vec::new(),
            notes: vec!["written by the test".into()],
            indexes: Vec::new(),
        },
    )
    .await
    .unwrap();
    repo.finish_session(
        id,
        if decision == Decision::Accept {
            "accepted"
        } else {
            "inconclusive"
        },
    )
    .await
    .unwrap();
    id
}

/// One stored session to seed: candidate configuration, verdict, durability risk, optimizer.
type Seed = (serde_json::Value, Decision, bool, OptimizerChoice);

/// A repository holding `seeds` as sessions 1, 2, …; its spec.
fn repository_with(dir: &Path, seeds: Vec<Seed>) -> String {
    let path = dir.join("dbtuner.db");
    let spec = path.to_string_lossy().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let repo = agent::repository::open(&spec).await.unwrap();
        for (n, (candidate, decision, risky, optimizer)) in seeds.into_iter().enumerate() {
            let id = session(repo.as_ref(), dir, candidate, decision, risky, optimizer).await;
            assert_eq!(id, n as i64 + 1);
        }
    });
    spec
}

/// A repository with two sessions: 1 accepted (shared_buffers), 2 inconclusive with a
/// durability-risk candidate (synchronous_commit = off).
fn repository(dir: &Path) -> String {
    repository_with(
        dir,
        vec![
            (
                json!({ "shared_buffers": "1GB" }),
                Decision::Accept,
                false,
                OptimizerChoice::Auto,
            ),
            (
                json!({ "synchronous_commit": "off" }),
                Decision::Inconclusive,
                true,
                OptimizerChoice::Auto,
            ),
        ],
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn report_rebuilds_an_accepted_session_from_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let out = dir.path().join("again");
    let run = dbtuner(&[
        "report",
        "--session",
        "1",
        "--repo",
        &repo,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    assert_eq!(json["session_id"], 1);
    assert_eq!(json["format_version"], reports::FORMAT_VERSION);
    assert_eq!(json["validation"]["verdict"], "accept");
    assert_eq!(json["validation"]["rounds"], 4);
    assert_eq!(json["gate_rounds"].as_array().unwrap().len(), 4);
    assert_eq!(json["trials"][0]["label"], "heuristic");
    assert_eq!(
        json["trials"][0]["top_waits"][0][0], "Lock:transactionid",
        "waits from the stored telemetry"
    );
    assert_eq!(json["trials"][1]["status"]["status"], "failed");
    assert_eq!(json["changes"][0]["name"], "shared_buffers");
    assert_eq!(json["changes"][0]["heuristic"], "256MB");
    assert_eq!(json["changes"][0]["apply"], "restart");
    assert_eq!(json["recommended"], true);
    assert_eq!(json["hardware"], "8 GiB RAM, 2 CPUs", "the stored context");
    assert!(
        !read(&out.join("report.json")).contains("secret"),
        "a password in the report"
    );
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("Change 1 setting(s): shared_buffers = 1GB."),
        "{md}"
    );
    assert!(md.contains("Restart needed for shared_buffers"), "{md}");
    assert!(md.contains("**failed: the server did not start"), "{md}");
    let html = read(&out.join("report.html"));
    assert!(html.contains("<figure id=\"chart-gate_rounds\"><svg"));
    assert!(json["compared_search"].is_null(), "no random search ran");
    // The server's own statement counters of the default's and the candidate's trials.
    assert!(md.contains("### The server's top statements"), "{md}");
    assert!(
        md.contains("| default | UPDATE tpcb_accounts SET abalance = abalance + $1 -- default | 10000 | 2000.0 | 0.200 |"),
        "{md}"
    );
    assert!(md.contains("-- 3 | 13000 |"), "{md}");
    assert!(
        !md.contains("-- heuristic"),
        "only the default and the candidate: {md}"
    );
    assert!(
        md.contains(
            "No other session on this engine, workload and objective searched the other way"
        ),
        "{md}"
    );
    for chart in [
        "convergence",
        "throughput",
        "gate_rounds",
        "gate_seconds",
        "latency",
        "statements",
    ] {
        assert!(out.join(format!("charts/{chart}.svg")).is_file(), "{chart}");
    }
    assert!(read(&out.join("change.sql")).contains("ALTER SYSTEM SET shared_buffers = '1GB'"));
    assert!(read(&out.join("change.rollback.sql")).contains("ALTER SYSTEM RESET shared_buffers;"));
    assert!(
        md.contains("--plan") && md.contains("--allow-restart"),
        "{md}"
    );

    // Only what --format asks for.
    let only = dir.path().join("only-json");
    let run = dbtuner(&[
        "report",
        "--session",
        "1",
        "--repo",
        &repo,
        "--out",
        &only.to_string_lossy(),
        "--format",
        "json",
    ]);
    assert!(run.status.success());
    let names: Vec<String> = std::fs::read_dir(&only)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, ["report.json"]);
}

#[test]
fn inconclusive_durability_risk_session_says_so_first() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let out = dir.path().join("two");
    // An accepted session's report first, in the same directory: its snippets and charts
    // must not stay beside the next report.
    let first = dbtuner(&[
        "report",
        "--session",
        "1",
        "--repo",
        &repo,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(first.status.success());
    assert!(out.join("change.sql").exists());
    std::fs::write(out.join("charts/importance.svg"), "<svg/>").unwrap();
    let run = dbtuner(&[
        "report",
        "--session",
        "2",
        "--repo",
        &repo,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = read(&out.join("report.html"));
    let first = &html[..html.find("id=\"changes\"").unwrap()];
    assert!(first.contains("INCONCLUSIVE"), "{first}");
    assert!(first.contains("Keep the current configuration"), "{first}");
    assert!(
        first.contains("DURABILITY RISK: synchronous_commit = off"),
        "{first}"
    );
    assert!(first.contains("1 trial(s) failed"), "{first}");
    assert!(
        !out.join("change.sql").exists(),
        "snippets for a change that is not recommended"
    );
    assert!(!out.join("change.rollback.sql").exists());
    assert!(!out.join("charts/importance.svg").exists(), "a stale chart");
    assert!(out.join("charts/gate_rounds.svg").exists());
}

#[test]
fn list_and_unknown_session() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let list = dbtuner(&["report", "--list", "--repo", &repo]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let text = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].trim_start().starts_with("2  tune") && lines[1].contains("inconclusive"),
        "{text}"
    );
    assert!(
        lines[2].trim_start().starts_with("1  tune") && lines[2].contains("accept"),
        "{text}"
    );
    assert!(
        lines[2].contains("postgres://postgres:***@127.0.0.1:40123/dbtuner"),
        "{text}"
    );
    assert!(!text.contains("secret"));

    let json = dbtuner(&["report", "--list", "--json", "--repo", &repo]);
    let sessions: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(sessions[0]["id"], 2);
    assert_eq!(sessions[1]["verdict"], "accept");

    let wrong = dbtuner(&[
        "report",
        "--session",
        "7",
        "--repo",
        &repo,
        "--out",
        &dir.path().join("x").to_string_lossy(),
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("no session 7") && err.contains("nearest: 1, 2"),
        "{err}"
    );
    assert!(
        !dir.path().join("x").exists(),
        "files written for an unknown session"
    );

    let missing = dbtuner(&[
        "report",
        "--list",
        "--repo",
        &dir.path().join("nope.db").to_string_lossy(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        !dir.path().join("nope.db").exists(),
        "report created a repository"
    );
    let format = dbtuner(&[
        "report",
        "--session",
        "1",
        "--repo",
        &repo,
        "--format",
        "pdf",
    ]);
    assert_eq!(format.status.code(), Some(2));
}

/// A report of a repository named by a postgres:// URL with its password (the reproduce
/// command quotes the repository) carries no password.
#[test]
fn a_repository_url_password_stays_out_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let spec = repository(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        let repo = agent::repository::open(&spec).await.unwrap();
        agent::report::build(
            repo.as_ref(),
            "postgres://fleet:Zq-repo-pw@db.example/dbtuner?password=Zq-repo-pw",
            1,
        )
        .await
        .unwrap()
    });
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        json.contains("--repo postgres://fleet:***@db.example"),
        "{json}"
    );
    assert!(!json.contains("Zq-repo-pw"), "{json}");
    assert!(!json.contains("secret"), "the target's password: {json}");
}

/// With a random search on the same workload in the repository, the report draws both
/// searches' best-so-far curves, each relative to its own default.
#[test]
fn convergence_is_compared_with_a_random_search_on_the_same_workload() {
    let dir = tempfile::tempdir().unwrap();
    let seed = |optimizer| {
        (
            json!({ "shared_buffers": "1GB" }),
            Decision::Accept,
            false,
            optimizer,
        )
    };
    let spec = repository_with(
        dir.path(),
        vec![
            seed(OptimizerChoice::Random),
            seed(OptimizerChoice::Auto),
            seed(OptimizerChoice::Auto),
        ],
    );
    let out = dir.path().join("compared");
    let run = dbtuner(&[
        "report",
        "--session",
        "3",
        "--repo",
        &spec,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    // Session 2 is a model search like 3: only the random one (1) compares.
    assert_eq!(json["compared_search"]["session_id"], 1);
    assert_eq!(json["compared_search"]["optimizer"], "random");
    // Default 1000, heuristic 1050, failed, candidate 1300: best so far / default.
    let curve: Vec<(usize, f64)> =
        serde_json::from_value(json["compared_search"]["best_vs_default"].clone()).unwrap();
    assert_eq!(curve, vec![(0, 1.0), (1, 1.05), (3, 1.3)]);
    let svg = read(&out.join("charts/convergence_compared.svg"));
    assert!(svg.contains("session 1 (random)"), "{svg}");
    assert!(svg.contains("best so far / default"));
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("Convergence against random (session 1)"),
        "{md}"
    );
}
