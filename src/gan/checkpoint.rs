//! The run folder: resolved settings and class mapping beside the weights, and
//! checkpoints (G, D, both optimizers, G's EMA, step) written atomically.
//!
//! Layout: `RUN/settings.json`, `RUN/classes.json`, `RUN/checkpoints/step-NNNNNNNN/`
//! with `g.mpk`, `d.mpk`, `g_optim.mpk`, `d_optim.mpk` (and `g_ema.mpk`), and
//! `RUN/latest.json` naming the newest complete one. A checkpoint folder is filled first and
//! `latest.json` is renamed into place last, so a killed run never points at a partial
//! checkpoint. The RNG state is the step (see `batch::step_rng`) plus the rollback count.
//!
//! burn 0.21's `load_record` does not compare shapes: weights of another network load
//! quietly and panic in the next forward pass (or in `load_record` itself when a layer
//! count differs). So `latest.json` also lists every parameter's shape, and loading checks
//! it against the network the settings describe first ([`check_shapes`]), then the loaded
//! network against it ([`check_loaded`], which also covers runs saved before the list).

use super::data::Attribute;
use super::spec::TrainSpec;
use super::{io_err, GanError};
use crate::atomic;
use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File names inside a run folder.
pub const SETTINGS: &str = "settings.json";
/// The class mapping.
pub const CLASSES: &str = "classes.json";
/// The pointer to the newest checkpoint.
pub const LATEST: &str = "latest.json";

/// The class mapping and data shape a run was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMap {
    /// Image channels.
    pub channels: usize,
    /// Conditioning attributes, their values in class-index order.
    pub attrs: Vec<Attribute>,
    /// For `--split-by` runs: the attribute split on and its values (sub-runs in `RUN/<value>/`).
    #[serde(default)]
    pub split: Option<Attribute>,
}

/// What `latest.json` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    /// Steps done.
    pub step: u64,
    /// NaN rollbacks so far (they change the RNG streams after them).
    pub rollbacks: u32,
    /// Checkpoint folder, relative to the run.
    pub dir: String,
    /// Whether `g_ema.mpk` is there.
    pub ema: bool,
    /// The parameter shapes of G and D the checkpoint holds (absent in runs saved before
    /// they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapes: Option<NetShapes>,
}

/// Every parameter of a network as `path [shape]`, in visiting order.
pub type Shapes = Vec<String>;

/// The parameter shapes of a checkpoint's networks (`g_ema.mpk` has G's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetShapes {
    /// The generator's.
    pub g: Shapes,
    /// The discriminator's.
    pub d: Shapes,
}

/// The shapes of `module`'s parameters, read without initializing lazy ones: comparing
/// a freshly built network allocates and draws no weights.
pub fn param_shapes<B: Backend, M: Module<B>>(module: &M) -> Shapes {
    struct Collect {
        path: Vec<String>,
        out: Shapes,
    }
    impl Collect {
        fn push(&mut self, shape: burn::tensor::Shape) {
            let name = self.path.join(".");
            self.out.push(format!("{name} {:?}", shape.to_vec()));
        }
    }
    impl<B: Backend> ModuleVisitor<B> for Collect {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            self.push(p.lazy_shape());
        }
        fn visit_int<const D: usize>(&mut self, p: &Param<Tensor<B, D, Int>>) {
            self.push(p.lazy_shape());
        }
        fn visit_bool<const D: usize>(&mut self, p: &Param<Tensor<B, D, Bool>>) {
            self.push(p.lazy_shape());
        }
    }
    let mut c = Collect {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut c);
    c.out
}

/// The first difference between a checkpoint's shapes and a network's, in words.
fn shape_difference(checkpoint: &Shapes, network: &Shapes) -> Option<String> {
    let missing = "nothing".to_string();
    (checkpoint != network).then(|| {
        let i = checkpoint
            .iter()
            .zip(network)
            .position(|(c, n)| c != n)
            .unwrap_or(checkpoint.len().min(network.len()));
        format!(
            "parameter {i}: `{}` in the file, `{}` in the network",
            checkpoint.get(i).unwrap_or(&missing),
            network.get(i).unwrap_or(&missing)
        )
    })
}

fn mismatch(file: &Path, difference: String) -> GanError {
    GanError::Checkpoint {
        path: file.to_path_buf(),
        reason: format!(
            "its weights do not fit the network settings.json describes ({difference}); \
             the folder may mix two runs: train into a new --out"
        ),
    }
}

