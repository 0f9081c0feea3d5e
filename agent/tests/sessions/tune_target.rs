//! `dbtuner tune --target` on a named staging server: a PostgreSQL server the test starts
//! itself stands in for the user's. Bad input is refused with exit 2 and changes nothing; a
//! session reconfigures the server and leaves every setting, and what ALTER SYSTEM had written
//! before it, exactly as found; the URL's password is stored and printed nowhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use workloads::{Sandbox, Target, TargetUrl};

use crate::common::{all_settings, diff};

fn dbtuner(args: Vec<String>, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(&args)
        .arg("--out")
        .arg(out)
        .env("DBTUNER_STATE", out.join("state"))
        .output()
        .unwrap()
}

async fn run(args: &[&str], target: &str, out: &Path) -> Output {
    let mut all: Vec<String> = vec!["tune".into(), "--target".into(), target.into()];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || dbtuner(all, &out))
        .await
        .unwrap()
}

/// What ALTER SYSTEM has written (postgresql.auto.conf), as the server reads it.
async fn persisted(url: &TargetUrl) -> Vec<(String, String)> {
    let Target::Postgres { client, .. } = Target::connect(url).await.unwrap() else {
        panic!("not PostgreSQL")
    };
    client
        .query(
            "SELECT name, setting FROM pg_file_settings \
             WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn has_bench_database(url: &TargetUrl) -> bool {
    let Target::Postgres { client, .. } = Target::connect(url).await.unwrap() else {
        panic!("not PostgreSQL")
    };
    client
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = 'dbtuner_bench'",
            &[],
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tune_on_a_named_target_refuses_bad_input_and_leaves_every_setting_as_found() {
    let server = tokio::task::spawn_blocking(|| Sandbox::start(knobs::Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    // The server's own password (checked by SCRAM), looked for in everything the session
    // writes.
    let target = server.url();
    let password = server.password().to_string();
    let url: TargetUrl = target.parse().unwrap();
    // A value the user set with ALTER SYSTEM before: it must come back as that entry, not be
    // reset to the server default.
    {
        let Target::Postgres { client, .. } = Target::connect(&url).await.unwrap() else {
            panic!("not PostgreSQL")
        };
        client
            .batch_execute("ALTER SYSTEM SET work_mem = '8MB'")
            .await
            .unwrap();
        client
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let before = all_settings(&url).await;
    assert_eq!(before["work_mem"], "8192");
    let persisted_before = persisted(&url).await;

    // Bad input: exit 2, the server untouched, no database created.
    let dir = tempfile::tempdir().unwrap();
    let base = ["--workload", "tpcb", "--scale", "1", "--trials", "1"];
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            [&base[..], &["--knobs", "shared_buffers"]].concat(),
            target.as_str(),
            "--allow-restart",
        ),
        (
            [&base[..], &["--sandbox", "postgres"]].concat(),
            target.as_str(),
            "--sandbox",
        ),
        (
            base.to_vec(),
            "postgres://postgres@127.0.0.1:1/postgres",
            "--target",
        ),
    ];
    for (args, to, needle) in &cases {
        let out = run(args, to, dir.path()).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains(&password), "{args:?}: {stderr}");
        let changed = diff(&before, &all_settings(&url).await);
        assert!(changed.is_empty(), "{args:?} changed {changed:?}");
        assert!(
            !has_bench_database(&url).await,
            "{args:?} created a database"
        );
    }

    // A session: reconfigured while it runs, as found after it.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "--workload",
            "tpcb",
            "--scale",
            "1",
            "--knobs",
            "work_mem,random_page_cost",
            "--trials",
            "1",
            "--time-budget",
            "100s",
            "--json",
        ],
        &target,
        dir.path(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tune --target failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = &report["validation"]["verdict"];
    assert!(
        verdict.as_str().is_some_and(|v| !v.is_empty()),
        "no verdict: {}",
        report["notes"]
    );
    assert!(report["trials"].as_array().unwrap().len() >= 2, "{report}");

    let after = all_settings(&url).await;
    let changed = diff(&before, &after);
    assert!(
        changed.is_empty(),
        "settings differ after the session: {changed:?}"
    );
    assert_eq!(
        before.len(),
        after.len(),
        "settings appeared or disappeared"
    );
    assert_eq!(persisted(&url).await, persisted_before);
    assert!(has_bench_database(&url).await);

    // Rule 6: the URL's password is in nothing the session printed or stored.
    let mut written = vec![out.stdout.clone(), out.stderr.clone()];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            written.push(std::fs::read(&path).unwrap());
        }
    }
    for bytes in &written {
        assert!(
            !String::from_utf8_lossy(bytes).contains(&password),
            "the password was written"
        );
    }
}
