//! Temperatures fitted on the heuristics' votes as noisy labels. A round holds out 33-41
//! of people's labels per attribute at 200 answers, and a temperature fitted on so few
//! wanders (1.35-2.49 on anime-faces-64 where the test split wanted 1.72-1.85 for hair,
//! BENCHMARKS.md, label, session 29). The colour heuristics vote on nearly every image,
//! and where their errors do not depend on the image beyond its true value, the votes
//! on thousands of unanswered images pin the temperature down: the network's calibrated
//! probabilities, passed through the votes' confusion with people's labels, must explain
//! the votes (the noisy-label likelihood of Natarajan et al. 2013, "Learning with Noisy
//! Labels", and of the noise-adaptation layer, Goldberger & Ben-Reuven 2017; here the
//! network is fixed and only its temperature is fitted):
//!
//! `P(vote = v | x) = sum_y softmax(z(x) / T)_y C(v | y)`,
//!
//! with `C` counted on the images both a person and the heuristic labeled. On
//! anime-faces-64 at 200 answers the hair votes fitted temperatures within 5% of what
//! the test split wanted on four draws (BENCHMARKS.md, label, session 39). A heuristic
//! that is mostly wrong (the eye colour's, 17-22% right) breaks the assumption, its
//! errors following the image (its fit wanted 4.55-5.19 where the test wanted
//! 1.89-2.20), so only a heuristic that agrees with people on at least
//! [`MIN_AGREEMENT`] of at least [`MIN_OVERLAP`] images is used.

use super::calibrate;
use super::classifier::{softmax_t, Outputs};
use super::index::DatasetIndex;
use super::store::{LabelStore, Source};
use super::trust::{agreement_lower_bound, Trust, MIN_OVERLAP};
use super::Schema;

/// The least share of people's labels a heuristic's votes (any confidence) must agree
/// with for its votes to fit a temperature, judged by the share's lower bound
/// ([`agreement_lower_bound`], as the trust in a heuristic is): on anime-faces-64 hair
/// colour's 60-72% at 200 answers (bound 0.57-0.69) passes, eye colour's 17-22% does
/// not. On anime-faces-96-raw read right (`scripts/raw96-truth.py`; its shipped
/// `labels.csv` has its columns swapped and its values renamed, [`crate::labels::audit`])
/// hair's votes agree on 43-51%: one draw's 97 of 189 (0.513, bound 0.477) passed the
/// plain share, and its votes fitted 1.78 where the held-out answers gave 2.70 (their
/// bootstrap range 2.16-3.18), and the test ECE of hair was 0.184 (BENCHMARKS.md, label,
/// session 42).
pub const MIN_AGREEMENT: f32 = 0.5;

/// `C(v | y)`: how often the heuristic votes `v` on an image whose person's label is
/// `y`, from `(y, v)` pairs over `k` values, each row smoothed by half a count spread
/// evenly (a value no person gave votes uniformly).
pub fn confusion(pairs: &[(usize, usize)], k: usize) -> Vec<Vec<f64>> {
    let mut n = vec![vec![0.0f64; k]; k];
    for &(y, v) in pairs {
        if y < k && v < k {
            n[y][v] += 1.0;
        }
    }
    n.into_iter()
        .map(|row| {
            let total: f64 = row.iter().sum();
            row.iter()
                .map(|&x| (x + 0.5 / k as f64) / (total + 0.5))
                .collect()
        })
        .collect()
}

/// Mean negative log-likelihood of `votes` (image's logits, voted value) under the
/// logits at temperature `t` passed through `c`.
fn vote_nll(votes: &[(&[f32], usize)], c: &[Vec<f64>], t: f32) -> f64 {
    let sum: f64 = votes
        .iter()
        .map(|&(z, v)| {
            let p = softmax_t(z, t);
            let q: f64 = p.iter().zip(c).map(|(&py, cy)| f64::from(py) * cy[v]).sum();
            -q.max(1e-12).ln()
        })
        .sum();
    sum / votes.len().max(1) as f64
}

/// The temperature maximizing the votes' likelihood through `c`, on the grid
/// [`calibrate::fit_temperature`] searches; `None` with no votes.
pub fn fit(votes: &[(&[f32], usize)], c: &[Vec<f64>]) -> Option<f32> {
    (!votes.is_empty()).then(|| calibrate::minimize_on_grid(|t| vote_nll(votes, c, t)))
}

/// Whether a heuristic whose votes (any confidence) agree with people on `ok` of the
/// `n` images both labeled may fit a temperature.
pub fn qualifies((ok, n): (usize, usize)) -> bool {
    n >= MIN_OVERLAP && agreement_lower_bound(ok, n) >= MIN_AGREEMENT
}

