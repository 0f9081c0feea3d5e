//! Random-forest regression in the style of SMAC: the surrogate for many or mixed dimensions.
//!
//! Bagged regression trees; each split considers a random subset of dimensions and puts its
//! threshold at a uniformly random position between the two neighbouring data values (so trees
//! disagree in gaps between observations and the forest's variance grows away from data).
//! Categorical dimensions split natively on a set of categories: categories present at a node
//! are ordered by their mean output and the best prefix goes left (Breiman's ordering, exact
//! for squared error). Prediction: mean of tree means; variance by the law of total variance
//! (mean of leaf variances plus variance of tree means).

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::space::{DimKind, SearchSpace};

/// Forest settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForestSettings {
    pub trees: usize,
    /// Fraction of dimensions considered at each split.
    pub feature_fraction: f64,
    /// Nodes with fewer samples are leaves.
    pub min_samples_split: usize,
    pub max_depth: usize,
}

impl Default for ForestSettings {
    fn default() -> Self {
        ForestSettings {
            trees: 30,
            feature_fraction: 5.0 / 6.0,
            min_samples_split: 3,
            max_depth: 20,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        mean: f64,
        var: f64,
    },
    Numeric {
        dim: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Categorical {
        dim: usize,
        /// Bit `c` set: category `c` goes left. Categories unseen at this node go right.
        left_set: u64,
        left: usize,
        right: usize,
    },
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

/// A fitted forest.
#[derive(Debug, Clone)]
pub struct Forest {
    kinds: Vec<DimKind>,
    trees: Vec<Tree>,
    /// Total squared-error reduction per dimension, summed over trees.
    gains: Vec<f64>,
}

impl Forest {
    pub fn fit<R: Rng>(
        space: &SearchSpace,
        x: &[Vec<f64>],
        y: &[f64],
        settings: &ForestSettings,
        rng: &mut R,
    ) -> Result<Forest> {
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
        if settings.trees == 0 {
            return Err(ModelError::Invalid(
                "a forest needs at least one tree".into(),
            ));
        }
        let kinds = space.kinds().to_vec();
        let d = kinds.len();
        let n = x.len();
        let mut gains = vec![0.0; d];
        let mut trees = Vec::with_capacity(settings.trees);
        for _ in 0..settings.trees {
            let sample: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
            let mut builder = Builder {
                kinds: &kinds,
                x,
                y,
                settings,
                nodes: Vec::new(),
                gains: &mut gains,
            };
            builder.grow(sample, 0, rng);
            trees.push(Tree {
                nodes: builder.nodes,
            });
        }
        Ok(Forest {
            kinds,
            trees,
            gains,
        })
    }

    /// Mean and variance of the prediction at `p`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let t = self.trees.len() as f64;
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        let mut leaf_var = 0.0;
        for tree in &self.trees {
            let (m, v) = tree.predict(&self.kinds, p);
            sum += m;
            sum_sq += m * m;
            leaf_var += v;
        }
        let mean = sum / t;
        let between = (sum_sq / t - mean * mean).max(0.0);
        (mean, (between + leaf_var / t).max(1e-12))
    }

    /// Share of the total split gain per dimension (sums to 1 unless no split was made).
    pub fn importance(&self) -> Vec<f64> {
        let total: f64 = self.gains.iter().sum();
        if total > 0.0 {
            self.gains.iter().map(|g| g / total).collect()
        } else {
            vec![0.0; self.gains.len()]
        }
    }
}

impl Tree {
    fn predict(&self, kinds: &[DimKind], p: &[f64]) -> (f64, f64) {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf { mean, var } => return (*mean, *var),
                Node::Numeric {
                    dim,
                    threshold,
                    left,
                    right,
                } => i = if p[*dim] <= *threshold { *left } else { *right },
                Node::Categorical {
                    dim,
                    left_set,
                    left,
                    right,
                } => {
                    let c = kinds[*dim].category(p[*dim]);
                    i = if left_set >> c & 1 == 1 {
                        *left
                    } else {
                        *right
                    };
                }
            }
        }
    }
}

struct Builder<'a> {
    kinds: &'a [DimKind],
    x: &'a [Vec<f64>],
    y: &'a [f64],
    settings: &'a ForestSettings,
    nodes: Vec<Node>,
    gains: &'a mut Vec<f64>,
}

enum Split {
    Numeric(f64),
    Categorical(u64),
}

