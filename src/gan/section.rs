//! The `[train]` section of a pipeline file and the CLI's training flags, every field
//! optional, and how they resolve into a [`TrainSpec`]: flags over the file over the
//! defaults, in this one place.

use super::spec::{
    Arch, BackendKind, CondKind, LossKind, ModelKind, OptimKind, SnWhere, TrainSpec,
};
use super::GanError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
            noise_horizon: None,
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
