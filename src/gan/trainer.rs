//! The training loop of one model: alternating D and G updates, logging, sample grids,
//! checkpoints, resume, and rollback to the last checkpoint when a loss turns NaN.

use super::batch::{self, BatchSpec, HostBatch};
use super::checkpoint::{self, CheckpointFiles, Latest};
use super::data::Dataset;
use super::dcgan::{make_cond, NetShape};
use super::ema;
use super::loss::{aux_accuracy, aux_loss, d_loss, g_loss, info_loss};
use super::model::{Discriminator, Generator};
use super::monitor::{self, Log, Metrics, Watch};
use super::spec::{LossKind, ModelKind, TrainSpec};
use super::{io_err, GanError};
use crate::progress::{self, Verbosity};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Distribution;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// How many NaN rollbacks a run may take before it gives up.
const MAX_ROLLBACKS: u32 = 3;

/// The rollback count after one more, `taken` so far and `saved` in the checkpoint rolled
/// back to. Not the checkpoint's count plus one: a NaN again before the next checkpoint
/// then rolled back with the same count, so the same random stream, replayed the same
/// steps to the same NaN and never reached [`MAX_ROLLBACKS`].
fn rollbacks_after(taken: u32, saved: u32) -> u32 {
    taken.max(saved) + 1
}

/// What one run ended with.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// Steps done.
    pub step: u64,
    /// The step it started from (0, or the resumed checkpoint's).
    pub started_at: u64,
    /// Last metrics row.
    pub last: Option<Metrics>,
    /// Training images per second (real images seen by D).
    pub images_per_sec: f32,
    /// Warnings raised.
    pub warnings: Vec<String>,
    /// NaN rollbacks taken.
    pub rollbacks: u32,
}

/// One model's training state.
pub struct Trainer<B: AutodiffBackend, OG, OD> {
    pub(crate) spec: TrainSpec,
    pub(crate) shape: NetShape,
    pub(crate) ds: Arc<Dataset>,
    pub(crate) run: PathBuf,
    pub(crate) device: B::Device,
    pub(crate) g: Generator<B>,
    pub(crate) d: Discriminator<B>,
    pub(crate) og: OG,
    pub(crate) od: OD,
    pub(crate) ema: Option<Vec<Tensor<B::InnerBackend, 1>>>,
    pub(crate) step: u64,
    pub(crate) rollbacks: u32,
}

