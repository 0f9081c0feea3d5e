//! Optimizers and statistics for tuning, with no database I/O.
//!
//! The caller owns the loop (ask/tell): [`Optimizer::suggest`] a point of the unit hypercube,
//! measure it, [`Optimizer::observe`] the outcome. The `knobs` crate maps points to
//! configurations; the agent applies and measures them.
//!
//! ```
//! use models::{Optimizer, Outcome, RandomSearch};
//! let mut search = RandomSearch::new(3, 42);
//! let point = search.suggest();
//! assert_eq!(point.len(), 3);
//! search.observe(point, Outcome::Value(1200.0));
//! assert_eq!(search.best().map(|(_, v)| v), Some(1200.0));
//! ```

pub mod acquisition;
mod bo;
pub mod design;
mod error;
pub mod feasibility;
pub mod forest;
pub mod gp;
pub mod importance;
pub mod index;
mod linalg;
mod optimizer;
mod random;
pub mod space;
pub mod stats;

pub use bo::{
    BatchStrategy, BayesOpt, BoSettings, SurrogateKind, AUTO_GP_MAX_DIMS, AUTO_GP_MAX_OBSERVATIONS,
};
pub use error::{ModelError, Result};
pub use optimizer::{Observation, Optimizer, Outcome};
pub use random::RandomSearch;
pub use space::{DimKind, SearchSpace};
