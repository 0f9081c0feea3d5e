//! Sandbox servers: throwaway PostgreSQL or MariaDB instances that dbtuner starts itself from
//! the installed server binaries, in a temp dir on a free port, and stops and removes on drop.
//!
//! Several sandboxes run at once without sharing anything (port, dir, socket). A server never
//! outlives the process that started it: it is stopped on drop (also during a panic) and
//! killed by the kernel if we die (see `spawner`).

mod binaries;
mod mariadb;
mod postgres;
mod spawner;

pub use binaries::{postgres_server_dir, PG_BINDIR_ENV};

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use knobs::Engine;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Gid, Pid, Uid};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("{binary} not found; install it with: {install}")]
    MissingBinary { binary: String, install: String },
    #[error("{engine} sandboxes do not run as root and there is no '{user}' OS user to run it as; install the {package} package, which creates it")]
    NoUnprivilegedUser {
        engine: Engine,
        user: String,
        package: String,
    },
    #[error("{} holds no PostgreSQL server: neither it nor its bin/ has both initdb and postgres; name the bin directory of a PostgreSQL build (e.g. /usr/lib/postgresql/15/bin)", dir.display())]
    NoServerIn { dir: PathBuf },
    #[error("{step} failed: {detail}")]
    Init { step: String, detail: String },
    #[error("{engine} sandbox did not start: {reason}\n--- server log ({log}) ---\n{excerpt}")]
    Start {
        engine: Engine,
        reason: String,
        log: PathBuf,
        excerpt: String,
    },
    #[error("sandbox I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// OS identity the server runs as (PostgreSQL refuses root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    pub uid: Uid,
    pub gid: Gid,
}

/// A running throwaway server.
#[derive(Debug)]
pub struct Sandbox {
    engine: Engine,
    port: u16,
    child: Option<Child>,
    settings: BTreeMap<String, String>,
    /// PostgreSQL's `bin`, chosen once at start so that a restart runs the same server.
    pg_bindir: Option<PathBuf>,
    run_as: Option<RunAs>,
    /// The superuser's password, random per sandbox: no one else on the host gets in.
    password: String,
    log_offset: u64,
    // Declared last: removed only after the server has stopped (fields drop after `drop`).
    dir: tempfile::TempDir,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

impl Sandbox {
    /// Start a sandbox with the engine's defaults.
    pub fn start(engine: Engine) -> Result<Sandbox, SandboxError> {
        Self::start_with(engine, &[])
    }

    /// Start a sandbox with extra server settings (`name`, `value`), given to the server at
    /// start (`-c name=value` / `--name=value`).
    pub fn start_with(engine: Engine, settings: &[(&str, &str)]) -> Result<Sandbox, SandboxError> {
        // Check the binaries before creating anything.
        let pg_bindir = match engine {
            Engine::Postgres => Some(binaries::postgres_bindir()?),
            Engine::Mysql | Engine::Mariadb => {
                drop(binaries::mariadb_binaries()?);
                None
            }
        };
        Self::start_inner(engine, pg_bindir, settings)
    }

    /// Start a PostgreSQL sandbox from the server in `bindir` (a directory holding `initdb`
    /// and `postgres`, or a build whose `bin` does), whatever is installed or named by
    /// `DBTUNER_PG_BINDIR`.
    pub fn start_postgres_from(
        bindir: &Path,
        settings: &[(&str, &str)],
    ) -> Result<Sandbox, SandboxError> {
        let bindir = binaries::postgres_server_dir(bindir)?;
        Self::start_inner(Engine::Postgres, Some(bindir), settings)
    }

