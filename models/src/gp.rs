//! Gaussian-process regression: the surrogate for few, mostly continuous dimensions.
//!
//! Matérn 5/2 kernel with one length scale per dimension (ARD), a signal variance and a noise
//! variance. Outputs are standardized before fitting. Hyperparameters maximize the log
//! marginal likelihood plus log-normal priors on the length scales and the noise (MAP; see
//! [`GpSettings`]), by Adam on log-parameters with analytic gradients, from several starts
//! (the previous fit, fixed and random ones). Jitter rescues nearly singular kernel matrices.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::linalg::Cholesky;
use crate::space::{DimKind, SearchSpace};

const SQRT5: f64 = 2.236_067_977_499_79;
const LOG_LS: (f64, f64) = (-4.6, 4.6); // length scales in [0.01, 100]
const LOG_SF2: (f64, f64) = (-3.0, 3.0);
const LOG_SN2: (f64, f64) = (-23.1, 0.0); // noise variance in [1e-10, 1] of the output variance

/// Fitted kernel hyperparameters, in log space (kept in the optimizer state so the next fit
/// starts from them and a resumed session behaves the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpHyper {
    pub log_length_scales: Vec<f64>,
    pub log_signal_var: f64,
    pub log_noise_var: f64,
}

impl GpHyper {
    fn to_vec(&self) -> Vec<f64> {
        let mut v = self.log_length_scales.clone();
        v.push(self.log_signal_var);
        v.push(self.log_noise_var);
        v
    }

    fn from_vec(v: &[f64]) -> GpHyper {
        let d = v.len() - 2;
        GpHyper {
            log_length_scales: v[..d].to_vec(),
            log_signal_var: v[d],
            log_noise_var: v[d + 1],
        }
    }

    fn clamp(v: &mut [f64]) {
        let d = v.len() - 2;
        for x in v[..d].iter_mut() {
            *x = x.clamp(LOG_LS.0, LOG_LS.1);
        }
        v[d] = v[d].clamp(LOG_SF2.0, LOG_SF2.1);
        v[d + 1] = v[d + 1].clamp(LOG_SN2.0, LOG_SN2.1);
    }

    pub fn length_scales(&self) -> Vec<f64> {
        self.log_length_scales.iter().map(|x| x.exp()).collect()
    }
}

/// How hard to fit hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpSettings {
    /// Starts of the likelihood optimization besides the warm start.
    pub restarts: usize,
    /// Adam steps per start.
    pub iterations: usize,
    /// Lower bound on the noise variance (fraction of output variance); raise it for noisy
    /// measurements.
    pub min_noise: f64,
    /// Normal prior (mean, sd) on the log noise variance (of standardized outputs); `None`
    /// for a flat prior. Without it a GP fitted to a few points of a peaked function
    /// explains the peak as noise and then keeps re-sampling the same region. The default,
    /// (−6, 3), centres on a noise standard deviation of 5% of the outputs' (a benchmark's
    /// run-to-run noise) and is wide, so that dozens of noiseless measurements can pull the
    /// noise towards `min_noise` and the GP interpolates them. The previous (−4, 1), BoTorch's
    /// prior, kept the fitted noise near e⁻⁷ and blurred the optimum (`models/RESULTS.md`).
    pub log_noise_prior: Option<(f64, f64)>,
    /// Normal prior (mean, sd) on each log length scale (of unit-cube inputs); `None` for
    /// the dimension-scaled prior of Hvarfner et al. 2024 (mean √2 + ln(d)/2, sd √3). The
    /// default, (ln 0.5, 0.75), is close to the Gamma(3, 6) prior BoTorch used for years;
    /// see `models/RESULTS.md` for how the two compare.
    pub log_length_scale_prior: Option<(f64, f64)>,
    /// Added to the prior mean of a categorical dimension's log length scale. A categorical
    /// distance is 0 or 1, where two random continuous coordinates differ by ~0.3, so under
    /// the shared prior a category switch looks like a jump across the space: the GP carried
    /// nothing it learned over a switch and, with many dimensions, never left the category it
    /// started in. The default, 2, starts two choices strongly correlated (≈0.87); the data
    /// shorten the length scale where a category matters (`models/RESULTS.md`). Sessions saved
    /// before the setting existed resume with 0.
    #[serde(default)]
    pub categorical_length_scale_offset: f64,
}

