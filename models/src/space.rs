//! The optimizer's view of a search space: how many dimensions and of which kind. Points
//! always live in the unit hypercube `[0, 1]^d`; a dimension's kind says which values of its
//! coordinate are distinct. The agent builds this from `knobs::Space` (this crate does not
//! depend on `knobs`).
//!
//! Conventions, chosen to agree with `knobs::Space::decode`:
//! - an integer dimension with `n` levels uses the points `i / (n - 1)`, so a linear decode
//!   followed by rounding yields level `i`;
//! - a categorical dimension with `n` choices uses the cell centres `(i + 0.5) / n`, and any
//!   `x` decodes to `floor(x * n)` (a boolean knob is a categorical dimension with 2 choices).
//!
//! Building it from a `knobs::Space` (in the agent, which depends on both crates):
//!
//! ```text
//! Bool                                   -> Categorical { choices: 2 }
//! Enum { values }                        -> Categorical { choices: values.len() }
//! Integer, linear range, not bytes,
//!   high - low + 1 <= 64                 -> Integer { levels: high - low + 1 }
//! any other Integer, Real                -> Continuous
//! ```
//!
//! (Log-scaled or byte-sized integer knobs are rounded by `knobs` after decoding, so their
//! levels are not evenly spaced in `[0, 1]`: treat them as continuous.)

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The kind of one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DimKind {
    /// Any value in `[0, 1]` (a real knob, or an integer knob with a wide range).
    Continuous,
    /// `levels` ordered values, evenly spaced over `[0, 1]`.
    Integer { levels: u32 },
    /// `choices` unordered values; distance between two different choices is 1.
    Categorical { choices: u32 },
}

/// Most choices a categorical dimension may have (the forest keeps category sets as bit masks).
pub const MAX_CHOICES: u32 = 64;

impl DimKind {
    /// The nearest valid coordinate to `x` (clamped; NaN maps to 0).
    pub fn snap(&self, x: f64) -> f64 {
        let x = if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match *self {
            DimKind::Continuous => x,
            DimKind::Integer { levels } if levels <= 1 => 0.0,
            DimKind::Integer { levels } => {
                let top = f64::from(levels - 1);
                (x * top).round() / top
            }
            DimKind::Categorical { choices } => {
                (self.category(x) as f64 + 0.5) / f64::from(choices.max(1))
            }
        }
    }

    /// Which choice `x` stands for (0 for non-categorical dimensions).
    pub fn category(&self, x: f64) -> usize {
        match *self {
            DimKind::Categorical { choices } => {
                let n = choices.max(1) as usize;
                let x = if x.is_finite() {
                    x.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                ((x * n as f64) as usize).min(n - 1)
            }
            _ => 0,
        }
    }

    /// Which level `x` stands for (integer dimensions; 0 otherwise).
    pub fn level(&self, x: f64) -> u32 {
        match *self {
            DimKind::Integer { levels } if levels > 1 => {
                (self.snap(x) * f64::from(levels - 1)).round() as u32
            }
            _ => 0,
        }
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self, DimKind::Categorical { .. })
    }

    /// The coordinate of level or choice `i`.
    pub fn value_of(&self, i: u32) -> f64 {
        match *self {
            DimKind::Continuous => f64::from(i).clamp(0.0, 1.0),
            DimKind::Integer { levels } if levels <= 1 => 0.0,
            DimKind::Integer { levels } => f64::from(i.min(levels - 1)) / f64::from(levels - 1),
            DimKind::Categorical { choices } => {
                (f64::from(i.min(choices.max(1) - 1)) + 0.5) / f64::from(choices.max(1))
            }
        }
    }

    /// Kernel-space difference between two coordinates: numeric dims subtract, categorical
    /// dims are 0 when equal and 1 otherwise (a scaled one-hot embedding, so kernels stay
    /// positive definite).
    pub(crate) fn diff(&self, a: f64, b: f64) -> f64 {
        match self {
            DimKind::Categorical { .. } => {
                if self.category(a) == self.category(b) {
                    0.0
                } else {
                    1.0
                }
            }
            _ => a - b,
        }
    }
}

/// A validated list of dimension kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSpace {
    kinds: Vec<DimKind>,
}

