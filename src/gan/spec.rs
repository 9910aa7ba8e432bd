//! Training settings: the resolved [`TrainSpec`] a run uses (and saves next to its
//! weights, so `generate` needs only the run folder), the checks of combinations no run
//! can use, and the small enums the CLI parses. The pipeline file's `[train]` section
//! and the flags resolve into it in [`super::section`].

use super::GanError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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
    /// The step the instance noise reaches 0 at: the first target of `steps`, kept when
    /// `--resume --steps` extends the run (the noise came back there, at half its start
    /// on a run doubled). Set when the run starts; `None` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_horizon: Option<u64>,
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

/// The networks' default width (`ngf`, `ndf`; `--width`).
pub const DEFAULT_WIDTH: usize = 64;

/// Largest batch (BigGAN's largest is 2,048; 28 px digits on a GPU may go further).
pub const MAX_BATCH: usize = 65_536;
/// Largest `--width` (ngf, ndf): the widest layer is 8x this at 64 px.
pub const MAX_WIDTH: usize = 1_024;
/// Largest `nz` and `embed_dim`.
pub const MAX_UNITS: usize = 65_536;

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
            ngf: DEFAULT_WIDTH,
            ndf: DEFAULT_WIDTH,
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
            noise_horizon: None,
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
            // Infinity passed and diverged at step 1.
            ("lr-g", self.lr_g, self.lr_g > 0.0 && self.lr_g.is_finite()),
            ("lr-d", self.lr_d, self.lr_d > 0.0 && self.lr_d.is_finite()),
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
        // Settings the model or layout would take and ignore without a word.
        if self.cond == CondKind::Channels && self.model != ModelKind::Cgan {
            return bad(format!(
                "--cond channels is how a cgan's discriminator sees the labels; {} does not \
                 read it: leave it out",
                self.model
            ));
        }
        if self.arch != Arch::Dcgan && (self.ngf != DEFAULT_WIDTH || self.ndf != DEFAULT_WIDTH) {
            return bad(format!(
                "--width (ngf, ndf) sets the dcgan layout's widths; the {} preset's are fixed: \
                 leave it out",
                self.arch
            ));
        }
        if self.conditional() && self.embed_dim == 0 {
            return bad(format!(
                "embed_dim is 0: {}'s generator would get no label input",
                self.model
            ));
        }
        if self.batch < 2 {
            return bad(format!("batch {} is too small (at least 2)", self.batch));
        }
        // Sizes past these aborted out of memory with a backtrace (`--width 100000`,
        // `nz = 4000000000`) or ran on for minutes before the first step.
        for (name, v, most) in [
            ("batch", self.batch, MAX_BATCH),
            ("ngf (--width)", self.ngf, MAX_WIDTH),
            ("ndf (--width)", self.ndf, MAX_WIDTH),
            ("nz", self.nz, MAX_UNITS),
            ("embed_dim", self.embed_dim, MAX_UNITS),
        ] {
            if v > most {
                return bad(format!("{name} {v} is too large (at most {most})"));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    /// Regression: `[trian]` was dropped silently and the run trained the defaults.
    /// Regression: `[label]`, `[generate]` and `[eval]` were accepted with any content
    /// and read by no command.
    /// Regression: `--data B` over a pipeline file with `data = A` and `labels = A.csv`
    /// trained on B's images with A's labels.
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
                lr_g: f64::INFINITY,
                ..ok.clone()
            },
            TrainSpec {
                nz: 4_000_000_000,
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
            // Regression: settings taken and ignored without a word.
            TrainSpec {
                cond: CondKind::Channels,
                model: ModelKind::Acgan,
                attrs: vec!["hair_color".into()],
                ..ok.clone()
            },
            TrainSpec {
                arch: Arch::KerasAnime,
                ngf: 128,
                ..ok.clone()
            },
            TrainSpec {
                embed_dim: 0,
                model: ModelKind::Cgan,
                attrs: vec!["hair_color".into()],
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
