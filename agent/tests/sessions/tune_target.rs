//! `dbtuner tune --target` on a named staging server: a PostgreSQL server the test starts
//! itself stands in for the user's. Bad input is refused with exit 2 and changes nothing; a
//! session reconfigures the server — a restart knob included, restarted through the user's
//! `--restart-command` (`pg_ctl restart`) for every configuration — and leaves every setting,
//! and what ALTER SYSTEM had written before it, exactly as found; the URL's password is stored
//! and printed nowhere.

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

/// `pg_ctl` on the sandbox's data directory, as the user the server runs as.
fn pg_ctl(server: &Sandbox, action: &str) -> String {
    let bindir = server
        .pg_bindir()
        .expect("a PostgreSQL sandbox has a bindir");
    let as_server_user = if nix::unistd::geteuid().is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    format!(
        "cd '{dir}' && {as_server_user}'{bin}/pg_ctl' -D '{data}' -l '{dir}/pg_ctl.log' {action}",
        dir = server.dir().display(),
        bin = bindir.display(),
        data = server.data_dir().display(),
    )
}

/// After `pg_ctl restart` the server is no longer the sandbox's child: stop it by its data
/// directory before the sandbox removes that directory.
struct StopByPgCtl(String);

impl Drop for StopByPgCtl {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg("-c").arg(&self.0).output();
    }
}

async fn started_at(url: &TargetUrl) -> String {
    let Target::Postgres { client, .. } = Target::connect(url).await.unwrap() else {
        panic!("not PostgreSQL")
    };
    client
        .query_one("SELECT pg_postmaster_start_time()::text", &[])
        .await
        .unwrap()
        .get(0)
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
    let _stop = StopByPgCtl(pg_ctl(&server, "stop -m immediate"));
    let restart_command = pg_ctl(&server, "restart -m fast -w");
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

    // A session: reconfigured while it runs (restarted for each configuration), as found
    // after it.
    let dir = tempfile::tempdir().unwrap();
    let started_before = started_at(&url).await;
    let out = run(
        &[
            "--workload",
            "tpcb",
            "--scale",
            "1",
            "--knobs",
            "work_mem,random_page_cost,shared_buffers",
            "--allow-restart",
            "--restart-command",
            &restart_command,
            "--trials",
            "1",
            "--time-budget",
            "120s",
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
    // Every configuration went through the restart command, the default's included.
    assert!(
        report["trials"]
            .as_array()
            .unwrap()
            .iter()
            .chain([&report["default"]])
            .all(|t| t["restarted"] == true),
        "a trial was not restarted: {report}"
    );
    assert_ne!(started_at(&url).await, started_before, "never restarted");

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

/// MariaDB as a named staging server: online knobs only (`SET GLOBAL`), a value the user had
/// set before put back as found, restart knobs refused with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tune_on_a_named_mariadb_puts_every_global_back_as_found() {
    use mysql_async::prelude::Queryable;
    let server = tokio::task::spawn_blocking(|| Sandbox::start(knobs::Engine::Mariadb))
        .await
        .unwrap()
        .unwrap();
    let target = server.url();
    let url: TargetUrl = target.parse().unwrap();
    {
        let mut conn = workloads::target::connect_mysql(&url).await.unwrap();
        conn.query_drop("SET GLOBAL innodb_io_capacity = 300")
            .await
            .unwrap();
        conn.disconnect().await.unwrap();
    }
    let before = all_settings(&url).await;
    assert_eq!(before["innodb_io_capacity"], "300");

    let dir = tempfile::tempdir().unwrap();
    let refused = run(
        &[
            "--workload",
            "tpcb",
            "--scale",
            "1",
            "--knobs",
            "innodb_buffer_pool_size",
            "--allow-restart",
            "--restart-command",
            "true",
            "--trials",
            "1",
        ],
        &target,
        dir.path(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SET GLOBAL"), "{stderr}");
    assert!(diff(&before, &all_settings(&url).await).is_empty());

    let out = run(
        &[
            "--workload",
            "tpcb",
            "--scale",
            "1",
            "--knobs",
            "innodb_io_capacity,innodb_flush_neighbors",
            "--trials",
            "1",
            "--time-budget",
            "90s",
            "--json",
        ],
        &target,
        dir.path(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tune --target (MariaDB) failed: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let measured = report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"]["status"] == "measured")
        .count();
    assert!(measured >= 1, "no trial measured: {report}");
    let changed = diff(&before, &all_settings(&url).await);
    assert!(
        changed.is_empty(),
        "globals differ after the session: {changed:?}"
    );
}
