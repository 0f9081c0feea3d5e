//! Reproducible experiments that compare dbtuner's parts with their peers, side by side in
//! one run (ratios, since machines are noisy). Each experiment is a binary under `src/bin`;
//! results go to the README's results section with the command that made them.
//!
//! Peers (pgbench, sysbench …) are only ever run from here, never by dbtuner itself.

use std::path::PathBuf;
use std::process::Command;

pub mod loaded;

/// The `n`th command-line argument as a whole number, `default` when it is absent.
pub fn arg(n: usize, default: u64) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    match std::env::args().nth(n) {
        Some(text) => text
            .parse()
            .with_context(|| format!("argument {n} ({text}) must be a whole number")),
        None => Ok(default),
    }
}

/// Find a PostgreSQL client tool: next to `pg_config --bindir`, the newest
/// `/usr/lib/postgresql/*/bin`, or on `PATH`.
pub fn postgres_tool(name: &str) -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// Parse pgbench's "tps = 1234.5 (without initial connection time)" line.
pub fn parse_pgbench_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .filter(|l| l.starts_with("tps = "))
        .find(|l| l.contains("without initial connection time"))
        .or_else(|| output.lines().find(|l| l.starts_with("tps = ")))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pgbench_output() {
        let out = "latency average = 1.6 ms\ninitial connection time = 3.2 ms\ntps = 2464.137502 (without initial connection time)\n";
        assert_eq!(parse_pgbench_tps(out), Some(2464.137502));
        assert_eq!(parse_pgbench_tps("nothing"), None);
    }
}