impl SearchSpace {
    /// Check the kinds once: at least one dimension, integer levels ≥ 1, 1 ≤ choices ≤ 64.
    pub fn new(kinds: Vec<DimKind>) -> Result<SearchSpace> {
        if kinds.is_empty() {
            return Err(ModelError::Invalid(
                "a search space needs at least one dimension".into(),
            ));
        }
        for (i, k) in kinds.iter().enumerate() {
            match *k {
                DimKind::Integer { levels: 0 } => {
                    return Err(ModelError::Invalid(format!(
                        "dimension {i}: an integer dimension needs at least 1 level, got 0"
                    )))
                }
                DimKind::Categorical { choices } if choices == 0 || choices > MAX_CHOICES => {
                    return Err(ModelError::Invalid(format!(
                        "dimension {i}: a categorical dimension needs 1 to {MAX_CHOICES} choices, got {choices}"
                    )))
                }
                _ => {}
            }
        }
        Ok(SearchSpace { kinds })
    }

    /// `d` continuous dimensions.
    pub fn continuous(d: usize) -> SearchSpace {
        SearchSpace {
            kinds: vec![DimKind::Continuous; d.max(1)],
        }
    }

    pub fn dims(&self) -> usize {
        self.kinds.len()
    }

    pub fn kinds(&self) -> &[DimKind] {
        &self.kinds
    }

    /// Number of continuous or integer dimensions with many levels (ordered, "smooth" ones).
    pub fn ordered_dims(&self) -> usize {
        self.kinds.iter().filter(|k| !k.is_categorical()).count()
    }

    /// Snap every coordinate to a valid value.
    pub fn snap(&self, point: &[f64]) -> Result<Vec<f64>> {
        self.check(point)?;
        Ok(self
            .kinds
            .iter()
            .zip(point)
            .map(|(k, &x)| k.snap(x))
            .collect())
    }

    pub(crate) fn snap_in_place(&self, point: &mut [f64]) {
        for (k, x) in self.kinds.iter().zip(point.iter_mut()) {
            *x = k.snap(*x);
        }
    }

    pub fn check(&self, point: &[f64]) -> Result<()> {
        if point.len() != self.kinds.len() {
            return Err(ModelError::Dimension {
                expected: self.kinds.len(),
                got: point.len(),
            });
        }
        Ok(())
    }

    /// A uniform random valid point.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Vec<f64> {
        self.kinds
            .iter()
            .map(|k| k.snap(rng.gen::<f64>()))
            .collect()
    }

    /// Whether two points decode to the same configuration.
    pub fn same(&self, a: &[f64], b: &[f64]) -> bool {
        self.kinds
            .iter()
            .zip(a.iter().zip(b))
            .all(|(k, (&x, &y))| match k {
                DimKind::Continuous => (x - y).abs() < 1e-9,
                DimKind::Integer { .. } => k.level(x) == k.level(y),
                DimKind::Categorical { .. } => k.category(x) == k.category(y),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn each_kind_round_trips_and_stays_in_range() {
        let int = DimKind::Integer { levels: 5 };
        for i in 0..5 {
            assert_eq!(int.level(int.value_of(i)), i);
            assert_eq!(int.snap(int.value_of(i)), int.value_of(i));
        }
        assert_eq!(int.snap(0.3), 0.25);
        let cat = DimKind::Categorical { choices: 3 };
        for i in 0..3 {
            assert_eq!(cat.category(cat.value_of(i)), i as usize);
        }
        assert_eq!(cat.snap(0.99), 2.5 / 3.0);
        // Booleans as knobs encode them: 0.25 false, 0.75 true.
        let boolean = DimKind::Categorical { choices: 2 };
        assert_eq!((boolean.value_of(0), boolean.value_of(1)), (0.25, 0.75));
        assert_eq!(DimKind::Continuous.snap(0.123), 0.123);
        for k in [DimKind::Continuous, int, cat] {
            for x in [-1.0, 2.0, f64::NAN, f64::INFINITY] {
                assert!((0.0..=1.0).contains(&k.snap(x)));
            }
        }
    }

    #[test]
    fn bad_spaces_are_refused_with_the_value() {
        assert!(SearchSpace::new(vec![]).is_err());
        let e = SearchSpace::new(vec![DimKind::Categorical { choices: 65 }]).unwrap_err();
        assert!(e.to_string().contains("65"), "{e}");
        assert!(SearchSpace::new(vec![DimKind::Integer { levels: 0 }]).is_err());
        let s = SearchSpace::continuous(2);
        assert!(matches!(
            s.snap(&[0.1]),
            Err(ModelError::Dimension {
                expected: 2,
                got: 1
            })
        ));
        let mut rng = StdRng::seed_from_u64(1);
        let p = s.sample(&mut rng);
        assert!(s.same(&p, &p));
    }
}