impl Default for GpSettings {
    fn default() -> Self {
        GpSettings {
            restarts: 3,
            iterations: 60,
            min_noise: 1e-10,
            log_noise_prior: Some((-6.0, 3.0)),
            log_length_scale_prior: Some((-0.693, 0.75)),
            categorical_length_scale_offset: 2.0,
        }
    }
}

/// A fitted GP.
#[derive(Debug, Clone)]
pub struct Gp {
    kinds: Vec<DimKind>,
    x: Vec<Vec<f64>>,
    y_mean: f64,
    y_std: f64,
    hyper: GpHyper,
    inv_ls: Vec<f64>,
    signal: f64,
    chol: Cholesky,
    alpha: Vec<f64>,
}

fn prior_loc(d: usize) -> f64 {
    std::f64::consts::SQRT_2 + 0.5 * (d as f64).ln()
}
const PRIOR_SCALE: f64 = 1.732_050_807_568_877; // √3

impl Gp {
    /// Fit a GP to `(x, y)`, optimizing hyperparameters (warm-started from `warm` if given).
    pub fn fit<R: Rng>(
        space: &SearchSpace,
        x: &[Vec<f64>],
        y: &[f64],
        settings: &GpSettings,
        warm: Option<&GpHyper>,
        rng: &mut R,
    ) -> Result<Gp> {
        let (ys, mean, std) = standardize(x, y)?;
        let d = space.dims();
        let kinds = space.kinds();
        let min_noise = settings.min_noise.clamp(1e-10, 1.0).ln();
        let ls_prior = settings
            .log_length_scale_prior
            .unwrap_or((prior_loc(d), PRIOR_SCALE));
        let mut starts: Vec<Vec<f64>> = Vec::new();
        let fixed = |noise: f64| {
            let mut s = vec![ls_prior.0 - 1.0; d];
            s.extend([0.0, noise.max(min_noise)]);
            s
        };
        let mut iterations = settings.iterations;
        let mut random_starts = settings.restarts.saturating_sub(2);
        if let Some(w) = warm.filter(|w| w.log_length_scales.len() == d) {
            // Refitting after one more observation: the previous optimum is close, so start
            // there plus one fixed start, with half the steps (a third of a cold fit's cost).
            starts.push(w.to_vec());
            starts.push(fixed(-4.0));
            iterations = iterations.div_ceil(2);
            random_starts = 0;
        } else {
            // Two fixed starts, nearly noiseless and noisy (Adam moves log-noise by at most
            // ~lr per step, so one start could not reach both regimes), then random ones.
            starts.push(fixed(-11.0));
            starts.push(fixed(-4.0));
        }
        for _ in 0..random_starts {
            let mut s: Vec<f64> = (0..d)
                .map(|_| ls_prior.0 - 1.5 + rng.gen::<f64>() * 2.5)
                .collect();
            s.push(rng.gen_range(-1.0..1.0));
            s.push(rng.gen_range(min_noise.max(-9.0)..-1.0f64.max(min_noise)));
            starts.push(s);
        }
        let prior_locs: Vec<f64> = kinds
            .iter()
            .map(|k| match k {
                DimKind::Categorical { .. } => {
                    ls_prior.0 + settings.categorical_length_scale_offset
                }
                _ => ls_prior.0,
            })
            .collect();
        let ls_prior = (&prior_locs[..], ls_prior.1);
        let pairs = Pairs::new(kinds, x);
        let mut best: Option<(f64, Vec<f64>)> = None;
        for s in starts {
            let theta = adam(
                &pairs,
                &ys,
                s,
                iterations,
                min_noise,
                (settings.log_noise_prior, ls_prior),
            );
            if let Ok((obj, _)) = objective(
                &pairs,
                &ys,
                &theta,
                settings.log_noise_prior,
                ls_prior,
                false,
            ) {
                if best.as_ref().is_none_or(|(b, _)| obj > *b) {
                    best = Some((obj, theta));
                }
            }
        }
        let (_, theta) = best.ok_or_else(|| {
            ModelError::Numerical("no hyperparameter start gave a finite likelihood".into())
        })?;
        Gp::build(space, x, ys, mean, std, GpHyper::from_vec(&theta))
    }

    /// Fit with given hyperparameters (no optimization): used for fantasized batch points.
    pub fn with_hyper(
        space: &SearchSpace,
        x: &[Vec<f64>],
        y: &[f64],
        hyper: &GpHyper,
    ) -> Result<Gp> {
        let (ys, mean, std) = standardize(x, y)?;
        Gp::build(space, x, ys, mean, std, hyper.clone())
    }