    fn start_inner(
        engine: Engine,
        pg_bindir: Option<PathBuf>,
        settings: &[(&str, &str)],
    ) -> Result<Sandbox, SandboxError> {
        remove_stale_dirs();
        let run_as = match engine {
            Engine::Postgres => unprivileged_user(engine, "postgres", "postgresql")?,
            Engine::Mysql | Engine::Mariadb => {
                unprivileged_user(engine, "mysql", "mariadb-server")?
            }
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("dbtuner-sandbox-{}-", std::process::id()))
            .tempdir()?;
        // The dir is 0700 and owned by the server's user: the socket in it is reachable by
        // that user (and root) only.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        if let Some(who) = run_as {
            nix::unistd::chown(dir.path(), Some(who.uid), Some(who.gid))
                .map_err(std::io::Error::from)?;
        }
        let password = random_password()?;
        match &pg_bindir {
            Some(bindir) => postgres::init(dir.path(), bindir, run_as, &password)?,
            None => mariadb::init(dir.path(), run_as, &password)?,
        }
        let mut sandbox = Sandbox {
            engine,
            port: 0,
            child: None,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            pg_bindir,
            run_as,
            password,
            log_offset: 0,
            dir,
        };
        sandbox.launch()?;
        Ok(sandbox)
    }

    /// Connection URL for the superuser, with its password (127.0.0.1 only). Shown to a
    /// person only by `dbtuner sandbox`; everywhere else it goes through the redacting
    /// `TargetUrl` display.
    pub fn url(&self) -> String {
        match self.engine {
            Engine::Postgres => self.url_for_database("postgres"),
            Engine::Mysql | Engine::Mariadb => self.url_for_database("mysql"),
        }
    }

    /// URL of another database on the same server.
    pub fn url_for_database(&self, database: &str) -> String {
        let scheme = match self.engine {
            Engine::Postgres => "postgres",
            Engine::Mysql | Engine::Mariadb => "mysql",
        };
        format!(
            "{scheme}://{}:{}@127.0.0.1:{}/{database}",
            self.user(),
            self.password,
            self.port
        )
    }