impl Builder<'_> {
    fn grow<R: Rng>(&mut self, idx: Vec<usize>, depth: usize, rng: &mut R) -> usize {
        let id = self.nodes.len();
        let (mean, var) = mean_var(idx.iter().map(|&i| self.y[i]));
        self.nodes.push(Node::Leaf { mean, var });
        if idx.len() < self.settings.min_samples_split.max(2)
            || depth >= self.settings.max_depth
            || var <= 1e-18
        {
            return id;
        }
        let d = self.kinds.len();
        let k = ((d as f64 * self.settings.feature_fraction).ceil() as usize).clamp(1, d);
        let mut dims: Vec<usize> = (0..d).collect();
        dims.shuffle(rng);
        let parent_sse = var * idx.len() as f64;
        let mut best: Option<(f64, usize, Split)> = None;
        for &dim in &dims[..k] {
            if let Some((sse, split)) = self.best_split(&idx, dim, rng) {
                if best.as_ref().is_none_or(|(b, _, _)| sse < *b) {
                    best = Some((sse, dim, split));
                }
            }
        }
        let Some((sse, dim, split)) = best else {
            return id;
        };
        if sse >= parent_sse - 1e-12 {
            return id;
        }
        self.gains[dim] += parent_sse - sse;
        let goes_left = |i: usize| match split {
            Split::Numeric(t) => self.x[i][dim] <= t,
            Split::Categorical(set) => set >> self.kinds[dim].category(self.x[i][dim]) & 1 == 1,
        };
        let (l, r): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| goes_left(i));
        let left = self.grow(l, depth + 1, rng);
        let right = self.grow(r, depth + 1, rng);
        self.nodes[id] = match split {
            Split::Numeric(threshold) => Node::Numeric {
                dim,
                threshold,
                left,
                right,
            },
            Split::Categorical(left_set) => Node::Categorical {
                dim,
                left_set,
                left,
                right,
            },
        };
        id
    }

    /// Best split of `idx` on `dim`: (sum of squared errors of the children, split).
    fn best_split<R: Rng>(&self, idx: &[usize], dim: usize, rng: &mut R) -> Option<(f64, Split)> {
        // Order the samples by a key: the coordinate, or the category's mean output.
        let kind = self.kinds[dim];
        let keyed: Vec<(f64, f64, usize)> = if kind.is_categorical() {
            let n = match kind {
                DimKind::Categorical { choices } => choices as usize,
                _ => 1,
            };
            let mut sums = vec![(0.0, 0usize); n];
            for &i in idx {
                let c = kind.category(self.x[i][dim]);
                sums[c].0 += self.y[i];
                sums[c].1 += 1;
            }
            idx.iter()
                .map(|&i| {
                    let c = kind.category(self.x[i][dim]);
                    (sums[c].0 / sums[c].1 as f64, self.y[i], c)
                })
                .collect()
        } else {
            idx.iter()
                .map(|&i| (self.x[i][dim], self.y[i], 0))
                .collect()
        };
        let mut keyed = keyed;
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
        let n = keyed.len();
        let total: f64 = keyed.iter().map(|k| k.1).sum();
        let total_sq: f64 = keyed.iter().map(|k| k.1 * k.1).sum();
        let (mut ls, mut lsq) = (0.0, 0.0);
        let mut best: Option<(f64, usize)> = None;
        for j in 0..n - 1 {
            ls += keyed[j].1;
            lsq += keyed[j].1 * keyed[j].1;
            let boundary = if kind.is_categorical() {
                keyed[j].2 != keyed[j + 1].2
            } else {
                keyed[j].0 < keyed[j + 1].0
            };
            if !boundary {
                continue;
            }
            let nl = (j + 1) as f64;
            let nr = (n - j - 1) as f64;
            let sse = (lsq - ls * ls / nl) + ((total_sq - lsq) - (total - ls).powi(2) / nr);
            if best.is_none_or(|(b, _)| sse < b - 1e-12) {
                best = Some((sse, j));
            }
        }
        let (sse, j) = best?;
        let split = if kind.is_categorical() {
            let set = keyed[..=j].iter().fold(0u64, |s, k| s | 1 << k.2);
            Split::Categorical(set)
        } else {
            let (a, b) = (keyed[j].0, keyed[j + 1].0);
            Split::Numeric(a + rng.gen::<f64>() * (b - a))
        };
        Some((sse, split))
    }
}

fn mean_var(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut n, mut s, mut sq) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        s += v;
        sq += v * v;
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let m = s / n;
    (m, (sq / n - m * m).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn variance_grows_away_from_data() {
        let space = SearchSpace::continuous(1);
        // Data in two clusters; the gap between them is unobserved.
        let x: Vec<Vec<f64>> = (0..20)
            .map(|i| {
                let t = i as f64 / 19.0 * 0.2;
                vec![if i % 2 == 0 { t } else { 0.8 + t }]
            })
            .collect();
        let y: Vec<f64> = x.iter().map(|p| (5.0 * p[0]).sin()).collect();
        let mut rng = StdRng::seed_from_u64(7);
        let f = Forest::fit(&space, &x, &y, &ForestSettings::default(), &mut rng).unwrap();
        let at_data: f64 = x.iter().map(|p| f.predict(p).1).sum::<f64>() / x.len() as f64;
        let (_, in_gap) = f.predict(&[0.5]);
        assert!(in_gap > 5.0 * at_data, "gap {in_gap} vs data {at_data}");
        let (m, _) = f.predict(&[0.1]);
        assert!((m - (0.5f64).sin()).abs() < 0.2, "{m}");
    }

    #[test]
    fn splits_categories_natively() {
        let space = SearchSpace::new(vec![
            DimKind::Categorical { choices: 4 },
            DimKind::Continuous,
        ])
        .unwrap();
        let cat = DimKind::Categorical { choices: 4 };
        // Choices 1 and 3 are good, 0 and 2 bad: one set split separates them.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let c = i % 4;
            x.push(vec![cat.value_of(c), (i as f64 * 0.37) % 1.0]);
            y.push(if c % 2 == 1 { 10.0 } else { 0.0 });
        }
        let mut rng = StdRng::seed_from_u64(8);
        let f = Forest::fit(&space, &x, &y, &ForestSettings::default(), &mut rng).unwrap();
        assert!((f.predict(&[cat.value_of(3), 0.5]).0 - 10.0).abs() < 1.0);
        assert!(f.predict(&[cat.value_of(2), 0.5]).0 < 1.0);
        let imp = f.importance();
        assert!(imp[0] > 0.9, "{imp:?}");
    }
}
