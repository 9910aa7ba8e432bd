//! Active queries: which images a person should label next. Uncertainty sampling
//! (entropy, margin, least confidence; Settles 2009) picks the images the model is least
//! sure of, and k-center greedy (Sener & Savarese 2018, "core-set") on the CNN's
//! embedding spreads the picks out so a batch is not 50 near-copies; or, instead, k-means
//! on the uncertain pool with the most uncertain image of each cluster (after
//! Cluster-Margin, Citovsky et al., NeurIPS 2021), which spreads the picks over where the
//! uncertain images are dense rather than over their outliers. Random queries are the
//! baseline.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::fmt;
use std::str::FromStr;

/// How to score an image's uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Shannon entropy of the predicted distribution, normalized by ln(values).
    Entropy,
    /// One minus the gap between the two most likely values.
    Margin,
    /// One minus the top probability.
    LeastConfidence,
    /// Uniformly random images (the baseline).
    Random,
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "entropy" => Ok(Strategy::Entropy),
            "margin" => Ok(Strategy::Margin),
            "least-confidence" | "least_confidence" | "lc" => Ok(Strategy::LeastConfidence),
            "random" => Ok(Strategy::Random),
            _ => Err(format!(
                "unknown strategy {s:?} (entropy, margin, least-confidence, random)"
            )),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Entropy => "entropy",
            Strategy::Margin => "margin",
            Strategy::LeastConfidence => "least-confidence",
            Strategy::Random => "random",
        })
    }
}

/// How a batch of queries is spread out over the CNN's embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Diversity {
    /// k-center greedy (core-set; default): each pick the farthest from every labeled
    /// image and earlier pick.
    #[default]
    KCenter,
    /// k-means into as many clusters as picks, the most uncertain image of each.
    Cluster,
    /// None: the most uncertain images as they are (near copies may fill a batch).
    None,
}

/// How one image's uncertainties over several attributes become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Combine {
    /// The largest: an image is asked about when any attribute is unsure (default).
    #[default]
    Max,
    /// The mean: every attribute counts, so an attribute with many values (whose
    /// normalized uncertainty runs higher) does not choose every query alone.
    Mean,
}

impl Combine {
    /// One score from per-attribute uncertainties.
    pub fn apply(self, u: impl Iterator<Item = f32>) -> f32 {
        match self {
            Combine::Max => u.fold(0.0, f32::max),
            Combine::Mean => {
                let (sum, n) = u.fold((0.0, 0), |(s, n), x| (s + x, n + 1));
                sum / n.max(1) as f32
            }
        }
    }
}

impl FromStr for Combine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max" => Ok(Combine::Max),
            "mean" => Ok(Combine::Mean),
            _ => Err(format!("unknown combination {s:?} (max, mean)")),
        }
    }
}

/// Uncertainty of one distribution in 0..1 under `strategy` (0 for random).
pub fn uncertainty(p: &[f32], strategy: Strategy) -> f32 {
    let mut s: Vec<f32> = p.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    match strategy {
        Strategy::Entropy => {
            let h: f32 = p.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum();
            h / (p.len().max(2) as f32).ln()
        }
        Strategy::Margin => 1.0 - (s[0] - s.get(1).copied().unwrap_or(0.0)),
        Strategy::LeastConfidence => 1.0 - s[0],
        Strategy::Random => 0.0,
    }
}

fn d2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Picks `k` of `candidates` (image indices with their uncertainty): the most uncertain
/// `pool_factor * k` are kept, then k-center greedy on `embeddings` chooses among them,
/// starting from the already `labeled` images as centres. Random picks for `Random`.
pub fn select(
    candidates: &[(usize, f32)],
    embeddings: Option<&[Vec<f32>]>,
    labeled: &[usize],
    k: usize,
    strategy: Strategy,
    diversity: Diversity,
    seed: u64,
) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    if strategy == Strategy::Random || embeddings.is_none() {
        let mut c: Vec<usize> = candidates.iter().map(|c| c.0).collect();
        if strategy == Strategy::Random
            || embeddings.is_none() && candidates.iter().all(|c| c.1 == 0.0)
        {
            c.shuffle(&mut rng);
        } else {
            let mut s = candidates.to_vec();
            s.sort_by(|a, b| b.1.total_cmp(&a.1));
            c = s.into_iter().map(|x| x.0).collect();
        }
        c.truncate(k);
        return c;
    }
    let emb = embeddings.unwrap_or(&[]);
    let mut pool = candidates.to_vec();
    pool.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    pool.truncate((k * 4).max(k));
    match diversity {
        Diversity::KCenter => k_center_greedy(&pool, emb, labeled, k),
        Diversity::Cluster => cluster_pick(&pool, emb, k, &mut rng),
        Diversity::None => pool.iter().take(k).map(|c| c.0).collect(),
    }
}