impl<B, OG, OD> Trainer<B, OG, OD>
where
    B: AutodiffBackend,
    OG: Optimizer<Generator<B>, B>,
    OD: Optimizer<Discriminator<B>, B>,
{
    fn stream_seed(&self) -> u64 {
        self.spec
            .seed
            .wrapping_add(self.rollbacks as u64 * 0x1000_0000_0000)
    }

    fn batch_spec(&self) -> BatchSpec {
        let info = if self.spec.model == ModelKind::Infogan {
            (self.spec.info_cat, self.spec.info_cont)
        } else {
            (0, 0)
        };
        BatchSpec {
            batch: self.spec.batch,
            nz: self.spec.nz,
            info,
            flip: self.spec.flip,
            balance: self.spec.balance,
            seed: self.stream_seed(),
        }
    }

    /// One D update and one G update on `hb`.
    pub(crate) fn train_step(&mut self, hb: &HostBatch, want_norms: bool) -> Metrics {
        let (spec, dev) = (&self.spec, &self.device);
        let (b, c, side) = (spec.batch, self.ds.channels, spec.size as usize);
        // The step seeds the backend and draws from it (lazy weights at step 1, instance
        // noise, dropout): no other thread may do so meanwhile.
        let _rng = crate::backend_rng::lock();
        B::seed(
            dev,
            batch::step_rng(self.stream_seed(), hb.step, 1).next_u64_seed(),
        );
        let real =
            Tensor::<B, 4>::from_data(TensorData::new(hb.real.clone(), [b, c, side, side]), dev);
        let cond_real = make_cond::<B>(&self.shape, &hb.real_labels, &[], b, dev);
        let cond_fake = make_cond::<B>(&self.shape, &hb.fake_labels, &hb.code, b, dev);
        let z = Tensor::<B, 2>::from_data(TensorData::new(hb.z.clone(), [b, spec.nz]), dev);
        let u = &hb.uniform;
        let rt: Vec<f32> = (0..b)
            .map(|i| 1.0 - spec.label_smoothing - spec.label_noise * u[i])
            .collect();
        let ft: Vec<f32> = (0..b).map(|i| spec.label_noise * u[b + i]).collect();
        let real_t = Tensor::<B, 1>::from_data(TensorData::new(rt, [b]), dev);
        let fake_t = Tensor::<B, 1>::from_data(TensorData::new(ft, [b]), dev);
        let sigma = instance_sigma(spec, hb.step);
        let w = spec.aux_weight;
        // Spectral norm: one power iteration per step, before this step's forward passes.
        self.d.sn_iterate();
        self.g.sn_iterate();

        // D step: real vs detached fakes (+ ACGAN class loss on both, InfoGAN Q on fakes).
        let fake = self.g.forward(z.clone(), &cond_fake).detach(); // [batch, c, side, side]
        let noisy = |x: Tensor<B, 4>| {
            if sigma > 0.0 {
                x.clone() + x.random_like(Distribution::Normal(0.0, sigma))
            } else {
                x
            }
        };
        let dr = self.d.forward(noisy(real.clone()), &cond_real);
        // InfoGAN with `q_body = false`: the MI loss of this step trains the Q head only.
        let df = if spec.model == ModelKind::Infogan && !spec.q_body {
            self.d.forward_head_only_aux(noisy(fake), &cond_fake)
        } else {
            self.d.forward(noisy(fake), &cond_fake)
        };
        let mut loss_d = d_loss(spec.loss, dr.adv.clone(), df.adv.clone(), real_t, fake_t);
        let mut aux_acc = f32::NAN;
        match (spec.model, &dr.aux, &df.aux) {
            (ModelKind::Acgan, Some(ar), Some(af)) => {
                let (or, of) = (cond_real.onehot.clone(), cond_fake.onehot.clone());
                if let (Some(or), Some(of)) = (or, of) {
                    if want_norms {
                        aux_acc =
                            aux_accuracy(ar.clone().detach(), or.clone(), &self.shape.classes);
                    }
                    let aux = aux_loss(ar.clone(), or, &self.shape.classes)
                        + aux_loss(af.clone(), of, &self.shape.classes).mul_scalar(spec.aux_fake);
                    loss_d = loss_d + aux.mul_scalar(w);
                }
            }
            (ModelKind::Infogan, _, Some(q)) => {
                if let Some(code) = &cond_fake.code {
                    loss_d =
                        loss_d + info_loss(q.clone(), code.clone(), spec.info_cat).mul_scalar(w);
                }
            }
            _ => {}
        }
        let (d_real, d_fake) = d_scores(spec.loss, dr.adv.detach(), df.adv.detach());
        let loss_d_val: f32 = loss_d.clone().into_scalar().elem();
        let grads_d = GradientsParams::from_grads(loss_d.backward(), &self.d);
        let grad_d = if want_norms {
            ema::grad_norm(&self.d, &grads_d)
        } else {
            f32::NAN
        };
        self.d = self.od.step(spec.lr_d, self.d.clone(), grads_d);

        // G step: fool the updated D (+ ask for the right class / keep the code readable).
        // D judges noisy images here too (Sønderby et al. 2016, instance noise): G is
        // trained against the D it has, and that D never saw a clean image while sigma
        // was large.
        let fake = self.g.forward(z, &cond_fake);
        let dg = self.d.forward(noisy(fake), &cond_fake);
        let real_adv = (spec.loss == LossKind::Ragan)
            .then(|| self.d.forward(noisy(real), &cond_real).adv.detach());
        let mut loss_g = g_loss(spec.loss, dg.adv, real_adv);
        match (spec.model, dg.aux) {
            (ModelKind::Acgan, Some(a)) => {
                if let Some(of) = cond_fake.onehot.clone() {
                    loss_g = loss_g + aux_loss(a, of, &self.shape.classes).mul_scalar(w);
                }
            }
            (ModelKind::Infogan, Some(q)) => {
                if let Some(code) = cond_fake.code.clone() {
                    loss_g = loss_g + info_loss(q, code, spec.info_cat).mul_scalar(w);
                }
            }
            _ => {}
        }
        let loss_g_val: f32 = loss_g.clone().into_scalar().elem();
        let grads_g = GradientsParams::from_grads(loss_g.backward(), &self.g);
        let grad_g = if want_norms {
            ema::grad_norm(&self.g, &grads_g)
        } else {
            f32::NAN
        };
        self.g = self.og.step(spec.lr_g, self.g.clone(), grads_g);
        if let (Some(decay), Some(avg)) = (spec.ema, self.ema.as_mut()) {
            let decay = ema::warmed_decay(decay, hb.step);
            ema::update(avg, ema::flat_params(&self.g.valid()), decay);
        }
        Metrics {
            step: hb.step + 1,
            loss_d: loss_d_val,
            loss_g: loss_g_val,
            d_real,
            d_fake,
            aux_acc,
            grad_d,
            grad_g,
            seconds: 0.0,
        }
    }

    /// The generator used for sampling: G's EMA when enabled, else G, without autodiff.
    pub fn sampler(&self) -> Generator<B::InnerBackend> {
        let g = self.g.valid();
        match &self.ema {
            Some(avg) => ema::with_params(g, avg),
            None => g,
        }
    }

    /// Writes a checkpoint of the current state.
    pub fn save(&self) -> Result<(), GanError> {
        let meta = Latest {
            step: self.step,
            rollbacks: self.rollbacks,
            dir: checkpoint::step_dir(self.step),
            ema: self.ema.is_some(),
            shapes: Some(checkpoint::NetShapes {
                g: checkpoint::param_shapes(&self.g),
                d: checkpoint::param_shapes(&self.d),
            }),
        };
        let p = self.run.join(&meta.dir);
        let mut files = vec![
            (
                "g.mpk",
                checkpoint::to_bytes::<B, _>(self.g.clone().into_record(), &p)?,
            ),
            (
                "d.mpk",
                checkpoint::to_bytes::<B, _>(self.d.clone().into_record(), &p)?,
            ),
            (
                "g_optim.mpk",
                checkpoint::to_bytes::<B, _>(self.og.to_record(), &p)?,
            ),
            (
                "d_optim.mpk",
                checkpoint::to_bytes::<B, _>(self.od.to_record(), &p)?,
            ),
        ];
        if self.ema.is_some() {
            let rec = self.sampler().into_record();
            files.push((
                "g_ema.mpk",
                checkpoint::to_bytes::<B::InnerBackend, _>(rec, &p)?,
            ));
        }
        checkpoint::commit(&self.run, &meta, CheckpointFiles { files })
    }

    /// Loads the newest checkpoint into this trainer; false when there is none.
    pub fn load_latest(&mut self) -> Result<bool, GanError> {
        let Some(meta) = checkpoint::latest(&self.run)? else {
            return Ok(false);
        };
        let dir = self.run.join(&meta.dir);
        let dev = self.device.clone();
        // Building and loading modules can draw from the backend's generator (lazy
        // parameters, spectral-norm vectors): not while another thread seeds and draws.
        let _rng = crate::backend_rng::lock();
        let (gp, dp) = (dir.join("g.mpk"), dir.join("d.mpk"));
        if let Some(saved) = &meta.shapes {
            checkpoint::check_shapes(&gp, &saved.g, &self.g)?;
            checkpoint::check_shapes(&dp, &saved.d, &self.d)?;
        }
        self.g = checkpoint::load_checked(&gp, self.g.clone(), &dev)?;
        self.d = checkpoint::load_checked(&dp, self.d.clone(), &dev)?;
        self.og = self.og.clone().load_record(checkpoint::read_record::<B, _>(
            &dir.join("g_optim.mpk"),
            &dev,
        )?);
        self.od = self.od.clone().load_record(checkpoint::read_record::<B, _>(
            &dir.join("d_optim.mpk"),
            &dev,
        )?);
        if self.spec.ema.is_some() {
            self.ema = Some(if meta.ema {
                let ema_file = dir.join("g_ema.mpk");
                ema::flat_params(&checkpoint::load_checked(&ema_file, self.g.valid(), &dev)?)
            } else {
                ema::flat_params(&self.g.valid())
            });
        }
        self.step = meta.step;
        self.rollbacks = meta.rollbacks;
        Ok(true)
    }

    /// The fixed-noise grid: one row per class of the first attribute (or per InfoGAN
    /// categorical value), 8 columns sharing their noise down the rows.
    pub fn sample_grid(&self) -> (image::RgbImage, f32) {
        let shape = &self.shape;
        let rows = if let Some(a) = self.ds.attrs.first().filter(|_| !shape.classes.is_empty()) {
            a.values.len().min(16)
        } else if shape.code_dim() > 0 {
            shape.info_cat.clamp(1, 16)
        } else {
            8
        };
        let cols = 8;
        let n = rows * cols;
        let mut rng = batch::step_rng(self.spec.seed, u64::MAX, 7);
        let zc = batch::normal(&mut rng, cols * shape.nz);
        let mut z = Vec::with_capacity(n * shape.nz);
        let (mut labels, mut code) = (Vec::new(), Vec::new());
        let na = shape.classes.len();
        for r in 0..rows {
            for col in 0..cols {
                if shape.classes.is_empty() && shape.code_dim() == 0 {
                    z.extend(batch::normal(&mut rng, shape.nz));
                } else {
                    z.extend_from_slice(&zc[col * shape.nz..(col + 1) * shape.nz]);
                }
                labels.push(r as u32);
                labels.extend(std::iter::repeat_n(0, na.saturating_sub(1)));
                if shape.code_dim() > 0 {
                    batch::push_code(&mut code, shape.info_cat, r, vec![0.0; shape.info_cont]);
                }
            }
        }
        let dev = &self.device;
        let g = self.sampler();
        let cond = make_cond::<B::InnerBackend>(shape, &labels, &code, n, dev);
        let zt = Tensor::from_data(TensorData::new(z, [n, shape.nz]), dev);
        let px: Vec<f32> = g.forward(zt, &cond).into_data().iter::<f32>().collect();
        let side = self.spec.size as usize;
        let div = monitor::diversity(&px, n);
        (monitor::grid(&px, n, self.ds.channels, side, cols), div)
    }

    /// Writes `samples/real.png`: a batch of training images as D sees them.
    fn save_real_grid(&self) -> Result<(), GanError> {
        let classes = batch::class_index(&self.ds);
        let spec = BatchSpec {
            batch: 64,
            ..self.batch_spec()
        };
        let hb = batch::make_batch(&self.ds, &classes, &spec, 0);
        let img = monitor::grid(&hb.real, 64, self.ds.channels, self.spec.size as usize, 8);
        let p = self.run.join("samples/real.png");
        crate::atomic::save_image(&p, &image::DynamicImage::ImageRgb8(img)).map_err(io_err(&p))
    }

    /// Trains until `spec.steps`, from the current step.
    pub fn run(&mut self, v: Verbosity) -> Result<RunOutcome, GanError> {
        let started_at = self.step;
        let total = self.spec.steps;
        let pb = progress::bar(total, "train", v);
        pb.set_position(self.step);
        let mut log = Log::resume(&self.run.join("metrics.csv"), self.step);
        let mut watch = Watch::default();
        let t0 = Instant::now();
        self.save_real_grid()?;
        let mut rx = batch::spawn(self.ds.clone(), self.batch_spec(), self.step..total);
        let mut last = None;
        let _ctrl_c = crate::interrupt::watch();
        while self.step < total {
            if crate::interrupt::requested() {
                pb.finish_and_clear();
                log.flush(&self.run)?;
                self.save()?;
                return Err(GanError::Interrupted {
                    run: self.run.clone(),
                    step: self.step,
                });
            }
            let hb = rx.recv().map_err(|_| GanError::Diverged {
                step: self.step,
                reason: "the batch thread stopped".into(),
            })?;
            let log_now = (self.step + 1).is_multiple_of(self.spec.log_every.max(1))
                || self.step + 1 == total;
            // Whether this step ends with a checkpoint (its weights are checked first).
            let saves_now = (self.step + 1).is_multiple_of(self.spec.checkpoint_every.max(1))
                || self.step + 1 == total;
            let mut m = self.train_step(&hb, log_now);
            // A checkpoint must hold what a rollback can recover from: weights an update
            // made non-finite from finite losses (an infinite gradient) count as a NaN step,
            // or every rollback would reload them and diverge again.
            let why = if !(m.loss_d.is_finite() && m.loss_g.is_finite()) {
                Some(format!("loss D {} G {}", m.loss_d, m.loss_g))
            } else if saves_now
                && !(checkpoint::weights_finite(&self.g) && checkpoint::weights_finite(&self.d))
            {
                Some("weights not finite after the update".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                let taken = self.rollbacks;
                if taken >= MAX_ROLLBACKS || !self.load_latest()? {
                    return Err(GanError::Diverged {
                        step: self.step,
                        reason: why,
                    });
                }
                self.rollbacks = rollbacks_after(taken, self.rollbacks);
                // The steps rolled back are trained again: their rows go.
                log.rows.retain(|r| r.step <= self.step);
                let msg = format!("step {}: {why}; rolled back to step {}", m.step, self.step);
                pb.println(format!("warning: {msg}"));
                watch.warnings.push(msg);
                pb.set_position(self.step);
                rx = batch::spawn(self.ds.clone(), self.batch_spec(), self.step..total);
                continue;
            }
            self.step += 1;
            m.seconds = t0.elapsed().as_secs_f32();
            pb.inc(1);
            let ips =
                (self.step - started_at) as f32 * self.spec.batch as f32 / m.seconds.max(1e-6);
            pb.set_message(format!(
                "D {:.3} G {:.3} {ips:.0} img/s",
                m.loss_d, m.loss_g
            ));
            if log_now {
                log.rows.push(m);
                if let Some(w) = watch.metrics(&m) {
                    pb.println(format!("warning: {w}"));
                }
                last = Some(m);
            }
            if self.step.is_multiple_of(self.spec.sample_every.max(1)) || self.step == total {
                let (img, div) = self.sample_grid();
                for name in [
                    format!("samples/step-{:08}.png", self.step),
                    "samples/latest.png".into(),
                ] {
                    let p = self.run.join(name);
                    crate::atomic::save_image(&p, &image::DynamicImage::ImageRgb8(img.clone()))
                        .map_err(io_err(&p))?;
                }
                if let Some(w) = watch.diversity(self.step, div) {
                    pb.println(format!("warning: {w}"));
                }
            }
            if saves_now {
                log.flush(&self.run)?;
                self.save()?;
            }
        }
        pb.finish_and_clear();
        let secs = t0.elapsed().as_secs_f32().max(1e-6);
        Ok(RunOutcome {
            step: self.step,
            started_at,
            last: last.or_else(|| log.rows.last().copied()),
            images_per_sec: ((self.step - started_at) as f32 * self.spec.batch as f32) / secs,
            warnings: watch.warnings,
            rollbacks: self.rollbacks,
        })
    }
}

trait SeedExt {
    fn next_u64_seed(self) -> u64;
}

impl SeedExt for rand::rngs::StdRng {
    fn next_u64_seed(mut self) -> u64 {
        use rand::RngExt;
        self.random()
    }
}

/// D's mean scores on a real and a fake batch, in 0..1 (the `d_real` and `d_fake`
/// columns of metrics.csv), each read as its loss reads D's output: the sigmoid of BCE's
/// logit; RaGAN's of the relative logit, C(x) - mean C(G(z)) and C(G(z)) - mean C(x); LS's
/// raw output (its targets are 1 and 0) clamped to 0..1; hinge's output clamped to its
/// margins -1..1 and mapped to 0..1. The sigmoid of every loss's raw output read a
/// perfect LS D as 0.73 / 0.5 (a balanced game) and hid "D overpowers G" there.
fn d_scores<B: Backend>(loss: LossKind, real: Tensor<B, 1>, fake: Tensor<B, 1>) -> (f32, f32) {
    use burn::tensor::activation::sigmoid;
    let mean = |t: Tensor<B, 1>| -> f32 { t.mean().into_scalar().elem() };
    match loss {
        LossKind::Bce => (mean(sigmoid(real)), mean(sigmoid(fake))),
        LossKind::Ragan => {
            let (mr, mf) = (real.clone().mean(), fake.clone().mean());
            (mean(sigmoid(real - mf)), mean(sigmoid(fake - mr)))
        }
        LossKind::Ls => (mean(real.clamp(0.0, 1.0)), mean(fake.clamp(0.0, 1.0))),
        LossKind::Hinge => {
            let score = |t: Tensor<B, 1>| t.clamp(-1.0, 1.0).add_scalar(1.0).mul_scalar(0.5);
            (mean(score(real)), mean(score(fake)))
        }
    }
}

/// The instance noise's std at `step`: `instance_noise` annealed linearly to 0 at the
/// run's first target ([`TrainSpec::noise_horizon`]), 0 past it.
fn instance_sigma(spec: &TrainSpec, step: u64) -> f64 {
    let horizon = spec.noise_horizon.unwrap_or(spec.steps).max(1);
    spec.instance_noise as f64 * (1.0 - step as f64 / horizon as f64).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: D's scores were the sigmoid of its output whatever the loss, so a
    /// perfect LS or hinge D read as a balanced game, and RaGAN's drifting raw logits
    /// read near 1 on both sides.
    #[test]
    fn d_scores_follow_each_loss() {
        type B = crate::gan::backend::Cpu;
        let t = |v: &[f32]| Tensor::<B, 1>::from_floats(v, &Default::default());
        let close = |(a, b): (f32, f32), (x, y): (f32, f32)| {
            assert!((a - x).abs() < 1e-5 && (b - y).abs() < 1e-5, "{a} {b}")
        };
        close(
            d_scores(LossKind::Ls, t(&[1.0, 1.2]), t(&[0.0, -0.3])),
            (1.0, 0.0),
        );
        close(
            d_scores(LossKind::Hinge, t(&[3.0, 1.0]), t(&[-2.0, -1.0])),
            (1.0, 0.0),
        );
        close(d_scores(LossKind::Hinge, t(&[0.0]), t(&[0.0])), (0.5, 0.5));
        close(d_scores(LossKind::Bce, t(&[0.0]), t(&[0.0])), (0.5, 0.5));
        // Both raw logits high, the real ones higher: D tells them apart.
        let (r, f) = d_scores(LossKind::Ragan, t(&[30.0]), t(&[20.0]));
        assert!(r > 0.99 && f < 0.01, "{r} {f}");
    }

    /// Regression: `--resume --steps 4000` on a run of 2000 with instance noise brought
    /// the noise back at half its start, where the run had annealed it to 0.
    #[test]
    fn instance_noise_ends_at_the_first_target() {
        let spec = TrainSpec {
            instance_noise: 0.1,
            steps: 4000,
            noise_horizon: Some(2000),
            ..TrainSpec::default()
        };
        assert!((instance_sigma(&spec, 0) - 0.1).abs() < 1e-7);
        assert!((instance_sigma(&spec, 1000) - 0.05).abs() < 1e-7);
        assert_eq!(instance_sigma(&spec, 2000), 0.0);
        assert_eq!(instance_sigma(&spec, 3000), 0.0);
        let fresh = TrainSpec {
            noise_horizon: None,
            ..spec
        };
        assert!((instance_sigma(&fresh, 2000) - 0.05).abs() < 1e-7);
    }

    #[test]
    fn rollbacks_to_one_checkpoint_reach_the_limit() {
        // A checkpoint saved with none taken, a NaN after it every time.
        let mut taken = 0;
        for _ in 0..MAX_ROLLBACKS {
            taken = rollbacks_after(taken, 0);
        }
        assert_eq!(taken, MAX_ROLLBACKS);
        // A resumed run carries the checkpoint's count.
        assert_eq!(rollbacks_after(0, 2), 3);
    }
}
