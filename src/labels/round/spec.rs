//! A round's settings ([`RoundSpec`]) and their defaults, each with the measurement that
//! chose it.

use crate::labels::active::{self, Strategy};
use crate::labels::classifier::TrainSpec;
use crate::labels::consistency::Consistency;
use crate::labels::session;
use std::collections::HashSet;

/// Settings of a round.
#[derive(Debug, Clone)]
pub struct RoundSpec {
    /// Images to queue for a person (default 50).
    pub queue: usize,
    /// How to choose them (default margin: on three warm-up draws of anime-faces-64 it was
    /// above random at 500 and 1,000 answers but once, by 0.7 points, where entropy fell
    /// under it three times; hair / eye 0.917 / 0.899 at 500 on average, entropy 0.916 /
    /// 0.896, random 0.909 / 0.895; BENCHMARKS.md, label, session 21).
    pub strategy: Strategy,
    /// Calibrated confidence at which a prediction becomes a model label (default 0.9).
    pub threshold: f32,
    /// Heuristic labels at or above this confidence join the training set (default 0.5).
    pub heuristic_threshold: f32,
    /// Loss weight of heuristic training labels (default 0.5; humans weigh 1).
    pub synth_weight: f32,
    /// Heuristic labels of an attribute train the CNN only while they agree with people
    /// on at least this share of the images both labeled (default 0.9; the share's
    /// lower bound,
    /// [`agreement_lower_bound`](crate::labels::trust::agreement_lower_bound)),
    /// measured once [`MIN_OVERLAP`](crate::labels::trust::MIN_OVERLAP) such images
    /// exist; before that they are all there is to learn from.
    pub trust: f32,
    /// Classifier input side in pixels (default 48).
    pub size: usize,
    /// Colour space of the classifier's input (default RGB).
    pub colour: session::InputColour,
    /// Classifier training (default [`TrainSpec`]'s, for [`DEFAULT_ROUND_STEPS`] steps,
    /// with the consistency loss on [`DEFAULT_CONSISTENCY`] unlabeled images per step at
    /// threshold [`DEFAULT_CONSISTENCY_THRESHOLD`]).
    pub train: TrainSpec,
    /// Steps of the self-training pass (0: none): after the first pass, the model's
    /// confident predictions (>= `threshold`) on images no person labeled join the
    /// training set and the network trains on (default 0: off; one measured pass lowered
    /// hair accuracy, see BENCHMARKS.md, label).
    pub self_train_steps: usize,
    /// With the consistency loss, the calibration split's images join its unlabeled
    /// images (their labels stay out): the temperature is then fitted on images trained
    /// as the unasked ones are, whose labels it reports (default on). Off, the held-out
    /// images were the only ones of the network's training set the loss never saw, and
    /// on anime-faces-96-raw the unasked images' labels came out overconfident on average:
    /// mean confidence over accuracy +3.3 / +3.0 points (hair / eye) at 500 answers on
    /// four draws, +1.8 / -2.0 with it (the eye's size of error unchanged, its sign
    /// spread), accuracy level (-0.3 / +0.05 points); on anime-faces-64 (two draws)
    /// level, accuracy and ECE (BENCHMARKS.md, label, session 44).
    pub consistency_on_held_out: bool,
    /// Continue the last round's network instead of fresh weights when it learned from
    /// people and never saw this round's held-out answers ([`super::warm`]; default
    /// on). On ten warm-up draws of anime-faces-64, the 500-answer round continuing the
    /// 200-answer round's split network gave eye +0.7 points on average (+0.1 to +1.7,
    /// ahead on every draw; hair -0.04, noise) at the same round time (BENCHMARKS.md,
    /// label, session 32): the round's steps add to the last round's instead of
    /// repeating them.
    pub warm_start: bool,
    /// Networks trained per round from different seeds, their logits averaged (default
    /// 1; an ensemble, Lakshminarayanan et al. 2017). Each member costs a training and a
    /// prediction pass. The queries' diversity uses the first member's embedding.
    pub ensemble: usize,
    /// Cross-fitting (default 1: off): with K, K-1 more networks each hold out another
    /// fold of people's labels (one in `calibration_every` by hash, as the calibration
    /// split), the temperatures are fitted on the out-of-fold predictions of K folds
    /// instead of one (Chernozhukov et al. 2018's cross-fitting), and the K networks'
    /// average predicts instead of a refit (`round::cross_fit`). Each fold costs a
    /// training and a prediction pass: for the calibration at few answers. With K = 5 at
    /// 200 answers on anime-faces-64's two worst draws, test ECE 0.014-0.045 where it was
    /// 0.062-0.089, accuracy -0.4 to +1.2 points (BENCHMARKS.md, label, session 37).
    pub cross_fit: usize,
    /// Fit the temperature of an attribute whose heuristic mostly agrees with people on
    /// the heuristic's votes over the unanswered images, read as noisy labels through
    /// their confusion with people's answers ([`crate::labels::vote_temperature`]), and
    /// draw the other attributes' temperatures towards it; with the refit, set its
    /// temperatures from the votes too ([`crate::labels::vote_temperature::carried_to_refit`]);
    /// without cross-fitting, whose out-of-fold labels are enough. Default on.
    pub vote_calibration: bool,
    /// Predict from each image and its mirror image, averaging the logits (default
    /// on; [`predict_mirrored`](crate::labels::classifier::predict_mirrored)): one more
    /// forward pass over the images for eye +0.3 to +0.8 points (BENCHMARKS.md, label,
    /// sessions 10-11).
    pub mirror: bool,
    /// With `mirror`: images whose mirrored top probability (before calibration) is under
    /// this for some attribute are predicted again shifted by one pixel in each of the
    /// four directions, as is and mirrored, and take the mean of the ten views' logits
    /// ([`refine_uncertain`](crate::labels::classifier::refine_uncertain)); 0 (default): off.
    pub refine_below: f32,
    /// Queries drawn at random until this many images carry people's labels, before the
    /// strategy takes over (default 200). Uncertainty sampling from a network trained on
    /// a few dozen labels picks outliers (the cold-start problem of uncertainty sampling):
    /// on anime-faces-64 entropy queries reached hair 0.51 at 100 labels where random
    /// ones reached 0.75 (BENCHMARKS.md, label). 0: the strategy from the first query.
    pub warmup: usize,
    /// How the attributes' uncertainties make one score per image (default max).
    pub combine: active::Combine,
    /// How a batch of queries is spread over the embedding (default k-center greedy).
    pub diversity: active::Diversity,
    /// Run on CUDA (needs the `cuda` feature and a driver).
    pub cuda: bool,
    /// Images never trained on, queued or calibrated on (a test split); by image index.
    pub exclude: HashSet<usize>,
    /// Images that could not be decoded (by image index): never trained on, predicted,
    /// labeled or queued (a blank input's prediction became their label, and the page
    /// showed a question with no face). `round` and `simulate` fill it in.
    pub unreadable: HashSet<usize>,
    /// Images a person can be asked about (`None`: all); `simulate` passes the images
    /// its oracle knows, so no query is spent on an image it cannot answer.
    pub askable: Option<HashSet<usize>>,
    /// One human label in this many (by a stable hash of the file name) is held out to fit
    /// the temperature, once 40 people's labels exist; `None` (default): see
    /// [`calibration_every`](crate::labels::calibrate::calibration_every). A held-out
    /// label does not train the network.
    pub calibration_every: Option<u64>,
    /// After the calibration split has fitted the temperature (and judged the duel),
    /// train the round's networks on every answer, the split included, and predict with
    /// them (default on), at the temperatures that give them the split network's
    /// calibrated mean confidence on the unanswered images
    /// ([`calibrate::temperature_for_confidence`](crate::labels::calibrate::temperature_for_confidence)).
    /// The split's answers are otherwise never learned from: 40 of 200 and 40-51 of 500
    /// at the default split. The reported held-out ECE is the split network's.
    pub refit: bool,
    /// With `refit`: each network continues from its split network for this many steps
    /// (at most `train.steps`) on every answer, with a fresh optimizer and the cosine
    /// rate from `refit_lr` times the training rate; 0: a fresh network, trained for the
    /// full `train.steps`. Continued at half the rate, 200 steps after 600 gave, on
    /// anime-faces-64 paired on three draws' 500 answers, hair / eye 0.920 / 0.908 on
    /// average where a fresh refit gave 0.921 / 0.908 and no refit 0.918 / 0.904, in
    /// rounds of 254-263 s at 2 threads against 370 s (fresh) and 180-197 s (none); at
    /// the full rate 0.917 / 0.905 (BENCHMARKS.md, label, session 26). Default 300, after
    /// [`DEFAULT_ROUND_STEPS`] (session 29).
    pub refit_steps: usize,
    /// With `refit_steps`: the refit's peak learning rate as a share of `train.lr`
    /// (default 0.5).
    pub refit_lr: f64,
}

