//! Knob importance: which dimensions move the objective, to pick the top-N knobs to tune.
//!
//! - [`lasso_ranking`]: OtterTune's method. Features are the dimensions (one-hot for
//!   categorical ones) plus second-order terms (squares and pairwise products of ordered
//!   dimensions); a Lasso path from the largest useful penalty down adds features one by
//!   one, and a dimension ranks by the penalty at which its first feature entered. Own
//!   coordinate descent: the problem is small (tens of features, hundreds of rows) and
//!   linfa-elasticnet would add linfa + ndarray to the build for a 60-line loop.
//! - [`gp_ranking`], [`forest_ranking`]: from a fitted surrogate (inverse GP length
//!   scales; the forest's split gains).

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::forest::{Forest, ForestSettings};
use crate::gp::GpHyper;
use crate::space::{DimKind, SearchSpace};

/// One dimension's importance; lists are sorted by descending score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    pub dim: usize,
    /// In [0, 1]; 1 for the most important. For the Lasso: the penalty at which the
    /// dimension entered the model, relative to the penalty at which the first one did
    /// (0: never entered).
    pub score: f64,
}

/// Steps of the Lasso path, from λ_max down to λ_max · 1e-3.
const PATH_STEPS: usize = 60;

/// Rank dimensions by when they enter a Lasso path with second-order terms.
pub fn lasso_ranking(space: &SearchSpace, x: &[Vec<f64>], y: &[f64]) -> Result<Vec<Importance>> {
    if x.len() < 3 || x.len() != y.len() {
        return Err(ModelError::NotEnoughData(format!(
            "a Lasso ranking needs at least 3 observations with values, got {} points and {} values",
            x.len(),
            y.len()
        )));
    }
    if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
        return Err(ModelError::Invalid(format!("non-finite value {bad}")));
    }
    for p in x {
        space.check(p)?;
    }
    let (columns, owners) = features(space, x);
    let n = x.len() as f64;
    // Standardize features (dropping constant ones) and centre y.
    let mut cols = Vec::new();
    let mut owns = Vec::new();
    for (c, o) in columns.into_iter().zip(owners) {
        let m = c.iter().sum::<f64>() / n;
        let sd = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
        if sd > 1e-12 {
            cols.push(c.iter().map(|v| (v - m) / sd).collect::<Vec<f64>>());
            owns.push(o);
        }
    }
    let ym = y.iter().sum::<f64>() / n;
    let yc: Vec<f64> = y.iter().map(|v| v - ym).collect();
    let d = space.dims();
    let mut entered = vec![0.0f64; d];
    let mut final_coef = vec![0.0f64; d];
    if cols.is_empty() {
        return Ok(rank(entered, final_coef));
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    let lambda_max = cols
        .iter()
        .map(|c| (dot(c, &yc) / n).abs())
        .fold(0.0, f64::max);
    if lambda_max <= 0.0 {
        return Ok(rank(entered, final_coef));
    }
    let mut beta = vec![0.0; cols.len()];
    let mut residual = yc.clone();
    for step in 0..PATH_STEPS {
        let lambda = lambda_max * (1e-3f64).powf(step as f64 / (PATH_STEPS - 1) as f64);
        for _ in 0..500 {
            let mut max_change = 0.0f64;
            for j in 0..cols.len() {
                let old = beta[j];
                let rho = dot(&cols[j], &residual) / n + old;
                let new = soft_threshold(rho, lambda);
                if new != old {
                    for (r, c) in residual.iter_mut().zip(&cols[j]) {
                        *r -= (new - old) * c;
                    }
                    beta[j] = new;
                    max_change = max_change.max((new - old).abs());
                }
            }
            if max_change < 1e-7 {
                break;
            }
        }
        for (j, b) in beta.iter().enumerate() {
            if *b != 0.0 {
                for &o in &owns[j] {
                    if entered[o] == 0.0 {
                        entered[o] = lambda / lambda_max;
                    }
                }
            }
        }
    }
    for (j, b) in beta.iter().enumerate() {
        for &o in &owns[j] {
            final_coef[o] += b.abs();
        }
    }
    // Relative to the first entry, so the top dimension scores 1.
    let first = entered.iter().copied().fold(0.0, f64::max);
    if first > 0.0 {
        for e in entered.iter_mut() {
            *e /= first;
        }
    }
    Ok(rank(entered, final_coef))
}

