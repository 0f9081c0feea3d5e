//! Statistics for comparing measurements: summaries with spread and a bootstrap confidence
//! interval for a ratio of means.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Mean and spread of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub stdev: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let n = samples.len();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Summary {
            n,
            mean,
            stdev: var.sqrt(),
            min,
            max,
        })
    }

    /// Coefficient of variation (stdev / mean).
    pub fn cv(&self) -> f64 {
        if self.mean.abs() > 0.0 {
            self.stdev / self.mean.abs()
        } else {
            0.0
        }
    }
}

/// A ratio of means with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioEstimate {
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    pub confidence: f64,
}

/// Percentile bootstrap CI of mean(candidate) / mean(baseline), resampling each sample
/// independently with replacement. Deterministic under `seed`.
pub fn bootstrap_ratio(
    baseline: &[f64],
    candidate: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<RatioEstimate> {
    let base = Summary::of(baseline)?;
    let cand = Summary::of(candidate)?;
    if base.mean <= 0.0 || !(0.0..1.0).contains(&confidence) || resamples == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mean_of_resample = |xs: &[f64]| {
        (0..xs.len())
            .map(|_| xs[rng.gen_range(0..xs.len())])
            .sum::<f64>()
            / xs.len() as f64
    };
    let mut ratios: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let b = mean_of_resample(baseline);
            let c = mean_of_resample(candidate);
            (b > 0.0).then_some(c / b)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at =
        |q: f64| ratios[((q * (ratios.len() - 1) as f64).round() as usize).min(ratios.len() - 1)];
    Some(RatioEstimate {
        ratio: cand.mean / base.mean,
        low: at(tail),
        high: at(1.0 - tail),
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_has_known_answers() {
        let s = Summary::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.mean, 5.0);
        assert!((s.stdev - 2.138).abs() < 1e-3);
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn bootstrap_separates_a_real_gain_from_noise() {
        let noise = |i: usize| ((i * 7919) % 13) as f64 - 6.0;
        let base: Vec<f64> = (0..30).map(|i| 100.0 + noise(i)).collect();
        let better: Vec<f64> = (0..30).map(|i| 120.0 + noise(i + 3)).collect();
        let same: Vec<f64> = (0..30).map(|i| 100.0 + noise(i + 5)).collect();
        let gain = bootstrap_ratio(&base, &better, 0.95, 2000, 1).unwrap();
        assert!(gain.low > 1.1 && gain.high < 1.3, "{gain:?}");
        let none = bootstrap_ratio(&base, &same, 0.95, 2000, 1).unwrap();
        assert!(none.low < 1.0 && none.high > 1.0, "{none:?}");
        assert!(bootstrap_ratio(&[0.0, 0.0], &[1.0], 0.95, 100, 1).is_none());
    }
}
