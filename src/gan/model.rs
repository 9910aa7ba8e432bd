//! One generator and one discriminator type over every architecture, so the training loop,
//! checkpoints and generation are written once.

use super::dcgan::{Cond, DOut, DcDiscriminator, DcGenerator, NetShape};
use super::keras::{KerasAnimeD, KerasAnimeG, KerasMnistD, KerasMnistG};
use super::spec::{Arch, TrainSpec};
use burn::prelude::*;

/// Any generator.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // built once per run; boxing buys nothing
pub enum Generator<B: Backend> {
    /// DCGAN family (also CGAN, ACGAN, InfoGAN).
    Dc(DcGenerator<B>),
    /// Keras MNIST tutorial preset.
    KerasMnist(KerasMnistG<B>),
    /// Keras anime seed preset.
    KerasAnime(KerasAnimeG<B>),
}

/// Any discriminator.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // built once per run
pub enum Discriminator<B: Backend> {
    /// DCGAN family.
    Dc(DcDiscriminator<B>),
    /// Keras MNIST tutorial preset.
    KerasMnist(KerasMnistD<B>),
    /// Keras anime seed preset.
    KerasAnime(KerasAnimeD<B>),
}

/// The network shape of a run: its settings plus the data's channels and classes.
pub fn net_shape(spec: &TrainSpec, channels: usize, classes: &[usize]) -> NetShape {
    NetShape {
        model: spec.model,
        size: spec.size,
        channels,
        nz: spec.nz,
        ngf: spec.ngf,
        ndf: spec.ndf,
        classes: if spec.conditional() {
            classes.to_vec()
        } else {
            Vec::new()
        },
        embed_dim: spec.embed_dim,
        cond: spec.cond,
        info_cat: spec.info_cat,
        info_cont: spec.info_cont,
        sn_g: spec.spectral_norm.g(),
        sn_d: spec.spectral_norm.d(),
        attention: spec.attention,
        fc: spec.fc,
    }
}

impl<B: Backend> Generator<B> {
    /// Builds the generator of `arch`.
    pub fn new(arch: Arch, shape: &NetShape, device: &B::Device) -> Self {
        match arch {
            Arch::Dcgan => Generator::Dc(DcGenerator::new(shape, device)),
            Arch::KerasMnist => Generator::KerasMnist(KerasMnistG::new(shape.nz, device)),
            Arch::KerasAnime => Generator::KerasAnime(KerasAnimeG::new(shape.nz, device)),
        }
    }

    /// `z` `[batch, nz]` -> images `[batch, channels, size, size]` in [-1, 1].
    pub fn forward(&self, z: Tensor<B, 2>, cond: &Cond<B>) -> Tensor<B, 4> {
        match self {
            Generator::Dc(g) => g.forward(z, cond),
            Generator::KerasMnist(g) => g.forward(z),
            Generator::KerasAnime(g) => g.forward(z),
        }
    }

    /// One spectral-norm power iteration (a no-op without spectral normalization).
    pub fn sn_iterate(&self) {
        if let Generator::Dc(g) = self {
            g.sn_iterate();
        }
    }
}

impl<B: Backend> Discriminator<B> {
    /// Builds the discriminator of `arch`.
    pub fn new(arch: Arch, shape: &NetShape, device: &B::Device) -> Self {
        match arch {
            Arch::Dcgan => Discriminator::Dc(DcDiscriminator::new(shape, device)),
            Arch::KerasMnist => Discriminator::KerasMnist(KerasMnistD::new(device)),
            Arch::KerasAnime => Discriminator::KerasAnime(KerasAnimeD::new(device)),
        }
    }

    /// Images -> adversarial logits (+ aux/Q outputs).
    pub fn forward(&self, x: Tensor<B, 4>, cond: &Cond<B>) -> DOut<B> {
        match self {
            Discriminator::Dc(d) => d.forward(x, cond),
            Discriminator::KerasMnist(d) => d.forward(x),
            Discriminator::KerasAnime(d) => d.forward(x),
        }
    }

    /// As [`Self::forward`], with the auxiliary/Q head on detached body features (so a
    /// loss on it trains the head only); the Keras presets have no such head.
    pub fn forward_head_only_aux(&self, x: Tensor<B, 4>, cond: &Cond<B>) -> DOut<B> {
        match self {
            Discriminator::Dc(d) => d.forward_head_only_aux(x, cond),
            _ => self.forward(x, cond),
        }
    }

