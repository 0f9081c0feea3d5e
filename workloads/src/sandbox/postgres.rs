//! PostgreSQL specifics of a sandbox: initdb, the server command line, readiness.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{RunAs, SandboxError};

fn as_user(command: &mut Command, dir: &Path, run_as: Option<RunAs>) {
    if let Some(who) = run_as {
        command.uid(who.uid.as_raw()).gid(who.gid.as_raw());
    }
    // A cwd the server user cannot enter (such as /root) makes initdb and postgres fail.
    command.current_dir(dir);
}

/// initdb with SCRAM for every connection, local socket included: the superuser's password
/// goes in through a private file that is removed right after.
pub(crate) fn init(
    dir: &Path,
    bindir: &Path,
    run_as: Option<RunAs>,
    password: &str,
) -> Result<(), SandboxError> {
    let pwfile = dir.join("superuser.pw");
    super::write_private(&pwfile, password, run_as)?;
    let mut command = Command::new(bindir.join("initdb"));
    command
        .args([
            "-D",
            "data",
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            "--pwfile=superuser.pw",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .stdin(Stdio::null());
    as_user(&mut command, dir, run_as);
    let result = super::run_init(command, "initdb");
    std::fs::remove_file(&pwfile)?;
    result
}

pub(crate) fn command(
    bindir: &Path,
    dir: &Path,
    port: u16,
    settings: &BTreeMap<String, String>,
    run_as: Option<RunAs>,
    log: File,
) -> Result<Command, SandboxError> {
    let mut command = Command::new(bindir.join("postgres"));
    command
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir);
    let mut base: BTreeMap<String, String> = [
        ("listen_addresses", "127.0.0.1"),
        ("shared_preload_libraries", "pg_stat_statements"),
        ("logging_collector", "off"),
        ("max_connections", "100"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    base.extend(settings.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (name, value) in &base {
        command.arg("-c").arg(format!("{name}={value}"));
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    as_user(&mut command, dir, run_as);
    // Its own process group: a Ctrl-C in the user's terminal goes to dbtuner, which then
    // stops the server cleanly, instead of hitting the server directly.
    command.process_group(0);
    Ok(command)
}

/// The postmaster writes "ready" as the 8th line of postmaster.pid once it accepts
/// connections.
/// The server `pid` says it is ready. The PID is checked: a postmaster killed with SIGKILL
/// leaves its postmaster.pid behind, still saying "ready", and a restart must not take that
/// for the new server's word.
pub(crate) fn is_ready(data_dir: &Path, pid: Option<u32>) -> bool {
    std::fs::read_to_string(data_dir.join("postmaster.pid")).is_ok_and(|text| {
        let mut lines = text.lines();
        let same_server = lines
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
            .is_some_and(|p| Some(p) == pid);
        same_server && lines.nth(6).is_some_and(|l| l.trim() == "ready")
    })
}
