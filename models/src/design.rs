//! Initial designs: a Latin hypercube that spreads the first trials over every dimension,
//! after any known-good points (the heuristic configuration, the production configuration).

use rand::seq::SliceRandom;
use rand::Rng;

use crate::space::SearchSpace;

/// `n` points of a Latin hypercube: each dimension's range is cut into `n` strata and each
/// stratum is used once. Integer and categorical coordinates are snapped afterwards, so their
/// values are as balanced as `n` allows. Among a few random hypercubes the one with the
/// largest smallest pairwise distance is kept (a cheap maximin criterion).
pub fn latin_hypercube<R: Rng>(space: &SearchSpace, n: usize, rng: &mut R) -> Vec<Vec<f64>> {
    if n == 0 {
        return Vec::new();
    }
    let d = space.dims();
    let mut best: Vec<Vec<f64>> = Vec::new();
    let mut best_score = f64::NEG_INFINITY;
    for _ in 0..8 {
        let mut points = vec![vec![0.0; d]; n];
        let mut strata: Vec<usize> = (0..n).collect();
        for j in 0..d {
            strata.shuffle(rng);
            for (i, p) in points.iter_mut().enumerate() {
                p[j] = (strata[i] as f64 + rng.gen::<f64>()) / n as f64;
            }
        }
        for p in points.iter_mut() {
            space.snap_in_place(p);
        }
        let score = min_distance(&points);
        if score > best_score {
            best_score = score;
            best = points;
        }
    }
    best
}

fn min_distance(points: &[Vec<f64>]) -> f64 {
    let mut m = f64::INFINITY;
    for i in 0..points.len() {
        for j in 0..i {
            let d: f64 = points[i]
                .iter()
                .zip(&points[j])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            m = m.min(d);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::DimKind;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn every_stratum_is_used_once_and_points_are_valid() {
        let space = SearchSpace::new(vec![
            DimKind::Continuous,
            DimKind::Integer { levels: 10 },
            DimKind::Categorical { choices: 5 },
        ])
        .unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let pts = latin_hypercube(&space, 10, &mut rng);
        assert_eq!(pts.len(), 10);
        let mut strata: Vec<usize> = pts.iter().map(|p| (p[0] * 10.0) as usize).collect();
        strata.sort();
        assert_eq!(strata, (0..10).collect::<Vec<_>>());
        // Each of the 5 choices appears exactly twice in 10 points.
        for c in 0..5 {
            let k = DimKind::Categorical { choices: 5 };
            assert_eq!(pts.iter().filter(|p| k.category(p[2]) == c).count(), 2);
        }
        for p in &pts {
            assert_eq!(space.snap(p).unwrap(), *p);
        }
    }
}
