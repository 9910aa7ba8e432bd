//! 2x2 max pooling with stride 2, without padding (odd last rows and columns dropped, as
//! burn's `MaxPool2d` does). flex runs a generic pooling loop for every window shape,
//! with 64-bit indices and bounds checks per tap; this one reads each 2x2 window once
//! and keeps the winner's position in two bits, planes split across threads.

use super::planes::{par_planes2_written, par_planes_written};
use super::{cast, cast_back, dims4, Ad};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{DType, TensorPrimitive};
use std::mem::MaybeUninit;

/// `burn::tensor::module::max_pool2d` with a 2x2 kernel and stride 2.
pub fn max_pool2x2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    if x.dtype() != DType::F32 {
        return burns(x);
    }
    let x = match cast::<Tensor<Ad, 4>, _>(x) {
        Ok(x) => return cast_back(pool_tracked(x)),
        Err(x) => x,
    };
    match cast::<Tensor<Flex, 4>, _>(x) {
        Ok(x) => {
            let (y, _) = pool_forward(&x.into_primitive().tensor());
            let y = Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(y));
            cast_back(y)
        }
        Err(x) => burns(x),
    }
}

/// burn's own pooling, for every other backend and type.
fn burns<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    burn::tensor::module::max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false)
}

/// The pooling as an autodiff operation: the winners' positions are its saved state.
fn pool_tracked(x: Tensor<Ad, 4>) -> Tensor<Ad, 4> {
    let x = x.into_primitive().tensor();
    let shape = dims4(&x.primitive);
    let prep = PoolBackward
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful();
    let out = match prep {
        OpsKind::Tracked(prep) => {
            let (y, winners) = pool_forward(&x.primitive);
            prep.finish((winners, shape), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(pool_forward(&x.primitive).0),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    /// Per output, which of the window's four inputs won (`2 * row + column`), and the
    /// input's shape.
    type State = (Vec<u8>, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node else { return };
        let (winners, shape) = ops.state;
        grads.register::<Flex>(node.id, pool_backward(&grad, &winners, shape));
    }
}

/// The maximum of window `ox` of a pair of rows, and which of its four values won
/// (`2 * row + column`). Each tap against the best so far, in order, as selects (no
/// branches, so a row's loop vectorises): the first maximum wins ties, as in burn's loop,
/// and a NaN first in the window stays the maximum (no number compares greater), as
/// there.
#[inline(always)]
pub(super) fn window_max(top: &[f32], bottom: &[f32], ox: usize) -> (f32, u8) {
    let (a, b) = (top[2 * ox], top[2 * ox + 1]);
    let (c, d) = (bottom[2 * ox], bottom[2 * ox + 1]);
    let (m, i) = if b > a { (b, 1) } else { (a, 0) };
    let (m, i) = if c > m { (c, 2) } else { (m, i) };
    if d > m {
        (d, 3)
    } else {
        (m, i)
    }
}

/// The pooled tensor and each output's winner.
fn pool_forward(x: &FlexTensor) -> (FlexTensor, Vec<u8>) {
    let [n, c, h, w] = dims4(x);
    let (oh, ow) = (h / 2, w / 2);
    let x = x.to_contiguous();
    let data: &[f32] = x.storage();
    let len = n * c * oh * ow;
    let pool = |p: usize, out: &mut [MaybeUninit<f32>], win: &mut [MaybeUninit<u8>]| {
        let plane = &data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let top = &plane[2 * oy * w..2 * oy * w + w];
            let bottom = &plane[(2 * oy + 1) * w..(2 * oy + 2) * w];
            let row = oy * ow..(oy + 1) * ow;
            for ((o, k), ox) in out[row.clone()].iter_mut().zip(&mut win[row]).zip(0..) {
                let (m, i) = window_max(top, bottom, ox);
                o.write(m);
                k.write(i);
            }
        }
    };
    // SAFETY: `pool` writes every value of both `oh * ow` planes, row by row.
    let (out, winners) = unsafe { par_planes2_written(len, oh * ow, pool) };
    let y = FlexTensor::from_data(TensorData::new(out, [n, c, oh, ow]));
    (y, winners)
}

/// The input gradient: each output's gradient goes to its winner, zero elsewhere.
fn pool_backward(grad: &FlexTensor, winners: &[u8], [n, c, h, w]: [usize; 4]) -> FlexTensor {
    let (oh, ow) = (h / 2, w / 2);
    let grad = grad.to_contiguous();
    let g: &[f32] = grad.storage();
    // Every window written whole, the winner's gradient and three zeros (no zeroing pass
    // and no scatter), and the odd last row and column no window covers set to zero.
    let windows = |p: usize, plane: &mut [MaybeUninit<f32>]| {
        let g = &g[p * oh * ow..(p + 1) * oh * ow];
        let win = &winners[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            let (top, bottom) = plane[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
            let row = oy * ow..(oy + 1) * ow;
            for ((&v, &k), ox) in g[row.clone()].iter().zip(&win[row]).zip(0..) {
                let at = |t: u8| if k == t { v } else { 0.0 };
                top[2 * ox].write(at(0));
                top[2 * ox + 1].write(at(1));
                bottom[2 * ox].write(at(2));
                bottom[2 * ox + 1].write(at(3));
            }
            if w % 2 == 1 {
                top[w - 1].write(0.0);
                bottom[w - 1].write(0.0);
            }
        }
        plane[2 * oh * w..].fill(MaybeUninit::new(0.0));
    };
    // SAFETY: `windows` writes the `oh` pairs of rows whole (every window, and the last
    // column when `w` is odd) and then every row below them.
    let dx = unsafe { par_planes_written(n * c * h * w, h * w, windows) };
    FlexTensor::from_data(TensorData::new(dx, [n, c, h, w]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Output and input gradient against burn's pooling, on an odd-sized input with
    /// ties (values rounded to a coarse grid), tracked and at inference.
    #[test]
    fn matches_burns_pooling() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        let x = Tensor::<Flex, 4>::random([2, 3, 7, 9], Distribution::Default, &dev)
            .mul_scalar(4.0)
            .round();
        let run = |fast: bool| {
            let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
            let y = if fast {
                max_pool2x2(xa.clone())
            } else {
                burns(xa.clone())
            };
            let weights = Tensor::<Ad, 4>::from_inner(y.clone().inner().sin().add_scalar(2.0));
            let g = (y.clone() * weights).sum().backward();
            (y.inner().into_data(), xa.grad(&g).unwrap().into_data())
        };
        let (fast, slow) = (run(true), run(false));
        assert_eq!(fast.0.shape.to_vec(), vec![2, 3, 3, 4]);
        assert_eq!(fast.0, slow.0, "output");
        assert_eq!(fast.1, slow.1, "input gradient");
        let inference = max_pool2x2(x.clone()).into_data();
        assert_eq!(inference, slow.0, "inference output");
    }
}
