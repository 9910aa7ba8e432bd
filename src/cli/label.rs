//! `facesynth label ...`: active label synthesis. Each subcommand resolves its settings
//! and makes one library call in `facesynth::labels`.

use super::parse::{at_least, number, probability};
use anyhow::Context;
use clap::Subcommand;
use facesynth::labels::{
    self,
    active::{Combine, Diversity},
    classifier::{LrSchedule, TrainSpec},
    consistency::Consistency,
    round,
    session::InputColour,
    RoundSpec, SimulateSpec, Strategy,
};
use facesynth::progress::Verbosity;
use std::path::PathBuf;

/// Label subcommands.
#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Start a label store for a prepared dataset and label it with the colour heuristics.
    #[command(after_help = "Examples:
  facesynth label init --schema labels/anime.toml --data data/
  facesynth label init --schema labels/photo.toml --data photos/   (glasses: no colour heuristic)")]
    Init {
        /// The attribute schema (labels/*.toml).
        #[arg(long)]
        schema: PathBuf,
        /// The prepared dataset (prep's OUT folder).
        #[arg(long)]
        data: PathBuf,
    },
    /// Train the classifier, accept confident predictions, queue images for a person.
    #[command(after_help = "Examples:
  facesynth label round --data data/
  facesynth label round --data data/ --strategy entropy --queue 100 --threshold 0.95
  facesynth label round --data data/ --cuda   (a build with --features cuda)")]
    Round {
        /// The prepared dataset.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        round: RoundArgs,
        /// Print the round's report as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Counts by source and value, coverage, calibration, pending queue.
    #[command(after_help = "Examples:
  facesynth label status --data data/
  facesynth label status --data data/ --json")]
    Status {
        /// The prepared dataset.
        #[arg(long)]
        data: PathBuf,
        /// Print the report as JSON (as the other label commands do) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Write DATA/labels_wide.csv and an ImageFolder layout (DATA/imagefolder/).
    #[command(after_help = "Examples:
  facesynth label export --data data/          accepted labels only
  facesynth label export --data data/ --all    gaps filled with the last round's predictions")]
    Export {
        /// The prepared dataset.
        #[arg(long)]
        data: PathBuf,
        /// Fill images without an accepted label with the last round's prediction.
        #[arg(long)]
        all: bool,
        /// Leave out heuristic and model labels (and --all's predictions) under this
        /// confidence; a person's labels always go [default: 0, every label].
        #[arg(long, default_value_t = 0.0, value_name = "P", value_parser = probability)]
        min_confidence: f32,
    },
    /// Write queue.csv (pending questions) and a contact-sheet PNG of the queued faces.
    #[command(after_help = "Examples:
  facesynth label queue --data data/           then fill in data/labels/queue.csv's value column
  facesynth label queue --data data/ --k 100")]
    Queue {
        /// The prepared dataset.
        #[arg(long)]
        data: PathBuf,
        /// Images to queue when there is no queue yet.
        #[arg(long, default_value_t = 50)]
        k: usize,
    },
    /// Read human answers: a wide CSV, an answers file (file,attribute,value) or an ImageFolder.
    #[command(after_help = "Examples:
  facesynth label import data/labels/queue.csv --data data/     a filled-in queue
  facesynth label import tags.csv --data data/                  file,hair_color,eye_color
  facesynth label import sorted/ --data data/ --attribute hair_color   sorted/<value>/<image>")]
    Import {
        /// The file (or ImageFolder root).
        file: PathBuf,
        /// The prepared dataset.
        #[arg(long)]
        data: PathBuf,
        /// The attribute an ImageFolder's class folders name.
        #[arg(long)]
        attribute: Option<String>,
    },
    /// Serve a local labeling page (127.0.0.1 only) for the queue: a key per value, Enter
    /// for the round's suggestion, s or space to skip, Backspace or Ctrl+Z to take the last
    /// answer back.
    #[command(after_help = "Examples:
  facesynth label serve --data data/             then open http://127.0.0.1:8765
  facesynth label serve --data data/ --port 0    any free port (printed)
  facesynth -q label serve --data data/ --port 0  prints only the page's address, on stdout")]
    Serve {
        /// The prepared dataset.
        #[arg(long)]
        data: PathBuf,
        /// Port (0: any free port).
        #[arg(long, default_value_t = 8765)]
        port: u16,
    },
    /// Answer the queue from a truth file round after round, and measure accuracy. The
    /// oracle's answers enter the store as people's labels (source human): simulate on a
    /// copy of a folder that people label.
    #[command(after_help = "Examples:
  facesynth label simulate --data data/ --oracle tags.csv --budget 500 --rounds 5
  facesynth label simulate --data data/ --oracle tags.csv --schedule 50,100,200,500 --strategy margin")]
    Simulate {
        /// The prepared dataset (after `label init`).
        #[arg(long)]
        data: PathBuf,
        /// Truth CSV (file,<attr>...), keyed by images/... path or manifest source.
        #[arg(long)]
        oracle: PathBuf,
        /// Images the oracle labels in total [default: 500, or with --schedule its last
        /// count]; a schedule's counts may not exceed it.
        #[arg(long)]
        budget: Option<usize>,
        /// Rounds that queue images, --budget split evenly (default 5; not with --schedule,
        /// whose counts are the rounds).
        #[arg(long, value_parser = at_least::<usize, 1>)]
        rounds: Option<usize>,
        /// Cumulative label counts per round instead of equal rounds (e.g. 50,100,200,500).
        #[arg(long, value_delimiter = ',')]
        schedule: Option<Vec<usize>>,
        /// Share of the truth held out as a test split, above 0 and below 1 (at 0 nothing is
        /// measured, at 1 nothing is left to ask).
        #[arg(long, default_value_t = labels::simulate::DEFAULT_HOLDOUT, value_parser = open_share)]
        holdout: f32,
        #[command(flatten)]
        round: RoundArgs,
    },
}

/// A share strictly between 0 and 1.
fn open_share(s: &str) -> Result<f32, String> {
    number(s, |p: f32| p > 0.0 && p < 1.0, "above 0 and below 1")
}

/// The classifier's input side: 16 to 256 px (`--size 100000` aborted out of memory).
fn classifier_side(s: &str) -> Result<usize, String> {
    number(
        s,
        |v: usize| (16..=256).contains(&v),
        "a side of 16 to 256 px",
    )
}

/// A finite number above 0.
fn positive(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: f64| v > 0.0 && v.is_finite(),
        "a finite number above 0",
    )
}

