//! The little dense linear algebra the surrogates need: Cholesky with jitter and triangular
//! solves on row-major `Vec<f64>`. Matrices here are at most a few hundred rows, so plain
//! loops are fast enough and cost no dependency.

use crate::error::{ModelError, Result};

/// Lower-triangular Cholesky factor of a symmetric positive definite `n × n` matrix.
#[derive(Debug, Clone)]
pub(crate) struct Cholesky {
    pub n: usize,
    pub l: Vec<f64>,
}

impl Cholesky {
    /// Factor `a`, adding growing jitter to the diagonal if it is not numerically positive
    /// definite (duplicated points and tiny noise make kernel matrices nearly singular).
    pub fn new_with_jitter(a: &[f64], n: usize) -> Result<Cholesky> {
        let scale = (0..n)
            .map(|i| a[i * n + i].abs())
            .fold(0.0, f64::max)
            .max(1e-12);
        let mut jitter = 0.0;
        for _ in 0..8 {
            if let Some(l) = factor(a, n, jitter) {
                return Ok(Cholesky { n, l });
            }
            jitter = if jitter == 0.0 {
                1e-10 * scale
            } else {
                jitter * 10.0
            };
        }
        Err(ModelError::Numerical(format!(
            "kernel matrix of {n} points is not positive definite even with jitter {jitter:e}"
        )))
    }

    /// Solve `L x = b`.
    pub fn solve_lower(&self, b: &mut [f64]) {
        let n = self.n;
        for i in 0..n {
            let row = &self.l[i * n..i * n + i];
            let s: f64 = row.iter().zip(&b[..i]).map(|(l, x)| l * x).sum();
            b[i] = (b[i] - s) / self.l[i * n + i];
        }
    }

    /// Solve `Lᵀ x = b`.
    pub fn solve_upper(&self, b: &mut [f64]) {
        let n = self.n;
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| self.l[k * n + i] * b[k]).sum();
            b[i] = (b[i] - s) / self.l[i * n + i];
        }
    }

    /// Solve `A x = b` in place.
    pub fn solve(&self, b: &mut [f64]) {
        self.solve_lower(b);
        self.solve_upper(b);
    }

    /// `log det A`.
    pub fn log_det(&self) -> f64 {
        (0..self.n)
            .map(|i| self.l[i * self.n + i].ln())
            .sum::<f64>()
            * 2.0
    }

    /// `A⁻¹` (dense, symmetric).
    pub fn inverse(&self) -> Vec<f64> {
        let n = self.n;
        // Row j of `u` is column j of L⁻¹ (forward solve of L x = e_j, zero above j), so
        // A⁻¹ = L⁻ᵀ L⁻¹ has entries (i, j) = Σ_k u[i][k] u[j][k]: dot products of contiguous
        // rows, which is what keeps this cache-friendly at a few hundred points.
        let mut u = vec![0.0; n * n];
        for j in 0..n {
            let x = &mut u[j * n..(j + 1) * n];
            x[j] = 1.0 / self.l[j * n + j];
            for i in j + 1..n {
                let row = &self.l[i * n + j..i * n + i];
                let s: f64 = row.iter().zip(&x[j..i]).map(|(l, v)| l * v).sum();
                x[i] = -s / self.l[i * n + i];
            }
        }
        let mut inv = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                // Non-zeros of row j start at j ≤ i: only k ≥ i contributes.
                let s: f64 = u[i * n + i..(i + 1) * n]
                    .iter()
                    .zip(&u[j * n + i..(j + 1) * n])
                    .map(|(a, b)| a * b)
                    .sum();
                inv[i * n + j] = s;
                inv[j * n + i] = s;
            }
        }
        inv
    }
}

fn factor(a: &[f64], n: usize, jitter: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] + jitter - s;
                if d.is_nan() || d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_inverts_a_known_matrix() {
        let a = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let c = Cholesky::new_with_jitter(&a, 3).unwrap();
        let mut x = vec![1.0, 2.0, 3.0];
        c.solve(&mut x);
        for i in 0..3 {
            let ax: f64 = (0..3).map(|j| a[i * 3 + j] * x[j]).sum();
            assert!((ax - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        let inv = c.inverse();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        let det: f64 = 4.0 * (5.0 * 3.0 - 1.0) - 2.0 * (2.0 * 3.0 - 0.6) + 0.6 * (2.0 - 3.0);
        assert!((c.log_det() - det.ln()).abs() < 1e-12);
        // A singular matrix is rescued by jitter.
        assert!(Cholesky::new_with_jitter(&[1.0, 1.0, 1.0, 1.0], 2).is_ok());
    }
}
