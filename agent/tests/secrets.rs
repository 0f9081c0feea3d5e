//! A password given in the target URL (`?password=`) appears in no output of a real run:
//! apply and rollback of a reload knob, a telemetry watch into a repository, a workload
//! capture, a benchmark, and the errors of an unreachable target and a bad URL — not in
//! stdout, stderr (with debug logs on), any file written under `--out`, the repository or
//! the state directory. The password is the superuser's real one (set by the test), so every
//! command must carry it to the server to work at all. A replication password in
//! the server's postgresql.auto.conf is printed nowhere either, and stored only in the change
//! record (the exact previous file, to restore it; the repository is 0600).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use knobs::Engine;
use workloads::Sandbox;

const PASSWORD: &str = "Zq-hunter2-n0t-4-l0g";
/// A replication password in the server's postgresql.auto.conf: the repository keeps the
/// previous file exactly (0600, to restore it), nothing prints it.
const CONNINFO_PASSWORD: &str = "Zq-repl-pw-0f-th3-pr1mary";

fn dbtuner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .env("DBTUNER_LOG", "debug")
        .env_remove("DBTUNER_TARGET")
        .output()
        .unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_password_appears_in_no_output() {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let port = sandbox.port();
    let url = format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?password={PASSWORD}&connect_timeout=10"
    );
    let admin = workloads::target::connect_postgres(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("ALTER SYSTEM SET primary_conninfo = 'host=primary.example user=repl password={CONNINFO_PASSWORD}'"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("ALTER ROLE postgres PASSWORD '{PASSWORD}'"))
        .await
        .unwrap();
    drop(admin);
    let state = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // Created by dbtuner itself, so its mode is dbtuner's doing.
    let state_dir = state.path().join("state");
    let state_arg = state_dir.to_str().unwrap();
    let plan = out.path().join("plan.json");
    std::fs::write(&plan, r#"{"knobs": {"random_page_cost": 1.7}}"#).unwrap();
    let repo = out.path().join("dbtuner.db");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("postgres://postgres@127.0.0.1:{closed}/db?password={PASSWORD}");
    let bad = format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?password={PASSWORD}&connect_timeout=soon"
    );

    let mut outputs: Vec<(String, Output)> = Vec::new();
    let applied = dbtuner(&[
        "apply",
        "--target",
        &url,
        "--plan",
        plan.to_str().unwrap(),
        "--state",
        state_arg,
        "--json",
        "-v",
    ]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    let id = result["change"]["id"].as_str().unwrap().to_string();
    let previous = result["change"]["previous_auto_conf"].as_str().unwrap();
    assert!(
        previous.contains("primary_conninfo") && previous.contains("password=***"),
        "{previous}"
    );
    outputs.push(("apply".into(), applied));
    let back = dbtuner(&[
        "rollback", "--target", &url, "--change", &id, "--state", state_arg, "--json", "-v",
    ]);
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    outputs.push(("rollback".into(), back));
    let watch = dbtuner(&[
        "telemetry",
        "watch",
        "--target",
        &url,
        "--repo",
        repo.to_str().unwrap(),
        "--interval",
        "1s",
        "--count",
        "2",
        "--json",
        "-v",
    ]);
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    outputs.push(("telemetry watch".into(), watch));
    let bench = dbtuner(&[
        "bench",
        "--target",
        &url,
        "--workload",
        "select-only",
        "--load",
        "--scale",
        "1",
        "--clients",
        "2",
        "--duration",
        "2s",
        "--json",
        "-v",
    ]);
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    outputs.push(("bench".into(), bench));
    let capture_file = out.path().join("captured.toml");
    // Capture needs pg_stat_statements; whether or not the sandbox has it, nothing may leak.
    let capture = dbtuner(&[
        "workload",
        "capture",
        "--target",
        &url,
        "--out",
        capture_file.to_str().unwrap(),
        "--window",
        "1s",
        "-v",
    ]);
    outputs.push(("workload capture".into(), capture));
    let refused = dbtuner(&["telemetry", "snapshot", "--target", &unreachable, "-v"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    outputs.push(("unreachable".into(), refused));
    let malformed = dbtuner(&[
        "apply",
        "--target",
        &bad,
        "--plan",
        plan.to_str().unwrap(),
        "--state",
        state_arg,
    ]);
    assert_eq!(
        malformed.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&malformed.stderr)
    );
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("connect_timeout 'soon'"));
    outputs.push(("bad URL".into(), malformed));

    let mut leaks = Vec::new();
    for (what, o) in &outputs {
        for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            if contains(bytes, PASSWORD) || contains(bytes, CONNINFO_PASSWORD) {
                leaks.push(format!(
                    "{what} {stream}: {}",
                    String::from_utf8_lossy(bytes)
                ));
            }
        }
    }
    assert!(
        outputs.iter().any(|(_, o)| contains(&o.stderr, "DEBUG")),
        "debug logs were on"
    );
    let written: Vec<_> = files(state.path())
        .into_iter()
        .chain(files(out.path()))
        .collect();
    assert!(
        written.iter().any(|f| f.ends_with("dbtuner.db")),
        "{written:?}"
    );
    for file in &written {
        if file == &plan {
            continue;
        }
        let bytes = std::fs::read(file).unwrap();
        if contains(&bytes, PASSWORD) {
            leaks.push(format!("file {}", file.display()));
        }
        // Only the change record keeps it: the exact previous file, to restore.
        if contains(&bytes, CONNINFO_PASSWORD) && file != &state_dir.join("dbtuner.db") {
            leaks.push(format!("replication password in {}", file.display()));
        }
    }
    assert!(
        leaks.is_empty(),
        "the password leaked:\n{}",
        leaks.join("\n")
    );

    // The repository and the state directory are their owner's only.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&state_dir),
        0o700,
        "state dir is {:o}",
        mode(&state_dir)
    );
    for file in files(&state_dir) {
        assert_eq!(
            mode(&file) & 0o077,
            0,
            "{} is {:o}",
            file.display(),
            mode(&file)
        );
    }
    assert_eq!(mode(&repo) & 0o077, 0, "repository is {:o}", mode(&repo));
}