/// Settings shared by `round` and `simulate`.
#[derive(Debug, clap::Args)]
pub struct RoundArgs {
    /// Images to queue per round [default: 50] (not `simulate`: its rounds queue up to
    /// --budget in --rounds steps, or up to each --schedule count).
    #[arg(long)]
    queue: Option<usize>,
    /// margin, entropy, least-confidence or random.
    #[arg(long, default_value_t = RoundSpec::default().strategy)]
    strategy: Strategy,
    /// Calibrated confidence at which a prediction becomes a label (none until people's
    /// answers hold out 10 labels to calibrate the confidences).
    #[arg(long, default_value_t = RoundSpec::default().threshold, value_parser = probability)]
    threshold: f32,
    /// Heuristic labels train the CNN only while they agree with people's labels on at
    /// least this share of the images both labeled (measured once 20 exist).
    #[arg(long, default_value_t = RoundSpec::default().trust, value_parser = probability)]
    trust: f32,
    /// Classifier input side in pixels (16 to 256: four 2x2 poolings, and every image is
    /// held at this size).
    #[arg(long, default_value_t = RoundSpec::default().size, value_parser = classifier_side)]
    size: usize,
    /// Training steps of a round's first network.
    #[arg(long, default_value_t = RoundSpec::default().train.steps, value_parser = at_least::<usize, 1>)]
    steps: usize,
    /// Steps of the self-training pass (0: none) on confident predictions.
    #[arg(long, default_value_t = RoundSpec::default().self_train_steps)]
    self_train_steps: usize,
    /// Images per training step.
    #[arg(long, default_value_t = TrainSpec::default().batch, value_parser = at_least::<usize, 1>)]
    batch: usize,
    /// Random shifts of up to this many pixels while training (augmentation; 0: none).
    #[arg(long, default_value_t = TrainSpec::default().shift)]
    shift: usize,
    /// Learning rate over a round's training: cosine (decays to zero) or constant.
    #[arg(long, value_enum, default_value_t = TrainSpec::default().schedule)]
    lr_schedule: LrSchedule,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue the last round's network instead of fresh weights, when it learned from
    /// people and never saw this round's held-out answers (false: always fresh).
    #[arg(long, default_value_t = RoundSpec::default().warm_start, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    warm_start: bool,
    /// Networks per round, from different seeds, their predictions averaged (each one
    /// more training and prediction pass).
    #[arg(long, default_value_t = RoundSpec::default().ensemble, value_parser = at_least::<usize, 1>)]
    ensemble: usize,
    /// Train K networks, each without a fold of the answers; fit the temperatures on
    /// their out-of-fold predictions and average them (no refit). K-1 more trainings, for
    /// the calibration at a few hundred answers (measured in BENCHMARKS.md, label)
    /// [default: 1, off].
    #[arg(long, default_value_t = RoundSpec::default().cross_fit, value_parser = at_least::<usize, 1>)]
    cross_fit: usize,
    /// Fit the temperature of an attribute whose heuristic agrees with people on at
    /// least half their labels on its votes over the unanswered images, as noisy
    /// labels, and draw the other attributes' towards it; with the refit, fit its
    /// temperatures on the votes too and carry the others by the ratio they measure
    /// (false: on the held-out answers alone, the refit's by its mean confidence).
    #[arg(long, default_value_t = RoundSpec::default().vote_calibration, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    vote_calibration: bool,
    /// With the consistency loss, train on the calibration split's images unlabeled too,
    /// as on the unasked images whose confidences the temperature sets (false: leave
    /// them out of it).
    #[arg(long, default_value_t = RoundSpec::default().consistency_on_held_out, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    consistency_on_held_out: bool,
    /// Predict from each image and its mirror image (one more pass over the images).
    #[arg(long, default_value_t = RoundSpec::default().mirror, action = clap::ArgAction::Set, value_name = "BOOL")]
    mirror: bool,
    /// With mirrored predictions: images whose top probability is under this for some
    /// attribute are predicted again at 1 px shifts (ten views, logits averaged); 0: off.
    #[arg(long, default_value_t = RoundSpec::default().refine_below, value_name = "P", value_parser = probability)]
    refine_below: f32,
    /// Colour space of the network's input: rgb, or lab (CIE L*a*b*).
    #[arg(long, value_enum, default_value_t = RoundSpec::default().colour)]
    input_colour: InputColour,
    /// Unlabeled images per training step for the consistency loss (FixMatch; 0: off,
    /// for a round of about two thirds of the time).
    #[arg(long, default_value_t = round::DEFAULT_CONSISTENCY)]
    consistency: usize,
    /// Softmax probability a weak view's prediction needs to become the consistency
    /// loss's target (FixMatch's 0.95; 0.9 gives more targets, with no measured gain).
    #[arg(long, default_value_t = round::DEFAULT_CONSISTENCY_THRESHOLD, value_parser = probability)]
    consistency_threshold: f32,
    /// Distribution alignment of the consistency targets (ReMixMatch): weak predictions
    /// reweighted by the labeled value frequencies over the predicted ones before the
    /// threshold.
    #[arg(long)]
    consistency_align: bool,
    /// Queue at random until this many images carry people's labels, then by --strategy
    /// (uncertainty from a network trained on a few dozen labels picks outliers).
    #[arg(long, default_value_t = RoundSpec::default().warmup)]
    warmup: usize,
    /// How an image's uncertainties over its attributes make one score: max or mean.
    #[arg(long, default_value = "max")]
    combine: Combine,
    /// How a batch of queries is spread over the network's embedding: k-center greedy
    /// (core-set), or k-means with the most uncertain image of each cluster.
    #[arg(long, value_enum, default_value_t = RoundSpec::default().diversity)]
    diversity: Diversity,
    /// Hold out one human label in N (stable by file name) to calibrate confidences
    /// [default: 5, doubled while the split would keep at least 50 images].
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
    calibration_every: Option<u64>,
    /// After the held-out answers have fitted the temperature, train on every answer,
    /// those included, and predict with that network.
    #[arg(long, default_value_t = RoundSpec::default().refit, action = clap::ArgAction::Set, value_name = "BOOL")]
    refit: bool,
    /// The refit continues from the first network for N steps (0: a fresh network, the
    /// full --steps); default 300.
    #[arg(long)]
    refit_steps: Option<usize>,
    /// The refit's peak learning rate as a share of the training rate (above 0);
    /// default 0.5.
    #[arg(long, value_parser = positive)]
    refit_lr: Option<f64>,
    /// Train on CUDA (build with --features cuda).
    #[arg(long)]
    cuda: bool,
}

