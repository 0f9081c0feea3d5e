//! Errors of the collectors. A view we may not read is not an error (it becomes a
//! [`super::Notice`] and the snapshot goes on); losing the connection is.

use thiserror::Error;

pub type Result<T, E = TelemetryError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Target(#[from] workloads::TargetError),
    #[error("telemetry query on {target} failed: {detail}")]
    Query { target: String, detail: String },
    #[error("telemetry setting '{name}': {reason}")]
    BadConfig { name: String, reason: String },
}

impl TelemetryError {
    /// True when the input (URL, setting) is what must be fixed.
    pub fn is_bad_input(&self) -> bool {
        match self {
            TelemetryError::Target(e) => e.is_bad_input(),
            TelemetryError::BadConfig { .. } => true,
            TelemetryError::Query { .. } => false,
        }
    }
}