/// Per attribute, the temperature the heuristic's votes on `pool` fit for the network
/// whose outputs are `out`, where the heuristic [`qualifies`], its votes did not train
/// the network (`trust.trains`: fitted on the votes it learned, the temperature fell to
/// the grid's floor and made it certain of the heuristic's errors) and it does not stand
/// in for the network (`stands_in`); `None` elsewhere.
pub fn temperatures(
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    trust: &Trust,
    out: &Outputs,
    pool: &[usize],
    stands_in: &[bool],
) -> Vec<Option<f32>> {
    (0..schema.attributes.len())
        .map(|a| {
            let used = qualifies(trust.standing[a])
                && !trust.trains[a]
                && !stands_in.get(a).copied().unwrap_or(false);
            used.then(|| fit_attribute(schema, a, index, store, &trust.votes, out, pool))
                .flatten()
        })
        .collect()
}

/// Attribute `a`'s temperature fitted on the heuristic's `votes` over `pool` for the
/// network whose outputs are `out`, the votes' confusion counted on `store`'s people's
/// labels, whether or not the heuristic qualifies; `None` without a vote in the pool.
pub fn fit_attribute(
    schema: &Schema,
    a: usize,
    index: &DatasetIndex,
    store: &LabelStore,
    votes: &LabelStore,
    out: &Outputs,
    pool: &[usize],
) -> Option<f32> {
    let attr = &schema.attributes[a];
    let k = attr.values.len();
    // Each image's vote, as a value index.
    let vote_of =
        |file: &str| -> Option<usize> { attr.index_of(&votes.get(file, &attr.name)?.value) };
    let pairs: Vec<(usize, usize)> = store
        .iter()
        .filter(|l| l.source == Source::Human && l.attribute == attr.name)
        .filter_map(|l| Some((attr.index_of(&l.value)?, vote_of(&l.file)?)))
        .collect();
    let c = confusion(&pairs, k);
    let voted: Vec<(&[f32], usize)> = pool
        .iter()
        .filter_map(|&i| {
            let v = vote_of(&index.images[i])?;
            let z = out.logits[a].get(i)?;
            (z.len() == k).then_some((z.as_slice(), v))
        })
        .collect();
    fit(&voted, &c)
}

/// The geometric mean of the temperatures the votes fitted; `None` where none did.
pub fn centre(voted: &[Option<f32>]) -> Option<f32> {
    let fitted: Vec<f32> = voted.iter().flatten().copied().collect();
    (!fitted.is_empty())
        .then(|| (fitted.iter().map(|t| t.ln()).sum::<f32>() / fitted.len() as f32).exp())
}

/// The prior the other attributes' temperatures are fitted under once the votes fitted
/// some: centred on their [`centre`], as wide as the rounds' usual one
/// ([`calibrate::ATTRIBUTE_LOG_SD`]).
pub fn prior(centre: f32) -> calibrate::Prior {
    calibrate::Prior {
        center: centre,
        log_sd: calibrate::ATTRIBUTE_LOG_SD,
    }
}

