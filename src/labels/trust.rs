//! The trust rule: which heuristic votes train the CNN and stand as labels. A heuristic
//! is judged per attribute by how often its votes agree with people's labels of the
//! same images; noisy votes outweigh a few hundred people's labels by count, so they
//! count only while that agreement holds.

use super::store::{LabelStore, Source};
use super::{Paths, Schema};

/// A round's judgement of the heuristics, per attribute.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Every heuristic vote ([`heuristic_votes`]).
    pub votes: LabelStore,
    /// Agreement `(agreeing, overlapping)` of the votes that would train (at or above
    /// the training threshold) with people's labels.
    pub training: Vec<(usize, usize)>,
    /// Whether those votes train the CNN.
    pub trains: Vec<bool>,
    /// Agreement of all votes with people's labels.
    pub standing: Vec<(usize, usize)>,
    /// Whether the votes stand as labels in the store.
    pub stands: Vec<bool>,
}

impl Trust {
    /// Judges the heuristics of `paths` against the people's labels in `store`: votes at
    /// or above `threshold` train while the lower bound of their agreement reaches
    /// `trust` (or fewer than [`MIN_OVERLAP`] images carry both).
    pub fn judge(
        paths: &Paths,
        schema: &Schema,
        store: &LabelStore,
        threshold: f32,
        trust: f32,
    ) -> Self {
        let votes = heuristic_votes(paths, schema, store);
        let judge = |agreement: &[(usize, usize)]| -> Vec<bool> {
            agreement
                .iter()
                .map(|&(ok, n)| n < MIN_OVERLAP || agreement_lower_bound(ok, n) >= trust)
                .collect()
        };
        let training = heuristic_agreement(&votes, schema, store, threshold);
        // Whether the votes stand as labels: the same rule, measured on every vote.
        // Measured only on the votes that train, a heuristic whose votes all sit under
        // the training threshold is never judged: on anime-faces-64 the eye heuristic's
        // votes (17% right) stood as labels on about a quarter of the images through
        // 1,000 answers (BENCHMARKS.md, label, session 10).
        let standing = heuristic_agreement(&votes, schema, store, 0.0);
        Trust {
            trains: judge(&training),
            stands: judge(&standing),
            votes,
            training,
            standing,
        }
    }
}

/// Human-labeled images a heuristic must have voted on (at the training threshold)
/// before its agreement with people decides whether it trains the CNN.
pub const MIN_OVERLAP: usize = 20;

/// Every heuristic vote: `heuristics.csv`, or for a dataset initialized before that file
/// existed, the heuristic labels still in the store. The store loses a vote once a
/// person's label or a confident model label replaces it; the file keeps them all.
pub fn heuristic_votes(paths: &Paths, schema: &Schema, store: &LabelStore) -> LabelStore {
    LabelStore::load(&paths.heuristics(), schema)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let mut v = LabelStore::new();
            for l in store.iter().filter(|l| l.source == Source::Heuristic) {
                v.set(l.clone());
            }
            v
        })
}

/// Per attribute: how often the heuristic votes that would train (confidence at or
/// above `threshold`) agree with a person's label of the same image, and on how many
/// images.
pub fn heuristic_agreement(
    votes: &LabelStore,
    schema: &Schema,
    store: &LabelStore,
    threshold: f32,
) -> Vec<(usize, usize)> {
    let mut out = vec![(0, 0); schema.attributes.len()];
    for h in store.iter().filter(|l| l.source == Source::Human) {
        let Some(a) = schema.attribute_index(&h.attribute) else {
            continue;
        };
        if let Some(v) = votes
            .get(&h.file, &h.attribute)
            .filter(|v| v.confidence >= threshold)
        {
            out[a].0 += usize::from(v.value == h.value);
            out[a].1 += 1;
        }
    }
    out
}

/// How a heuristic and the network fare on the held-out people's labels of one
/// attribute, where the heuristic voted: `heuristic` images only it names right,
/// `network` images only the network's most likely value names right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Duel {
    /// Held-out images the heuristic names right and the network wrong.
    pub heuristic: usize,
    /// Held-out images the network names right and the heuristic wrong.
    pub network: usize,
}

impl Duel {
    /// Whether the heuristic's votes should stand in for the network's predictions: it
    /// wins at least [`MIN_LEAD`] of the disagreements and wins by more than one
    /// standard error of a sign test (McNemar 1947: with no difference, the wins of one
    /// side among `n` disagreements are Binomial(n, 1/2), so the difference of the two
    /// counts has a standard deviation of sqrt(n)). On `facesynth demo`'s faces, eye
    /// colour from 23-47 answers, the heuristic names 0.57 of the test faces right and
    /// the 32 px network 0.13-0.17; on anime-faces-64 the network leads from 100 answers
    /// on, and taking the votes there cost 2-8 points of hair (BENCHMARKS.md, label,
    /// session 23).
    pub fn heuristic_leads(&self) -> bool {
        let (h, n) = (self.heuristic as f32, self.network as f32);
        self.heuristic >= MIN_LEAD && h - n > (h + n).sqrt()
    }
}