    /// One spectral-norm power iteration (a no-op without spectral normalization).
    pub fn sn_iterate(&self) {
        if let Discriminator::Dc(d) = self {
            d.sn_iterate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gan::spec::{CondKind, ModelKind};
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    fn shape(model: ModelKind, size: u32, cond: CondKind) -> NetShape {
        NetShape {
            model,
            size,
            channels: 3,
            nz: 8,
            ngf: 4,
            ndf: 4,
            classes: vec![3, 2],
            embed_dim: 5,
            cond,
            info_cat: 4,
            info_cont: 2,
            sn_g: false,
            sn_d: false,
            attention: None,
            fc: 0,
        }
    }

    fn cond(shape: &NetShape, b: usize, dev: &burn::tensor::Device<B>) -> Cond<B> {
        let labels = Tensor::<B, 2, Int>::from_data(
            TensorData::new(
                (0..b)
                    .flat_map(|i| [i as i64 % 3, 3 + i as i64 % 2])
                    .collect::<Vec<_>>(),
                [b, 2],
            ),
            dev,
        );
        let mut onehot = vec![0f32; b * 5];
        for i in 0..b {
            onehot[i * 5 + i % 3] = 1.0;
            onehot[i * 5 + 3 + i % 2] = 1.0;
        }
        let code = (shape.code_dim() > 0)
            .then(|| Tensor::random([b, shape.code_dim()], Distribution::Default, dev));
        Cond {
            labels: Some(labels),
            onehot: Some(Tensor::from_data(TensorData::new(onehot, [b, 5]), dev)),
            code,
        }
    }

    #[test]
    fn output_shapes_for_every_family_and_size() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        let b = 2;
        for (size, fc) in [
            (16, 0),
            (28, 0),
            (28, 8),
            (32, 0),
            (64, 0),
            (64, 8),
            (128, 0),
        ] {
            for (model, c) in [
                (ModelKind::Dcgan, CondKind::Projection),
                (ModelKind::Cgan, CondKind::Projection),
                (ModelKind::Cgan, CondKind::Channels),
                (ModelKind::Acgan, CondKind::Projection),
                (ModelKind::Infogan, CondKind::Projection),
            ] {
                let s = NetShape {
                    fc,
                    ..shape(model, size, c)
                };
                let g = Generator::<B>::new(Arch::Dcgan, &s, &dev);
                let d = Discriminator::<B>::new(Arch::Dcgan, &s, &dev);
                let cd = cond(&s, b, &dev);
                let x = g.forward(Tensor::random([b, 8], Distribution::Default, &dev), &cd);
                let n = size as usize;
                assert_eq!(x.dims(), [b, 3, n, n], "{model} {size} fc {fc}");
                let out = d.forward(x, &cd);
                assert_eq!(out.adv.dims(), [b]);
                let aux = out.aux.map(|a| a.dims()[1]);
                let want = match model {
                    ModelKind::Acgan => Some(5),
                    ModelKind::Infogan => Some(6),
                    _ => None,
                };
                assert_eq!(aux, want, "{model} {size} fc {fc}");
            }
        }
    }

    #[test]
    fn head_only_aux_keeps_the_q_loss_out_of_the_body() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        use burn::backend::Autodiff;
        use burn::module::{ModuleVisitor, Param};
        use burn::optim::GradientsParams;
        type A = Autodiff<Flex>;
        // Counts D's parameters that received a gradient.
        struct Count<'a>(&'a GradientsParams, usize);
        impl ModuleVisitor<A> for Count<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<A, D>>) {
                if self.0.get::<Flex, D>(p.id).is_some() {
                    self.1 += 1;
                }
            }
        }
        let dev = Default::default();
        let s = shape(ModelKind::Infogan, 16, CondKind::Projection);
        let d = Discriminator::<A>::new(Arch::Dcgan, &s, &dev);
        let x = Tensor::<A, 4>::random([2, 3, 16, 16], Distribution::Default, &dev);
        let cd = Cond::none();
        let touched = |out: DOut<A>| {
            let loss = out.aux.expect("InfoGAN has a Q head").powi_scalar(2).sum();
            let g = GradientsParams::from_grads(loss.backward(), &d);
            let mut c = Count(&g, 0);
            d.visit(&mut c);
            c.1
        };
        let all = touched(d.forward(x.clone(), &cd));
        let head = touched(d.forward_head_only_aux(x, &cd));
        // Q's hidden layer (weight, bias, batch-norm scale and shift) and output (weight,
        // bias) only; the body's convolutions and batch norms get nothing.
        assert_eq!(head, 6);
        assert!(all > head, "{all} vs {head}");
    }

    #[test]
    fn keras_presets_shapes_and_parameter_counts() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        let mut s = shape(ModelKind::Dcgan, 28, CondKind::Projection);
        s.nz = 100;
        let g = Generator::<B>::new(Arch::KerasMnist, &s, &dev);
        let d = Discriminator::<B>::new(Arch::KerasMnist, &s, &dev);
        // Keras' summary: 2,330,944 total (with batch-norm moving mean/variance), of which
        // 2,305,472 trainable; burn's num_params counts the running statistics too.
        assert_eq!(g.num_params(), 2_330_944);
        assert_eq!(d.num_params(), 212_865);
        let x = g.forward(Tensor::zeros([2, 100], &dev), &Cond::none());
        assert_eq!(x.dims(), [2, 1, 28, 28]);
        assert_eq!(d.forward(x, &Cond::none()).adv.dims(), [2]);

        let g = Generator::<B>::new(Arch::KerasAnime, &s, &dev);
        let d = Discriminator::<B>::new(Arch::KerasAnime, &s, &dev);
        assert_eq!(g.num_params(), 18_421_507);
        assert_eq!(d.num_params(), 795_009);
        let x = g.forward(Tensor::zeros([1, 100], &dev), &Cond::none());
        assert_eq!(x.dims(), [1, 3, 64, 64]);
        assert_eq!(d.forward(x, &Cond::none()).adv.dims(), [1]);
    }

    #[test]
    fn keras_mnist_trainable_count_excludes_running_stats() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        let g = KerasMnistG::<B>::new(100, &dev);
        let running: usize = [7 * 7 * 256, 128, 64].iter().map(|c| 2 * c).sum();
        assert_eq!(g.num_params() - running, 2_305_472);
    }
}