impl RoundArgs {
    /// The settings, less flags that would do nothing (a bad command line, exit 2).
    fn checked_spec(&self) -> anyhow::Result<RoundSpec> {
        if !self.refit && (self.refit_steps.is_some() || self.refit_lr.is_some()) {
            return Err(super::usage(
                "--refit-steps and --refit-lr tune the refit; they do nothing with --refit false"
                    .into(),
            ));
        }
        if !self.mirror && self.refine_below > 0.0 {
            return Err(super::usage(
                "--refine-below refines mirrored predictions; it does nothing with \
                 --mirror false"
                    .into(),
            ));
        }
        Ok(self.spec())
    }

    fn spec(&self) -> RoundSpec {
        RoundSpec {
            queue: self.queue.unwrap_or(RoundSpec::default().queue),
            strategy: self.strategy,
            threshold: self.threshold,
            trust: self.trust,
            size: self.size,
            colour: self.input_colour,
            self_train_steps: self.self_train_steps,
            train: TrainSpec {
                steps: self.steps,
                batch: self.batch,
                seed: self.seed,
                shift: self.shift,
                schedule: self.lr_schedule,
                consistency: Consistency {
                    batch: self.consistency,
                    threshold: self.consistency_threshold,
                    align: self.consistency_align,
                    ..Consistency::default()
                },
                ..TrainSpec::default()
            },
            warm_start: self.warm_start,
            ensemble: self.ensemble,
            cross_fit: self.cross_fit,
            vote_calibration: self.vote_calibration,
            consistency_on_held_out: self.consistency_on_held_out,
            mirror: self.mirror,
            refine_below: self.refine_below,
            warmup: self.warmup,
            combine: self.combine,
            diversity: self.diversity,
            cuda: self.cuda,
            calibration_every: self.calibration_every,
            refit: self.refit,
            refit_steps: self.refit_steps.unwrap_or(RoundSpec::default().refit_steps),
            refit_lr: self.refit_lr.unwrap_or(RoundSpec::default().refit_lr),
            ..RoundSpec::default()
        }
    }
}