/// k-means (k-means++ seeding, Arthur & Vassilvitskii 2007; then Lloyd's iterations) of
/// the pool's embeddings into `k` clusters; from each, its most uncertain image. Clusters
/// left empty are made up from the most uncertain images not yet taken.
pub fn cluster_pick(
    pool: &[(usize, f32)],
    emb: &[Vec<f32>],
    k: usize,
    rng: &mut StdRng,
) -> Vec<usize> {
    use rand::RngExt;
    let k = k.min(pool.len());
    if k == 0 {
        return Vec::new();
    }
    let points: Vec<&[f32]> = pool.iter().map(|&(i, _)| emb[i].as_slice()).collect();
    let mut centres: Vec<Vec<f32>> = vec![points[rng.random_range(0..points.len())].to_vec()];
    let mut near: Vec<f32> = points.iter().map(|p| d2(p, &centres[0])).collect();
    while centres.len() < k {
        let total: f32 = near.iter().sum();
        let next = if total > 0.0 {
            let mut r = rng.random_range(0.0..total);
            near.iter().position(|&d| {
                r -= d;
                r < 0.0
            })
        } else {
            None
        };
        let c = points[next.unwrap_or(centres.len() % points.len())].to_vec();
        near.iter_mut()
            .zip(&points)
            .for_each(|(n, p)| *n = n.min(d2(p, &c)));
        centres.push(c);
    }
    let mut member = vec![0usize; points.len()];
    for _ in 0..10 {
        for (m, p) in member.iter_mut().zip(&points) {
            *m = (0..k)
                .min_by(|&a, &b| d2(p, &centres[a]).total_cmp(&d2(p, &centres[b])))
                .unwrap_or(0);
        }
        let dim = points[0].len();
        let mut sums = vec![vec![0.0f32; dim]; k];
        let mut counts = vec![0usize; k];
        for (&m, p) in member.iter().zip(&points) {
            counts[m] += 1;
            sums[m].iter_mut().zip(*p).for_each(|(s, x)| *s += x);
        }
        for ((c, s), &n) in centres.iter_mut().zip(sums).zip(&counts) {
            if n > 0 {
                *c = s.into_iter().map(|x| x / n as f32).collect();
            }
        }
    }
    // The pool is sorted most uncertain first, so a cluster's first member is its pick.
    let mut picked = vec![None; k];
    for (j, &m) in member.iter().enumerate() {
        picked[m].get_or_insert(j);
    }
    let mut taken = vec![false; pool.len()];
    let mut out: Vec<usize> = picked.into_iter().flatten().collect();
    out.sort_unstable();
    out.iter().for_each(|&j| taken[j] = true);
    out.extend((0..pool.len()).filter(|&j| !taken[j]).take(k - out.len()));
    out.into_iter().map(|j| pool[j].0).collect()
}

/// Most labeled images [`k_center_greedy`] measures distances to.
const MAX_CENTRES: usize = 2000;

