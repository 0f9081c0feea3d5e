//! Output transforms applied to the objective before the GP is fitted.
//!
//! A GP assumes the outputs are jointly Gaussian. Objectives that span orders of magnitude
//! (Rosenbrock, or a latency that explodes under a bad configuration) are far from that:
//! a few huge values set the output scale, the rest look flat, and the fitted noise and
//! length scales explain little of what matters near the optimum. HEBO (Cowen-Rivers et al.,
//! JAIR 2022) found a power transform of the outputs to be among the changes that helped its
//! GP most across the Bayesmark suite. We use the same family: the Yeo–Johnson transform of
//! the standardized outputs, with its exponent λ chosen by maximum likelihood so that the
//! transformed values look as Gaussian as the family allows. The transform is monotone, so
//! the ranking of observations (and so the incumbent) is unchanged, and with λ = 1 it is the
//! identity: data that already look Gaussian are left nearly as they were.
//!
//! Not for: the random forest, whose splits depend only on the order of the outputs.

use serde::{Deserialize, Serialize};

/// Which transform [`crate::BayesOpt`] applies to observed values before fitting a GP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputTransform {
    /// Standardized values as they are.
    None,
    /// Yeo–Johnson power transform of the standardized values, λ by maximum likelihood.
    YeoJohnson,
}

impl OutputTransform {
    /// Transform `y`; returns the values to fit and, for Yeo–Johnson, the λ chosen.
    pub fn apply(self, y: &[f64]) -> (Vec<f64>, Option<f64>) {
        match self {
            OutputTransform::None => (y.to_vec(), None),
            OutputTransform::YeoJohnson => {
                let z = standardized(y);
                let lambda = yeo_johnson_lambda(&z);
                (
                    z.iter().map(|&v| yeo_johnson(v, lambda)).collect(),
                    Some(lambda),
                )
            }
        }
    }
}

/// Range searched for λ; λ < 1 compresses a long upper tail, λ > 1 a long lower one. The
/// ends are wider than sklearn's starting bracket but finite so that a degenerate sample
/// (a single outlier) cannot push λ to an extreme that flattens everything else.
const LAMBDA_RANGE: (f64, f64) = (-2.0, 4.0);

/// Zero mean, unit variance (population); constant data become all zeros.
fn standardized(y: &[f64]) -> Vec<f64> {
    if y.is_empty() {
        return Vec::new();
    }
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
    y.iter().map(|v| (v - mean) / std).collect()
}

/// The Yeo–Johnson transform of one value (Yeo and Johnson, Biometrika 2000).
pub fn yeo_johnson(y: f64, lambda: f64) -> f64 {
    const EPS: f64 = 1e-10;
    if y >= 0.0 {
        if lambda.abs() < EPS {
            y.ln_1p()
        } else {
            // (1 + y)^λ − 1 over λ, computed without cancellation for small λ·ln(1 + y).
            (lambda * y.ln_1p()).exp_m1() / lambda
        }
    } else if (lambda - 2.0).abs() < EPS {
        -(-y).ln_1p()
    } else {
        -((2.0 - lambda) * (-y).ln_1p()).exp_m1() / (2.0 - lambda)
    }
}

/// Profile log-likelihood of λ under a Gaussian model of the transformed values (up to a
/// constant): −n/2 · ln σ²(λ) + (λ − 1) Σ sign(y) ln(1 + |y|), the second term being the
/// log Jacobian of the transform.
fn log_likelihood(y: &[f64], lambda: f64) -> f64 {
    let n = y.len() as f64;
    let t: Vec<f64> = y.iter().map(|&v| yeo_johnson(v, lambda)).collect();
    let mean = t.iter().sum::<f64>() / n;
    let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    if !(var.is_finite() && var > 0.0) {
        return f64::NEG_INFINITY;
    }
    let jacobian: f64 = y.iter().map(|&v| v.signum() * v.abs().ln_1p()).sum();
    -0.5 * n * var.ln() + (lambda - 1.0) * jacobian
}

