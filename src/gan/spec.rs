//! Training settings: the resolved [`TrainSpec`] a run uses (and saves next to its
//! weights, so `generate` needs only the run folder), the `[train]` section of a
//! pipeline file, and the small enums the CLI parses.
//!
//! Precedence is CLI flags > pipeline file > defaults; the CLI fills a [`TrainSection`]
//! from its flags and [`TrainSection::resolve`] lays it over the file's section.

use super::GanError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var),+
        }
        impl $name {
            /// The name used on the command line and in files.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$var => $s),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$var),)+
                    _ => Err(format!("unknown value `{s}` (expected one of: {})",
                        [$($s),+].join(", "))),
                }
            }
        }
    };
}

str_enum!(
    /// The GAN family.
    ModelKind {
        /// Unconditional DCGAN (Radford et al. 2015).
        Dcgan => "dcgan",
        /// Conditional GAN: label embeddings joined to z; D by projection or label channels.
        Cgan => "cgan",
        /// Auxiliary-classifier GAN (Odena et al. 2017).
        Acgan => "acgan",
        /// InfoGAN (Chen et al. 2016): categorical + continuous codes, Q head.
        Infogan => "infogan",
    }
);

str_enum!(
    /// The network layout.
    Arch {
        /// The DCGAN of pytorch/examples, scaled to the image size.
        Dcgan => "dcgan",
        /// The MNIST DCGAN of the Keras/TensorFlow tutorial (28 px, 1 channel).
        KerasMnist => "keras-mnist",
        /// The anime-face DCGAN of the Keras seed (64 px, 3 channels).
        KerasAnime => "keras-anime",
    }
);

str_enum!(
    /// The adversarial loss.
    LossKind {
        /// Non-saturating binary cross-entropy on logits.
        Bce => "bce",
        /// Hinge loss (Lim & Ye 2017; SAGAN).
        Hinge => "hinge",
        /// Least squares (LSGAN, Mao et al. 2017).
        Ls => "ls",
        /// Relativistic average BCE (RaGAN, Jolicoeur-Martineau 2018).
        Ragan => "ragan",
    }
);

str_enum!(
    /// The optimizer of both networks.
    OptimKind {
        /// Adam.
        Adam => "adam",
        /// RMSprop (no momentum, as Keras).
        Rmsprop => "rmsprop",
    }
);

str_enum!(
    /// How a CGAN's discriminator sees the labels.
    CondKind {
        /// Projection discriminator (cGAN-pd, Miyato & Koyama 2018).
        Projection => "projection",
        /// One-hot label maps as extra input channels.
        Channels => "channels",
    }
);

str_enum!(
    /// Which networks get spectral normalization (Miyato et al. 2018).
    SnWhere {
        /// Neither.
        None => "none",
        /// The discriminator (its batch norm is dropped, as SN-DCGAN).
        D => "d",
        /// The generator.
        G => "g",
        /// Both (as SAGAN).
        Both => "both",
    }
);

impl SnWhere {
    /// Whether G is normalized.
    pub fn g(self) -> bool {
        matches!(self, SnWhere::G | SnWhere::Both)
    }

    /// Whether D is normalized.
    pub fn d(self) -> bool {
        matches!(self, SnWhere::D | SnWhere::Both)
    }
}

str_enum!(
    /// Where tensors live.
    BackendKind {
        /// burn's flex CPU backend.
        Cpu => "cpu",
        /// burn's CUDA backend (needs the `cuda` feature and an NVIDIA driver).
        Cuda => "cuda",
    }
);

