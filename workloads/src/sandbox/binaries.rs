//! Finding the installed server binaries, with the package to install when they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::SandboxError;

/// Names a PostgreSQL server directory (a `bin` holding `initdb` and `postgres`) that
/// sandboxes use instead of the installed server.
pub const PG_BINDIR_ENV: &str = "DBTUNER_PG_BINDIR";

fn has_server(dir: &Path) -> bool {
    dir.join("postgres").is_file() && dir.join("initdb").is_file()
}

/// The directory holding `initdb` and `postgres`: `$DBTUNER_PG_BINDIR` when set, else
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`, then `PATH`.
pub(crate) fn postgres_bindir() -> Result<PathBuf, SandboxError> {
    // A directory the user named is used or refused, never silently replaced by another server.
    if let Some(dir) = std::env::var_os(PG_BINDIR_ENV).filter(|d| !d.is_empty()) {
        return postgres_server_dir(Path::new(&dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    if let Some(dir) = on_path("initdb").and_then(|p| p.parent().map(Path::to_path_buf)) {
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    Err(SandboxError::MissingBinary {
        binary: "postgres and initdb".into(),
        install: "apt-get install postgresql-15 (or your distribution's PostgreSQL server package)"
            .into(),
    })
}

/// The server binaries of a named PostgreSQL directory: `dir` itself when it holds `initdb`
/// and `postgres`, or its `bin` (so both a bindir and a build's root are accepted).
pub fn postgres_server_dir(dir: &Path) -> Result<PathBuf, SandboxError> {
    if has_server(dir) {
        return Ok(dir.to_path_buf());
    }
    let bin = dir.join("bin");
    if has_server(&bin) {
        return Ok(bin);
    }
    Err(SandboxError::NoServerIn {
        dir: dir.to_path_buf(),
    })
}

/// `mariadbd` (or `mysqld`) and its install-db tool.
pub(crate) fn mariadb_binaries() -> Result<(PathBuf, PathBuf), SandboxError> {
    let server = ["mariadbd", "mysqld"].iter().find_map(|b| {
        on_path(b).or_else(|| Some(Path::new("/usr/sbin").join(b)).filter(|p| p.is_file()))
    });
    let install = ["mariadb-install-db", "mysql_install_db"]
        .iter()
        .find_map(|b| {
            on_path(b).or_else(|| Some(Path::new("/usr/bin").join(b)).filter(|p| p.is_file()))
        });
    match (server, install) {
        (Some(s), Some(i)) => Ok((s, i)),
        _ => Err(SandboxError::MissingBinary {
            binary: "mariadbd and mariadb-install-db".into(),
            install: "apt-get install mariadb-server".into(),
        }),
    }
}

fn on_path(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(binary))
            .find(|p| p.is_file())
    })
}
