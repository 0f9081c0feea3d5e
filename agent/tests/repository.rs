//! The repository on both backends: the same round-trip test runs on SQLite and on a
//! PostgreSQL sandbox; the audit log refuses edits; passwords are not stored; and a process
//! killed mid-write leaves a readable SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent::repository::{
    self, AuditEntry, ChangeItem, NewChange, NewSession, NewTrial, Repository,
};
use agent::telemetry::Snapshot;
use knobs::Engine;
use serde_json::json;
use workloads::{Sandbox, TargetUrl};

fn snapshot(at: i64) -> Snapshot {
    let mut s = Snapshot {
        taken_at_ms: at,
        engine: "postgres".into(),
        server_version: "15.0".into(),
        ..Snapshot::default()
    };
    s.counters
        .insert("pg_stat_database/app/xact_commit".into(), at as f64);
    s.gauges.insert("pg_locks/waiting".into(), 1.0);
    s
}

/// Every operation, with known answers; the same on both backends.
async fn round_trip(repo: &dyn Repository) {
    assert_eq!(repo.schema_version().await.unwrap(), 3);
    let url: TargetUrl = "postgres://alice:s3cret@db.example:5433/app"
        .parse()
        .unwrap();
    let target = repo.upsert_target(&url, "postgres", "15.4").await.unwrap();
    assert_eq!(
        repo.upsert_target(&url, "postgres", "15.5").await.unwrap(),
        target,
        "the same URL is the same target"
    );

    for at in [1000, 2000, 3000] {
        repo.insert_snapshot(target, &snapshot(at)).await.unwrap();
    }
    let snaps = repo.snapshots(target, 2).await.unwrap();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].1, snapshot(2000));
    assert_eq!(snaps[1].1, snapshot(3000));

    let capture = repo
        .insert_capture(
            Some(target),
            "morning",
            &json!({"templates": [{"sql": "SELECT 1", "weight": 0.5}]}),
        )
        .await
        .unwrap();
    let c = repo.capture(capture).await.unwrap().unwrap();
    assert_eq!(c.name, "morning");
    assert_eq!(c.data["templates"][0]["weight"], 0.5);
    assert!(repo.capture(capture + 1000).await.unwrap().is_none());

    let session = repo
        .create_session(&NewSession {
            target_id: Some(target),
            kind: "tune".into(),
            settings: json!({"trials": 3, "seed": 7}),
        })
        .await
        .unwrap();
    let s = repo.session(session).await.unwrap().unwrap();
    assert_eq!(s.status, "running");
    assert_eq!(s.settings["seed"], 7);
    assert!(s.finished_at_ms.is_none());
    for seq in [1, 0] {
        repo.add_trial(&NewTrial {
            session_id: session,
            seq,
            status: if seq == 0 { "ok" } else { "infeasible" }.into(),
            config: json!({"shared_buffers": "256MB"}),
            measurement: json!({"throughput": 1234.5, "per_second": [1200.0, 1269.0]}),
            snapshot_id: Some(snaps[0].0),
        })
        .await
        .unwrap();
    }
    let trials = repo.trials(session).await.unwrap();
    assert_eq!(
        trials.iter().map(|t| t.trial.seq).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(trials[0].trial.measurement["per_second"][1], 1269.0);
    assert_eq!(trials[1].trial.status, "infeasible");
    repo.finish_session(session, "done").await.unwrap();
    let s = repo.session(session).await.unwrap().unwrap();
    assert_eq!(s.status, "done");
    assert!(s.finished_at_ms.is_some());
    // `dbtuner report --list` and reports: every session newest first, and its target.
    let later = repo
        .create_session(&NewSession {
            target_id: None,
            kind: "demo".into(),
            settings: json!({}),
        })
        .await
        .unwrap();
    let listed: Vec<(i64, String)> = repo
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.status))
        .collect();
    assert_eq!(
        listed,
        [(later, "running".into()), (session, "done".into())]
    );
    let t = repo.target(target).await.unwrap().unwrap();
    assert_eq!(t.url, "postgres://alice:***@db.example:5433/app");
    assert_eq!(
        (t.engine.as_str(), t.version.as_str()),
        ("postgres", "15.5")
    );
    assert!(repo.target(target + 1000).await.unwrap().is_none());

    let item = ChangeItem {
        name: "shared_buffers".into(),
        previous_value: Some("128MB".into()),
        new_value: Some("256MB".into()),
        apply_statement: "ALTER SYSTEM SET shared_buffers = '256MB'".into(),
        rollback_statement: "ALTER SYSTEM RESET shared_buffers".into(),
    };
    let change = repo
        .record_change(&NewChange {
            target_id: target,
            session_id: Some(session),
            status: "planned".into(),
            items: vec![item.clone()],
            actor: "test".into(),
        })
        .await
        .unwrap();
    repo.set_change_status(change, "applied", "test")
        .await
        .unwrap();
    let ch = repo.change(change).await.unwrap().unwrap();
    assert_eq!(ch.status, "applied");
    assert_eq!(ch.items, vec![item.clone()]);

    // Apply's records, by the key operators type: saved again with a new status and items
    // (not added twice), and read back whole.
    let full = json!({"id": "c20261202T120000-00ab", "note": "round trip"});
    let keyed = NewChange {
        target_id: target,
        session_id: None,
        status: "planned".into(),
        items: vec![item.clone()],
        actor: "test".into(),
    };
    let first = repo
        .save_change("c20261202T120000-00ab", &keyed, &full)
        .await
        .unwrap();
    let second_item = ChangeItem {
        name: "work_mem".into(),
        ..item.clone()
    };
    let again = repo
        .save_change(
            "c20261202T120000-00ab",
            &NewChange {
                status: "applied".into(),
                items: vec![item.clone(), second_item.clone()],
                ..keyed.clone()
            },
            &full,
        )
        .await
        .unwrap();
    assert_eq!(first, again, "a saved change is updated, not duplicated");
    let (row, record) = repo
        .change_by_key("c20261202T120000-00ab")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "applied");
    assert_eq!(row.items, vec![item.clone(), second_item]);
    assert_eq!(record, full);
    assert!(repo.change_by_key("c-none").await.unwrap().is_none());
    let unsafe_save = repo
        .save_change(
            "c20261202T120000-00ac",
            &NewChange {
                items: vec![ChangeItem {
                    rollback_statement: String::new(),
                    ..item.clone()
                }],
                ..keyed
            },
            &full,
        )
        .await
        .unwrap_err();
    assert!(
        unsafe_save.to_string().contains("rollback"),
        "{unsafe_save}"
    );
    assert!(repo
        .change_by_key("c20261202T120000-00ac")
        .await
        .unwrap()
        .is_none());

    // Safety rule 1: no rollback statement, nothing recorded.
    let bad = repo
        .record_change(&NewChange {
            target_id: target,
            session_id: None,
            status: "planned".into(),
            items: vec![ChangeItem {
                rollback_statement: " ".into(),
                ..item
            }],
            actor: "test".into(),
        })
        .await
        .unwrap_err();
    assert!(
        bad.is_bad_input() && bad.to_string().contains("rollback"),
        "{bad}"
    );

    repo.append_audit(&AuditEntry {
        actor: "test".into(),
        action: "note".into(),
        target_id: None,
        detail: json!({"why": "round trip"}),
    })
    .await
    .unwrap();
    // Retention keeps what a trial refers to: 2000 is the trials' snapshot, 1000 goes.
    assert_eq!(repo.prune_snapshots(target, 2500).await.unwrap(), 1);
    let left: Vec<i64> = repo
        .snapshots(target, 10)
        .await
        .unwrap()
        .iter()
        .map(|(_, s)| s.taken_at_ms)
        .collect();
    assert_eq!(left, [2000, 3000]);

    let audit = repo.audit(10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.entry.action.as_str()).collect();
    assert_eq!(actions, ["change recorded", "change applied", "note"]);
    assert_eq!(audit[0].entry.detail["change_id"], change);
    assert!(audit.windows(2).all(|w| w[0].id < w[1].id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_round_trip_append_only_audit_and_no_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbtuner.db");
    let repo = repository::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(repo.backend(), "sqlite");
    round_trip(repo.as_ref()).await;
    drop(repo);

    // Reopening migrates nothing and keeps everything.
    let repo = repository::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    assert_eq!(repo.audit(100).await.unwrap().len(), 3);
    drop(repo);

    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let err = raw
        .execute("UPDATE audit_log SET actor = 'mallory'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw.execute("DELETE FROM audit_log", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let url: String = raw
        .query_row("SELECT url FROM targets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(url, "postgres://alice:***@db.example:5433/app");
    drop(raw);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the repository file is readable by others: {mode:o}"
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"s3cret"),
            "a password reached the repository files"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_round_trip_and_append_only_audit() {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let client = workloads::target::connect_postgres(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    client.batch_execute("CREATE DATABASE repo").await.unwrap();
    let url = sandbox.url_for_database("repo");
    let repo = repository::open(&url).await.unwrap();
    assert_eq!(repo.backend(), "postgres");
    round_trip(repo.as_ref()).await;
    // A second agent opening the same repository finds it migrated.
    let again = repository::open(&url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), 3);

    let raw = workloads::target::connect_postgres(&url.parse().unwrap())
        .await
        .unwrap();
    let err = raw
        .batch_execute("UPDATE audit_log SET actor = 'mallory'")
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("append-only"), "{err:?}");
    let err = raw
        .batch_execute("DELETE FROM audit_log")
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("append-only"), "{err:?}");
    let row = raw.query_one("SELECT url FROM targets", &[]).await.unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "postgres://alice:***@db.example:5433/app"
    );
}

