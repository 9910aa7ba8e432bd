//! `label simulate`: an oracle answers the queue from a truth file, so label efficiency
//! can be measured without a person. A test split of the truth (by a stable hash of the
//! file name) is never trained on, queued or calibrated on; after each round the model's
//! predictions on it give a point of the accuracy-versus-labels curve.

use super::active::Strategy;
use super::calibrate;
use super::import;
use super::index::DatasetIndex;
use super::round::{round_with, RoundSpec};
use super::session;
use super::store::{LabelStore, Source};
use super::{LabelError, Paths};
use crate::progress::Verbosity;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimulateSpec {
    /// The truth file (wide CSV keyed by `images/...` path or manifest source).
    pub oracle: PathBuf,
    /// Images the oracle may label in total (a schedule's counts above it are dropped).
    pub budget: usize,
    /// Rounds that queue images (one more round trains on the last answers).
    pub rounds: usize,
    /// Cumulative label counts to stop at instead of equal rounds (e.g. 50,100,200,500).
    pub schedule: Option<Vec<usize>>,
    /// Share of the truth held out as the test split (default 0.2).
    pub holdout: f32,
    /// Settings of each round (its `queue` and `exclude` are set per round).
    pub round: RoundSpec,
}

/// Accuracy of one kind of label on the test split.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Scored {
    /// Share of test images that have such a label.
    pub coverage: f32,
    /// Share of those that are right.
    pub accuracy: f32,
}

/// How well one attribute's calibrated predictions on a set of images match the truth.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Calibration {
    /// Images scored.
    pub images: usize,
    /// Share of the predictions that are right.
    pub accuracy: f32,
    /// Mean reported confidence: above `accuracy` is overconfident.
    pub confidence: f32,
    /// Expected calibration error ([`calibrate::ece`]).
    pub ece: f32,
}

impl Calibration {
    fn of(pairs: &[(f32, bool)]) -> Self {
        Calibration {
            images: pairs.len(),
            accuracy: calibrate::share_right(pairs),
            confidence: pairs.iter().map(|p| p.0).sum::<f32>() / pairs.len().max(1) as f32,
            ece: calibrate::ece(pairs),
        }
    }
}

/// One point of the curve: after training on `labels` oracle-labeled images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Oracle-labeled images used for training.
    pub labels: usize,
    /// Per attribute: accuracy of the model's prediction on every test image.
    pub accuracy: BTreeMap<String, f32>,
    /// Per attribute: expected calibration error of the calibrated confidences on the test split.
    pub ece: BTreeMap<String, f32>,
    /// Per attribute: the ECE a perfectly calibrated predictor with the same confidences
    /// would show on this test split ([`calibrate::ece_noise_floor`], 200 draws): the
    /// part of `ece` that sampling noise alone explains.
    pub ece_floor: BTreeMap<String, f32>,
    /// Per attribute: the accepted (confident) labels on the test split.
    pub accepted: BTreeMap<String, Scored>,
    /// Per attribute: the predictions on the images outside the test split that the
    /// truth file knows and nobody has answered: the labels a user of the loop gets.
    /// Unlike the test split they are the images the loop trained on unlabeled and chose
    /// not to ask (the least sure went to the oracle), so their calibration can differ
    /// from the test split's.
    #[serde(default)]
    pub unasked: BTreeMap<String, Calibration>,
    /// Seconds the round took.
    pub seconds: f64,
}

/// What a simulation measured (also written to `DIR/labels/simulate.json`, after every
/// round, so that a killed simulation's rerun goes on with its curve).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulateReport {
    /// The strategy.
    pub strategy: String,
    /// Test images.
    pub test_images: usize,
    /// Per attribute: the heuristic labels on the test split.
    pub heuristic: BTreeMap<String, Scored>,
    /// One point per round.
    pub curve: Vec<CurvePoint>,
    /// The settings that shape the curve ([`SimulateSpec::settings`]); a rerun with the
    /// same ones continues an unfinished curve.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub settings: String,
    /// Whether the last round ran; `false` while a simulation runs (or was killed).
    #[serde(default = "yes")]
    pub complete: bool,
    /// The oracle's answers against the colour heuristics' votes: attributes whose
    /// answers look swapped with another's or renamed ([`crate::labels::audit`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<crate::labels::audit::Finding>,
    /// Points taken over from a killed run of the same simulation.
    #[serde(default, skip_serializing_if = "crate::labels::session::is_zero")]
    pub resumed_points: usize,
}

