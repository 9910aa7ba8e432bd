//! Adversarial losses on logits (non-saturating BCE, hinge, least squares, relativistic
//! average), cross-entropy on logits for ACGAN's auxiliary head, and InfoGAN's
//! mutual-information loss. Every function returns a one-element tensor (the batch mean).

use super::spec::LossKind;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax, relu};

/// Numerically stable `log(1 + e^x)`, as `-log_sigmoid(-x)`: one fused op on flex whose
/// gradient is `sigmoid(x)` everywhere. The textbook `relu(x) + log1p(e^-|x|)` has the
/// right value but a gradient of 0 at exactly 0 (relu's and abs's subgradients there),
/// where it should be 1/2.
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    log_sigmoid(x.neg()).neg()
}

/// Binary cross-entropy on logits against (soft) targets: mean(softplus(x) - t x).
pub fn bce_logits<B: Backend>(logits: Tensor<B, 1>, targets: Tensor<B, 1>) -> Tensor<B, 1> {
    (softplus(logits.clone()) - logits * targets).mean()
}

/// The discriminator's loss given its logits on real and fake batches and the targets
/// (1 and 0, or smoothed/noisy; hinge ignores them, least squares regresses to them).
pub fn d_loss<B: Backend>(
    kind: LossKind,
    real: Tensor<B, 1>,
    fake: Tensor<B, 1>,
    real_t: Tensor<B, 1>,
    fake_t: Tensor<B, 1>,
) -> Tensor<B, 1> {
    match kind {
        LossKind::Bce => bce_logits(real, real_t) + bce_logits(fake, fake_t),
        LossKind::Hinge => {
            relu(real.neg().add_scalar(1.0)).mean() + relu(fake.add_scalar(1.0)).mean()
        }
        LossKind::Ls => ((real - real_t).powi_scalar(2).mean()
            + (fake - fake_t).powi_scalar(2).mean())
        .mul_scalar(0.5),
        LossKind::Ragan => {
            let (mr, mf) = (real.clone().mean(), fake.clone().mean());
            bce_logits(real - mf, real_t) + bce_logits(fake - mr, fake_t)
        }
    }
}

/// The generator's loss given D's logits on fakes (and on reals, which RaGAN needs).
pub fn g_loss<B: Backend>(
    kind: LossKind,
    fake: Tensor<B, 1>,
    real: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let ones = |t: &Tensor<B, 1>| t.ones_like();
    match kind {
        LossKind::Bce => bce_logits(fake.clone(), ones(&fake)),
        LossKind::Hinge => fake.neg().mean(),
        LossKind::Ls => (fake.sub_scalar(1.0)).powi_scalar(2).mean().mul_scalar(0.5),
        LossKind::Ragan => match real {
            Some(real) => {
                let (mr, mf) = (real.clone().mean(), fake.clone().mean());
                let t1 = ones(&fake);
                bce_logits(fake - mr, t1.clone()) + bce_logits(real - mf, t1.zeros_like())
            }
            None => bce_logits(fake.clone(), ones(&fake)),
        },
    }
}

/// Cross-entropy on logits `[batch, k]` against one-hot targets `[batch, k]` (no softmax
/// before the loss: log-softmax inside, as ACGAN needs).
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, onehot: Tensor<B, 2>) -> Tensor<B, 1> {
    let b = logits.dims()[0];
    (log_softmax(logits, 1) * onehot)
        .sum()
        .neg()
        .div_scalar(b as f32)
}

/// ACGAN's auxiliary loss: one cross-entropy per attribute, over its block of logits.
pub fn aux_loss<B: Backend>(
    logits: Tensor<B, 2>,
    onehot: Tensor<B, 2>,
    classes: &[usize],
) -> Tensor<B, 1> {
    let b = logits.dims()[0];
    let mut total: Option<Tensor<B, 1>> = None;
    let mut off = 0;
    for &k in classes {
        let l = logits.clone().slice([0..b, off..off + k]);
        let t = onehot.clone().slice([0..b, off..off + k]);
        let ce = cross_entropy(l, t);
        total = Some(match total {
            Some(x) => x + ce,
            None => ce,
        });
        off += k;
    }
    total.unwrap_or_else(|| logits.sum().mul_scalar(0.0))
}