/// Unlabeled images per training step of a round's consistency loss
/// ([`crate::labels::consistency`]). In the loop on anime-faces-64, with mirrored
/// predictions, 64 of them took least-confidence from hair 0.916 to 0.928 at 500 answers
/// (within 3 points of the all-labels network) and eye from 0.882 to 0.893
/// (BENCHMARKS.md, label, sessions 11-13). Half as many make a step cheaper: 1,000 + 300
/// steps with 32 ([`DEFAULT_ROUND_STEPS`]) take a round of 269-277 s on 2 cores, against
/// 256-275 s for 600 + 200 with 64 (sessions 26 and 29).
pub const DEFAULT_CONSISTENCY: usize = 32;

/// Training steps of a round's first network. 1,000 steps with [`DEFAULT_CONSISTENCY`]
/// unlabeled images each, and a 300-step refit, against session 26's 600 + 200 steps with
/// 64: on anime-faces-64, paired on three draws' 500 answers, hair / eye 0.923 / 0.908
/// on average against 0.920 / 0.903, ahead on every draw and attribute (session 28); in
/// the loop (three warm-up draws, margin) 0.919 / 0.911 at 500 answers against 0.920 /
/// 0.903, eye +0.7 to +1.0 points on every draw, hair -0.5 to +0.3, and 0.865 / 0.835 at
/// 200 against 0.862 / 0.824 (BENCHMARKS.md, label, sessions 28-29).
pub const DEFAULT_ROUND_STEPS: usize = 1000;