fn yes() -> bool {
    true
}

impl SimulateSpec {
    /// What decides the curve's points: the oracle, the budget and schedule, the test
    /// split, the strategy, and a hash of every other round setting (seed, steps, input
    /// size...): a killed run resumed with another `--seed` once joined two runs'
    /// points in one curve.
    fn settings(&self) -> String {
        // Less what each round sets itself (and the sets' Debug order is per instance).
        let mut r = self.round.clone();
        (r.queue, r.askable) = (0, None);
        r.exclude.clear();
        r.unreadable.clear();
        let round = xxhash_rust::xxh3::xxh3_64(format!("{r:?}").as_bytes());
        format!(
            "{}|{}|{}|{:?}|{}|{}|round {round:016x}",
            self.oracle.display(),
            self.budget,
            self.rounds,
            self.schedule,
            self.holdout,
            self.round.strategy
        )
    }
}

/// The cumulative answer counts the rounds queue up to: the schedule's counts within
/// the budget, or the budget in equal steps; those `used` already reached are dropped.
fn answer_targets(spec: &SimulateSpec, used: usize) -> Vec<usize> {
    let mut targets: Vec<usize> = match &spec.schedule {
        Some(s) => s.iter().copied().filter(|&x| x <= spec.budget).collect(),
        None => (1..=spec.rounds)
            .map(|r| spec.budget * r / spec.rounds.max(1))
            .collect(),
    };
    // Rising and each once: a repeated count (`--budget 3 --rounds 5` gives 0, 1, 1, 2,
    // 3) would run a whole round that queues nothing and add a point twice.
    targets.sort_unstable();
    targets.dedup();
    targets.retain(|&t| t > used);
    targets
}

/// Share of the truth's images `label simulate` holds out as its test split by default.
pub const DEFAULT_HOLDOUT: f32 = 0.2;

/// Whether `file` is in the test split: a stable `holdout` share of the images by a hash
/// of the name, never trained on, queued or calibrated on.
pub fn in_test(file: &str, holdout: f32) -> bool {
    (xxhash_rust::xxh3::xxh3_64(file.as_bytes()) % 10_000) as f32 / 10_000.0 < holdout
}