/// Features and the dimensions each belongs to: main effects (one-hot for categorical
/// dimensions), squares and pairwise products of centred ordered dimensions.
fn features(space: &SearchSpace, x: &[Vec<f64>]) -> (Vec<Vec<f64>>, Vec<Vec<usize>>) {
    let n = x.len() as f64;
    let mut cols = Vec::new();
    let mut owners = Vec::new();
    let mut ordered = Vec::new();
    for (i, kind) in space.kinds().iter().enumerate() {
        match *kind {
            DimKind::Categorical { choices } => {
                for c in 0..choices as usize {
                    cols.push(
                        x.iter()
                            .map(|p| f64::from(u8::from(kind.category(p[i]) == c)))
                            .collect(),
                    );
                    owners.push(vec![i]);
                }
            }
            _ => {
                let m = x.iter().map(|p| p[i]).sum::<f64>() / n;
                let centred: Vec<f64> = x.iter().map(|p| p[i] - m).collect();
                cols.push(centred.clone());
                owners.push(vec![i]);
                ordered.push((i, centred));
            }
        }
    }
    for a in 0..ordered.len() {
        for b in a..ordered.len() {
            let (i, ci) = &ordered[a];
            let (j, cj) = &ordered[b];
            cols.push(ci.iter().zip(cj).map(|(u, v)| u * v).collect());
            owners.push(if i == j { vec![*i] } else { vec![*i, *j] });
        }
    }
    (cols, owners)
}

fn soft_threshold(rho: f64, lambda: f64) -> f64 {
    if rho > lambda {
        rho - lambda
    } else if rho < -lambda {
        rho + lambda
    } else {
        0.0
    }
}

/// Sort by score, ties by a secondary key, then by dimension.
fn rank(score: Vec<f64>, tie: Vec<f64>) -> Vec<Importance> {
    let mut out: Vec<(Importance, f64)> = score
        .into_iter()
        .enumerate()
        .map(|(dim, score)| (Importance { dim, score }, tie[dim]))
        .collect();
    out.sort_by(|a, b| {
        b.0.score
            .total_cmp(&a.0.score)
            .then(b.1.total_cmp(&a.1))
            .then(a.0.dim.cmp(&b.0.dim))
    });
    out.into_iter().map(|(i, _)| i).collect()
}

/// Rank by inverse GP length scales (a short length scale: the output changes fast along
/// that dimension), scaled so the most important scores 1.
pub fn gp_ranking(hyper: &GpHyper) -> Vec<Importance> {
    let inv: Vec<f64> = hyper.length_scales().iter().map(|l| 1.0 / l).collect();
    let top = inv
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let d = inv.len();
    rank(inv.iter().map(|v| v / top).collect(), vec![0.0; d])
}

/// Rank by a forest's total split gain per dimension, scaled so the top scores 1.
pub fn forest_ranking(
    space: &SearchSpace,
    x: &[Vec<f64>],
    y: &[f64],
    settings: &ForestSettings,
    seed: u64,
) -> Result<Vec<Importance>> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let forest = Forest::fit(space, x, y, settings, &mut rng)?;
    let imp = forest.importance();
    let top = imp
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let d = imp.len();
    Ok(rank(imp.iter().map(|v| v / top).collect(), vec![0.0; d]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn data(seed: u64) -> (SearchSpace, Vec<Vec<f64>>, Vec<f64>) {
        let space = SearchSpace::new(vec![
            DimKind::Continuous,
            DimKind::Continuous,
            DimKind::Continuous,
            DimKind::Categorical { choices: 3 },
            DimKind::Continuous,
            DimKind::Integer { levels: 5 },
        ])
        .unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let x: Vec<Vec<f64>> = (0..80).map(|_| space.sample(&mut rng)).collect();
        let cat = DimKind::Categorical { choices: 3 };
        // Influential: 2 (quadratic), 0 (linear), 3 (categorical); the rest is noise.
        let y: Vec<f64> = x
            .iter()
            .map(|p| {
                4.0 * (p[2] - 0.5).powi(2) * 4.0
                    + 2.0 * p[0]
                    + [0.0, 1.5, -1.0][cat.category(p[3])]
                    + 0.05 * (rng.gen::<f64>() - 0.5)
            })
            .collect();
        (space, x, y)
    }

    #[test]
    fn lasso_ranks_influential_dims_first() {
        let (space, x, y) = data(1);
        let r = lasso_ranking(&space, &x, &y).unwrap();
        let mut top: Vec<usize> = r[..3].iter().map(|i| i.dim).collect();
        top.sort();
        assert_eq!(top, vec![0, 2, 3], "{r:?}");
        assert_eq!(r[0].score, 1.0);
        assert!(r[3].score < r[2].score, "{r:?}");
        assert!(lasso_ranking(&space, &x[..2], &y[..2]).is_err());
    }

    #[test]
    fn forest_and_gp_rankings_agree_on_the_top_dims() {
        let (space, x, y) = data(2);
        let r = forest_ranking(&space, &x, &y, &ForestSettings::default(), 3).unwrap();
        let mut top: Vec<usize> = r[..3].iter().map(|i| i.dim).collect();
        top.sort();
        assert_eq!(top, vec![0, 2, 3], "{r:?}");
        let hyper = GpHyper {
            log_length_scales: vec![0.0, 2.0, -1.0],
            log_signal_var: 0.0,
            log_noise_var: -4.0,
        };
        let g = gp_ranking(&hyper);
        assert_eq!(g.iter().map(|i| i.dim).collect::<Vec<_>>(), vec![2, 0, 1]);
        assert_eq!(g[0].score, 1.0);
    }
}