/// Softmax probability at which a weak view's prediction becomes a consistency target
/// in a round: FixMatch's 0.95. At 0.9 more images pass: one loop run gave eye 0.903 and
/// hair 0.923 at 500 answers (0.95: 0.893 / 0.928), but a rerun gave 0.897 / 0.919 and a
/// new warm-up draw 0.890 / 0.925, so 0.9 is no measured gain (BENCHMARKS.md, label,
/// sessions 12-13). Rounds take about as long either way since session 13 (176 s).
pub const DEFAULT_CONSISTENCY_THRESHOLD: f32 = 0.95;

impl RoundSpec {
    /// The steps a continued refit runs (and `rounds.json` records): `refit_steps`, at
    /// most `train.steps`.
    pub fn continued_refit_steps(&self) -> usize {
        self.refit_steps.min(self.train.steps)
    }
}

impl Default for RoundSpec {
    fn default() -> Self {
        RoundSpec {
            queue: 50,
            strategy: Strategy::Margin,
            threshold: 0.9,
            heuristic_threshold: 0.5,
            synth_weight: 0.5,
            trust: 0.9,
            size: 48,
            colour: session::InputColour::default(),
            train: TrainSpec {
                consistency: Consistency {
                    batch: DEFAULT_CONSISTENCY,
                    threshold: DEFAULT_CONSISTENCY_THRESHOLD,
                    ..Consistency::default()
                },
                steps: DEFAULT_ROUND_STEPS,
                ..TrainSpec::default()
            },
            self_train_steps: 0,
            consistency_on_held_out: true,
            warm_start: true,
            ensemble: 1,
            cross_fit: 1,
            vote_calibration: true,
            mirror: true,
            refine_below: 0.0,
            warmup: 200,
            combine: active::Combine::Max,
            diversity: active::Diversity::KCenter,
            cuda: false,
            exclude: HashSet::new(),
            unreadable: HashSet::new(),
            askable: None,
            calibration_every: None,
            refit: true,
            refit_steps: 300,
            refit_lr: 0.5,
        }
    }
}

impl RoundSpec {
    /// A key of the test split (`exclude` less the unreadable images): 0 for none. A
    /// network continues only under the same split, else one trained on images now in
    /// the test split (a second `simulate` with a larger `--holdout`) would be scored on
    /// them.
    pub fn exclude_key(&self) -> u64 {
        let mut v: Vec<usize> = self.exclude.difference(&self.unreadable).copied().collect();
        if v.is_empty() {
            return 0;
        }
        v.sort_unstable();
        let bytes: Vec<u8> = v.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
        xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
    }

    /// The network's input as `rounds.json` records it (`48 px rgb 32,64,128,128`): a
    /// warm start continues only a network that saw the same planes at the same size.
    pub fn input_tag(&self) -> String {
        let colour = match self.colour {
            session::InputColour::Rgb => "rgb",
            session::InputColour::Lab => "lab",
        };
        let widths: Vec<String> = self.train.channels.iter().map(|c| c.to_string()).collect();
        format!("{} px {colour} {}", self.size, widths.join(","))
    }
}
