//! The metrics themselves, on plain feature vectors (no images, no network): FID, KID,
//! precision/recall/density/coverage, class matching and divergences. Each file cites the
//! paper and the reference implementation it follows; the numbers agree with those
//! references on the same vectors (see `scripts/eval_ref.py`, BENCHMARKS.md, eval).

pub mod classes;
pub mod fid;
pub mod kid;
pub mod prdc;

use rayon::prelude::*;

/// `n` feature vectors of `d` values, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feats {
    /// Dimension.
    pub d: usize,
    /// `n * d` values.
    pub data: Vec<f32>,
}

impl Feats {
    /// Wraps `data` (its length must be a multiple of `d`).
    pub fn new(d: usize, data: Vec<f32>) -> Feats {
        debug_assert!(d > 0 && data.len().is_multiple_of(d));
        Feats { d, data }
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.data.len() / self.d.max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Whether these features cannot tell images apart: a NaN or an infinity, or (with
    /// two vectors or more) every vector the same. A diverged network gives either (its
    /// NaN activations come out of ReLU as zeros), and every distance between such sets
    /// is 0, a perfect score.
    pub fn degenerate(&self) -> bool {
        let first = self.data.get(..self.d).unwrap_or_default();
        self.data.iter().any(|x| !x.is_finite())
            || (self.len() >= 2 && self.data.chunks_exact(self.d).all(|r| r == first))
    }

    /// Vector `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// The vectors at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Feats {
        let mut data = Vec::with_capacity(idx.len() * self.d);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Feats { d: self.d, data }
    }
}

/// Squared Euclidean distance, summed in 8 lanes so the compiler vectorizes it. Computed
/// from the differences (not as |a|² + |b|² - 2a·b), so identical vectors are exactly 0.
#[inline]
pub fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Dot product in 8 lanes.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// For each vector of `x`, the Euclidean distances to its `k` nearest other vectors of `x`
/// (itself excluded by index; an identical copy still counts, at distance 0), ascending.
/// Rows with fewer than `k` others get `f32::INFINITY` for the missing ones.
pub fn knn_self(x: &Feats, k: usize) -> Vec<Vec<f32>> {
    let n = x.len();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let xi = x.row(i);
            let mut best = vec![f32::INFINITY; k];
            for j in 0..n {
                if j == i {
                    continue;
                }
                let d = sq_dist(xi, x.row(j));
                if d < best[k - 1] {
                    let mut p = k - 1;
                    while p > 0 && best[p - 1] > d {
                        best[p] = best[p - 1];
                        p -= 1;
                    }
                    best[p] = d;
                }
            }
            best.into_iter().map(f32::sqrt).collect()
        })
        .collect()
}

/// For each vector of `q`, its nearest vector of `x`: `(index, Euclidean distance)`.
pub fn nearest(q: &Feats, x: &Feats) -> Vec<(usize, f32)> {
    (0..q.len())
        .into_par_iter()
        .map(|i| {
            let qi = q.row(i);
            let mut best = (0usize, f32::INFINITY);
            for j in 0..x.len() {
                let d = sq_dist(qi, x.row(j));
                if d < best.1 {
                    best = (j, d);
                }
            }
            (best.0, best.1.sqrt())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_neighbours() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| (i as f32 * 0.5) + 1.0).collect();
        assert_eq!(sq_dist(&a, &b), 19.0);
        assert_eq!(sq_dist(&a, &a), 0.0);
        assert_eq!(dot(&a[..3], &b[..3]), 0.0 * 1.0 + 0.5 * 1.5 + 1.0 * 2.0);
        let x = Feats::new(1, vec![0.0, 1.0, 3.0, 7.0]);
        let k = knn_self(&x, 2);
        assert_eq!(k[0], vec![1.0, 3.0]);
        assert_eq!(k[3], vec![4.0, 6.0]);
        let q = Feats::new(1, vec![2.9, -5.0]);
        let nn = nearest(&q, &x);
        assert_eq!((nn[0].0, nn[1]), (2, (0, 5.0)));
        assert!((nn[0].1 - 0.1).abs() < 1e-6);
    }
}