fn print<T: serde::Serialize>(v: Verbosity, report: &T) -> anyhow::Result<()> {
    if v != Verbosity::Quiet {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

/// A report as a summary to read, nothing when quiet; or, asked for with `json`, as JSON
/// even when quiet (`label status --json -q` printed nothing).
fn summary<T: serde::Serialize + std::fmt::Display>(
    v: Verbosity,
    json: bool,
    report: &T,
) -> anyhow::Result<()> {
    match json {
        true => print(Verbosity::Normal, report),
        false if v == Verbosity::Quiet => Ok(()),
        false => {
            print!("{report}");
            Ok(())
        }
    }
}

/// Runs a label subcommand.
pub fn run(cmd: LabelCommand, v: Verbosity) -> anyhow::Result<()> {
    if matches!(
        cmd,
        LabelCommand::Init { .. } | LabelCommand::Round { .. } | LabelCommand::Simulate { .. }
    ) {
        facesynth::interrupt::announce(
            "facesynth label: interrupted; the label store keeps every answer saved so far: \
             run the command again",
        );
    }
    match cmd {
        LabelCommand::Init { schema, data } => {
            print(v, &labels::init(&schema, &data, v).context("label init")?)
        }
        LabelCommand::Round { data, round, json } => {
            let report = labels::round(&data, &round.checked_spec()?, v).context("label round")?;
            summary(v, json, &report)?;
            if !json && v != Verbosity::Quiet && !report.queued.is_empty() {
                let d = data.display();
                println!(
                    "next: answer the queue on a web page (`facesynth label serve --data {d}`), or fill in {d}/labels/queue.csv and `facesynth label import FILE --data {d}`"
                );
            }
            Ok(())
        }
        LabelCommand::Status { data, json } => {
            summary(v, json, &labels::status(&data).context("label status")?)
        }
        LabelCommand::Export {
            data,
            all,
            min_confidence,
        } => print(
            v,
            &labels::export(&data, all, min_confidence).context("label export")?,
        ),
        LabelCommand::Queue { data, k } => {
            let report = labels::queue::queue(&data, k).context("label queue")?;
            if !report.drawn && v != Verbosity::Quiet {
                eprintln!(
                    "the queue has {} questions pending: kept as it is (--k draws a new one \
                     once they are answered, skipped or imported)",
                    report.items
                );
            }
            print(v, &report)
        }
        LabelCommand::Import {
            file,
            data,
            attribute,
        } => {
            if attribute.is_some() && file.is_file() {
                return Err(super::usage(format!(
                    "--attribute names the attribute of an ImageFolder's class folders; {} \
                     is a file, whose columns name theirs",
                    file.display()
                )));
            }
            let report =
                labels::import(&data, &file, attribute.as_deref()).context("label import")?;
            warn_audit(&report.audit);
            if report.by_file_name_only > 0 {
                eprintln!(
                    "warning: {} rows of {} named an image by its file name alone, found in a \
                     sub-folder of the dataset: a picture of the same name from another set \
                     would be taken for it; give paths (images/...) if the sets mix",
                    report.by_file_name_only,
                    file.display()
                );
            }
            print(v, &report)
        }
        LabelCommand::Serve { data, port } => {
            let h = labels::serve::start(&data, port).context("label serve")?;
            if !labels::Paths::new(&data).queue().is_file() {
                eprintln!(
                    "warning: no questions queued yet: run `facesynth label queue --data {}` \
                     (or `label round`), then reload the page",
                    data.display()
                );
            }
            if v == Verbosity::Quiet {
                // The address is the command's output, not a log line: a script needs it
                // (with --port 0 it is known only now).
                println!("{}", h.url());
            } else {
                eprintln!(
                    "labeling page at {} (a key per value, Enter takes the suggestion, s or space to skip, Backspace to undo; answers are saved as you go; Ctrl-C to stop)",
                    h.url()
                );
            }
            h.wait();
            Ok(())
        }
        LabelCommand::Simulate {
            data,
            oracle,
            budget,
            rounds,
            schedule,
            holdout,
            round,
        } => {
            if schedule.is_some() && rounds.is_some() {
                return Err(super::usage(
                    "label simulate: --rounds splits --budget evenly; --schedule's counts are \
                     the rounds: give one"
                        .into(),
                ));
            }
            let rounds = rounds.unwrap_or(5);
            if round.queue.is_some() {
                return Err(super::usage(
                    "label simulate: --queue does not apply: each round queues up to the next \
                     count of --schedule, or of --budget in --rounds equal steps"
                        .into(),
                ));
            }
            if let Some(w) = schedule
                .as_ref()
                .and_then(|s| s.windows(2).find(|w| w[1] <= w[0]))
            {
                return Err(super::usage(format!(
                    "label simulate: --schedule's counts must rise ({} after {})",
                    w[1], w[0]
                )));
            }
            if let (Some(b), Some(s)) = (budget, &schedule) {
                if let Some(over) = s.iter().find(|&&x| x > b) {
                    return Err(super::usage(format!(
                        "label simulate: --schedule's {over} is above --budget {b}"
                    )));
                }
            }
            let budget = budget.unwrap_or_else(|| {
                schedule
                    .as_ref()
                    .and_then(|s| s.iter().copied().max())
                    .unwrap_or(500)
            });
            let spec = SimulateSpec {
                oracle,
                budget,
                rounds,
                schedule,
                holdout,
                round: round.checked_spec()?,
            };
            let report = labels::simulate(&data, &spec, v).context("label simulate")?;
            warn_audit(&report.audit);
            print(v, &report)
        }
    }
}

/// Each finding of a file's answers against the heuristics' votes, on stderr: whatever
/// the verbosity, as a file whose columns are swapped teaches every round the wrong thing.
fn warn_audit(findings: &[labels::audit::Finding]) {
    for f in findings {
        eprintln!("warning: {}", f.message());
    }
}