/// Runs the simulated loop on an initialized dataset folder.
pub fn simulate(
    data: &Path,
    spec: &SimulateSpec,
    v: Verbosity,
) -> Result<SimulateReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let _held = paths.hold()?;
    let index = DatasetIndex::open(data)?;
    let truth_rows = import::read_wide(&spec.oracle, &schema, &index)?;
    import::require_matches(&spec.oracle, &truth_rows)?;
    let mut truth: HashMap<(usize, usize), usize> = HashMap::new();
    for a in &truth_rows.answers {
        truth.insert((a.image, a.attribute), a.value);
    }
    let truth_images: HashSet<usize> = truth.keys().map(|k| k.0).collect();
    // Sorted, so the test split reaches the seeded noise draw of
    // `calibrate::ece_noise_floor` in one order in every process: a `HashSet`'s order is
    // seeded per process, and the floor differed in its third digit between two runs.
    let mut test_order: Vec<usize> = truth_images
        .iter()
        .copied()
        .filter(|&i| in_test(&index.images[i], spec.holdout))
        .collect();
    test_order.sort_unstable();
    let test: HashSet<usize> = test_order.iter().copied().collect();
    let mut store = LabelStore::load(&paths.labels(), &schema)?;

    let score = |store: &LabelStore, sources: &[Source]| -> BTreeMap<String, Scored> {
        let mut out = BTreeMap::new();
        for (a, attr) in schema.attributes.iter().enumerate() {
            let (mut n, mut cov, mut ok) = (0, 0, 0);
            for &i in &test_order {
                let Some(&y) = truth.get(&(i, a)) else {
                    continue;
                };
                n += 1;
                if let Some(l) = store
                    .get(&index.images[i], &attr.name)
                    .filter(|l| sources.contains(&l.source))
                {
                    cov += 1;
                    ok += (attr.index_of(&l.value) == Some(y)) as usize;
                }
            }
            if n == 0 {
                continue; // nothing to score: no figure rather than 0
            }
            out.insert(
                attr.name.clone(),
                Scored {
                    coverage: cov as f32 / n.max(1) as f32,
                    accuracy: ok as f32 / cov.max(1) as f32,
                },
            );
        }
        out
    };
    // The heuristics' votes as `init` stored them (the store's own heuristic labels give
    // way to answers as the loop goes on: a rerun scored fewer of them).
    let votes = match paths.heuristics().is_file() {
        true => LabelStore::load(&paths.heuristics(), &schema)?,
        false => store.clone(),
    };
    let heuristic = score(&votes, &[Source::Heuristic]);
    let audit = crate::labels::audit::audit(&schema, &index, &truth_rows.answers, &votes);
    drop(votes);
    let settings = spec.settings();
    let out = paths.dir.join("simulate.json");
    // A killed run of this simulation: its points before the answers the store now holds.
    let earlier: Vec<CurvePoint> = std::fs::read(&out)
        .ok()
        .and_then(|b| serde_json::from_slice::<SimulateReport>(&b).ok())
        .filter(|r| !r.complete && r.settings == settings)
        .map(|r| r.curve)
        .unwrap_or_default();

    let images = session::decode_all(&index, "decode", v);
    let pixels = session::to_pixels(&images, spec.round.size, spec.round.colour);
    let unreadable = session::unreadable(&images);
    drop(images);
    let mut used = store.human_files().len();
    // Targets already reached (a simulation continued on a labeled folder) queue
    // nothing: one round trains on what is there.
    let targets = answer_targets(spec, used);
    let mut curve: Vec<CurvePoint> = earlier.into_iter().filter(|p| p.labels < used).collect();
    let resumed_points = curve.len();
    let mut report = SimulateReport {
        strategy: spec.round.strategy.to_string(),
        test_images: test.len(),
        heuristic,
        curve: Vec::new(),
        settings,
        complete: false,
        audit,
        resumed_points,
    };
    for r in 0..=targets.len() {
        let mut rs = spec.round.clone();
        rs.exclude = test.clone();
        rs.unreadable = unreadable.clone();
        rs.askable = Some(truth_images.difference(&test).copied().collect());
        rs.queue = targets.get(r).map_or(0, |&t| t.saturating_sub(used));
        let rep = round_with(&paths, &schema, &index, &pixels, &mut store, &rs, v)?;
        let mut point = CurvePoint {
            labels: used,
            accuracy: BTreeMap::new(),
            ece: BTreeMap::new(),
            ece_floor: BTreeMap::new(),
            accepted: BTreeMap::new(),
            unasked: BTreeMap::new(),
            seconds: rep.info.seconds,
        };
        // Less this round's queue: its answers join the store below.
        let human = store.human_files();
        let queued: HashSet<usize> = rep.queued.iter().copied().collect();
        for (a, attr) in schema.attributes.iter().enumerate() {
            let judged = |i: usize| {
                if unreadable.contains(&i) {
                    return None; // a blank input's guess scores nothing
                }
                let y = *truth.get(&(i, a))?;
                let p = &rep.probs[a][i];
                let (best, &c) = p
                    .iter()
                    .enumerate()
                    .max_by(|x, y| x.1.total_cmp(y.1))
                    .unwrap_or((0, &0.0));
                Some((c, best == y))
            };
            let pairs: Vec<(f32, bool)> = test_order.iter().filter_map(|&i| judged(i)).collect();
            let unasked: Vec<(f32, bool)> = (0..index.len())
                .filter(|i| !test.contains(i) && !queued.contains(i))
                .filter(|i| !human.contains(index.images[*i].as_str()))
                .filter_map(judged)
                .collect();
            // No image to score is no figure (it read as 0% right: a curve at 0 for an
            // attribute the test split's truth never names).
            if !unasked.is_empty() {
                point
                    .unasked
                    .insert(attr.name.clone(), Calibration::of(&unasked));
            }
            if pairs.is_empty() {
                continue;
            }
            point
                .accuracy
                .insert(attr.name.clone(), calibrate::share_right(&pairs));
            point.ece.insert(attr.name.clone(), calibrate::ece(&pairs));
            let conf: Vec<f32> = pairs.iter().map(|p| p.0).collect();
            let floor = calibrate::ece_noise_floor(&conf, 200, a as u64);
            point.ece_floor.insert(attr.name.clone(), floor);
        }
        point.accepted = score(&store, &[Source::Model, Source::Heuristic]);
        curve.push(point);
        // On disk before the answers: a rerun after a kill keeps the points whose
        // answers the store holds, and measures again the one it does not.
        report.curve.clone_from(&curve);
        crate::atomic::write_json(&out, &report).map_err(|e| LabelError::io(&out, e))?;
        // The oracle answers every attribute of each queued image it knows, and skips
        // the others as a person who cannot tell would: a truth row with an empty cell
        // (anime-faces-96-raw has 54) would otherwise leave its image open, and the
        // strategy asks the same image again, a query spent on nothing.
        let mut answers = Vec::new();
        let mut skips = Vec::new();
        for &i in &rep.queued {
            for (a, attr) in schema.attributes.iter().enumerate() {
                match truth.get(&(i, a)) {
                    Some(&value) => answers.push(import::Answer {
                        image: i,
                        attribute: a,
                        value,
                    }),
                    None => skips.push((index.images[i].clone(), attr.name.clone())),
                }
            }
        }
        used += rep.queued.len();
        if !skips.is_empty() {
            crate::labels::queue::add_skips(&paths, skips)?;
        }
        // Into the file under the store's lock, as `label import` writes answers: a plain
        // save of the simulation's copy wrote over answers given meanwhile (`label serve`).
        // The store as written is the next round's (read once, by the update).
        let round = rep.info.round;
        store = LabelStore::update(&paths.labels(), &schema, |disk| {
            session::store_answers(disk, &schema, &index, &answers, round);
            disk.clone()
        })?;
    }
    report.curve = curve;
    report.complete = true;
    crate::atomic::write_json(&out, &report).map_err(|e| LabelError::io(&out, e))?;
    // The label page (DIR/labels/report.html) is a view; failing to draw it is not an error.
    let _ = crate::report::write_label_report(data);
    Ok(report)
}

/// Parses a strategy name (for the command line).
pub fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_caps_a_schedule() {
        let spec = |budget, schedule: Option<Vec<usize>>| SimulateSpec {
            oracle: PathBuf::new(),
            budget,
            rounds: 2,
            schedule,
            holdout: 0.2,
            round: RoundSpec::default(),
        };
        assert_eq!(
            answer_targets(&spec(10, Some(vec![20, 40])), 0),
            Vec::<usize>::new()
        );
        assert_eq!(
            answer_targets(&spec(40, Some(vec![20, 40, 80])), 0),
            [20, 40]
        );
        assert_eq!(answer_targets(&spec(40, Some(vec![20, 40])), 25), [40]);
        assert_eq!(answer_targets(&spec(100, None), 0), [50, 100]);
        let five = SimulateSpec {
            rounds: 5,
            ..spec(3, None)
        };
        assert_eq!(answer_targets(&five, 0), [1, 2, 3]);
    }
}
