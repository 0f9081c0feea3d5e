//! Errors of the knobs crate: each says what was wrong, with the value, and what is allowed.

use thiserror::Error;

pub type Result<T, E = KnobError> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum KnobError {
    #[error("unknown engine '{0}'; use postgres, mysql or mariadb")]
    UnknownEngine(String),
    #[error("unknown knob '{name}' for {engine}{}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownKnob {
        engine: String,
        name: String,
        suggestion: Option<String>,
    },
    #[error("{name} is not settable on this {engine} version (it exists in {versions})")]
    NotInVersion {
        engine: String,
        name: String,
        versions: String,
    },
    #[error("{knob} = '{value}': {reason}")]
    BadValue {
        knob: String,
        value: String,
        reason: String,
    },
    #[error("{knob} = {value} is out of range; allowed {min} .. {max}")]
    OutOfRange {
        knob: String,
        value: String,
        min: String,
        max: String,
    },
    #[error("knob catalog: {0}")]
    Catalog(String),
    #[error("search space: {0}")]
    Space(String),
    #[error(
        "memory guardrail: worst-case memory {estimate} exceeds the budget {budget} ({detail})"
    )]
    MemoryBudget {
        estimate: String,
        budget: String,
        detail: String,
    },
}

impl KnobError {
    /// True when the error is about user input (a name or a value), not about internal state.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, KnobError::Space(_) | KnobError::Catalog(_))
    }
}
