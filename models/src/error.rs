//! Errors of the models crate: bad settings or inputs, named with the value that was wrong.

use thiserror::Error;

/// What went wrong in a model or optimizer call.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A search space or a setting that cannot work (checked once, at construction).
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// A point whose length does not match the space.
    #[error("point has {got} coordinates, the space has {expected}")]
    Dimension { expected: usize, got: usize },
    /// Not enough usable data to fit a model.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// A matrix that stayed indefinite even with added jitter.
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