/// Every setting of a training run, resolved. Saved as `RUN/settings.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Dataset folder (prep output, ImageFolder, or a folder with a wide labels CSV).
    pub data: Option<PathBuf>,
    /// Wide labels CSV (`file,<attr>...`); default `DATA/labels_wide.csv` or `DATA/truth.csv`.
    pub labels: Option<PathBuf>,
    /// MNIST IDX folder (`*images-idx3-ubyte.gz` + `*labels-idx1-ubyte.gz`); attribute `digit`.
    pub mnist: Option<PathBuf>,
    /// Attributes to condition on (e.g. `hair_color`); empty: the first label column.
    pub attrs: Vec<String>,
    /// GAN family. Default dcgan.
    pub model: ModelKind,
    /// Network layout. Default dcgan.
    pub arch: Arch,
    /// Image side in pixels (16, 28, 32, 64, 128). Default 64.
    pub size: u32,
    /// Training steps (one D and one G update each). Default 2000.
    pub steps: u64,
    /// Batch size. Default 64.
    pub batch: usize,
    /// Noise dimension. Default 100.
    pub nz: usize,
    /// G width (pytorch/examples' ngf). Default 64.
    pub ngf: usize,
    /// D width (ndf). Default 64.
    pub ndf: usize,
    /// Label embedding size per attribute. Default 50.
    pub embed_dim: usize,
    /// CGAN discriminator conditioning. Default projection.
    pub cond: CondKind,
    /// Adversarial loss. Default bce.
    pub loss: LossKind,
    /// Optimizer. Default adam.
    pub optim: OptimKind,
    /// G learning rate. Default 2e-4.
    pub lr_g: f64,
    /// D learning rate (TTUR when it differs from lr_g). Default 2e-4.
    pub lr_d: f64,
    /// Adam beta1. Default 0.5.
    pub beta1: f32,
    /// Element-wise gradient clipping (Keras `clipvalue`). Default none.
    pub clip: Option<f32>,
    /// One-sided label smoothing: real target 1 - s. Default 0.
    pub label_smoothing: f32,
    /// Soft/noisy labels: targets += noise * U(0,1) (the Keras seed's 0.05). Default 0.
    pub label_noise: f32,
    /// Instance noise std added to D's inputs, annealed to 0 over the run. Default 0.
    pub instance_noise: f32,
    /// EMA decay of G's weights for sampling (e.g. 0.999). Default none.
    pub ema: Option<f64>,
    /// Weight of ACGAN's auxiliary loss and InfoGAN's MI loss. Default 1.
    pub aux_weight: f32,
    /// ACGAN: weight of D's auxiliary loss on generated images, relative to real ones.
    /// 1 is Odena et al. (2017); 0 trains D's classifier on real images only, so G cannot
    /// steer it to its own class mapping for fakes (the bias Gong et al. 2019 describe).
    /// Default 1.
    #[serde(default = "one")]
    pub aux_fake: f32,
    /// InfoGAN: whether D's step trains the shared body with the mutual-information loss
    /// too (the paper's code) or only the Q head, which then reads the code from the
    /// features D learned for telling real from fake (as InfoGAN-PyTorch does). G's step
    /// is the same either way. On the MNIST preset `false` did not raise the code/digit
    /// agreement in 1,000 steps (BENCHMARKS.md, train). Default true.
    #[serde(default = "yes")]
    pub q_body: bool,
    /// InfoGAN categorical code size. Default 10.
    pub info_cat: usize,
    /// InfoGAN continuous codes. Default 2.
    pub info_cont: usize,
    /// Random horizontal flips of real images. Default true (false for MNIST).
    pub flip: bool,
    /// Class-balanced sampling over the first attribute. Default true.
    pub balance: bool,
    /// Sample grids every N steps. Default 500.
    pub sample_every: u64,
    /// Checkpoint every N steps. Default 500.
    pub checkpoint_every: u64,
    /// Metrics CSV row every N steps. Default 10.
    pub log_every: u64,
    /// Seed of everything random. Default 42.
    pub seed: u64,
    /// Train one model per value of this attribute. Default none.
    pub split_by: Option<String>,
    /// Compute backend. Default cpu.
    pub backend: BackendKind,
    /// Spectral normalization of G, D, both or none. Default none.
    #[serde(default = "sn_none")]
    pub spectral_norm: SnWhere,
    /// Feature-map side of a SAGAN self-attention block in G and D. Default none.
    #[serde(default)]
    pub attention: Option<u32>,
    /// Width of a fully connected layer between the convolutional body and the heads, in
    /// D (its heads, InfoGAN's Q included, then read it) and at the start of G: the InfoGAN
    /// paper's MNIST networks use 1024. 0: none (pytorch/examples' DCGAN). Default 0.
    #[serde(default)]
    pub fc: usize,
}

fn yes() -> bool {
    true
}

fn one() -> f32 {
    1.0
}

