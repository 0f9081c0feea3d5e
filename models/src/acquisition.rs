//! Acquisition functions for maximization: expected improvement computed in log space, so it
//! stays finite and comparable far below the incumbent where plain EI underflows to 0.

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

/// `ln EI(μ, σ; best)` for maximization: `EI = σ · h((μ − best) / σ)` with
/// `h(z) = φ(z) + z Φ(z)`. Returns `-∞` when `σ = 0` and `μ ≤ best` (no improvement is
/// possible where the model is certain).
pub fn log_expected_improvement(mean: f64, sd: f64, best: f64) -> f64 {
    if sd.is_nan() || sd <= 0.0 || !mean.is_finite() {
        return if mean > best {
            (mean - best).ln()
        } else {
            f64::NEG_INFINITY
        };
    }
    let z = (mean - best) / sd;
    sd.ln() + log_h(z)
}

/// Plain expected improvement (may underflow to 0 far below the incumbent).
pub fn expected_improvement(mean: f64, sd: f64, best: f64) -> f64 {
    log_expected_improvement(mean, sd, best).exp()
}

/// Upper confidence bound `μ + β σ`.
pub fn upper_confidence_bound(mean: f64, sd: f64, beta: f64) -> f64 {
    mean + beta * sd
}

fn log_h(z: f64) -> f64 {
    if z > -10.0 {
        let h = normal_pdf(z) + z * normal_cdf(z);
        h.max(f64::MIN_POSITIVE).ln()
    } else {
        // Φ(z) = φ(z)/|z| · (1 − 1/z² + 3/z⁴ − 15/z⁶ …) gives
        // h(z) = φ(z)/z² · (1 − 3/z² + 15/z⁴ − 105/z⁶ + 945/z⁸ …); below z = −10 the
        // truncation error is under 1e-6 and the direct form would lose digits to cancellation..
        let z2 = z * z;
        let z4 = z2 * z2;
        let series = 1.0 - 3.0 / z2 + 15.0 / z4 - 105.0 / (z4 * z2) + 945.0 / (z4 * z4);
        -0.5 * z2 - LN_SQRT_2PI - z2.ln() + series.ln()
    }
}

pub(crate) fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z - LN_SQRT_2PI).exp()
}

pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function, |relative error| < 1.2e-7 (Chebyshev fit of Numerical
/// Recipes, 3rd ed., `erfccheb`'s simpler cousin).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        // EI at μ = best, σ = 1 is φ(0).
        assert!((expected_improvement(0.0, 1.0, 0.0) - 0.398_942_28).abs() < 1e-6);
    }

    #[test]
    fn zero_where_certain_and_below_incumbent() {
        assert_eq!(expected_improvement(1.0, 0.0, 2.0), 0.0);
        assert_eq!(log_expected_improvement(2.0, 0.0, 2.0), f64::NEG_INFINITY);
        // Certain and above: the improvement itself.
        assert!((expected_improvement(3.0, 0.0, 2.0) - 1.0).abs() < 1e-12);
        // Nearly certain far below: tiny but finite in log space, and ordered.
        let a = log_expected_improvement(-10.0, 0.1, 0.0);
        let b = log_expected_improvement(-5.0, 0.1, 0.0);
        assert!(a.is_finite() && b.is_finite() && a < b);
        assert!(expected_improvement(-10.0, 0.1, 0.0) < 1e-100);
    }

    #[test]
    fn log_form_is_continuous_at_the_switch() {
        let a = log_h(-10.0 + 1e-9);
        let b = log_h(-10.0 - 1e-9);
        assert!((a - b).abs() < 1e-4, "{a} {b}");
        // Monotone in z.
        let mut last = f64::NEG_INFINITY;
        for i in 0..200 {
            let v = log_h(-30.0 + i as f64 * 0.2);
            assert!(v > last);
            last = v;
        }
    }
}
