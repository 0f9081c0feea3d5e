//! Telemetry metrics and workloads, as OtterTune uses them: prune hundreds of correlated
//! metrics to a few representative ones, and map a new workload to the most similar past
//! one so its observations can warm-start the optimizer.
//!
//! - [`prune_metrics`]: standardize, project each metric onto the top principal components
//!   of the metric correlation matrix, varimax-rotated (PCA plus rotation stands in for
//!   OtterTune's factor analysis), cluster the loadings with k-means
//!   (k chosen by an elbow rule), keep the metric nearest each centroid.
//! - [`map_workload`]: distance between workloads over metric values binned into deciles
//!   (so no metric dominates by its scale), nearest first.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Result of metric pruning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunedMetrics {
    /// Indexes of the kept metrics, one per cluster.
    pub representatives: Vec<usize>,
    /// Cluster of every metric.
    pub clusters: Vec<usize>,
}

/// Keep representative metrics. `samples[i][m]` is metric `m` in observation `i`;
/// `components` principal components, at most `max_clusters` clusters.
pub fn prune_metrics(
    samples: &[Vec<f64>],
    components: usize,
    max_clusters: usize,
    seed: u64,
) -> Result<PrunedMetrics> {
    let n = samples.len();
    let m = samples.first().map_or(0, Vec::len);
    if n < 3 || m == 0 || samples.iter().any(|r| r.len() != m) {
        return Err(ModelError::NotEnoughData(format!(
            "metric pruning needs at least 3 rows of equal length, got {n} rows"
        )));
    }
    // Standardized columns; constant metrics stay all-zero (they carry no information and
    // end up in one cluster).
    let mut z = vec![vec![0.0; n]; m];
    for (j, col) in z.iter_mut().enumerate() {
        let mean = samples.iter().map(|r| r[j]).sum::<f64>() / n as f64;
        let sd = (samples.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        if sd > 1e-12 && sd.is_finite() {
            for (i, v) in col.iter_mut().enumerate() {
                *v = (samples[i][j] - mean) / sd;
            }
        }
    }
    // Correlation matrix (m × m) and its top eigenvectors by power iteration with deflation.
    let mut corr = vec![0.0; m * m];
    for a in 0..m {
        for b in 0..=a {
            let c = z[a].iter().zip(&z[b]).map(|(x, y)| x * y).sum::<f64>() / n as f64;
            corr[a * m + b] = c;
            corr[b * m + a] = c;
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let k = components.clamp(1, m);
    let mut loadings = vec![vec![0.0; k]; m];
    #[allow(clippy::needless_range_loop)] // `comp` indexes the loading vectors' columns
    for comp in 0..k {
        let mut v: Vec<f64> = (0..m).map(|_| rng.gen::<f64>() - 0.5).collect();
        let mut lambda = 0.0;
        for _ in 0..200 {
            let mut w = vec![0.0; m];
            for a in 0..m {
                w[a] = (0..m).map(|b| corr[a * m + b] * v[b]).sum();
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-12 {
                break;
            }
            lambda = norm;
            v = w.into_iter().map(|x| x / norm).collect();
        }
        for a in 0..m {
            loadings[a][comp] = v[a] * lambda.sqrt();
            for b in 0..m {
                corr[a * m + b] -= lambda * v[a] * v[b];
            }
        }
    }
    varimax(&mut loadings);
    // Metrics that load with opposite signs move together too: cluster on |loading|.
    for l in loadings.iter_mut() {
        for x in l.iter_mut() {
            *x = x.abs();
        }
    }
    let max_k = max_clusters.clamp(1, m);
    let mut runs: Vec<(f64, Vec<usize>, Vec<Vec<f64>>)> = Vec::new();
    for c in 1..=max_k {
        // Best of a few restarts: one unlucky seeding would fake an elbow.
        let best = (0..5)
            .map(|_| kmeans(&loadings, c, &mut rng))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(best) = best {
            runs.push(best);
        }
    }
    // Elbow: the smallest k after which one more cluster cuts the within-cluster error by
    // less than 10% of the one-cluster error.
    let total = runs[0].0.max(1e-12);
    let mut chosen = runs.len() - 1;
    for c in 0..runs.len() - 1 {
        if (runs[c].0 - runs[c + 1].0) / total < 0.1 {
            chosen = c;
            break;
        }
    }
    let (_, clusters, centroids) = runs.swap_remove(chosen);
    let mut representatives = Vec::new();
    for (c, centroid) in centroids.iter().enumerate() {
        let nearest = (0..m).filter(|&j| clusters[j] == c).min_by(|&a, &b| {
            dist2(&loadings[a], centroid).total_cmp(&dist2(&loadings[b], centroid))
        });
        if let Some(j) = nearest {
            representatives.push(j);
        }
    }
    Ok(PrunedMetrics {
        representatives,
        clusters,
    })
}

/// Varimax rotation (Kaiser's pairwise form) of the loadings, as factor analysis does:
/// principal components are only defined up to a rotation when eigenvalues are close, and
/// the rotation that makes each metric load on as few factors as possible is the one that
/// lets clusters of metrics line up with the axes.
fn varimax(loadings: &mut [Vec<f64>]) {
    let m = loadings.len() as f64;
    let k = loadings.first().map_or(0, Vec::len);
    for _ in 0..50 {
        let mut largest = 0.0f64;
        for a in 0..k {
            for b in a + 1..k {
                let (mut sa, mut sb, mut sc, mut sd) = (0.0, 0.0, 0.0, 0.0);
                for l in loadings.iter() {
                    let u = l[a] * l[a] - l[b] * l[b];
                    let v = 2.0 * l[a] * l[b];
                    sa += u;
                    sb += v;
                    sc += u * u - v * v;
                    sd += 2.0 * u * v;
                }
                let phi = 0.25 * (sd - 2.0 * sa * sb / m).atan2(sc - (sa * sa - sb * sb) / m);
                largest = largest.max(phi.abs());
                let (sin, cos) = phi.sin_cos();
                for l in loadings.iter_mut() {
                    let (x, y) = (l[a], l[b]);
                    l[a] = x * cos + y * sin;
                    l[b] = -x * sin + y * cos;
                }
            }
        }
        if largest < 1e-8 {
            break;
        }
    }
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// k-means with k-means++ seeding: (within-cluster squared error, labels, centroids).
fn kmeans(points: &[Vec<f64>], k: usize, rng: &mut StdRng) -> (f64, Vec<usize>, Vec<Vec<f64>>) {
    let n = points.len();
    let mut centroids = vec![points[rng.gen_range(0..n)].clone()];
    while centroids.len() < k {
        let d: Vec<f64> = points
            .iter()
            .map(|p| {
                centroids
                    .iter()
                    .map(|c| dist2(p, c))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let total: f64 = d.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut u = rng.gen::<f64>() * total;
        let mut pick = n - 1;
        for (i, di) in d.iter().enumerate() {
            if u < *di {
                pick = i;
                break;
            }
            u -= di;
        }
        centroids.push(points[pick].clone());
    }
    let mut labels = vec![0; n];
    for _ in 0..100 {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let best = (0..centroids.len())
                .min_by(|&a, &b| dist2(p, &centroids[a]).total_cmp(&dist2(p, &centroids[b])))
                .unwrap_or(0);
            if best != labels[i] {
                labels[i] = best;
                changed = true;
            }
        }
        for (c, centroid) in centroids.iter_mut().enumerate() {
            let members: Vec<&Vec<f64>> = points
                .iter()
                .zip(&labels)
                .filter(|(_, l)| **l == c)
                .map(|(p, _)| p)
                .collect();
            if members.is_empty() {
                continue;
            }
            for (t, x) in centroid.iter_mut().enumerate() {
                *x = members.iter().map(|p| p[t]).sum::<f64>() / members.len() as f64;
            }
        }
        if !changed {
            break;
        }
    }
    let sse = points
        .iter()
        .zip(&labels)
        .map(|(p, &l)| dist2(p, &centroids[l]))
        .sum();
    (sse, labels, centroids)
}

/// Rank past workloads by similarity to `target`. Each workload is a vector of metric values
/// (e.g. the pruned metrics predicted at a common set of configurations). Every feature is
/// binned into deciles over all workloads plus the target; distance is Euclidean over bin
/// numbers. Returns (index into `past`, distance), nearest first.
pub fn map_workload(target: &[f64], past: &[Vec<f64>]) -> Result<Vec<(usize, f64)>> {
    if let Some((i, w)) = past
        .iter()
        .enumerate()
        .find(|(_, w)| w.len() != target.len())
    {
        return Err(ModelError::Dimension {
            expected: target.len(),
            got: w.len(),
        })
        .map_err(|e| ModelError::Invalid(format!("past workload {i}: {e}")));
    }
    let f = target.len();
    let mut binned_past = vec![vec![0.0; f]; past.len()];
    let mut binned_target = vec![0.0; f];
    for j in 0..f {
        let mut values: Vec<f64> = past.iter().map(|w| w[j]).chain([target[j]]).collect();
        values.sort_by(f64::total_cmp);
        let deciles: Vec<f64> = (1..10)
            .map(|q| values[(q * (values.len() - 1)) / 10])
            .collect();
        let bin = |v: f64| deciles.iter().filter(|d| v > **d).count() as f64;
        binned_target[j] = bin(target[j]);
        for (i, w) in past.iter().enumerate() {
            binned_past[i][j] = bin(w[j]);
        }
    }
    let mut out: Vec<(usize, f64)> = binned_past
        .iter()
        .enumerate()
        .map(|(i, b)| (i, dist2(b, &binned_target).sqrt()))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_one_metric_per_correlated_group() {
        // Three latent signals; nine metrics, three noisy copies (scaled, some negated) each.
        let mut rng = StdRng::seed_from_u64(1);
        let samples: Vec<Vec<f64>> = (0..60)
            .map(|_| {
                let s: Vec<f64> = (0..3).map(|_| rng.gen::<f64>()).collect();
                (0..9)
                    .map(|j| {
                        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
                        sign * (j + 1) as f64 * s[j % 3] + 0.01 * rng.gen::<f64>()
                    })
                    .collect()
            })
            .collect();
        let p = prune_metrics(&samples, 3, 6, 7).unwrap();
        assert_eq!(p.representatives.len(), 3, "{p:?}");
        for j in 0..9 {
            assert_eq!(p.clusters[j], p.clusters[j % 3], "{p:?}");
        }
        let mut groups: Vec<usize> = p.representatives.iter().map(|r| r % 3).collect();
        groups.sort();
        assert_eq!(groups, vec![0, 1, 2]);
    }

    #[test]
    fn mapping_finds_the_similar_workload_whatever_the_scales() {
        // Feature 0 is in the millions, feature 1 in units: binning keeps both relevant.
        let past = vec![
            vec![1.0e6, 9.0],
            vec![5.0e6, 1.0],
            vec![1.2e6, 1.5],
            vec![9.0e6, 5.0],
        ];
        let ranked = map_workload(&[1.1e6, 1.2], &past).unwrap();
        assert_eq!(ranked[0].0, 2, "{ranked:?}");
        assert!(map_workload(&[1.0], &past).is_err());
    }
}
