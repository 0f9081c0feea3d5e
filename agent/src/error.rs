//! The one error kind the binary maps to exit code 2: input the user must fix.

use thiserror::Error;

/// Bad input (an argument, a URL, a value): exit code 2, and nothing was changed.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct BadInput(pub String);