fn sn_none() -> SnWhere {
    SnWhere::None
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            data: None,
            labels: None,
            mnist: None,
            attrs: Vec::new(),
            model: ModelKind::Dcgan,
            arch: Arch::Dcgan,
            size: 64,
            steps: 2000,
            batch: 64,
            nz: 100,
            ngf: 64,
            ndf: 64,
            embed_dim: 50,
            cond: CondKind::Projection,
            loss: LossKind::Bce,
            optim: OptimKind::Adam,
            lr_g: 2e-4,
            lr_d: 2e-4,
            beta1: 0.5,
            clip: None,
            label_smoothing: 0.0,
            label_noise: 0.0,
            instance_noise: 0.0,
            ema: None,
            aux_weight: 1.0,
            aux_fake: 1.0,
            q_body: true,
            info_cat: 10,
            info_cont: 2,
            flip: true,
            balance: true,
            sample_every: 500,
            checkpoint_every: 500,
            log_every: 10,
            seed: 42,
            split_by: None,
            backend: BackendKind::Cpu,
            spectral_norm: SnWhere::None,
            attention: None,
            fc: 0,
        }
    }
}

impl ModelKind {
    /// Whether the model takes class labels (InfoGAN's codes are its own, not classes).
    pub fn conditional(self) -> bool {
        matches!(self, ModelKind::Cgan | ModelKind::Acgan)
    }
}

impl TrainSpec {
    /// Whether the model takes class labels.
    pub fn conditional(&self) -> bool {
        self.model.conditional()
    }

