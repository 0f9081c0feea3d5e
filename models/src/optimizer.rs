//! The ask/tell interface every optimizer implements.

use serde::{Deserialize, Serialize};

/// What a trial gave: a value to maximize, or a failure (crash, failed start, rejected by a
/// guardrail, bogus measurement). A failure never counts as good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Value(f64),
    Failed(String),
}

/// A point and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub point: Vec<f64>,
    pub outcome: Outcome,
}

/// Suggest points of the unit hypercube `[0, 1]^d`, learn from outcomes. Maximizes.
pub trait Optimizer {
    fn dims(&self) -> usize;
    fn suggest(&mut self) -> Vec<f64>;
    fn observe(&mut self, point: Vec<f64>, outcome: Outcome);
    fn observations(&self) -> &[Observation];

    /// Go on after `n` suggestions that an earlier run with the same seed made and whose
    /// outcomes were observed again here: a resumed session then suggests what the
    /// interrupted one would have next, instead of starting its sequence (its initial design,
    /// its random draws) over and suggesting the points it already measured.
    fn skip(&mut self, n: u64);

    /// `q` points to run in parallel before any of them is observed. Optimizers that track
    /// pending points (like [`crate::BayesOpt`]) spread them out; the default just asks `q`
    /// times.
    fn suggest_batch(&mut self, q: usize) -> Vec<Vec<f64>> {
        (0..q).map(|_| self.suggest()).collect()
    }

    /// The best successful observation so far.
    fn best(&self) -> Option<(&[f64], f64)> {
        self.observations()
            .iter()
            .filter_map(|o| match o.outcome {
                Outcome::Value(v) if v.is_finite() => Some((o.point.as_slice(), v)),
                _ => None,
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}