    fn build(
        space: &SearchSpace,
        x: &[Vec<f64>],
        ys: Vec<f64>,
        y_mean: f64,
        y_std: f64,
        hyper: GpHyper,
    ) -> Result<Gp> {
        if hyper.log_length_scales.len() != space.dims() {
            return Err(ModelError::Dimension {
                expected: space.dims(),
                got: hyper.log_length_scales.len(),
            });
        }
        let theta = hyper.to_vec();
        let kinds = space.kinds();
        let k = kernel_matrix(kinds, x, &theta);
        let n = x.len();
        let chol = Cholesky::new_with_jitter(&k, n)?;
        let mut alpha = ys;
        chol.solve(&mut alpha);
        Ok(Gp {
            kinds: kinds.to_vec(),
            x: x.to_vec(),
            y_mean,
            y_std,
            inv_ls: hyper.log_length_scales.iter().map(|l| (-l).exp()).collect(),
            signal: hyper.log_signal_var.exp(),
            hyper,
            chol,
            alpha,
        })
    }

    pub fn hyper(&self) -> &GpHyper {
        &self.hyper
    }

    /// Posterior mean and standard deviation of the latent function, in standardized units
    /// (what the acquisition compares).
    pub fn predict_standardized(&self, p: &[f64]) -> (f64, f64) {
        let kstar: Vec<f64> = self
            .x
            .iter()
            .map(|xi| self.signal * matern(scaled_dist(&self.kinds, &self.inv_ls, p, xi)))
            .collect();
        let mean: f64 = kstar.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let mut v = kstar;
        self.chol.solve_lower(&mut v);
        let var = (self.signal - v.iter().map(|x| x * x).sum::<f64>()).max(1e-12);
        (mean, var.sqrt())
    }

    /// Posterior mean and variance of the latent function, in the units of `y`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let (m, s) = self.predict_standardized(p);
        (self.y_mean + m * self.y_std, (s * self.y_std).powi(2))
    }

    /// Map a value of `y` to standardized units.
    pub fn standardize(&self, y: f64) -> f64 {
        (y - self.y_mean) / self.y_std
    }
}

/// Standardize outputs; refuse empty or non-finite data.
fn standardize(x: &[Vec<f64>], y: &[f64]) -> Result<(Vec<f64>, f64, f64)> {
    if x.is_empty() || x.len() != y.len() {
        return Err(ModelError::NotEnoughData(format!(
            "{} points and {} values",
            x.len(),
            y.len()
        )));
    }
    if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
        return Err(ModelError::Invalid(format!("non-finite value {bad}")));
    }
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
    Ok((y.iter().map(|v| (v - mean) / std).collect(), mean, std))
}

fn matern(r: f64) -> f64 {
    let s = SQRT5 * r;
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

fn scaled_dist(kinds: &[DimKind], inv_ls: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..kinds.len() {
        let d = kinds[i].diff(a[i], b[i]) * inv_ls[i];
        s += d * d;
    }
    s.sqrt()
}

/// Squared per-dimension differences of every pair of points (j < i), computed once per fit:
/// they do not depend on the hyperparameters, and recomputing them (with the categorical
/// test) on every likelihood step was a third of the fitting time.
struct Pairs {
    n: usize,
    d: usize,
    sq: Vec<f64>,
}

impl Pairs {
    fn new(kinds: &[DimKind], x: &[Vec<f64>]) -> Pairs {
        let n = x.len();
        let d = kinds.len();
        let mut sq = Vec::with_capacity(n * n.saturating_sub(1) / 2 * d);
        for i in 0..n {
            for j in 0..i {
                for t in 0..d {
                    let z = kinds[t].diff(x[i][t], x[j][t]);
                    sq.push(z * z);
                }
            }
        }
        Pairs { n, d, sq }
    }

    /// The kernel matrix and the scaled distance `r` of every pair (in pair order).
    fn kernel(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, d) = (self.n, self.d);
        let inv_ls2: Vec<f64> = theta[..d].iter().map(|l| (-2.0 * l).exp()).collect();
        let sf2 = theta[d].exp();
        let sn2 = theta[d + 1].exp();
        let mut k = vec![0.0; n * n];
        let mut r = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        let mut chunks = self.sq.chunks_exact(d.max(1));
        for i in 0..n {
            k[i * n + i] = sf2 + sn2;
            for j in 0..i {
                let r2: f64 = chunks
                    .next()
                    .map_or(0.0, |c| c.iter().zip(&inv_ls2).map(|(a, b)| a * b).sum());
                let rij = r2.sqrt();
                let v = sf2 * matern(rij);
                k[i * n + j] = v;
                k[j * n + i] = v;
                r.push(rij);
            }
        }
        (k, r)
    }
}