/// The refitted network's temperatures from the votes: the refit learned from the
/// held-out answers too, so none are left to fit it on, but the votes on the unanswered
/// images (which neither network saw) fit it as they fit the split network
/// (`refit_voted`). The other attributes' split temperatures (`split_temps`) are scaled
/// by the ratio the votes measured between the two networks (the geometric mean of
/// refit over split over the attributes both fitted): the heads share the body whose
/// confidence the refit changed. Matching the mean calibrated confidence instead
/// ([`calibrate::matched_temperature`]) gives the refit's accuracy gain no confidence
/// and over-softened eye colour by 7-15% on anime-faces-64 at 200 answers, where the
/// votes' ratio was 0.97-1.05 (refit test ECE 0.032-0.067 -> 0.018-0.043 on four
/// draws; BENCHMARKS.md, label, session 40). `None` where no attribute's votes fitted
/// both networks.
pub fn carried_to_refit(
    split_voted: &[Option<f32>],
    refit_voted: &[Option<f32>],
    split_temps: &[f32],
) -> Option<(Vec<f32>, f32)> {
    let logs: Vec<f32> = split_voted
        .iter()
        .zip(refit_voted)
        .filter_map(|(s, r)| Some((r.as_ref()? / s.as_ref()?).ln()))
        .collect();
    if logs.is_empty() {
        return None;
    }
    let ratio = (logs.iter().sum::<f32>() / logs.len() as f32).exp();
    let temps = split_temps
        .iter()
        .zip(refit_voted)
        .map(|(&t, r)| r.unwrap_or(t * ratio))
        .collect();
    Some((temps, ratio))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn the_refit_takes_its_own_vote_fits_and_carries_the_others_by_their_ratio() {
        // Two voted attributes whose refit fits are 1.1 and 0.9 times the split's: the
        // ratio is their geometric mean; the unvoted third is scaled by it.
        let (temps, ratio) = carried_to_refit(
            &[Some(2.0), Some(1.0), None],
            &[Some(2.2), Some(0.9), None],
            &[2.0, 1.0, 1.5],
        )
        .unwrap();
        assert!((ratio - (1.1f32 * 0.9).sqrt()).abs() < 1e-5, "{ratio}");
        assert_eq!(&temps[..2], &[2.2, 0.9]);
        assert!((temps[2] - 1.5 * ratio).abs() < 1e-5);
        // Votes that fitted only one of the two networks give no ratio.
        assert_eq!(
            carried_to_refit(&[Some(2.0), None], &[None, Some(1.0)], &[2.0, 1.0]),
            None
        );
    }

    /// Regression: votes that trained the network were also fitted its temperature (on
    /// the images it learned them on): the fit fell to the grid's floor, 0.25 / 1.15.
    #[test]
    fn votes_that_trained_the_network_fit_no_temperature() {
        use crate::labels::store::Label;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images")).unwrap();
        let n = 60;
        for i in 0..n {
            image::RgbImage::new(2, 2)
                .save(dir.path().join(format!("images/{i:02}.png")))
                .unwrap();
        }
        let index = DatasetIndex::open(dir.path()).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let schema = Schema::load(&root.join("labels/anime.toml")).unwrap();
        let label = |i: usize, value: &str, source| Label {
            file: index.images[i].clone(),
            attribute: "hair_color".into(),
            value: value.into(),
            confidence: 0.9,
            source,
            round: 0,
        };
        let (mut store, mut votes) = (LabelStore::new(), LabelStore::new());
        for i in 0..n {
            votes.set(label(
                i,
                if i % 5 == 0 { "brown" } else { "black" },
                Source::Heuristic,
            ));
            if i < 40 {
                store.set(label(i, "black", Source::Human));
            }
        }
        let k = schema.attributes[0].values.len();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut logits = |k: usize| -> Vec<Vec<f32>> {
            (0..n)
                .map(|_| (0..k).map(|_| rng.random_range(-3.0f32..3.0)).collect())
                .collect()
        };
        let out = Outputs {
            logits: vec![logits(k), logits(schema.attributes[1].values.len())],
            embeddings: Vec::new(),
        };
        let pool: Vec<usize> = (40..n).collect();
        let fit = |trains: bool| {
            let trust = Trust {
                votes: votes.clone(),
                training: vec![(32, 40), (0, 0)],
                trains: vec![trains, false],
                standing: vec![(32, 40), (0, 0)],
                stands: vec![false, false],
            };
            temperatures(
                &schema,
                &index,
                &store,
                &trust,
                &out,
                &pool,
                &[false, false],
            )
        };
        let free = fit(false);
        assert!(
            free[0].is_some_and(|t| (0.25..=20.0).contains(&t)),
            "{free:?}"
        );
        assert_eq!(free[1], None, "no eye votes");
        assert_eq!(fit(true), [None, None]);
    }

    #[test]
    fn a_heuristic_qualifies_by_the_lower_bound_of_its_agreement() {
        // anime-faces-64's hair votes at 200 answers, the lowest share of ten draws.
        assert!(qualifies((119, 198)));
        // anime-faces-96-raw's at 97 of 189: over half, but not surely.
        assert!(!qualifies((97, 189)));
        assert!(qualifies((30, 30)));
        assert!(!qualifies((19, 19)), "under MIN_OVERLAP");
    }

    #[test]
    fn confusion_rows_are_distributions_that_follow_the_counts() {
        let c = confusion(&[(0, 0), (0, 0), (0, 1), (1, 1)], 3);
        for row in &c {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        assert!(c[0][0] > c[0][1] && c[0][1] > c[0][2]);
        // A value no person gave: uniform.
        assert!((c[2][0] - c[2][2]).abs() < 1e-12);
    }

    /// Votes drawn from a known confusion on images whose true probabilities are the
    /// logits at temperature 2: the fit finds about 2, though the votes are 30% wrong.
    #[test]
    fn noisy_votes_recover_the_temperature() {
        let (k, t_true) = (4usize, 2.0f32);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let flip = 0.3f64;
        let c: Vec<Vec<f64>> = (0..k)
            .map(|y| {
                (0..k)
                    .map(|v| {
                        if v == y {
                            1.0 - flip
                        } else {
                            flip / (k - 1) as f64
                        }
                    })
                    .collect()
            })
            .collect();
        let draw = |rng: &mut rand::rngs::StdRng, p: &[f64]| {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            for (i, &x) in p.iter().enumerate() {
                acc += x;
                if u < acc {
                    return i;
                }
            }
            p.len() - 1
        };
        let mut logits = Vec::new();
        let mut voted = Vec::new();
        for _ in 0..6000 {
            let z: Vec<f32> = (0..k).map(|_| rng.random::<f32>() * 8.0).collect();
            let p: Vec<f64> = softmax_t(&z, t_true)
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let y = draw(&mut rng, &p);
            let v = draw(&mut rng, &c[y]);
            logits.push(z);
            voted.push(v);
        }
        let votes: Vec<(&[f32], usize)> = logits
            .iter()
            .map(Vec::as_slice)
            .zip(voted.iter().copied())
            .collect();
        let t = fit(&votes, &c).unwrap();
        assert!((t - t_true).abs() < 0.25, "fitted {t}");
        // Read as clean labels, the same votes say the network is far less sure.
        let clean = calibrate::fit_temperature(&logits, &voted);
        assert!(clean > t_true + 0.5, "clean fit {clean}");
        assert_eq!(fit(&[], &c), None);
    }
}
