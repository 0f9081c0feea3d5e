//! Feasibility: the probability that a trial at a point succeeds (the server starts, the
//! benchmark runs, the guardrails pass), learnt from past successes and failures.
//!
//! A kernel classifier (Nadaraya–Watson with a Beta prior): the estimate at `x` is the
//! kernel-weighted share of successes nearby, shrunk towards the overall success rate where
//! there is little data. It needs no fitting, handles categorical dimensions through the same
//! distance as the GP, and is well-behaved with the handful of failures a session sees.
//! The acquisition is multiplied by it, so regions where trials failed are avoided.

use crate::space::{DimKind, SearchSpace};

/// Success probability model.
#[derive(Debug, Clone)]
pub struct Feasibility {
    kinds: Vec<DimKind>,
    points: Vec<Vec<f64>>,
    ok: Vec<bool>,
    prior: f64,
    inv_bandwidth: f64,
}

/// Weight of the prior, in "pseudo-observations".
const PRIOR_WEIGHT: f64 = 0.5;

impl Feasibility {
    /// `outcomes` pairs a point with whether its trial succeeded.
    pub fn new(space: &SearchSpace, points: Vec<Vec<f64>>, ok: Vec<bool>) -> Feasibility {
        let n = ok.len() as f64;
        let successes = ok.iter().filter(|o| **o).count() as f64;
        // Bandwidth grows with the dimension like typical distances between random points.
        let bandwidth = 0.12 * (space.dims() as f64).sqrt();
        Feasibility {
            kinds: space.kinds().to_vec(),
            points,
            ok,
            prior: (successes + 1.0) / (n + 2.0),
            inv_bandwidth: 1.0 / bandwidth,
        }
    }

    /// Whether any trial failed (if none did, the model is the constant 1 and is skipped).
    pub fn has_failures(&self) -> bool {
        self.ok.iter().any(|o| !o)
    }

    /// Probability of success at `p`, in (0, 1).
    pub fn probability(&self, p: &[f64]) -> f64 {
        if !self.has_failures() {
            return 1.0;
        }
        let mut w_ok = 0.0;
        let mut w = 0.0;
        for (q, &ok) in self.points.iter().zip(&self.ok) {
            let d2: f64 = self
                .kinds
                .iter()
                .zip(p.iter().zip(q))
                .map(|(k, (&a, &b))| {
                    let z = k.diff(a, b) * self.inv_bandwidth;
                    z * z
                })
                .sum();
            let k = (-0.5 * d2).exp();
            w += k;
            if ok {
                w_ok += k;
            }
        }
        ((w_ok + PRIOR_WEIGHT * self.prior) / (w + PRIOR_WEIGHT)).clamp(1e-6, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_near_failures_high_near_successes() {
        let space = SearchSpace::continuous(2);
        let mut pts = Vec::new();
        let mut ok = Vec::new();
        for i in 0..10 {
            let t = i as f64 / 10.0;
            pts.push(vec![0.9 + t * 0.1, t]);
            ok.push(false);
            pts.push(vec![0.1 + t * 0.3, t]);
            ok.push(true);
        }
        let f = Feasibility::new(&space, pts, ok);
        assert!(f.probability(&[0.95, 0.5]) < 0.1);
        assert!(f.probability(&[0.25, 0.5]) > 0.9);
    }
}