fn kernel_matrix(kinds: &[DimKind], x: &[Vec<f64>], theta: &[f64]) -> Vec<f64> {
    Pairs::new(kinds, x).kernel(theta).0
}

/// Normal priors on the log length scales: one mean per dimension, one standard deviation.
type LengthScalePrior<'a> = (&'a [f64], f64);

/// Log marginal likelihood plus log prior, and (if asked) its gradient in log-parameters.
fn objective(
    pairs: &Pairs,
    y: &[f64],
    theta: &[f64],
    noise_prior: Option<(f64, f64)>,
    ls_prior: LengthScalePrior,
    with_grad: bool,
) -> Result<(f64, Vec<f64>)> {
    let d = pairs.d;
    let n = pairs.n;
    let (k, r) = pairs.kernel(theta);
    let chol = Cholesky::new_with_jitter(&k, n)?;
    let mut alpha = y.to_vec();
    chol.solve(&mut alpha);
    let fit: f64 = y.iter().zip(&alpha).map(|(a, b)| a * b).sum();
    let (locs, scale) = ls_prior;
    let prior: f64 = theta[..d]
        .iter()
        .zip(locs)
        .map(|(l, loc)| -0.5 * ((l - loc) / scale).powi(2))
        .sum();
    let noise_term = noise_prior.map_or(0.0, |(m, s)| -0.5 * ((theta[d + 1] - m) / s).powi(2));
    let value = -0.5 * fit - 0.5 * chol.log_det() + prior + noise_term;
    if !value.is_finite() {
        return Err(ModelError::Numerical("non-finite likelihood".into()));
    }
    if !with_grad {
        return Ok((value, Vec::new()));
    }
    // dL/dθ = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ).
    let inv = chol.inverse();
    let inv_ls2: Vec<f64> = theta[..d].iter().map(|l| (-2.0 * l).exp()).collect();
    let sf2 = theta[d].exp();
    let sn2 = theta[d + 1].exp();
    let mut grad = vec![0.0; d + 2];
    let mut pair = 0;
    for i in 0..n {
        let w_ii = alpha[i] * alpha[i] - inv[i * n + i];
        grad[d] += 0.5 * w_ii * sf2;
        grad[d + 1] += 0.5 * w_ii * sn2;
        for j in 0..i {
            let w = alpha[i] * alpha[j] - inv[i * n + j];
            let s = SQRT5 * r[pair];
            let e = (-s).exp();
            // Off-diagonal pairs count twice in the trace; the ½ cancels.
            grad[d] += w * sf2 * (1.0 + s + s * s / 3.0) * e;
            let base = w * sf2 * (5.0 / 3.0) * (1.0 + s) * e;
            let sq = &pairs.sq[pair * d..(pair + 1) * d];
            for t in 0..d {
                grad[t] += base * sq[t] * inv_ls2[t];
            }
            pair += 1;
        }
    }
    for t in 0..d {
        grad[t] -= (theta[t] - locs[t]) / (scale * scale);
    }
    if let Some((m, s)) = noise_prior {
        grad[d + 1] -= (theta[d + 1] - m) / (s * s);
    }
    Ok((value, grad))
}

