//! No server outlives the process that started it, even when that process is killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use workloads::sandbox::process_alive;

fn killed_parent_takes_its_server_along(engine: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(["sandbox", "--engine", engine, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let server = info["pid"].as_i64().unwrap() as i32;
    assert!(process_alive(server));

    child.kill().unwrap(); // SIGKILL: no destructor runs in the parent
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while process_alive(server) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !process_alive(server),
        "{engine} server {server} outlived its killed parent"
    );
}

#[test]
fn postgres_dies_with_its_parent() {
    killed_parent_takes_its_server_along("postgres");
}

#[test]
fn mariadb_dies_with_its_parent() {
    killed_parent_takes_its_server_along("mariadb");
}