    /// Checks combinations that cannot work, before any data is read.
    pub fn validate(&self) -> Result<(), GanError> {
        let bad = |reason: String| Err(GanError::Usage { reason });
        if self.data.is_none() && self.mnist.is_none() {
            return bad("give --data DIR or --mnist DIR".into());
        }
        if self.data.is_some() && self.mnist.is_some() {
            return bad(
                "both data and mnist are set (a pipeline file's [train] section gives \
                        both?): give one"
                    .into(),
            );
        }
        for (i, a) in self.attrs.iter().enumerate() {
            if self.attrs[..i].contains(a) {
                return bad(format!(
                    "attribute `{a}` is given twice in --attr: give it once"
                ));
            }
        }
        if let Some(split) = &self.split_by {
            if self.conditional() && self.attrs.len() == 1 && &self.attrs[0] == split {
                return bad(format!(
                    "--attr {split} and --split-by {split}: each class model holds one \
                     value of {split}, so it cannot condition on it; give another --attr"
                ));
            }
        }
        if !self.conditional() && !self.attrs.is_empty() {
            return bad(format!(
                "{} is unconditional: --attr names the classes of cgan and acgan (leave it \
                 out, or --split-by ATTR for one {} per value)",
                self.model, self.model
            ));
        }
        // Values no run can use (`--label-smoothing 2` made the real target -1 and
        // trained to a loss of -10 without a word).
        let ranges: [(&str, f64, bool); 9] = [
            ("lr-g", self.lr_g, self.lr_g > 0.0),
            ("lr-d", self.lr_d, self.lr_d > 0.0),
            ("beta1", self.beta1.into(), (0.0..1.0).contains(&self.beta1)),
            (
                "clip",
                self.clip.unwrap_or(1.0).into(),
                self.clip.is_none_or(|c| c > 0.0),
            ),
            (
                "label-smoothing",
                self.label_smoothing.into(),
                (0.0..1.0).contains(&self.label_smoothing),
            ),
            (
                "label-noise",
                self.label_noise.into(),
                (0.0..1.0).contains(&self.label_noise),
            ),
            (
                "instance-noise",
                self.instance_noise.into(),
                self.instance_noise >= 0.0,
            ),
            (
                "ema",
                self.ema.unwrap_or(0.5),
                self.ema.is_none_or(|e| e > 0.0 && e < 1.0),
            ),
            (
                "aux-weight / aux-fake",
                self.aux_weight.min(self.aux_fake).into(),
                self.aux_weight >= 0.0 && self.aux_fake >= 0.0,
            ),
        ];
        for (name, value, ok) in ranges {
            // `ok` is false for NaN too.
            if !ok {
                return bad(format!(
                    "{name} {value} is out of range (learning rates and clip above 0; beta1, \
                     label smoothing and label noise in [0, 1); ema in (0, 1); noise and \
                     weights at least 0)"
                ));
            }
        }
        // The hinge loss has margins, not targets: smoothing or noisy targets trained as if
        // they were not given.
        if self.loss == LossKind::Hinge && (self.label_smoothing > 0.0 || self.label_noise > 0.0) {
            return bad(
                "--loss hinge has no targets to smooth or make noisy: drop label smoothing \
                 and label_noise, or use bce, ls or ragan"
                    .into(),
            );
        }
        // A 0 here checkpointed (or sampled) every step, as if it were 1.
        for (name, v) in [
            ("sample-every", self.sample_every),
            ("checkpoint-every", self.checkpoint_every),
            ("log-every", self.log_every),
        ] {
            if v == 0 {
                return bad(format!("{name} is 0: give a number of steps, at least 1"));
            }
        }
        // The Q head reads a categorical code of info_cat values; 0 or 1 leaves nothing
        // to read (and 0 sliced an empty block out of its logits).
        if self.model == ModelKind::Infogan && self.info_cat < 2 {
            return bad(format!(
                "info_cat is {}: infogan's categorical code needs at least 2 values",
                self.info_cat
            ));
        }
        if self.batch < 2 {
            return bad(format!("batch {} is too small (at least 2)", self.batch));
        }
        if self.steps == 0 {
            return bad("steps is 0: a run needs at least one step".into());
        }
        for (name, v) in [
            ("ngf (--width)", self.ngf),
            ("ndf (--width)", self.ndf),
            ("nz", self.nz),
        ] {
            if v == 0 {
                return bad(format!("{name} is 0: a network needs at least one unit"));
            }
        }
        if self.arch != Arch::Dcgan
            && (self.spectral_norm != SnWhere::None || self.attention.is_some() || self.fc > 0)
        {
            return bad(format!(
                "spectral normalization, self-attention and fc need the dcgan layout, not {}",
                self.arch
            ));
        }
        if let Some(a) = self.attention {
            let sides = super::dcgan::feature_sides(self.size);
            if super::blocks::layout(self.size).is_some() && !sides.contains(&a) {
                let s: Vec<String> = sides.iter().map(|s| s.to_string()).collect();
                return bad(format!(
                    "attention at side {a}: the {} px networks' feature maps are {} px",
                    self.size,
                    s.join(", ")
                ));
            }
        }
        match self.arch {
            Arch::Dcgan => {
                super::blocks::layout(self.size)
                    .map(|_| ())
                    .ok_or_else(|| GanError::Usage {
                        reason: format!(
                            "size {} is not supported (use 16, 28, 32, 64 or 128)",
                            self.size
                        ),
                    })
            }
            Arch::KerasMnist | Arch::KerasAnime => {
                let want = if self.arch == Arch::KerasMnist {
                    28
                } else {
                    64
                };
                if self.model != ModelKind::Dcgan {
                    return bad(format!(
                        "the {} preset is an unconditional dcgan",
                        self.arch
                    ));
                }
                if self.size != want {
                    return bad(format!(
                        "the {} preset is {want} px, not {}",
                        self.arch, self.size
                    ));
                }
                // Its first layers take a fixed number of planes: one for MNIST's digits,
                // three for a folder's RGB faces (the other data panicked in burn's
                // convolution at the first step).
                let digits = self.arch == Arch::KerasMnist;
                if digits != self.mnist.is_some() {
                    return bad(format!(
                        "the {} preset trains on {}",
                        self.arch,
                        match digits {
                            true => "MNIST (--mnist DIR), one grey plane",
                            false => "a folder of RGB faces (--data DIR)",
                        }
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The `[train]` section of a pipeline file, and the CLI's flags: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TrainSection {
    pub data: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub mnist: Option<PathBuf>,
    pub attrs: Option<Vec<String>>,
    pub model: Option<ModelKind>,
    pub arch: Option<Arch>,
    pub size: Option<u32>,
    pub steps: Option<u64>,
    pub batch: Option<usize>,
    pub nz: Option<usize>,
    pub ngf: Option<usize>,
    pub ndf: Option<usize>,
    pub embed_dim: Option<usize>,
    pub cond: Option<CondKind>,
    pub loss: Option<LossKind>,
    pub optim: Option<OptimKind>,
    pub lr_g: Option<f64>,
    pub lr_d: Option<f64>,
    pub beta1: Option<f32>,
    pub clip: Option<f32>,
    pub label_smoothing: Option<f32>,
    pub label_noise: Option<f32>,
    pub instance_noise: Option<f32>,
    pub ema: Option<f64>,
    pub aux_weight: Option<f32>,
    pub aux_fake: Option<f32>,
    pub q_body: Option<bool>,
    pub info_cat: Option<usize>,
    pub info_cont: Option<usize>,
    pub flip: Option<bool>,
    pub balance: Option<bool>,
    pub sample_every: Option<u64>,
    pub checkpoint_every: Option<u64>,
    pub log_every: Option<u64>,
    pub seed: Option<u64>,
    pub split_by: Option<String>,
    pub backend: Option<BackendKind>,
    pub spectral_norm: Option<SnWhere>,
    pub attention: Option<u32>,
    pub fc: Option<usize>,
}

#[derive(Deserialize)]
struct PipelineTrain {
    train: Option<TrainSection>,
}

impl TrainSection {
    /// Reads the `[train]` section of a pipeline TOML file. The whole file is read as
    /// [`crate::config::PipelineConfig`], as `prep` reads it, so a misspelled section
    /// (`[trian]`) is an error naming the known ones instead of a silently default run,
    /// while sections of other commands are accepted.
    pub fn from_pipeline(path: &Path) -> Result<TrainSection, GanError> {
        let bad = |reason: String| GanError::Pipeline {
            path: path.to_path_buf(),
            reason,
        };
        let config = crate::config::PipelineConfig::load(path).map_err(|e| match e {
            crate::config::ConfigError::Read { source, .. } => GanError::Io {
                path: path.to_path_buf(),
                source,
            },
            crate::config::ConfigError::Parse { message, .. } => bad(message),
            other => bad(other.to_string()),
        })?;
        // Re-rooted under `train`, so a bad key is reported as `train.<key>`.
        let mut only_train = toml::Table::new();
        if let Some(t) = config.train {
            only_train.insert("train".into(), toml::Value::Table(t));
        }
        let parsed: PipelineTrain = only_train
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        Ok(parsed.train.unwrap_or_default())
    }

    /// Lays `self` (the CLI) over `file` over the defaults.
    pub fn resolve(self, file: TrainSection) -> TrainSpec {
        let d = TrainSpec::default();
        macro_rules! pick {
            ($f:ident) => {
                self.$f.or(file.$f).unwrap_or(d.$f)
            };
        }
        macro_rules! pick_opt {
            ($f:ident) => {
                self.$f.or(file.$f).or(d.$f)
            };
        }
        // Where the images come from is one setting given two ways: a flag naming either
        // wins over the file's both (the file's `mnist` beat `--data`, and the run
        // trained on digits).
        let flagged = self.data.is_some() || self.mnist.is_some();
        let (data, mnist) = match flagged {
            true => (self.data.clone(), self.mnist.clone()),
            false => (
                file.data.clone().or(d.data.clone()),
                file.mnist.clone().or(d.mnist.clone()),
            ),
        };
        let flip_default = mnist.is_none() && d.flip;
        // A file's classes are for its own (conditional) model: `--model dcgan` over a
        // cgan pipeline trains without them. Classes given by flag stay, for `validate`.
        let model = pick!(model);
        let attrs = match self.attrs {
            Some(a) => a,
            None if !model.conditional() => Vec::new(),
            None => file.attrs.unwrap_or(d.attrs),
        };
        // The file's labels go with the file's images: over `--data` naming another
        // folder they labeled that folder's images by the file's names. A file that gives
        // labels but no images names them for whatever folder the flag gives.
        let file_labels = match flagged && (file.data.is_some() || file.mnist.is_some()) {
            true => None,
            false => file.labels.clone(),
        };
        TrainSpec {
            data,
            labels: self.labels.clone().or(file_labels),
            mnist,
            attrs,
            model,
            arch: pick!(arch),
            size: pick!(size),
            steps: pick!(steps),
            batch: pick!(batch),
            nz: pick!(nz),
            ngf: pick!(ngf),
            ndf: pick!(ndf),
            embed_dim: pick!(embed_dim),
            cond: pick!(cond),
            loss: pick!(loss),
            optim: pick!(optim),
            lr_g: pick!(lr_g),
            lr_d: pick!(lr_d),
            beta1: pick!(beta1),
            clip: pick_opt!(clip),
            label_smoothing: pick!(label_smoothing),
            label_noise: pick!(label_noise),
            instance_noise: pick!(instance_noise),
            ema: pick_opt!(ema),
            aux_weight: pick!(aux_weight),
            aux_fake: pick!(aux_fake),
            q_body: pick!(q_body),
            info_cat: pick!(info_cat),
            info_cont: pick!(info_cont),
            flip: self.flip.or(file.flip).unwrap_or(flip_default),
            balance: pick!(balance),
            sample_every: pick!(sample_every),
            checkpoint_every: pick!(checkpoint_every),
            log_every: pick!(log_every),
            seed: pick!(seed),
            split_by: pick_opt!(split_by),
            backend: pick!(backend),
            spectral_norm: pick!(spectral_norm),
            attention: pick_opt!(attention),
            fc: pick!(fc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_train_pipelines_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = TrainSection::from_pipeline(&path).unwrap();
                if s.arch.is_some() || s.model.is_some() {
                    n += 1;
                    // keras-mnist takes MNIST's one plane; the others a folder.
                    let digits = s.arch == Some(Arch::KerasMnist);
                    let spec = TrainSection {
                        data: (!digits).then(|| "x".into()),
                        mnist: digits.then(|| "x".into()),
                        ..Default::default()
                    }
                    .resolve(s);
                    spec.validate().unwrap();
                }
            }
        }
        assert!(n >= 2, "the two Keras presets should be in pipelines/");
    }

    /// Regression: `[trian]` was dropped silently and the run trained the defaults.
    #[test]
    fn a_misspelled_section_is_an_error_and_other_commands_sections_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, "[trian]\nmodel = \"acgan\"\n").unwrap();
        let e = TrainSection::from_pipeline(&p).unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("`trian`"), "{e}");
        assert!(e.contains("`train`") && e.contains("`prep`"), "{e}");
        std::fs::write(
            &p,
            "description = \"x\"\n[prep]\nformat = \"png\"\n[label]\n[eval]\n\
             [train]\nmodel = \"acgan\"\n",
        )
        .unwrap();
        let s = TrainSection::from_pipeline(&p).unwrap();
        assert_eq!(s.model, Some(ModelKind::Acgan));
        std::fs::write(&p, "[train]\nstepz = 3\n").unwrap();
        let e = TrainSection::from_pipeline(&p).unwrap_err().to_string();
        assert!(e.contains("stepz"), "{e}");
    }

    /// Regression: `[label]`, `[generate]` and `[eval]` were accepted with any content
    /// and read by no command.
    #[test]
    fn keys_in_sections_no_command_reads_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        for (text, key) in [
            ("[eval]\nbogus = 1\n", "`bogus`"),
            ("[generate]\nn = -5\n", "`n`"),
            (
                "[label]\nqueue = \"x\"\n[train]\nmodel = \"dcgan\"\n",
                "`queue`",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = TrainSection::from_pipeline(&p).unwrap_err().to_string();
            assert!(e.contains("p.toml") && e.contains(key), "{e}");
        }
    }

    /// Regression: `--data B` over a pipeline file with `data = A` and `labels = A.csv`
    /// trained on B's images with A's labels.
    #[test]
    fn a_files_labels_go_with_its_own_images() {
        let file = || TrainSection {
            data: Some("a".into()),
            labels: Some("a.csv".into()),
            ..Default::default()
        };
        let flag = |data: &str, labels: Option<&str>| TrainSection {
            data: Some(data.into()),
            labels: labels.map(Into::into),
            ..Default::default()
        };
        let spec = flag("b", None).resolve(file());
        assert_eq!((spec.data, spec.labels), (Some("b".into()), None));
        let spec = flag("b", Some("b.csv")).resolve(file());
        assert_eq!(spec.labels, Some("b.csv".into()));
        let spec = TrainSection::default().resolve(file());
        assert_eq!(
            (spec.data, spec.labels),
            (Some("a".into()), Some("a.csv".into()))
        );
        // Labels without images in the file: for the folder the flag names.
        let labels_only = TrainSection {
            labels: Some("l.csv".into()),
            ..Default::default()
        };
        assert_eq!(
            flag("b", None).resolve(labels_only).labels,
            Some("l.csv".into())
        );
    }

    #[test]
    fn zero_steps_or_widths_are_refused() {
        let ok = TrainSpec {
            data: Some("x".into()),
            ..TrainSpec::default()
        };
        ok.validate().unwrap();
        for bad in [
            TrainSpec {
                steps: 0,
                ..ok.clone()
            },
            TrainSpec {
                ngf: 0,
                ..ok.clone()
            },
            TrainSpec {
                ndf: 0,
                ..ok.clone()
            },
            // Regression: a repeated attribute was accepted.
            TrainSpec {
                attrs: vec!["a".into(), "a".into()],
                model: ModelKind::Cgan,
                ..ok.clone()
            },
            // Regression: impossible values trained (smoothing 2: a loss of -10).
            TrainSpec {
                label_smoothing: 2.0,
                ..ok.clone()
            },
            TrainSpec {
                lr_g: -0.01,
                ..ok.clone()
            },
            TrainSpec {
                lr_d: f64::NAN,
                ..ok.clone()
            },
            TrainSpec {
                ema: Some(1.0),
                ..ok.clone()
            },
            // Regression: dcgan with --attr said the data had no such attribute.
            TrainSpec {
                attrs: vec!["hair_color".into()],
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cli_beats_file_beats_default() {
        let file = TrainSection {
            batch: Some(32),
            steps: Some(10),
            ..Default::default()
        };
        let cli = TrainSection {
            batch: Some(8),
            ..Default::default()
        };
        let s = cli.resolve(file);
        assert_eq!((s.batch, s.steps, s.nz), (8, 10, 100));
        // A conditional file's classes do not follow `--model dcgan` given over it.
        let file = TrainSection {
            model: Some(ModelKind::Cgan),
            attrs: Some(vec!["hair_color".into()]),
            ..Default::default()
        };
        let dcgan = TrainSection {
            model: Some(ModelKind::Dcgan),
            ..Default::default()
        };
        assert!(dcgan.resolve(file.clone()).attrs.is_empty());
        assert_eq!(
            TrainSection::default().resolve(file).attrs,
            vec!["hair_color"]
        );
        assert_eq!("hinge".parse::<LossKind>().unwrap(), LossKind::Hinge);
        assert!("nope".parse::<ModelKind>().is_err());
    }

    #[test]
    fn a_data_flag_beats_the_files_mnist_and_presets_take_their_data() {
        let file = TrainSection {
            mnist: Some("/d/mnist".into()),
            ..Default::default()
        };
        let cli = TrainSection {
            data: Some("faces".into()),
            ..Default::default()
        };
        let s = cli.resolve(file.clone());
        assert_eq!(
            (s.data.as_deref(), s.mnist.as_deref()),
            (Some(Path::new("faces")), None)
        );
        let s = TrainSection::default().resolve(file);
        assert_eq!(s.mnist.as_deref(), Some(Path::new("/d/mnist")));
        // A file giving both is refused, not read as one of them.
        let both = TrainSection {
            data: Some("faces".into()),
            mnist: Some("/d/mnist".into()),
            ..Default::default()
        };
        let e = TrainSection::default()
            .resolve(both)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("give one"), "{e}");
        // The Keras presets' first layers take one plane (MNIST) or three (a folder).
        let preset = |arch, size, data: &str, mnist: bool| {
            TrainSection {
                arch: Some(arch),
                size: Some(size),
                data: (!mnist).then(|| data.into()),
                mnist: mnist.then(|| data.into()),
                ..Default::default()
            }
            .resolve(TrainSection::default())
            .validate()
        };
        assert!(preset(Arch::KerasMnist, 28, "/d/mnist", true).is_ok());
        assert!(preset(Arch::KerasAnime, 64, "faces", false).is_ok());
        let e = preset(Arch::KerasMnist, 28, "faces", false).unwrap_err();
        assert!(e.to_string().contains("MNIST"), "{e}");
        assert!(preset(Arch::KerasAnime, 64, "/d/mnist", true).is_err());
    }
}