const CHILD_REPO: &str = "DBTUNER_TEST_CHILD_REPO";

/// Not a test on its own: the child process of `sqlite_survives_a_writer_killed_mid_write`
/// (it does nothing unless that test starts it). It writes snapshots until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writer_for_the_kill_test() {
    let Ok(path) = std::env::var(CHILD_REPO) else {
        return;
    };
    let repo = repository::open(&path).await.unwrap();
    let url: TargetUrl = "postgres://u@h/db".parse().unwrap();
    let target = repo.upsert_target(&url, "postgres", "15").await.unwrap();
    let mut big = snapshot(0);
    for i in 0..2000 {
        big.counters
            .insert(format!("pg_stat_io/row{i}/reads"), i as f64);
    }
    for at in 1.. {
        big.taken_at_ms = at;
        repo.insert_snapshot(target, &big).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_a_writer_killed_mid_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer_for_the_kill_test", "--nocapture"])
        .env(CHILD_REPO, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it write a while, then kill it without warning (SIGKILL), most likely mid-commit.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let written = rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row("SELECT count(*) FROM snapshots", [], |r| r.get::<_, i64>(0)))
            .unwrap_or(0);
        if written >= 30 {
            break;
        }
        assert!(Instant::now() < deadline, "the child wrote nothing");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(raw);
    let repo = repository::open(path.to_str().unwrap()).await.unwrap();
    let url: TargetUrl = "postgres://u@h/db".parse().unwrap();
    let target = repo.upsert_target(&url, "postgres", "15").await.unwrap();
    let snaps = repo.snapshots(target, 1_000_000).await.unwrap();
    assert!(snaps.len() >= 30, "{} snapshots", snaps.len());
    assert!(snaps
        .windows(2)
        .all(|w| w[0].1.taken_at_ms < w[1].1.taken_at_ms));
    // And it takes writes again.
    repo.insert_snapshot(target, &snapshot(i64::MAX / 2))
        .await
        .unwrap();
}