/// Adam ascent on the objective, clamped to the bounds.
fn adam(
    pairs: &Pairs,
    y: &[f64],
    mut theta: Vec<f64>,
    iterations: usize,
    min_log_noise: f64,
    (noise_prior, ls_prior): (Option<(f64, f64)>, LengthScalePrior),
) -> Vec<f64> {
    let p = theta.len();
    let (b1, b2, lr) = (0.9, 0.999, 0.08);
    let mut m = vec![0.0; p];
    let mut v = vec![0.0; p];
    let mut best = theta.clone();
    let mut best_value = f64::NEG_INFINITY;
    GpHyper::clamp(&mut theta);
    theta[p - 1] = theta[p - 1].max(min_log_noise);
    for t in 1..=iterations {
        let Ok((value, g)) = objective(pairs, y, &theta, noise_prior, ls_prior, true) else {
            break;
        };
        if value > best_value {
            best_value = value;
            best.clone_from(&theta);
        }
        for i in 0..p {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let mh = m[i] / (1.0 - b1.powi(t as i32));
            let vh = v[i] / (1.0 - b2.powi(t as i32));
            theta[i] += lr * mh / (vh.sqrt() + 1e-8);
        }
        GpHyper::clamp(&mut theta);
        theta[p - 1] = theta[p - 1].max(min_log_noise);
    }
    if let Ok((value, _)) = objective(pairs, y, &theta, noise_prior, ls_prior, false) {
        if value > best_value {
            best = theta;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn sample(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(seed);
        crate::design::latin_hypercube(&SearchSpace::continuous(d), n, &mut rng)
    }

    #[test]
    fn interpolates_noiseless_data() {
        let space = SearchSpace::continuous(2);
        let x = sample(20, 2, 1);
        let f = |p: &[f64]| (3.0 * p[0]).sin() + p[1] * p[1];
        let y: Vec<f64> = x.iter().map(|p| f(p)).collect();
        let mut rng = StdRng::seed_from_u64(2);
        let gp = Gp::fit(&space, &x, &y, &GpSettings::default(), None, &mut rng).unwrap();
        for (p, v) in x.iter().zip(&y) {
            let (m, var) = gp.predict(p);
            assert!((m - v).abs() < 1e-2, "{m} vs {v}");
            assert!(var < 1e-3, "{var}");
        }
        // And predicts well between the points.
        let (m, _) = gp.predict(&[0.5, 0.5]);
        assert!((m - f(&[0.5, 0.5])).abs() < 0.1, "{m}");
        // Far from data (a corner, with a few points) the uncertainty is larger.
        let (_, near) = gp.predict(&x[0]);
        let (_, far) = gp.predict(&[1.4, -0.4]);
        assert!(far > near * 10.0);
    }

    #[test]
    fn noiseless_data_pull_the_noise_far_below_the_prior_centre() {
        // Forty exact values of a smooth function: the fitted noise must fall well below the
        // prior's centre (e⁻⁶ ≈ 0.0025), or the GP blurs the optimum it is asked to polish.
        let space = SearchSpace::continuous(2);
        let x = sample(40, 2, 7);
        let y: Vec<f64> = x
            .iter()
            .map(|p| (p[0] - 0.6).powi(2) + 3.0 * (p[1] - 0.2 - 0.3 * p[0]).powi(2))
            .collect();
        let mut rng = StdRng::seed_from_u64(8);
        let gp = Gp::fit(&space, &x, &y, &GpSettings::default(), None, &mut rng).unwrap();
        let noise = gp.hyper().log_noise_var.exp();
        // The previous prior, N(−4, 1²), left it at 8e-5 here.
        assert!(noise < 1e-5, "{noise:e}");
    }

    #[test]
    fn recovers_length_scale_ordering() {
        let space = SearchSpace::continuous(3);
        let x = sample(40, 3, 4);
        // Dimension 0 wiggles fast, dimension 1 slowly, dimension 2 does nothing.
        let y: Vec<f64> = x
            .iter()
            .map(|p| (6.0 * p[0]).sin() + (2.0 * p[1]).sin())
            .collect();
        let mut rng = StdRng::seed_from_u64(5);
        let gp = Gp::fit(&space, &x, &y, &GpSettings::default(), None, &mut rng).unwrap();
        let ls = gp.hyper().length_scales();
        assert!(ls[0] < ls[1] && ls[1] < ls[2], "{ls:?}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let kinds = [DimKind::Continuous, DimKind::Categorical { choices: 3 }];
        let x = vec![
            vec![0.1, 0.2],
            vec![0.5, 0.5],
            vec![0.9, 0.8],
            vec![0.3, 0.9],
        ];
        let y = vec![0.3, -1.0, 0.5, 0.2];
        let theta = vec![-0.5, 0.2, 0.1, -3.0];
        let pairs = Pairs::new(&kinds, &x);
        let (_, g) = objective(
            &pairs,
            &y,
            &theta,
            Some((-4.0, 1.0)),
            (&[0.5, 2.5], 1.7),
            true,
        )
        .unwrap();
        for i in 0..theta.len() {
            let mut a = theta.clone();
            let mut b = theta.clone();
            a[i] += 1e-6;
            b[i] -= 1e-6;
            let fd = (objective(&pairs, &y, &a, Some((-4.0, 1.0)), (&[0.5, 2.5], 1.7), false)
                .unwrap()
                .0
                - objective(&pairs, &y, &b, Some((-4.0, 1.0)), (&[0.5, 2.5], 1.7), false)
                    .unwrap()
                    .0)
                / 2e-6;
            assert!(
                (fd - g[i]).abs() < 1e-4 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
    }
}
