//! Fault injection on `dbtuner tune`: the staging server killed mid-trial, Ctrl-C, and
//! `--resume`. These tests wait for the session's own records in the repository rather than
//! for a fixed time, so that they hold when they share the machine (they run side by side;
//! the end-to-end tune whose gate must reach a verdict runs alone in `tune.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The PID in a sandbox's postmaster.pid, for the sandbox a dbtuner process started.
fn sandbox_postmaster(dbtuner_pid: u32) -> Option<i32> {
    let prefix = format!("dbtuner-sandbox-{dbtuner_pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .find_map(|e| {
            let text = std::fs::read_to_string(e.path().join("data/postmaster.pid")).ok()?;
            text.lines().next()?.trim().parse().ok()
        })
}

fn start_tune(out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args([
            "tune",
            "--sandbox",
            "postgres",
            "--workload",
            "tpcb",
            "--scale",
            "1",
            "--knobs",
            "shared_buffers,max_wal_size",
            "--json",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until session 1 has recorded a trial with `seq >= min_seq` and this status.
async fn wait_for_trial(out: &Path, min_seq: i64, status: &str) {
    let path = out.join("dbtuner.db");
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if path.exists() {
            if let Ok(repo) = agent::repository::open(&path.to_string_lossy()).await {
                if let Ok(trials) = repo.trials(1).await {
                    if trials
                        .iter()
                        .any(|t| t.trial.seq >= min_seq && t.trial.status == status)
                    {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no {status} trial {min_seq}+ within 180 s");
}

fn signal(pid: i32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
}

async fn wait(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// The staging server is killed with SIGKILL in the middle of the search: the trial it hit is
/// recorded as failed, the server is brought back, and the session goes on to the gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_trial_is_a_failed_trial_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let child = start_tune(dir.path(), &["--trials", "3", "--time-budget", "150s"]);
    // The heuristic is recorded; the first search trial is now applied, warmed up and
    // measured (about 9 s): kill the server a few seconds into it.
    wait_for_trial(dir.path(), 1, "measured").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pid = sandbox_postmaster(child.id()).expect("the sandbox's postmaster");
    signal(pid, nix::sys::signal::Signal::SIGKILL);
    let out = wait(child).await;
    assert!(
        out.status.success(),
        "the session did not survive: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trials = report["trials"].as_array().unwrap();
    let failed: Vec<_> = trials
        .iter()
        .filter(|t| t["status"]["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "one trial was hit: {trials:?}");
    let after_kill = trials
        .iter()
        .skip_while(|t| t["status"]["status"] != "failed")
        .skip(1)
        .filter(|t| t["status"]["status"] == "measured")
        .count();
    assert!(after_kill >= 1, "the session went on measuring: {trials:?}");
    assert!(
        report["validation"]["rounds"].as_u64().unwrap_or(0) >= 2,
        "the gate ran on the restored server: {}",
        report["validation"]
    );
}

/// Ctrl-C after the first search trial: the session stops at once, is marked interrupted and
/// leaves no sandbox; `--resume` continues it in a new session of the same repository, which
/// carries that trial over instead of measuring it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_session_and_resume_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let child = start_tune(dir.path(), &["--trials", "4", "--time-budget", "300s"]);
    let pid = child.id();
    wait_for_trial(dir.path(), 2, "measured").await;
    assert!(sandbox_postmaster(pid).is_some(), "the sandbox is running");
    signal(pid as i32, nix::sys::signal::Signal::SIGINT);
    let stopping = Instant::now();
    let out = wait(child).await;
    assert!(
        stopping.elapsed() < Duration::from_secs(60),
        "took {:?} to stop",
        stopping.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        sandbox_postmaster(pid).is_none(),
        "the sandbox was left behind"
    );
    assert!(!dir.path().join("plan.json").exists());
    let repo_path = dir.path().join("dbtuner.db");
    let first: Vec<i64> = {
        let repo = agent::repository::open(&repo_path.to_string_lossy())
            .await
            .unwrap();
        assert_eq!(
            repo.session(1).await.unwrap().unwrap().status,
            "interrupted"
        );
        repo.trials(1)
            .await
            .unwrap()
            .iter()
            .filter(|t| t.trial.seq >= 2 && t.trial.status == "measured")
            .map(|t| t.trial.seq)
            .collect()
    };
    assert!(!first.is_empty());

    let resume = |id: &str, budget: &str| {
        let args: Vec<String> = [
            "tune",
            "--resume",
            id,
            "--time-budget",
            budget,
            "--json",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().display().to_string()])
        .collect();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_dbtuner"))
                .args(&args)
                .output()
                .unwrap()
        })
    };
    let out = resume("1", "60s").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["session_id"], 2);
    assert_eq!(
        report["search_space"],
        serde_json::json!(["shared_buffers", "max_wal_size"])
    );
    let carried = report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["label"].as_str().unwrap().contains("(session 1 trial"))
        .count();
    assert_eq!(carried, first.len(), "{}", report["trials"]);
    assert!(report["default"]["throughput"]["mean"].as_f64().unwrap() > 0.0);
    let searched = report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["label"] != "heuristic")
        .count();
    assert!(
        searched <= 4,
        "--trials 4 counts the carried trials: {}",
        report["trials"]
    );
    let repo = agent::repository::open(&repo_path.to_string_lossy())
        .await
        .unwrap();
    assert_eq!(repo.session(1).await.unwrap().unwrap().status, "resumed");
    let imported = repo
        .trials(2)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.trial.status == "imported")
        .count();
    assert_eq!(imported, first.len());

    // A session that was continued is not resumed again; nor is one that does not exist.
    for (id, needle) in [("1", "resumed"), ("9", "no session 9")] {
        let out = resume(id, "60s").await.unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
