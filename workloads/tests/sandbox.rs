//! Sandbox servers against the real installed binaries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knobs::Engine;
use workloads::sandbox::process_alive;
use workloads::{Sandbox, SandboxError, Target, TargetUrl};

async fn read_setting(sandbox: &Sandbox, name: &str) -> String {
    let url: TargetUrl = sandbox.url().parse().unwrap();
    match Target::connect(&url).await.unwrap() {
        Target::Postgres { client, .. } => client
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .unwrap()
            .get(0),
        Target::Mysql { mut conn, .. } => {
            use mysql_async::prelude::Queryable;
            let v: Option<String> = conn
                .query_first(format!("SELECT CAST(@@{name} AS CHAR)"))
                .await
                .unwrap();
            v.unwrap()
        }
    }
}

async fn start_query_restart_stop(engine: Engine, setting: &str, value: &str, shown: &str) {
    let mut sandbox = Sandbox::start(engine).unwrap();
    assert_ne!(sandbox.port(), 5432);
    assert_ne!(sandbox.port(), 3306);
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let target = Target::connect(&url).await.unwrap();
    let expected_engine = if engine == Engine::Postgres {
        Engine::Postgres
    } else {
        Engine::Mariadb
    };
    assert_eq!(target.engine(), expected_engine);
    assert!(
        target.version_number().0 >= 10,
        "version {}",
        target.version()
    );
    drop(target);

    sandbox.set_setting(setting, value);
    let first_pid = sandbox.pid().unwrap();
    let first_port = sandbox.port();
    sandbox.restart().unwrap();
    assert_ne!(sandbox.pid().unwrap(), first_pid);
    assert_eq!(
        sandbox.port(),
        first_port,
        "a restart must keep the URL valid"
    );
    assert_eq!(read_setting(&sandbox, setting).await, shown);

    let pid = sandbox.pid().unwrap() as i32;
    let dir = sandbox.dir().to_path_buf();
    drop(sandbox);
    assert!(!process_alive(pid), "server {pid} outlived its sandbox");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[tokio::test]
async fn postgres_starts_restarts_with_a_setting_and_cleans_up() {
    start_query_restart_stop(Engine::Postgres, "work_mem", "12MB", "12MB").await;
}

#[tokio::test]
async fn mariadb_starts_restarts_with_a_setting_and_cleans_up() {
    start_query_restart_stop(Engine::Mariadb, "sort_buffer_size", "4194304", "4194304").await;
}

#[test]
fn postgres_bad_setting_fails_quoting_the_server_log() {
    let err = Sandbox::start_with(Engine::Postgres, &[("shared_buffers", "5 apples")]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Start { .. }), "{text}");
    assert!(
        text.contains("invalid value for parameter \"shared_buffers\""),
        "{text}"
    );
}

#[test]
fn mariadb_bad_setting_fails_quoting_the_server_log() {
    let err = Sandbox::start_with(Engine::Mariadb, &[("no_such_knob", "1")]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Start { .. }), "{text}");
    assert!(text.contains("unknown variable 'no-such-knob=1'"), "{text}");
}

#[test]
fn sandboxes_run_side_by_side() {
    let a = Sandbox::start(Engine::Postgres).unwrap();
    let b = Sandbox::start(Engine::Postgres).unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    assert!(process_alive(a.pid().unwrap() as i32) && process_alive(b.pid().unwrap() as i32));
}

#[test]
fn a_named_postgres_directory_is_used_or_refused() {
    let empty = tempfile::tempdir().unwrap();
    let err = Sandbox::start_postgres_from(empty.path(), &[]).unwrap_err();
    assert!(matches!(err, SandboxError::NoServerIn { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&empty.path().display().to_string()),
        "{err}"
    );
    // The installed server named by the directory above its bin/ (as the npm builds unpack).
    let installed = Sandbox::start(Engine::Postgres).unwrap();
    let bindir = installed.pg_bindir().unwrap().to_path_buf();
    drop(installed);
    let named = Sandbox::start_postgres_from(bindir.parent().unwrap(), &[]).unwrap();
    assert_eq!(named.pg_bindir(), Some(bindir.as_path()));
}
