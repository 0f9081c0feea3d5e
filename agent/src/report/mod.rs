//! Reports of stored sessions: the [`reports::Report`] model built from the observation
//! repository alone, so that `dbtuner report --session ID` writes the same report for any
//! stored session that `tune` and `demo` wrote when they finished.
//!
//! - `context`: what a finished session knows that its trials and verdicts do not (machine,
//!   search space, knob importance, notes), stored with it as an audit entry.
//! - `build`: the model from the repository's records.
//! - `gate`: the gate's verdict, rounds and latency comparison from the verdict's evidence.
//! - `advice`: the change (default / current / heuristic / candidate), its snippets and
//!   rollbacks, and the `dbtuner apply` command.
//! - `list`: the sessions of a repository, and the nearest ids to a wrong one.

mod advice;
mod build;
mod context;
mod gate;
mod list;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub use build::{assemble, build, Stored};
pub use context::{load_context, record_context, SessionContext};
pub use list::{list, unknown_session, SessionLine};

/// Every format, as `tune` and `demo` write them.
pub const ALL_FORMATS: [reports::Format; 3] = [
    reports::Format::Html,
    reports::Format::Markdown,
    reports::Format::Json,
];

/// Files an earlier report in the same directory may have left (charts, snippets) that this
/// one does not write: removed, so that a stale chart or a change not recommended this time
/// is not taken for this report's.
const STALE: [&str; 7] = [
    "change.sql",
    "change.rollback.sql",
    "postgresql.conf.snippet",
    "postgresql.conf.rollback.snippet",
    "my.cnf.snippet",
    "my.cnf.rollback.snippet",
    "charts",
];

/// Write rendered files under `dir` (created, with `charts/`); returns their paths.
pub fn write_files(dir: &Path, files: &[reports::OutputFile]) -> Result<Vec<PathBuf>> {
    for name in STALE {
        let path = dir.join(name);
        if name == "charts" {
            // Only the charts this report writes stay.
            if let Ok(entries) = std::fs::read_dir(&path) {
                for e in entries.flatten() {
                    let rel = format!("charts/{}", e.file_name().to_string_lossy());
                    if rel.ends_with(".svg") && !files.iter().any(|f| f.path == rel) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        } else if !files.iter().any(|f| f.path == name) {
            let _ = std::fs::remove_file(path);
        }
    }
    let mut written = Vec::new();
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &f.contents)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