    /// The superuser's name (`postgres` or `root`).
    pub fn user(&self) -> &'static str {
        match self.engine {
            Engine::Postgres => "postgres",
            Engine::Mysql | Engine::Mariadb => "root",
        }
    }

    /// The superuser's password (for tools that take it apart from the URL, such as
    /// `PGPASSWORD` for pgbench or `--mysql-password` for sysbench).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The sandbox's directory (data dir, socket and log live below it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// PID of the server's main process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// PostgreSQL's `bin` this sandbox runs (None for MariaDB/MySQL).
    pub fn pg_bindir(&self) -> Option<&Path> {
        self.pg_bindir.as_deref()
    }

    /// Settings given to the server at start.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// Set a start-time setting; it takes effect at the next [`Sandbox::restart`].
    pub fn set_setting(&mut self, name: &str, value: &str) {
        self.settings.insert(name.to_string(), value.to_string());
    }

    pub fn remove_setting(&mut self, name: &str) {
        self.settings.remove(name);
    }

    /// Whether the server process is still running (false after a crash or a kill).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stop the server cleanly and start it again with the current settings.
    pub fn restart(&mut self) -> Result<(), SandboxError> {
        self.stop();
        self.launch()
    }

    /// Stop the server (fast shutdown; killed if it does not stop in time).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signal = match self.engine {
            Engine::Postgres => Signal::SIGINT,
            Engine::Mysql | Engine::Mariadb => Signal::SIGTERM,
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, signal);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(engine = %self.engine, "sandbox did not stop within {STOP_TIMEOUT:?}; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }

    fn launch(&mut self) -> Result<(), SandboxError> {
        // A free port can be taken by someone else between our probe and the server's bind:
        // try again on a new port.
        // A restart keeps the port, so that URLs handed out stay valid.
        let mut last_error = None;
        for _ in 0..3 {
            if self.port == 0 {
                self.port = free_port()?;
            }
            match self.launch_once() {
                Ok(()) => return Ok(()),
                Err(SandboxError::Start { excerpt, .. })
                    if excerpt.contains("Address already in use")
                        || excerpt.contains("could not bind")
                        || excerpt.contains("Can't start server: Bind") =>
                {
                    last_error = Some(excerpt);
                }
                Err(e) => return Err(e),
            }
        }
        Err(self.start_error(format!(
            "no free port after 3 tries: {}",
            last_error.unwrap_or_default()
        )))
    }

    fn launch_once(&mut self) -> Result<(), SandboxError> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        self.log_offset = log.metadata()?.len();
        // MariaDB also opens the log itself (--log-error), as its own user.
        if let Some(who) = self.run_as {
            nix::unistd::chown(&log_path, Some(who.uid), Some(who.gid))
                .map_err(std::io::Error::from)?;
        }
        let command = match &self.pg_bindir {
            Some(bindir) => postgres::command(
                bindir,
                self.dir.path(),
                self.port,
                &self.settings,
                self.run_as,
                log,
            )?,
            None => mariadb::command(self.dir.path(), self.port, &self.settings, self.run_as, log)?,
        };
        let child = spawner::spawn_tied_to_us(command)?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(self.start_error(format!("server exited with {status}")));
                }
            }
            let ready = match self.engine {
                Engine::Postgres => postgres::is_ready(&self.data_dir(), self.pid()),
                Engine::Mysql | Engine::Mariadb => {
                    mariadb::is_ready(&self.log_path(), self.log_offset, self.port)
                }
            };
            if ready {
                if matches!(self.engine, Engine::Mysql | Engine::Mariadb) {
                    // The accounts are set; the file with the password has done its job.
                    mariadb::forget_bootstrap(self.dir.path())?;
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(self.start_error(format!("not ready after {START_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn start_error(&self, reason: String) -> SandboxError {
        SandboxError::Start {
            engine: self.engine,
            reason,
            log: self.log_path(),
            excerpt: log_excerpt(&self.log_path(), self.log_offset),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run an initialization tool (initdb, mariadb-install-db); its output is the error.
pub(crate) fn run_init(mut command: std::process::Command, step: &str) -> Result<(), SandboxError> {
    let out = command.output().map_err(|e| SandboxError::Init {
        step: step.into(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        let detail = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(SandboxError::Init {
            step: step.into(),
            detail: detail.trim().to_string(),
        });
    }
    Ok(())
}

/// The lines of the server log since `offset` that explain a failure: errors if there are
/// any, else the last lines.
fn log_excerpt(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let important: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            [
                "FATAL",
                "ERROR",
                "PANIC",
                "DETAIL:",
                "HINT:",
                "[ERROR]",
                "unknown variable",
                "invalid value",
            ]
            .iter()
            .any(|m| l.contains(m))
        })
        .collect();
    let chosen = if important.is_empty() {
        &lines[lines.len().saturating_sub(10)..]
    } else {
        &important[important.len().saturating_sub(10)..]
    };
    chosen.join("\n")
}

/// As root, the engine's own OS user (the server package creates it); otherwise ourselves.
fn unprivileged_user(
    engine: Engine,
    user: &str,
    package: &str,
) -> Result<Option<RunAs>, SandboxError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(found)) => Ok(Some(RunAs {
            uid: found.uid,
            gid: found.gid,
        })),
        _ => Err(SandboxError::NoUnprivilegedUser {
            engine,
            user: user.into(),
            package: package.into(),
        }),
    }
}

/// 24 letters and digits from the kernel's random source (~142 bits); only characters that
/// need no quoting in a URL, a SQL literal or a password file.
fn random_password() -> Result<String, SandboxError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut random = File::open("/dev/urandom")?;
    let mut password = String::with_capacity(24);
    let mut buffer = [0u8; 64];
    while password.len() < 24 {
        random.read_exact(&mut buffer)?;
        // Rejection keeps every character equally likely (248 = 4 × 62).
        password.extend(
            buffer
                .iter()
                .filter(|b| **b < 248)
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .take(24 - password.len()),
        );
    }
    Ok(password)
}

/// Write `contents` to `path` readable by its owner only, owned by the server's user.
pub(crate) fn write_private(
    path: &Path,
    contents: &str,
    run_as: Option<RunAs>,
) -> Result<(), SandboxError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    if let Some(who) = run_as {
        nix::unistd::chown(path, Some(who.uid), Some(who.gid)).map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// A port the kernel just handed out, never a standard database port.
fn free_port() -> Result<u16, SandboxError> {
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if port != 5432 && port != 3306 {
            return Ok(port);
        }
    }
}

/// Remove sandbox dirs left by processes that died without cleaning up (SIGKILL).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("dbtuner-sandbox-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() as i32 && !process_alive(pid) {
            tracing::debug!(dir = %entry.path().display(), "removing a stale sandbox dir");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// True when `pid` names a live, non-zombie process.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
