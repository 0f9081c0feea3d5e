//! The tuning report: a serde data model and its renderings (Markdown for people, JSON for
//! machines). Pure: it formats what the agent measured and never measures anything itself.
//!
//! ```
//! use reports::{Report, render_markdown};
//! let report = Report::empty("demo");
//! assert!(render_markdown(&report).starts_with("# dbtuner report: demo"));
//! ```

mod markdown;
mod model;

pub use markdown::render_markdown;
pub use model::{
    Figure, KnobImportance, KnobSetting, Report, TrialRecord, TrialStatus, TrialTelemetry,
    Validation, Verdict,
};

/// JSON rendering (pretty, stable field order).
pub fn render_json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}