/// InfoGAN's mutual-information loss (a variational lower bound): cross-entropy of the Q
/// head's categorical logits against the code drawn, plus a unit-variance Gaussian
/// negative log-likelihood (0.5 * squared error) for the continuous codes.
pub fn info_loss<B: Backend>(q: Tensor<B, 2>, code: Tensor<B, 2>, cat: usize) -> Tensor<B, 1> {
    let [b, n] = q.dims();
    let ce = cross_entropy(
        q.clone().slice([0..b, 0..cat]),
        code.clone().slice([0..b, 0..cat]),
    );
    if n == cat {
        return ce;
    }
    let d = q.slice([0..b, cat..n]) - code.slice([0..b, cat..n]);
    ce + d.powi_scalar(2).sum().mul_scalar(0.5 / b as f32)
}

/// Fraction of rows whose arg-max over each attribute block matches the one-hot target.
pub fn aux_accuracy<B: Backend>(
    logits: Tensor<B, 2>,
    onehot: Tensor<B, 2>,
    classes: &[usize],
) -> f32 {
    let b = logits.dims()[0];
    let (mut hit, mut n, mut off) = (0usize, 0usize, 0);
    for &k in classes {
        let p = logits
            .clone()
            .slice([0..b, off..off + k])
            .argmax(1)
            .into_data();
        let t = onehot
            .clone()
            .slice([0..b, off..off + k])
            .argmax(1)
            .into_data();
        let (p, t) = (
            p.iter::<i64>().collect::<Vec<_>>(),
            t.iter::<i64>().collect::<Vec<_>>(),
        );
        hit += p.iter().zip(&t).filter(|(a, b)| a == b).count();
        n += b;
        off += k;
    }
    if n == 0 {
        0.0
    } else {
        hit as f32 / n as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::loss::CrossEntropyLossConfig;

    type B = Flex;

    fn t1(v: &[f32]) -> Tensor<B, 1> {
        Tensor::from_floats(v, &Default::default())
    }
    fn s(t: Tensor<B, 1>) -> f32 {
        t.into_scalar()
    }
    fn close(a: f32, b: f32) {
        assert!((a - b).abs() < 1e-5, "{a} != {b}");
    }

    #[test]
    fn bce_matches_hand_values() {
        // logit 0: log 2 for either target; logit 2, target 1: log(1 + e^-2).
        close(s(bce_logits(t1(&[0.0]), t1(&[1.0]))), 2f32.ln());
        close(
            s(bce_logits(t1(&[2.0]), t1(&[1.0]))),
            (1.0 + (-2f32).exp()).ln(),
        );
        close(s(bce_logits(t1(&[-50.0]), t1(&[0.0]))), 0.0);
        let d = d_loss(
            LossKind::Bce,
            t1(&[0.0]),
            t1(&[0.0]),
            t1(&[1.0]),
            t1(&[0.0]),
        );
        close(s(d), 2.0 * 2f32.ln());
        close(s(g_loss(LossKind::Bce, t1(&[0.0]), None)), 2f32.ln());
    }

    #[test]
    fn softplus_values_and_gradient_are_right_at_zero_and_far_out() {
        type A = burn::backend::Autodiff<Flex>;
        let xs = [-40.0f32, -1.0, 0.0, 1.0, 40.0];
        let x = Tensor::<A, 1>::from_floats(xs, &Default::default()).require_grad();
        let y = softplus(x.clone());
        let values: Vec<f32> = y.clone().into_data().to_vec().unwrap();
        let grads = y.sum().backward();
        let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().to_vec().unwrap();
        for ((&x, v), g) in xs.iter().zip(values).zip(dx) {
            let want = (x as f64).exp().ln_1p().max(x as f64) as f32;
            assert!(
                (v - want).abs() <= 1e-6 * want.max(1.0),
                "softplus({x}) = {v}"
            );
            let sigmoid = 1.0 / (1.0 + (-x).exp());
            assert!(
                (g - sigmoid).abs() < 1e-6,
                "softplus'({x}) = {g}, not {sigmoid}"
            );
        }
    }

    #[test]
    fn hinge_and_least_squares_hand_values() {
        let (r, f) = (t1(&[0.5, 2.0]), t1(&[-2.0, 0.0]));
        // D hinge: mean(relu(1 - r)) + mean(relu(1 + f)) = 0.25 + 0.5
        close(
            s(d_loss(
                LossKind::Hinge,
                r.clone(),
                f.clone(),
                r.ones_like(),
                f.zeros_like(),
            )),
            0.75,
        );
        close(s(g_loss(LossKind::Hinge, f.clone(), None)), 1.0);
        // LS: 0.5 * (mean((r-1)^2) + mean(f^2)) = 0.5 * (0.625 + 2)
        close(
            s(d_loss(
                LossKind::Ls,
                r.clone(),
                f.clone(),
                r.ones_like(),
                f.zeros_like(),
            )),
            1.3125,
        );
        close(s(g_loss(LossKind::Ls, f, None)), 0.5 * (9.0 + 1.0) / 2.0);
    }

    #[test]
    fn ragan_hand_values() {
        // real = [1], fake = [-1]: D = bce(2, 1) + bce(-2, 0) = 2 log(1 + e^-2)
        let (r, f) = (t1(&[1.0]), t1(&[-1.0]));
        let want = 2.0 * (1.0 + (-2f32).exp()).ln();
        close(
            s(d_loss(
                LossKind::Ragan,
                r.clone(),
                f.clone(),
                t1(&[1.0]),
                t1(&[0.0]),
            )),
            want,
        );
        // G = bce(-2, 1) + bce(2, 0) = 2 log(1 + e^2)
        close(
            s(g_loss(LossKind::Ragan, f, Some(r))),
            2.0 * (1.0 + 2f32.exp()).ln(),
        );
    }

    #[test]
    fn aux_loss_is_cross_entropy_on_logits() {
        let dev = Default::default();
        let logits = Tensor::<B, 2>::from_floats([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]], &dev);
        let onehot = Tensor::<B, 2>::from_floats([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], &dev);
        let ours = s(aux_loss(logits.clone(), onehot, &[3]));
        let targets = Tensor::<B, 1, Int>::from_ints([1, 2], &dev);
        let burn_ce = CrossEntropyLossConfig::new()
            .with_logits(true)
            .init(&dev)
            .forward(logits.clone(), targets);
        close(ours, s(burn_ce));
        // by hand, row 0: logsumexp(2, -1, .5) - (-1)
        let lse0 = (2f32.exp() + (-1f32).exp() + 0.5f32.exp()).ln();
        let lse1 = (0.1f32.exp() + 0.2f32.exp() + 3f32.exp()).ln();
        close(ours, ((lse0 + 1.0) + (lse1 - 3.0)) / 2.0);
        let acc = aux_accuracy(
            logits,
            Tensor::from_floats([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], &dev),
            &[3],
        );
        close(acc, 1.0);
    }

    #[test]
    fn info_loss_hand_value() {
        let dev = Default::default();
        let q = Tensor::<B, 2>::from_floats([[0.0, 0.0, 1.0]], &dev);
        let code = Tensor::<B, 2>::from_floats([[1.0, 0.0, 0.0]], &dev);
        // CE over 2 equal logits = ln 2; continuous: 0.5 * (1 - 0)^2
        close(s(info_loss(q, code, 2)), 2f32.ln() + 0.5);
    }
}