/// k-center greedy: repeatedly take the pool image farthest from every centre so far,
/// breaking near-ties toward the more uncertain one.
pub fn k_center_greedy(
    pool: &[(usize, f32)],
    emb: &[Vec<f32>],
    labeled: &[usize],
    k: usize,
) -> Vec<usize> {
    let mut near: Vec<f32> = vec![f32::MAX; pool.len()];
    // At most 2,000 labeled images as centres (the work is pool x centres), spread evenly
    // over all of them: `labeled` is in image order, and its last 2,000 (once taken as
    // "the most recent") left the others' neighbourhoods looking unexplored.
    let step = labeled.len().div_ceil(MAX_CENTRES).max(1);
    for &l in labeled.iter().step_by(step) {
        for (j, &(i, _)) in pool.iter().enumerate() {
            near[j] = near[j].min(d2(&emb[i], &emb[l]));
        }
    }
    let mut out = Vec::with_capacity(k);
    let mut taken = vec![false; pool.len()];
    while out.len() < k.min(pool.len()) {
        let mut best: Option<(usize, f32)> = None;
        for j in 0..pool.len() {
            if taken[j] {
                continue;
            }
            // Distance dominates; uncertainty scales it so that uncertain images win ties.
            let score = if near[j] == f32::MAX {
                pool[j].1 + 1e6
            } else {
                near[j].sqrt() * (0.5 + pool[j].1)
            };
            if best.is_none_or(|b| score > b.1) {
                best = Some((j, score));
            }
        }
        let Some((j, _)) = best else { break };
        taken[j] = true;
        let i = pool[j].0;
        out.push(i);
        for (m, &(o, _)) in pool.iter().enumerate() {
            near[m] = near[m].min(d2(&emb[o], &emb[i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncertainty_orders() {
        let sure = [0.98, 0.01, 0.01];
        let unsure = [0.34, 0.33, 0.33];
        for s in [
            Strategy::Entropy,
            Strategy::Margin,
            Strategy::LeastConfidence,
        ] {
            assert!(uncertainty(&unsure, s) > uncertainty(&sure, s), "{s}");
        }
        assert!((uncertainty(&[0.5, 0.5], Strategy::Entropy) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn combine_max_follows_one_attribute_mean_all() {
        // Unsure eye, sure hair: max asks; mean weighs both.
        let (hair, eye) = (0.1, 0.9);
        assert_eq!(Combine::Max.apply([hair, eye].into_iter()), 0.9);
        assert!((Combine::Mean.apply([hair, eye].into_iter()) - 0.5).abs() < 1e-6);
        assert_eq!(Combine::Mean.apply(std::iter::empty()), 0.0);
        assert_eq!("mean".parse::<Combine>(), Ok(Combine::Mean));
        assert!("median".parse::<Combine>().is_err());
    }

    #[test]
    fn k_center_spreads_out() {
        // Two tight clusters: with k = 2 one pick must come from each.
        let emb: Vec<Vec<f32>> = (0..10)
            .map(|i| vec![if i < 5 { 0.0 } else { 10.0 }, i as f32 * 0.01])
            .collect();
        let pool: Vec<(usize, f32)> = (0..10).map(|i| (i, 0.5)).collect();
        let got = k_center_greedy(&pool, &emb, &[], 2);
        assert_eq!(got.len(), 2);
        assert!((got[0] < 5) != (got[1] < 5), "{got:?}");
        assert_eq!(
            select(&pool, None, &[], 3, Strategy::Random, Diversity::KCenter, 1).len(),
            3
        );
    }

    /// Past 2,000 labeled images the centres are spread over all of them: the last
    /// 2,000 by image order (cluster B here) made an image beside the first ones
    /// (cluster A) look unexplored.
    #[test]
    fn k_center_measures_from_labeled_images_of_every_index() {
        let mut emb: Vec<Vec<f32>> = (0..3000)
            .map(|i| vec![if i < 1000 { 0.0 } else { 10.0 }, 0.0])
            .collect();
        emb.push(vec![0.1, 0.0]); // 3000: beside A
        emb.push(vec![5.0, 0.0]); // 3001: between A and B, near neither
        let labeled: Vec<usize> = (0..3000).collect();
        let pool = [(3000, 0.5), (3001, 0.5)];
        assert_eq!(k_center_greedy(&pool, &emb, &labeled, 1), [3001]);
    }

    #[test]
    fn clusters_give_one_pick_each_the_most_uncertain() {
        // Three tight clusters; the pool is sorted most uncertain first, as `select` makes it.
        let emb: Vec<Vec<f32>> = (0..12)
            .map(|i| vec![(i % 3) as f32 * 10.0, (i / 3) as f32 * 0.01])
            .collect();
        let mut pool: Vec<(usize, f32)> = (0..12).map(|i| (i, 1.0 - i as f32 * 0.05)).collect();
        pool.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut got = cluster_pick(&pool, &emb, 3, &mut StdRng::seed_from_u64(3));
        got.sort_unstable();
        // Images 0, 1 and 2 are each cluster's most uncertain member.
        assert_eq!(got, vec![0, 1, 2]);
        let more = cluster_pick(&pool, &emb, 5, &mut StdRng::seed_from_u64(3));
        assert_eq!(more.len(), 5);
        let distinct: std::collections::HashSet<_> = more.iter().collect();
        assert_eq!(distinct.len(), 5);
    }

    /// Without diversity the batch is the most uncertain images, most uncertain first,
    /// however close together they lie; k-center spreads the same batch out.
    #[test]
    fn no_diversity_takes_the_most_uncertain() {
        let emb: Vec<Vec<f32>> = (0..8).map(|i| vec![(i / 4) as f32 * 10.0]).collect();
        let cands: Vec<(usize, f32)> = (0..8)
            .map(|i| (i, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2][i]))
            .collect();
        let pick = |d| select(&cands, Some(&emb), &[], 2, Strategy::Margin, d, 0);
        assert_eq!(pick(Diversity::None), vec![0, 1]);
        let spread = pick(Diversity::KCenter);
        assert!(
            spread.contains(&0) && spread.iter().any(|&i| i >= 4),
            "{spread:?}"
        );
    }
}
