//! MariaDB/MySQL specifics of a sandbox: install-db, the server command line, readiness.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{binaries, RunAs, SandboxError};

/// Read by the server at every start; emptied once the first start has set the accounts
/// (it holds the password until then). Always given, so that `@@init_file` reads the same
/// before and after a restart.
const BOOTSTRAP: &str = "accounts.sql";

fn as_user(command: &mut Command, dir: &Path, run_as: Option<RunAs>) {
    if let Some(who) = run_as {
        command.uid(who.uid.as_raw()).gid(who.gid.as_raw());
    }
    command.current_dir(dir);
}

pub(crate) fn init(dir: &Path, run_as: Option<RunAs>, password: &str) -> Result<(), SandboxError> {
    let (_, install_db) = binaries::mariadb_binaries()?;
    let mut command = Command::new(install_db);
    // Our own tmpdir: bootstraps running side by side in a shared /tmp collide on temporary
    // table names.
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    if let Some(who) = run_as {
        nix::unistd::chown(&tmp, Some(who.uid), Some(who.gid)).map_err(std::io::Error::from)?;
    }
    // --no-defaults must come first: it keeps the host's /etc/mysql config out of the sandbox.
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    as_user(&mut command, dir, run_as);
    command.stdin(Stdio::null());
    super::run_init(command, "mariadb-install-db")?;
    // install-db leaves root without a password on localhost, 127.0.0.1, ::1 and the host
    // name: keep one root for the socket and one for 127.0.0.1 (names are not resolved),
    // both with the sandbox's password.
    let accounts = format!(
        "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');\n\
         DELETE FROM mysql.proxies_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');\n\
         FLUSH PRIVILEGES;\n\
         ALTER USER 'root'@'localhost' IDENTIFIED BY '{password}';\n\
         CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY '{password}';\n\
         GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
    );
    super::write_private(&dir.join(BOOTSTRAP), &accounts, run_as)
}

/// Empty the account script once the server has read it.
pub(crate) fn forget_bootstrap(dir: &Path) -> Result<(), SandboxError> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join(BOOTSTRAP))?;
    Ok(())
}

pub(crate) fn command(
    dir: &Path,
    port: u16,
    settings: &BTreeMap<String, String>,
    run_as: Option<RunAs>,
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
        .arg("--max-connections=200")
        .arg("--skip-name-resolve");
    command.arg(format!("--init-file={}", dir.join(BOOTSTRAP).display()));
    for (name, value) in settings {
        command.arg(format!("--{}={value}", name.replace('_', "-")));
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    as_user(&mut command, dir, run_as);
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
