//! Applying plans to live servers and rolling them back exactly; bad input and unsafe plans
//! change nothing; a configuration that cannot start is undone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use agent::apply::{self, ApplyError, ApplyOptions, ChangeStatus, Plan, SandboxRestarter, Store};
use knobs::Engine;
use workloads::{Sandbox, TargetUrl};

mod common;
use common::{all_settings, diff};

async fn start(engine: Engine) -> Sandbox {
    tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .unwrap()
        .unwrap()
}

async fn apply_then_rollback(engine: Engine, plan: &str, expect: &[(&str, &str)]) {
    let mut sandbox = start(engine).await;
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = Store::open_dir(state.path()).await.unwrap();
    let before = all_settings(&url).await;

    let plan = Plan::parse(plan, true).unwrap();
    let options = ApplyOptions {
        allow_restart: true,
        memory_budget: Some(16 << 30),
        ..Default::default()
    };
    let outcome = {
        let mut restarter = SandboxRestarter {
            sandbox: &mut sandbox,
        };
        apply::apply(&url, &plan, &options, Some(&mut restarter), &store)
            .await
            .unwrap()
    };
    assert!(outcome.record.restarted, "a restart knob was in the plan");
    assert!(outcome.clamped.is_empty(), "{:?}", outcome.clamped);
    assert_eq!(outcome.record.status, ChangeStatus::Applied);
    let during = all_settings(&url).await;
    for (name, value) in expect {
        assert_eq!(
            during.get(*name).map(String::as_str),
            Some(*value),
            "{name}"
        );
    }
    // Recorded before and after: the audit log has the whole story.
    let events: Vec<String> = store
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["apply-start", "restart", "applied"]);
    assert!(store
        .load(&outcome.record.id)
        .await
        .unwrap()
        .knobs
        .iter()
        .all(|k| !k.rollback_statements.is_empty()));

    let record = {
        let mut restarter = SandboxRestarter {
            sandbox: &mut sandbox,
        };
        apply::rollback(&url, &outcome.record.id, true, Some(&mut restarter), &store)
            .await
            .unwrap()
    };
    assert_eq!(record.status, ChangeStatus::RolledBack);
    // The repository is the change store: its rows say what was done and how to undo it.
    let repo = agent::repository::open(&state.path().join("dbtuner.db").to_string_lossy())
        .await
        .unwrap();
    let (row, full) = repo.change_by_key(&record.id).await.unwrap().unwrap();
    assert_eq!(row.status, "rolled_back");
    assert_eq!(row.items.len(), record.knobs.len());
    assert!(row.items.iter().all(|i| !i.rollback_statement.is_empty()));
    assert_eq!(full["id"], record.id.as_str());
    let actions: Vec<String> = repo
        .audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.entry.action)
        .collect();
    assert_eq!(actions.last().map(String::as_str), Some("rolled-back"));
    let after = all_settings(&url).await;
    let changed = diff(&before, &after);
    assert!(
        changed.is_empty(),
        "settings differ after rollback:\n{}",
        changed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reload_restart_and_enum_round_trip_exactly() {
    apply_then_rollback(
        Engine::Postgres,
        "[knobs]\nwork_mem = \"16MB\"\nmax_wal_size = \"2GB\"\nshared_buffers = \"256MB\"\nwal_compression = \"lz4\"\n",
        &[("work_mem", "16384"), ("max_wal_size", "2048"), ("shared_buffers", "32768"), ("wal_compression", "lz4")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_reload_restart_and_enum_round_trip_exactly() {
    apply_then_rollback(
        Engine::Mariadb,
        "[knobs]\ninnodb_io_capacity = 1000\ninnodb_log_buffer_size = \"32MB\"\nquery_cache_type = \"DEMAND\"\n",
        &[("innodb_io_capacity", "1000"), ("innodb_log_buffer_size", "33554432"), ("query_cache_type", "DEMAND")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_that_cannot_start_is_undone() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    assert!(
        meminfo
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["HugePages_Total:", "0"]),
        "this test needs a machine without huge pages, so that huge_pages = on cannot start"
    );
    let mut sandbox = start(Engine::Postgres).await;
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = Store::open_dir(state.path()).await.unwrap();
    let before = all_settings(&url).await;
    let plan = Plan::parse("[knobs]\nhuge_pages = \"on\"\nwork_mem = \"32MB\"\n", true).unwrap();
    let options = ApplyOptions {
        allow_restart: true,
        ..Default::default()
    };
    let err = {
        let mut restarter = SandboxRestarter {
            sandbox: &mut sandbox,
        };
        apply::apply(&url, &plan, &options, Some(&mut restarter), &store)
            .await
            .unwrap_err()
    };
    let text = err.to_string();
    assert!(matches!(err, ApplyError::RolledBack { .. }), "{text}");
    assert!(
        text.contains("huge pages") || text.contains("huge_pages"),
        "the error should quote the server log: {text}"
    );
    // Running again, with the previous configuration.
    let after = all_settings(&url).await;
    assert!(
        diff(&before, &after).is_empty(),
        "{:?}",
        diff(&before, &after)
    );
    let record_id = store.audit_entries().await.unwrap()[0].change.clone();
    assert!(matches!(
        store.load(&record_id).await.unwrap().status,
        ChangeStatus::Failed { .. }
    ));
}

fn dbtuner(args: &[&str], state: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_or_unsafe_plans_exit_2_and_change_nothing() {
    let sandbox = start(Engine::Postgres).await;
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let before = all_settings(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "shared_buffers = \"5 apples\"\n",
            "shared_buffers = '5 apples'",
        ),
        ("shared_bufers = \"1GB\"\n", "did you mean 'shared_buffers'"),
        ("work_mem = \"10TB\"\n", "out of range"),
        ("synchronous_commit = \"off\"\n", "--allow-durability-risk"),
        ("fsync = \"off\"\n", "never applies it"),
        ("shared_buffers = \"1GB\"\n", "--allow-restart"),
        (
            "work_mem = \"64MB\"\nshared_buffers = \"64GB\"\n",
            "memory guardrail",
        ),
    ];
    for (knobs, expected) in cases {
        let plan = dir.path().join("plan.toml");
        std::fs::write(&plan, format!("[knobs]\n{knobs}")).unwrap();
        let out = dbtuner(
            &[
                "apply",
                "--target",
                &sandbox.url(),
                "--plan",
                plan.to_str().unwrap(),
                "--memory",
                "8GiB",
            ],
            dir.path(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{knobs}: {err}");
        assert!(
            err.contains(expected),
            "{knobs}: expected '{expected}' in: {err}"
        );
    }
    let missing = dbtuner(
        &[
            "apply",
            "--target",
            &sandbox.url(),
            "--plan",
            "/nonexistent/plan.toml",
        ],
        dir.path(),
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--plan /nonexistent/plan.toml"));
    assert!(
        diff(&before, &all_settings(&url).await).is_empty(),
        "a refused plan changed the server"
    );
    let repo = agent::repository::open(&dir.path().join("dbtuner.db").to_string_lossy())
        .await
        .unwrap();
    assert!(
        repo.change(1).await.unwrap().is_none() && repo.audit(10).await.unwrap().is_empty(),
        "a refused plan left a change record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_applies_a_reload_knob_and_rolls_it_back() {
    let sandbox = start(Engine::Postgres).await;
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let before = all_settings(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"knobs": {"checkpoint_timeout": "15min", "random_page_cost": 1.1}}"#,
    )
    .unwrap();
    let dry = dbtuner(
        &[
            "apply",
            "--target",
            &sandbox.url(),
            "--plan",
            plan.to_str().unwrap(),
            "--dry-run",
        ],
        dir.path(),
    );
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(String::from_utf8_lossy(&dry.stdout)
        .contains("ALTER SYSTEM SET checkpoint_timeout = '900s'"));
    assert!(
        diff(&before, &all_settings(&url).await).is_empty(),
        "--dry-run changed the server"
    );

    let out = dbtuner(
        &[
            "apply",
            "--target",
            &sandbox.url(),
            "--plan",
            plan.to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = result["change"]["id"].as_str().unwrap().to_string();
    let during = all_settings(&url).await;
    assert_eq!(during["checkpoint_timeout"], "900");
    assert_eq!(during["random_page_cost"], "1.1");

    let back = dbtuner(
        &["rollback", "--target", &sandbox.url(), "--change", &id],
        dir.path(),
    );
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    assert!(diff(&before, &all_settings(&url).await).is_empty());
    let again = dbtuner(
        &["rollback", "--target", &sandbox.url(), "--change", &id],
        dir.path(),
    );
    assert_eq!(again.status.code(), Some(2), "a second rollback is refused");
}

/// Run `sql` as the sandbox's superuser.
async fn as_admin(sandbox: &Sandbox, sql: &str) {
    let url: TargetUrl = sandbox.url().parse().unwrap();
    match workloads::Target::connect(&url).await.unwrap() {
        workloads::Target::Postgres { client, .. } => client.batch_execute(sql).await.unwrap(),
        workloads::Target::Mysql { mut conn, .. } => {
            use mysql_async::prelude::Queryable;
            conn.query_drop(sql).await.unwrap()
        }
    }
}

/// A role without the privileges a change needs is told every missing one with its GRANT,
/// up front, and nothing changes; once granted exactly those, the same change applies and
/// rolls back. `tune --target` names the database it would create too.
async fn least_privilege(
    engine: Engine,
    role_url: &str,
    sandbox: &Sandbox,
    plan: &str,
    grants_needed: &[&str],
    grant_sql: &[&str],
    tune_needs: &[&str],
) {
    let admin: TargetUrl = sandbox.url().parse().unwrap();
    let before = all_settings(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan).unwrap();
    let args = [
        "apply",
        "--target",
        role_url,
        "--plan",
        plan_file.to_str().unwrap(),
    ];
    let refused = dbtuner(&args, dir.path());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{engine}: {stderr}");
    for grant in grants_needed {
        assert!(
            stderr.contains(grant),
            "{engine}: no '{grant}' in: {stderr}"
        );
    }
    assert!(
        diff(&before, &all_settings(&admin).await).is_empty(),
        "{engine}: changed"
    );

    let out_dir = dir.path().join("tune");
    let tune = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args([
            "tune",
            "--target",
            role_url,
            "--workload",
            "tpcb",
            "--scale",
            "1",
            "--trials",
            "1",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let tune_err = String::from_utf8_lossy(&tune.stderr);
    assert_eq!(tune.status.code(), Some(2), "{engine} tune: {tune_err}");
    for needed in tune_needs {
        assert!(
            tune_err.contains(needed),
            "{engine} tune: no '{needed}' in: {tune_err}"
        );
    }

    for sql in grant_sql {
        as_admin(sandbox, sql).await;
    }
    let applied = dbtuner(&[&args[..], &["--json"]].concat(), dir.path());
    assert!(
        applied.status.success(),
        "{engine} after the grants: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    let id = result["change"]["id"].as_str().unwrap().to_string();
    assert!(
        !diff(&before, &all_settings(&admin).await).is_empty(),
        "{engine}: nothing applied"
    );
    let back = dbtuner(
        &["rollback", "--target", role_url, "--change", &id],
        dir.path(),
    );
    assert!(
        back.status.success(),
        "{engine} rollback: {}",
        String::from_utf8_lossy(&back.stderr)
    );
    assert!(
        diff(&before, &all_settings(&admin).await).is_empty(),
        "{engine}: not rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_least_privilege_is_named_up_front() {
    let sandbox = start(Engine::Postgres).await;
    as_admin(&sandbox, "CREATE ROLE tuner LOGIN PASSWORD 'tun3r'").await;
    let role_url = format!(
        "postgres://tuner:tun3r@127.0.0.1:{}/postgres",
        sandbox.port()
    );
    least_privilege(
        Engine::Postgres,
        &role_url,
        &sandbox,
        r#"{"knobs": {"work_mem": "8MB", "random_page_cost": 1.5}}"#,
        &[
            "GRANT ALTER SYSTEM ON PARAMETER work_mem TO \"tuner\";",
            "GRANT ALTER SYSTEM ON PARAMETER random_page_cost TO \"tuner\";",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO \"tuner\";",
            "GRANT SELECT ON pg_catalog.pg_file_settings TO \"tuner\";",
        ],
        &[
            "GRANT ALTER SYSTEM ON PARAMETER work_mem TO tuner",
            "GRANT ALTER SYSTEM ON PARAMETER random_page_cost TO tuner",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO tuner",
            "GRANT SELECT ON pg_catalog.pg_file_settings TO tuner",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO tuner",
        ],
        &[
            "ALTER ROLE \"tuner\" CREATEDB;",
            "GRANT SELECT ON pg_catalog.pg_file_settings TO \"tuner\";",
            "GRANT ALTER SYSTEM ON PARAMETER max_wal_size TO \"tuner\";",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_least_privilege_is_named_up_front() {
    let sandbox = start(Engine::Mariadb).await;
    as_admin(&sandbox, "CREATE USER 'tuner'@'%' IDENTIFIED BY 'tun3r'").await;
    let role_url = format!("mysql://tuner:tun3r@127.0.0.1:{}/", sandbox.port());
    least_privilege(
        Engine::Mariadb,
        &role_url,
        &sandbox,
        r#"{"knobs": {"sort_buffer_size": 4194304}}"#,
        &["GRANT SUPER ON *.* TO 'tuner'@'%';"],
        &["GRANT SUPER ON *.* TO 'tuner'@'%'"],
        &["GRANT ALL ON `dbtuner_bench`.* TO 'tuner'@'%';"],
    )
    .await;
}