/// An error naming `file` unless the shapes it was saved with (`saved`, from
/// `latest.json`) are those of `model`, the network the run's settings build.
pub fn check_shapes<B: Backend, M: Module<B>>(
    file: &Path,
    saved: &Shapes,
    model: &M,
) -> Result<(), GanError> {
    match shape_difference(saved, &param_shapes(model)) {
        Some(d) => Err(mismatch(file, d)),
        None => Ok(()),
    }
}

/// An error naming `file` unless `loaded` (after `load_record`) still has the shapes
/// `want` of the network it was loaded into.
pub fn check_loaded<B: Backend, M: Module<B>>(
    file: &Path,
    loaded: &M,
    want: &Shapes,
) -> Result<(), GanError> {
    match shape_difference(&param_shapes(loaded), want) {
        Some(d) => Err(mismatch(file, d)),
        None => Ok(()),
    }
}

/// `module` with the record at `file` loaded, or an error naming the file when its
/// weights do not fit. burn 0.21's `load_record` asserts that a list of layers has the
/// record's length (a checkpoint of another image size, saved before `latest.json` listed
/// shapes, has another count) and panics; the panic is caught and its message kept off
/// the terminal, and weights of other shapes are caught after loading ([`check_loaded`]).
///
/// A batch norm's running statistics hold the last training step's update aside until
/// they are next read (burn's `RunningState`), and `load_record` leaves it there: loaded
/// into a live module (a rollback after a NaN step), the next read put the diverged
/// step's statistics back over the checkpoint's. Taking a record first settles them.
pub fn load_checked<B: Backend, M: Module<B>>(
    file: &Path,
    module: M,
    device: &B::Device,
) -> Result<M, GanError> {
    let record = read_record::<B, M::Record>(file, device)?;
    drop(module.clone().into_record()); // settles pending running-state updates (above)
    let want = param_shapes(&module);
    let loaded = quiet_unwind(|| module.load_record(record)).map_err(|reason| {
        mismatch(
            file,
            format!("burn could not load it: {}", first_line(&reason)),
        )
    })?;
    check_loaded(file, &loaded, &want)?;
    Ok(loaded)
}

/// Whether every weight of `module` is finite (each tensor's sum is; a sum past f32's
/// range counts as not finite, which no sane network's weights reach).
pub fn weights_finite<B: Backend, M: Module<B>>(module: &M) -> bool {
    super::ema::flat_params(module)
        .into_iter()
        .all(|t| t.sum().into_scalar().to_f32().is_finite())
}

/// `f()`, or the message of its panic, which the panic hook does not print meanwhile.
/// The hook is process-wide: a panic on another thread in that moment is not printed
/// either, but still unwinds (or aborts) as before.
fn quiet_unwind<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// The first non-empty line of `text`, trimmed (burn's messages run over several).
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::default()
}

