//! The latent-space figures of `generate`: interpolation between two latent points and
//! the mean face over a sweep of the sampling mean.

use super::{conditions, noise, GenerateSpec, Loaded};
use crate::gan::monitor;
use crate::gan::outdir::OutDir;
use crate::gan::GanError;
use std::path::{Path, PathBuf};

/// Writes `dir/interpolation.png`: rows of `k` steps between two latent points.
pub(super) fn interpolation(
    l: &Loaded,
    spec: &GenerateSpec,
    fixed: &[(usize, u32)],
    code: Option<usize>,
    k: usize,
    dir: &Path,
    out: &mut OutDir,
) -> Result<PathBuf, GanError> {
    let (c, side, nz) = (l.classes.channels, l.spec.size as usize, l.shape.nz);
    let (rows, k) = (8usize.min(spec.n.max(1)), k.max(2));
    let (a, b) = (noise(spec, 1, rows * nz), noise(spec, 2, rows * nz));
    let mut z = Vec::with_capacity(rows * k * nz);
    for r in 0..rows {
        for j in 0..k {
            let t = j as f32 / (k - 1) as f32;
            z.extend((0..nz).map(|i| (1.0 - t) * a[r * nz + i] + t * b[r * nz + i]));
        }
    }
    let (lab, cd) = conditions(l, fixed, code, rows, spec.seed);
    let na = l.shape.classes.len();
    let cdim = l.shape.code_dim();
    let lab: Vec<u32> = (0..rows * k)
        .flat_map(|i| lab[(i / k) * na..(i / k + 1) * na].to_vec())
        .collect();
    let cd: Vec<f32> = (0..rows * k)
        .flat_map(|i| cd[(i / k) * cdim..(i / k + 1) * cdim].to_vec())
        .collect();
    let px = l.sample(z, &lab, &cd, rows * k);
    let g = dir.join("interpolation.png");
    out.save(&g, monitor::grid(&px, rows * k, c, side, k))?;
    Ok(g)
}

/// Writes `dir/mean_sweep.png`: the mean of 64 samples for mu = -2, -1.5, ..., 2.
pub(super) fn mean_sweep(
    l: &Loaded,
    spec: &GenerateSpec,
    fixed: &[(usize, u32)],
    code: Option<usize>,
    dir: &Path,
    out: &mut OutDir,
) -> Result<PathBuf, GanError> {
    let (c, side, nz) = (l.classes.channels, l.spec.size as usize, l.shape.nz);
    let n = 64;
    let mut means = Vec::new();
    for (i, mu) in (0..9).map(|i| (i, -2.0 + 0.5 * i as f32)) {
        let sub = GenerateSpec { mu, ..spec.clone() };
        let z = noise(&sub, 100 + i, n * nz);
        let (lab, cd) = conditions(l, fixed, code, n, spec.seed);
        let px = l.sample(z, &lab, &cd, n);
        let il = l.image_len();
        means.extend((0..il).map(|j| (0..n).map(|s| px[s * il + j]).sum::<f32>() / n as f32));
    }
    let g = dir.join("mean_sweep.png");
    out.save(&g, monitor::grid(&means, 9, c, side, 9))?;
    Ok(g)
}
