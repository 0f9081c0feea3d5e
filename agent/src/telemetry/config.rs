//! How a collector behaves: timeouts on its session, how many statements it keeps, how
//! often it samples waits, whether it reads the host. Checked once by [`TelemetryConfig::validate`].

use serde::{Deserialize, Serialize};

use super::error::{Result, TelemetryError};

/// Collector settings (serde, so a sidecar config file can carry them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Longest any one telemetry query may run (`statement_timeout`, `max_statement_time`).
    pub statement_timeout_ms: u64,
    /// Longest a telemetry query waits for a lock (`lock_timeout`, `lock_wait_timeout`).
    pub lock_timeout_ms: u64,
    /// Statements kept per snapshot, by total time.
    pub top_statements: usize,
    /// Samples of the activity view per snapshot, for wait events.
    pub wait_samples: u32,
    /// Time between two wait samples.
    pub wait_sample_spacing_ms: u64,
    /// Read /proc when the target is on this machine.
    pub host: HostMode,
}

/// Whether to read the host's /proc figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostMode {
    /// Only when the target's host is this machine (localhost, 127.0.0.1, ::1, a socket).
    Auto,
    Always,
    Never,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            statement_timeout_ms: 5_000,
            lock_timeout_ms: 1_000,
            top_statements: 50,
            wait_samples: 1,
            wait_sample_spacing_ms: 100,
            host: HostMode::Auto,
        }
    }
}

impl TelemetryConfig {
    /// Reject settings that would make the collector a burden or useless.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| {
            Err(TelemetryError::BadConfig {
                name: name.into(),
                reason,
            })
        };
        if !(100..=600_000).contains(&self.statement_timeout_ms) {
            return bad(
                "statement_timeout_ms",
                format!("{} is outside 100 ..= 600000", self.statement_timeout_ms),
            );
        }
        if !(1..=600_000).contains(&self.lock_timeout_ms) {
            return bad(
                "lock_timeout_ms",
                format!("{} is outside 1 ..= 600000", self.lock_timeout_ms),
            );
        }
        if self.top_statements > 10_000 {
            return bad(
                "top_statements",
                format!("{} is more than 10000", self.top_statements),
            );
        }
        if !(1..=100).contains(&self.wait_samples) {
            return bad(
                "wait_samples",
                format!("{} is outside 1 ..= 100", self.wait_samples),
            );
        }
        if self.wait_sample_spacing_ms > 10_000 {
            return bad(
                "wait_sample_spacing_ms",
                format!("{} is more than 10000", self.wait_sample_spacing_ms),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(TelemetryConfig::default().validate().is_ok());
        let err = TelemetryConfig {
            wait_samples: 0,
            ..TelemetryConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("wait_samples"), "{err}");
    }
}
