//! The tuning report: a serde data model and its renderings — one self-contained HTML file
//! with SVG charts for the DBA who decides, Markdown (charts as SVG files beside it) for
//! tickets and pull requests, and versioned JSON for machines. Pure: it formats what the agent
//! measured and stored, and never measures or reads anything itself; the agent builds the
//! [`Report`] from its observation repository and writes the [`OutputFile`]s.
//!
//! ```
//! use reports::{render, Format, Report};
//! let report = Report::empty("demo");
//! let files = render(&report, &[Format::Markdown, Format::Html, Format::Json]).unwrap();
//! let md = files.iter().find(|f| f.path == "report.md").unwrap();
//! assert!(md.contents.starts_with("# dbtuner report: demo"));
//! ```

mod charts;
mod html;
mod markdown;
mod model;
mod summary;

pub use charts::{render_charts, Chart, ChartError};
pub use html::render_html;
pub use markdown::render_markdown;
pub use model::{
    best_vs_default, ApplyKind, Environment, Figure, GateRound, IndexAdvice, KnobChange,
    KnobImportance, KnobSetting, LatencyComparison, MemoryUse, Percentiles, Report,
    SearchComparison, ServerStatement, Snippet, StatementLatency, TrialRecord, TrialStatus,
    TrialTelemetry, Validation, Verdict, FORMAT_VERSION,
};
pub use summary::{verdict_word, Summary};

/// What went wrong while rendering.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("report JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown report format '{0}'; use html, md or json")]
    UnknownFormat(String),
}

/// A rendering of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Html,
    Markdown,
    Json,
}

impl std::str::FromStr for Format {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Format, ReportError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            other => Err(ReportError::UnknownFormat(other.to_string())),
        }
    }
}

/// One file of a rendered report, its path relative to the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    pub path: String,
    pub contents: String,
}

/// JSON rendering (pretty, stable field order).
pub fn render_json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

/// Every file of the requested formats: `report.html`; `report.md` with `charts/*.svg`;
/// `report.json`; and, with HTML or Markdown, each snippet as its own file.
pub fn render(report: &Report, formats: &[Format]) -> Result<Vec<OutputFile>, ReportError> {
    let mut files = Vec::new();
    let wants = |f: Format| formats.contains(&f);
    let charts = if wants(Format::Html) || wants(Format::Markdown) {
        render_charts(report)?
    } else {
        Vec::new()
    };
    if wants(Format::Html) {
        files.push(OutputFile {
            path: "report.html".into(),
            contents: render_html(report, &charts),
        });
    }
    if wants(Format::Markdown) {
        files.push(OutputFile {
            path: "report.md".into(),
            contents: render_markdown(report, &charts),
        });
        for c in &charts {
            if let Some(svg) = &c.svg {
                files.push(OutputFile {
                    path: format!("charts/{}.svg", c.name),
                    contents: svg.clone(),
                });
            }
        }
    }
    if wants(Format::Html) || wants(Format::Markdown) {
        for s in &report.snippets {
            files.push(OutputFile {
                path: s.file_name.clone(),
                contents: format!("{}\n", s.apply.trim_end()),
            });
            files.push(OutputFile {
                path: rollback_name(&s.file_name),
                contents: format!("{}\n", s.rollback.trim_end()),
            });
        }
    }
    if wants(Format::Json) {
        files.push(OutputFile {
            path: "report.json".into(),
            contents: render_json(report)?,
        });
    }
    Ok(files)
}

/// `change.sql` → `change.rollback.sql`.
pub fn rollback_name(file_name: &str) -> String {
    match file_name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.rollback.{ext}"),
        None => format!("{file_name}.rollback"),
    }
}
