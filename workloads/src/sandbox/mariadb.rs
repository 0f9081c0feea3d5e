//! MariaDB/MySQL specifics of a sandbox: install-db, the server command line, readiness.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{binaries, SandboxError};

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub(crate) fn init(dir: &Path) -> Result<(), SandboxError> {
    let (_, install_db) = binaries::mariadb_binaries()?;
    let mut command = Command::new(install_db);
    // --no-defaults must come first: it keeps the host's /etc/mysql config out of the sandbox.
    // Our own tmpdir: bootstraps running side by side in a shared /tmp collide on temporary
    // table names.
    std::fs::create_dir_all(dir.join("tmp"))?;
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    if running_as_root() {
        command.arg("--user=root");
    }
    command.current_dir(dir).stdin(Stdio::null());
    let out = command.output().map_err(|e| SandboxError::Init {
        step: "mariadb-install-db".into(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        let detail = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(SandboxError::Init {
            step: "mariadb-install-db".into(),
            detail: detail.trim().to_string(),
        });
    }
    Ok(())
}

pub(crate) fn command(
    dir: &Path,
    port: u16,
    settings: &BTreeMap<String, String>,
    log: File,
) -> Result<Command, SandboxError> {
    let (server, _) = binaries::mariadb_binaries()?;
    let mut command = Command::new(server);
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", dir.join("server.log").display()))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .arg("--max-connections=200");
    if running_as_root() {
        command.arg("--user=root");
    }
    for (name, value) in settings {
        command.arg(format!("--{}={value}", name.replace('_', "-")));
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    command.process_group(0);
    Ok(command)
}

/// Ready once this start's part of the log says so and the port answers. The log check
/// matters: another sandbox may have taken the port if ours failed to bind.
pub(crate) fn is_ready(log: &Path, log_offset: u64, port: u16) -> bool {
    let mut text = String::new();
    if let Ok(mut file) = File::open(log) {
        let _ = file.seek(SeekFrom::Start(log_offset));
        let _ = file.read_to_string(&mut text);
    }
    text.contains("ready for connections")
        && TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
}