/// Maximum-likelihood λ in [`LAMBDA_RANGE`]: a coarse grid (the likelihood can have a
/// shoulder, so a bracket search alone could stop on it), then golden-section refinement
/// around the best grid point. Fewer than three distinct values carry no information about
/// shape: λ = 1 (identity).
pub fn yeo_johnson_lambda(y: &[f64]) -> f64 {
    let distinct = {
        let mut v: Vec<f64> = y.iter().copied().filter(|v| v.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
        v.len()
    };
    if distinct < 3 || y.iter().any(|v| !v.is_finite()) {
        return 1.0;
    }
    let (lo, hi) = LAMBDA_RANGE;
    let steps = 24;
    let h = (hi - lo) / steps as f64;
    let mut best = (f64::NEG_INFINITY, 1.0);
    for i in 0..=steps {
        let l = lo + h * i as f64;
        let ll = log_likelihood(y, l);
        if ll > best.0 {
            best = (ll, l);
        }
    }
    if !best.0.is_finite() {
        return 1.0;
    }
    let (mut a, mut b) = ((best.1 - h).max(lo), (best.1 + h).min(hi));
    let g = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (log_likelihood(y, c), log_likelihood(y, d));
    for _ in 0..40 {
        if fc > fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = log_likelihood(y, c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = log_likelihood(y, d);
        }
    }
    let refined = 0.5 * (a + b);
    if log_likelihood(y, refined) >= best.0 {
        refined
    } else {
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn normals(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let u1: f64 = rng.gen::<f64>().max(1e-12);
                let u2: f64 = rng.gen();
                (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect()
    }

    fn skewness(y: &[f64]) -> f64 {
        let z = standardized(y);
        z.iter().map(|v| v.powi(3)).sum::<f64>() / z.len() as f64
    }

    #[test]
    fn known_values_and_identity_at_lambda_one() {
        for y in [-3.0, -0.5, 0.0, 0.7, 10.0] {
            assert!((yeo_johnson(y, 1.0) - y).abs() < 1e-12, "λ = 1 at {y}");
        }
        assert!((yeo_johnson(3.0, 0.0) - 4f64.ln()).abs() < 1e-12);
        assert!((yeo_johnson(-3.0, 2.0) + 4f64.ln()).abs() < 1e-12);
        // (1 + 3)^0.5 − 1 over 0.5 = 2; −((1 + 3)^(2 − 3) − 1)/(2 − 3) = −0.75.
        assert!((yeo_johnson(3.0, 0.5) - 2.0).abs() < 1e-12);
        assert!((yeo_johnson(-3.0, 3.0) + 0.75).abs() < 1e-12);
    }

    #[test]
    fn transform_is_strictly_increasing_for_every_lambda() {
        for lambda in [-2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.5] {
            let mut prev = f64::NEG_INFINITY;
            for i in 0..200 {
                let y = -10.0 + 0.1 * i as f64;
                let t = yeo_johnson(y, lambda);
                assert!(t > prev, "λ = {lambda}, y = {y}: {t} ≤ {prev}");
                prev = t;
            }
        }
    }

    #[test]
    fn lambda_is_near_one_for_gaussian_data() {
        let y = normals(400, 1);
        let l = yeo_johnson_lambda(&standardized(&y));
        assert!((l - 1.0).abs() < 0.25, "λ = {l}");
    }

    #[test]
    fn lambda_compresses_the_long_tail_on_either_side() {
        // Log-normal: long upper tail, λ < 1; its negation (a maximized cost) has a long
        // lower tail, λ > 1. Either way most of the skew goes away (not all: a power of
        // the standardized values cannot undo a logarithm exactly).
        let up: Vec<f64> = normals(400, 2).iter().map(|z| (1.5 * z).exp()).collect();
        let down: Vec<f64> = up.iter().map(|v| -v).collect();
        for (y, below_one) in [(&up, true), (&down, false)] {
            let (t, lambda) = OutputTransform::YeoJohnson.apply(y);
            let lambda = lambda.expect("Yeo–Johnson reports λ");
            assert_eq!(lambda < 1.0, below_one, "λ = {lambda}");
            let (before, after) = (skewness(y).abs(), skewness(&t).abs());
            assert!(
                before > 3.0 && after < 0.2 * before,
                "skew {before} → {after}"
            );
        }
    }

    #[test]
    fn ranking_is_kept_and_degenerate_data_are_left_alone() {
        let y: Vec<f64> = normals(50, 3).iter().map(|z| (2.0 * z).exp()).collect();
        let (t, _) = OutputTransform::YeoJohnson.apply(&y);
        for i in 0..y.len() {
            for j in 0..y.len() {
                assert_eq!(y[i] < y[j], t[i] < t[j]);
            }
        }
        assert_eq!(yeo_johnson_lambda(&[1.0, 1.0, 1.0]), 1.0);
        assert_eq!(yeo_johnson_lambda(&[0.0, 2.0]), 1.0);
        let (t, l) = OutputTransform::None.apply(&y);
        assert_eq!((t, l), (y, None));
    }
}