/// Disagreements the heuristic must win before its votes stand in for the network's.
pub const MIN_LEAD: usize = 3;

/// Per attribute, the heuristic (`votes`) against the network's most likely values
/// (`scores`: logits or probabilities, per attribute and image) on the held-out people's
/// labels `calib` (per attribute, `(image, value)`).
pub fn duel(
    votes: &LabelStore,
    schema: &Schema,
    images: &[String],
    calib: &[Vec<(usize, usize)>],
    scores: &[Vec<Vec<f32>>],
) -> Vec<Duel> {
    schema
        .attributes
        .iter()
        .enumerate()
        .map(|(a, attr)| {
            let mut d = Duel::default();
            for &(i, y) in &calib[a] {
                let Some(v) = votes
                    .get(&images[i], &attr.name)
                    .and_then(|v| attr.index_of(&v.value))
                else {
                    continue;
                };
                let net = scores[a][i]
                    .iter()
                    .enumerate()
                    .max_by(|p, q| p.1.total_cmp(q.1))
                    .map(|m| m.0);
                match (v == y, net == Some(y)) {
                    (true, false) => d.heuristic += 1,
                    (false, true) => d.network += 1,
                    _ => {}
                }
            }
            d
        })
        .collect()
}

/// The probabilities a heuristic vote for `value` of `k` stands for, when the votes
/// agree with people `ok` times in `n`: the agreement (Laplace's rule of succession) on
/// the voted value and the rest spread evenly, so that the vote's confidence is right
/// about as often as it claims.
pub fn vote_distribution(value: usize, k: usize, (ok, n): (usize, usize)) -> Vec<f32> {
    let acc = (ok as f32 + 1.0) / (n as f32 + 2.0);
    let rest = (1.0 - acc) / (k.max(2) - 1) as f32;
    (0..k)
        .map(|c| if c == value { acc } else { rest })
        .collect()
}

/// A lower bound on a heuristic's agreement with people from `ok` of `n` overlapping
/// images: the lower end of the Wilson score interval (Wilson 1927) at one standard
/// error (z = 1, about 84% one-sided). The share itself is a noisy judge near the trust
/// line: on anime-faces-64 one draw's hair votes agreed with people on 46 of 50 images
/// (0.92) and trained the 200-answer network, whose hair accuracy fell to 0.73 where
/// other draws reached 0.86-0.87; at 500 answers they agreed on 79% of 91 images
/// (BENCHMARKS.md, label, session 17). 46 of 50 gives 0.87; 20 of 20 still 0.95.
pub fn agreement_lower_bound(ok: usize, n: usize) -> f32 {
    if n == 0 {
        return 0.0;
    }
    let (n, p, z2) = (n as f64, ok as f64 / n as f64, 1.0f64);
    let centre = p + z2 / (2.0 * n);
    let spread = (z2 * (p * (1.0 - p) / n + z2 / (4.0 * n * n))).sqrt();
    ((centre - spread) / (1.0 + z2 / n)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sign test: a lead of a few disagreements in a handful is not enough, a clear
    /// one is; the network's wins count against the heuristic.
    #[test]
    fn the_heuristic_leads_only_by_a_clear_margin() {
        let d = |heuristic, network| Duel { heuristic, network }.heuristic_leads();
        assert!(d(5, 0) && d(9, 2) && d(30, 15));
        assert!(!d(2, 0), "under MIN_LEAD");
        assert!(!d(4, 2) && !d(6, 3) && !d(0, 0) && !d(3, 5) && !d(20, 16));
    }

    #[test]
    fn a_vote_stands_for_its_measured_agreement() {
        let p = vote_distribution(2, 10, (28, 46));
        assert_eq!(p.len(), 10);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((p[2] - 29.0 / 48.0).abs() < 1e-6);
        assert!(p.iter().enumerate().all(|(c, &x)| c == 2 || x < p[2]));
    }

    /// The trust rule's bound: a share just over the line on a few dozen images does not
    /// pass it, the same share on many images or full agreement does.
    #[test]
    fn agreement_needs_a_margin_that_shrinks_with_the_overlap() {
        let trust = crate::labels::RoundSpec::default().trust;
        let b = agreement_lower_bound;
        assert!(b(46, 50) < trust, "{}", b(46, 50));
        assert!(b(20, 20) >= trust, "{}", b(20, 20));
        assert!(b(95, 100) >= trust && b(920, 1000) >= trust);
        assert!(b(46, 50) < 0.92 && b(46, 50) > 0.85);
        assert!(b(460, 500) > b(46, 50));
        assert_eq!(b(0, 0), 0.0);
        assert!(b(0, 10) >= 0.0 && b(10, 10) <= 1.0);
    }
}
