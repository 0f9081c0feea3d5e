//! Optimizers and models for tuning, with no database I/O.
//!
//! The caller owns the loop (ask/tell): [`Optimizer::suggest`] a point of the unit hypercube,
//! measure it, [`Optimizer::observe`] the outcome — a value to maximize, or a failure. The
//! `knobs` crate maps points to configurations; the agent applies and measures them.
//!
//! ```
//! use models::{BayesOpt, BoSettings, DimKind, Optimizer, Outcome, SearchSpace};
//! // A real knob, an integer knob with 8 levels, a boolean.
//! let space = SearchSpace::new(vec![
//!     DimKind::Continuous,
//!     DimKind::Integer { levels: 8 },
//!     DimKind::Categorical { choices: 2 },
//! ])?;
//! let mut opt = BayesOpt::new(space, BoSettings::default(), 42)?;
//! for _ in 0..15 {
//!     let p = opt.suggest();
//!     let throughput = 1000.0 - 300.0 * (p[0] - 0.6).powi(2) + 50.0 * p[2];
//!     opt.observe(p, Outcome::Value(throughput));
//! }
//! opt.observe(vec![0.9, 1.0, 0.75], Outcome::Failed("server did not start".into()));
//! let (best, value) = opt.best().expect("successful trials");
//! assert!(value > 990.0 && best.len() == 3);
//! // The whole state is serde: save it, resume later with the same suggestions.
//! let saved = serde_json::to_string(&opt).expect("serializable");
//! let _resumed: BayesOpt = serde_json::from_str(&saved).expect("deserializable");
//! # Ok::<(), models::ModelError>(())
//! ```
//!
//! What is where:
//! - [`space`]: dimension kinds (continuous / integer levels / categorical choices), snapping.
//! - [`design`]: Latin hypercube initial design (known-good points go first).
//! - [`gp`]: Gaussian process, Matérn 5/2 ARD, MAP hyperparameters. [`forest`]: SMAC-like
//!   random forest. [`acquisition`]: log expected improvement. [`feasibility`]: probability
//!   that a trial succeeds.
//! - [`BayesOpt`]: the optimizer tying them together (batches, failures, resume);
//!   [`SurrogateKind::Auto`] picks GP or forest. [`RandomSearch`]: the baseline.
//! - [`importance`]: knob ranking (Lasso path with second-order terms, surrogate-based).
//! - [`index`]: index-set selection (Extend, greedy, exhaustive) over a what-if oracle.
//! - [`metrics`]: metric pruning (PCA + k-means) and workload mapping (decile binning).
//! - [`gate`]: the safe-apply gate's decision over interleaved rounds (t interval of log ratios,
//!   effect-size floor, p99 and per-query guards). [`watch`]: keep or revert a change that is
//!   live, from telemetry intervals before and after it. [`stats`]: summaries and bootstrap ratios.
//! - [`warp`]: output transforms (Yeo–Johnson) applied before the GP is fitted.
//!
//! Why our own GP rather than `egobox-gp`: the models here are small (≤ a few hundred
//! observations, ≤ ~30 dimensions), where a dense Cholesky on `Vec<f64>` is fast enough
//! (see the latency table in `models/RESULTS.md`), and we need things egobox-gp does not
//! give directly: a categorical-aware distance in the kernel, priors on length scales and
//! noise (which decided our benchmark results), warm-started refits and a state small enough
//! to serialize. egobox-gp would also bring ndarray, linfa, argmin and their dependency tree
//! into every build of the agent. The crate therefore depends only on serde, thiserror,
//! rand and statrs (its Student-t quantiles, for the gate). The same reasoning kept linfa-elasticnet out: the Lasso path is a 60-line
//! coordinate descent.

pub mod acquisition;
mod bo;
pub mod design;
mod error;
pub mod feasibility;
pub mod forest;
pub mod gate;
pub mod gp;
pub mod importance;
pub mod index;
mod linalg;
pub mod metrics;
mod optimizer;
mod random;
pub mod space;
pub mod stats;
pub mod warp;
pub mod watch;

pub use bo::{
    Acquisition, BatchStrategy, BayesOpt, BoSettings, SurrogateKind, AUTO_GP_MAX_DIMS,
    AUTO_GP_MAX_OBSERVATIONS, COARSE_SEPARATION,
};
pub use error::{ModelError, Result};
pub use optimizer::{Observation, Optimizer, Outcome};
pub use random::RandomSearch;
pub use space::{DimKind, SearchSpace};
pub use warp::OutputTransform;