/// Serializes a burn record to bytes.
pub fn to_bytes<B: Backend, R: Record<B>>(record: R, path: &Path) -> Result<Vec<u8>, GanError> {
    Recorder::<B>::record(&recorder(), record, ()).map_err(|e| GanError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads a burn record from a file.
pub fn read_record<B: Backend, R: Record<B>>(
    path: &Path,
    device: &B::Device,
) -> Result<R, GanError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    // burn's own text runs over several lines and, for a truncated file, blames a format
    // change since burn 0.14: one line, and what a person can do.
    Recorder::<B>::load(&recorder(), bytes, device).map_err(|e| GanError::Checkpoint {
        path: path.to_path_buf(),
        reason: format!(
            "cannot be read (damaged or truncated?): {}; to go on from the checkpoint \
             before it, remove this one's folder and latest.json",
            first_line(&e.to_string())
        ),
    })
}

/// Writes a burn record atomically.
pub fn write_record<B: Backend, R: Record<B>>(path: &Path, record: R) -> Result<(), GanError> {
    let bytes = to_bytes::<B, R>(record, path)?;
    atomic::write(path, &bytes).map_err(io_err(path))
}

/// Writes settings and class mapping (once, at the start of a run).
pub fn write_meta(run: &Path, spec: &TrainSpec, classes: &ClassMap) -> Result<(), GanError> {
    let p = run.join(SETTINGS);
    atomic::write_json(&p, spec).map_err(io_err(&p))?;
    let p = run.join(CLASSES);
    atomic::write_json(&p, classes).map_err(io_err(&p))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, GanError> {
    let text = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&text).map_err(|e| GanError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads a run's settings and class mapping.
pub fn read_meta(run: &Path) -> Result<(TrainSpec, ClassMap), GanError> {
    if !run.join(SETTINGS).is_file() {
        return Err(GanError::Checkpoint {
            path: run.to_path_buf(),
            reason: match run.is_dir() {
                true => format!("no {SETTINGS}: not a facesynth run folder"),
                false => "no such folder".into(),
            },
        });
    }
    Ok((
        read_json(&run.join(SETTINGS))?,
        read_json(&run.join(CLASSES))?,
    ))
}

/// Reads `latest.json`, `None` when the run has no checkpoint yet.
///
/// Without `latest.json` (deleted, or lost with a copy), the newest checkpoint folder
/// holding all four networks and optimizers is taken, its NaN rollbacks counted 0 (they
/// only shift random streams) and its shapes unchecked: `--resume` started the run
/// over from step 0 and deleted those checkpoints.
pub fn latest(run: &Path) -> Result<Option<Latest>, GanError> {
    let p = run.join(LATEST);
    if !p.is_file() {
        return Ok(newest_complete(run));
    }
    read_json(&p).map(Some)
}

/// The newest `checkpoints/step-N` holding every file a checkpoint writes first.
fn newest_complete(run: &Path) -> Option<Latest> {
    const NEEDED: [&str; 4] = ["g.mpk", "d.mpk", "g_optim.mpk", "d_optim.mpk"];
    // A run with EMA writes its average last: a folder without it was cut short.
    let ema = read_meta(run).is_ok_and(|(spec, _)| spec.ema.is_some());
    let (step, dir) = step_dirs(run)
        .ok()?
        .into_iter()
        .filter(|(_, d)| NEEDED.iter().all(|f| d.join(f).is_file()))
        .filter(|(_, d)| !ema || d.join("g_ema.mpk").is_file())
        .max()?;
    Some(Latest {
        step,
        rollbacks: 0,
        dir: step_dir(step),
        ema: dir.join("g_ema.mpk").is_file(),
        shapes: None,
    })
}

/// The folder of the checkpoint at `step`.
pub fn step_dir(step: u64) -> String {
    format!("checkpoints/step-{step:08}")
}

/// Files of one checkpoint, as records serialized by the caller.
pub struct CheckpointFiles {
    /// `(file name, bytes)`.
    pub files: Vec<(&'static str, Vec<u8>)>,
}

/// Writes a checkpoint folder, then points `latest.json` at it, then removes all but the
/// newest two checkpoints.
pub fn commit(run: &Path, latest_meta: &Latest, files: CheckpointFiles) -> Result<(), GanError> {
    let dir = run.join(&latest_meta.dir);
    for (name, bytes) in files.files {
        let p = dir.join(name);
        atomic::write(&p, &bytes).map_err(io_err(&p))?;
    }
    let p = run.join(LATEST);
    atomic::write_json(&p, latest_meta).map_err(io_err(&p))?;
    // By step number, not name: `step-{:08}` grows a digit past 10^8 steps, and
    // `step-100000000` sorts before `step-99999999` as text.
    let root = run.join("checkpoints");
    let mut old = step_dirs(run).map_err(io_err(&root))?;
    old.retain(|(_, p)| p != &dir);
    old.sort();
    let keep = 1;
    if old.len() > keep {
        for (_, p) in &old[..old.len() - keep] {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    Ok(())
}

/// The checkpoint folders of `run` (`checkpoints/step-N`) and their steps, unordered;
/// folders not named by a step are not ours.
pub fn step_dirs(run: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    Ok(std::fs::read_dir(run.join("checkpoints"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((step_of(&p)?, p)))
        .collect())
}

/// The step a checkpoint folder `step-N` holds.
fn step_of(dir: &Path) -> Option<u64> {
    let name = dir.file_name()?.to_str()?;
    name.strip_prefix("step-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `--resume` without `latest.json` started over from step 0 and
    /// deleted the checkpoints; the newest complete one is taken.
    #[test]
    fn without_latest_json_the_newest_complete_checkpoint_is_taken() {
        let d = tempfile::tempdir().unwrap();
        assert!(latest(d.path()).unwrap().is_none());
        let put = |step: u64, files: &[&str]| {
            let dir = d.path().join(step_dir(step));
            std::fs::create_dir_all(&dir).unwrap();
            for f in files {
                std::fs::write(dir.join(f), b"x").unwrap();
            }
        };
        let all = ["g.mpk", "d.mpk", "g_optim.mpk", "d_optim.mpk"];
        put(100, &all);
        put(150, &[all.as_slice(), &["g_ema.mpk"]].concat());
        put(200, &all[..3]);
        let l = latest(d.path()).unwrap().unwrap();
        assert_eq!(
            (l.step, l.dir.as_str(), l.ema),
            (150, "checkpoints/step-00000150", true)
        );
    }
    use crate::gan::dcgan::{make_cond, NetShape};
    use crate::gan::model::Generator;
    use crate::gan::spec::{Arch, CondKind, ModelKind};
    use burn::backend::Flex;
    use burn::module::Module;

    /// Regression: the cleanup sorted folder names as text, so past 10^8 steps it kept
    /// `step-99999999` and removed the newer `step-100000000`.
    #[test]
    fn cleanup_keeps_the_newest_by_step_past_eight_digits() {
        let run = tempfile::tempdir().unwrap();
        for step in [99_999_998u64, 99_999_999, 100_000_000] {
            std::fs::create_dir_all(run.path().join(step_dir(step))).unwrap();
        }
        std::fs::create_dir_all(run.path().join("checkpoints/mine")).unwrap();
        let latest = Latest {
            step: 100_000_001,
            rollbacks: 0,
            dir: step_dir(100_000_001),
            ema: false,
            shapes: None,
        };
        let files = CheckpointFiles {
            files: vec![("g.mpk", vec![1, 2, 3])],
        };
        commit(run.path(), &latest, files).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(run.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["mine", "step-100000000", "step-100000001"]);
    }

    /// Regression: a rollback loaded the checkpoint into the live networks, and the NaN
    /// step's batch-norm update, held aside by burn until the next read, replaced the
    /// loaded running statistics: samples of a recovered run came out black.
    #[test]
    fn a_pending_running_statistics_update_does_not_survive_a_load() {
        type B = crate::gan::backend::CpuTrain;
        let dev = Default::default();
        let bn = burn::nn::BatchNormConfig::new(2).init::<B>(&dev);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bn.mpk");
        write_record::<B, _>(&p, bn.clone().into_record()).unwrap();
        // A training step on NaN inputs: its update waits in the running state.
        let x = Tensor::<B, 4>::full([2, 2, 3, 3], f32::NAN, &dev);
        let _ = crate::batch_norm::batch_norm(&bn, x);
        let loaded = load_checked::<B, _>(&p, bn.clone(), &dev).unwrap();
        let mean: Vec<f32> = loaded
            .running_mean
            .value_sync()
            .into_data()
            .to_vec()
            .unwrap();
        let var: Vec<f32> = loaded
            .running_var
            .value_sync()
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(
            (mean, var),
            (vec![0.0; 2], vec![1.0; 2]),
            "the checkpoint's"
        );
    }

    #[test]
    fn weights_finite_finds_one_nan_weight() {
        type B = crate::gan::backend::Cpu;
        let dev = Default::default();
        let bn = burn::nn::BatchNormConfig::new(3).init::<B>(&dev);
        assert!(weights_finite::<B, _>(&bn));
        let mut bad = bn.clone();
        let gamma = Tensor::<B, 1>::from_floats([1.0, f32::NAN, 1.0], &dev);
        bad.gamma = burn::module::Param::from_tensor(gamma);
        assert!(!weights_finite::<B, _>(&bad));
    }

    #[test]
    fn checkpoint_round_trip_gives_identical_outputs() {
        let dev = Default::default();
        let shape = NetShape {
            model: ModelKind::Acgan,
            size: 16,
            channels: 3,
            nz: 6,
            ngf: 4,
            ndf: 4,
            classes: vec![3],
            embed_dim: 2,
            cond: CondKind::Projection,
            info_cat: 0,
            info_cont: 0,
            sn_g: true,
            sn_d: false,
            attention: Some(8),
            fc: 0,
        };
        let g = Generator::<Flex>::new(Arch::Dcgan, &shape, &dev);
        let z = Tensor::<Flex, 2>::from_data(
            TensorData::new((0..12).map(|i| i as f32 / 7.0).collect::<Vec<_>>(), [2, 6]),
            &dev,
        );
        let cond = make_cond::<Flex>(&shape, &[0, 2], &[], 2, &dev);
        let before: Vec<f32> = g
            .forward(z.clone(), &cond)
            .into_data()
            .iter::<f32>()
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.mpk");
        write_record::<Flex, _>(&p, g.into_record()).unwrap();
        let fresh = Generator::<Flex>::new(Arch::Dcgan, &shape, &dev);
        let loaded = fresh.load_record(read_record::<Flex, _>(&p, &dev).unwrap());
        let after: Vec<f32> = loaded.forward(z, &cond).into_data().iter::<f32>().collect();
        assert_eq!(before, after);
        assert!(
            read_record::<Flex, <Generator<Flex> as Module<Flex>>::Record>(
                &dir.path().join("none"),
                &dev
            )
            .is_err()
        );
        // Regression: a truncated file's error ran over several lines and blamed a burn
        // format change; it is one line naming the file.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
        let e = read_record::<Flex, <Generator<Flex> as Module<Flex>>::Record>(&p, &dev)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.lines().count() == 1 && e.contains("g.mpk") && e.contains("truncated"),
            "{e}"
        );
    }
}
