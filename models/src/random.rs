//! Uniform random search: the baseline every smarter optimizer must beat.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Observation, Optimizer, Outcome};

/// Independent uniform points, deterministic under a seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomSearch {
    dims: usize,
    seed: u64,
    drawn: u64,
    observations: Vec<Observation>,
}

impl RandomSearch {
    pub fn new(dims: usize, seed: u64) -> Self {
        RandomSearch {
            dims,
            seed,
            drawn: 0,
            observations: Vec::new(),
        }
    }
}

impl Optimizer for RandomSearch {
    fn dims(&self) -> usize {
        self.dims
    }

    fn suggest(&mut self) -> Vec<f64> {
        // One RNG per draw, derived from (seed, draw number): the state stays two integers, so
        // a resumed session continues the same sequence.
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ self.drawn.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.drawn += 1;
        (0..self.dims).map(|_| rng.gen::<f64>()).collect()
    }

    fn skip(&mut self, n: u64) {
        self.drawn += n;
    }

    fn observe(&mut self, point: Vec<f64>, outcome: Outcome) {
        self.observations.push(Observation { point, outcome });
    }

    fn observations(&self) -> &[Observation] {
        &self.observations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_in_bounds_and_failures_never_best() {
        let mut a = RandomSearch::new(4, 9);
        let mut b = RandomSearch::new(4, 9);
        for _ in 0..100 {
            let p = a.suggest();
            assert_eq!(p, b.suggest());
            assert!(p.iter().all(|x| (0.0..1.0).contains(x)));
        }
        a.observe(vec![0.1; 4], Outcome::Value(10.0));
        a.observe(vec![0.2; 4], Outcome::Failed("server did not start".into()));
        a.observe(vec![0.3; 4], Outcome::Value(f64::NAN));
        assert_eq!(a.best(), Some((&[0.1; 4][..], 10.0)));
        let resumed: RandomSearch =
            serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        let mut resumed = resumed;
        assert_eq!(resumed.suggest(), b.suggest());
    }
}
