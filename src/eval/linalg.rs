//! Small dense linear algebra in f64 for the Fréchet distance: means, covariances and the
//! symmetric eigendecomposition (cyclic Jacobi, Golub & Van Loan, *Matrix Computations*
//! §8.5). Jacobi is slow for big matrices but very accurate for symmetric ones, and the
//! feature dimension here is ~128, where it takes milliseconds.

/// A row-major `n x n` matrix.
pub type Mat = Vec<f64>;

/// Mean and covariance (divided by n - 1, as numpy's `np.cov`) of `n` rows of `d` values.
pub fn mean_cov(rows: &[f32], d: usize) -> (Vec<f64>, Mat) {
    let n = rows.len() / d.max(1);
    let mut mu = vec![0.0f64; d];
    for r in rows.chunks_exact(d) {
        for (m, &x) in mu.iter_mut().zip(r) {
            *m += x as f64;
        }
    }
    mu.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = vec![0.0f64; d * d];
    let mut c = vec![0.0f64; d];
    for r in rows.chunks_exact(d) {
        for (ci, (&x, m)) in c.iter_mut().zip(r.iter().zip(&mu)) {
            *ci = x as f64 - m;
        }
        for i in 0..d {
            let ci = c[i];
            let row = &mut cov[i * d..(i + 1) * d];
            for j in i..d {
                row[j] += ci * c[j];
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / denom;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mu, cov)
}

/// Eigenvalues and eigenvectors of a symmetric matrix: `a = v diag(w) v^T`, the
/// eigenvectors in the columns of `v` (row-major).
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Mat) {
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (G&VL Algorithm 8.5.1, sym.schur2).
                let tau = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt());
                let t = if tau == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The principal square root of a symmetric positive semi-definite matrix (negative
/// eigenvalues from rounding are clipped to 0).
pub fn sqrt_psd(a: &[f64], n: usize) -> Mat {
    let (w, v) = sym_eigen(a, n);
    let s: Vec<f64> = w.iter().map(|&x| x.max(0.0).sqrt()).collect();
    let mut out = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let x: f64 = (0..n).map(|k| v[i * n + k] * s[k] * v[j * n + k]).sum();
            out[i * n + j] = x;
            out[j * n + i] = x;
        }
    }
    out
}

/// `a * b` for row-major `n x n` matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Mat {
    let mut out = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            let (row, brow) = (&mut out[i * n..(i + 1) * n], &b[k * n..(k + 1) * n]);
            for (o, &bkj) in row.iter_mut().zip(brow) {
                *o += aik * bkj;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_reconstructs_the_matrix() {
        let n = 5;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = 1.0 / (1 + i + j) as f64 + if i == j { 0.5 } else { 0.0 };
            }
        }
        let (w, v) = sym_eigen(&a, n);
        for i in 0..n {
            for j in 0..n {
                let x: f64 = (0..n).map(|k| v[i * n + k] * w[k] * v[j * n + k]).sum();
                assert!((x - a[i * n + j]).abs() < 1e-12, "{i},{j}");
            }
        }
        let s = sqrt_psd(&a, n);
        let back = matmul(&s, &s, n);
        for (x, y) in back.iter().zip(&a) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn covariance_matches_numpy_convention() {
        // np.cov([[1,2],[3,5],[5,11]].T) = [[4, 9], [9, 21]]
        let (mu, cov) = mean_cov(&[1.0, 2.0, 3.0, 5.0, 5.0, 11.0], 2);
        assert_eq!(mu, vec![3.0, 6.0]);
        assert_eq!(cov, vec![4.0, 9.0, 9.0, 21.0]);
    }
}
