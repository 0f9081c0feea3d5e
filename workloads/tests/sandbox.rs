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

/// The URL with its password replaced (or removed): must be refused.
fn with_password(url: &str, password: Option<&str>) -> TargetUrl {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_password(password).unwrap();
    parsed.as_str().parse().unwrap()
}

fn owner_and_mode(path: &std::path::Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.uid(), meta.mode() & 0o777)
}

fn process_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Only the sandbox's password lets anyone in, over TCP or the socket, and the server does
/// not run as root; the dir holding the socket is the server user's alone.
async fn lets_no_one_in_without_its_password(engine: Engine) {
    let sandbox = Sandbox::start(engine).unwrap();
    assert!(sandbox.password().len() >= 24);
    let other = Sandbox::start(engine).unwrap();
    assert_ne!(
        sandbox.password(),
        other.password(),
        "passwords must differ"
    );
    drop(other);
    Target::connect(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    for password in [None, Some("wrong")] {
        let err = Target::connect(&with_password(&sandbox.url(), password))
            .await
            .err()
            .unwrap_or_else(|| panic!("{engine}: logged in with password {password:?}"));
        assert!(
            matches!(err, workloads::TargetError::Auth { .. }),
            "{engine}: {err}"
        );
    }
    let pid = sandbox.pid().unwrap();
    let (dir_owner, dir_mode) = owner_and_mode(sandbox.dir());
    assert_eq!(dir_mode, 0o700, "{engine}: sandbox dir mode {dir_mode:o}");
    if nix::unistd::geteuid().is_root() {
        assert_ne!(process_uid(pid), 0, "{engine} server runs as root");
        assert_eq!(
            dir_owner,
            process_uid(pid),
            "{engine}: dir not the server's"
        );
    }
    // The socket asks for the password too (root could open the dir, so this is checked).
    let socket_login = match engine {
        Engine::Postgres => std::process::Command::new("psql")
            .args(["-w", "-X", "-h"])
            .arg(sandbox.dir())
            .args([
                "-p",
                &sandbox.port().to_string(),
                "-U",
                "postgres",
                "-c",
                "SELECT 1",
                "postgres",
            ])
            .env_remove("PGPASSWORD")
            .output()
            .unwrap(),
        _ => std::process::Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                sandbox.dir().join("mysqld.sock").display()
            ))
            .args(["-uroot", "-e", "SELECT 1"])
            .output()
            .unwrap(),
    };
    let said = String::from_utf8_lossy(&socket_login.stderr);
    assert!(
        !socket_login.status.success(),
        "{engine}: socket login without a password worked"
    );
    assert!(
        said.contains("password") || said.contains("Access denied"),
        "{engine}: {said}"
    );
    // No file in the dir holds the password any longer (initdb's and the first start's).
    for entry in walk(sandbox.dir()) {
        if let Ok(text) = std::fs::read(&entry) {
            let found = text
                .windows(sandbox.password().len())
                .any(|w| w == sandbox.password().as_bytes());
            assert!(!found, "{engine}: {} holds the password", entry.display());
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn postgres_sandbox_lets_no_one_in_without_its_password() {
    lets_no_one_in_without_its_password(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_sandbox_lets_no_one_in_without_its_password() {
    lets_no_one_in_without_its_password(Engine::Mariadb).await;
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
