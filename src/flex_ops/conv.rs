//! 2-D convolution with faster gradients on flex.
//!
//! burn computes a convolution's weight gradient as another convolution, with batch and
//! channels swapped: the output gradient becomes a kernel as large as the image, and on
//! flex that pass parallelises over the input channels only (three of them in a first
//! layer). It took 45% of a classifier training step and hardly used a second core.
//! Here the weight gradient is the textbook im2col GEMM instead (Chellapilla et al.
//! 2006): per image, `dW += dY · cols(X)ᵀ`, the images split across threads. The bias
//! gradient is one pass over `dY`; for stride 1 the input gradient is a forward
//! convolution with the flipped kernel. The forward pass is the same im2col GEMM, one
//! image per task.

use super::planes::{assume_written, par_planes_written};
use super::{cast, cast_back, dims4, Ad};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, ModuleOps};
use burn::tensor::{DType, TensorPrimitive};
use rayon::prelude::*;
use std::mem::MaybeUninit;

type Args<B> = (Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 1>>);

/// `burn::tensor::module::conv2d`, with the im2col kernels when `B` is `Autodiff<Flex>`
/// or `Flex` and the convolution has no groups and no dilation.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    let args = (x, weight, bias);
    if options.groups != 1 || options.dilation != [1, 1] {
        let (x, w, b) = args;
        return burn::tensor::module::conv2d(x, w, b, options);
    }
    let args = match cast::<Args<Ad>, _>(args) {
        Ok((x, w, b)) => return cast_back(flex_conv2d(x, w, b, options)),
        Err(args) => args,
    };
    match cast::<Args<Flex>, _>(args) {
        Ok((x, w, b)) => {
            let prim = |t: Tensor<Flex, 4>| t.into_primitive().tensor();
            let (x, w) = (prim(x), prim(w));
            let b = b.map(|b| b.into_primitive().tensor());
            let y = forward_or_flexs(x, w, b, options);
            cast_back(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(y)))
        }
        Err((x, w, b)) => burn::tensor::module::conv2d(x, w, b, options),
    }
}

/// The convolution as one autodiff operation of ours. Without a bias, a zero one that
/// needs no gradient stands in (one code path; flex adds it in the same pass).
fn flex_conv2d(
    x: Tensor<Ad, 4>,
    weight: Tensor<Ad, 4>,
    bias: Option<Tensor<Ad, 1>>,
    options: ConvOptions<2>,
) -> Tensor<Ad, 4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    let x = x.into_primitive().tensor();
    let w = weight.into_primitive().tensor();
    let b = bias.into_primitive().tensor();
    let prep = ConvBackward
        .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
        .compute_bound()
        .stateful();
    let out = match prep {
        OpsKind::Tracked(mut prep) => {
            let xs = prep.checkpoint(&x);
            let ws = prep.checkpoint(&w);
            let y = forward_or_flexs(x.primitive, w.primitive, Some(b.primitive), options.clone());
            prep.finish((xs, ws, options), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward_or_flexs(
            x.primitive,
            w.primitive,
            Some(b.primitive),
            options,
        )),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (xs, ws, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(xs);
        let w = checkpointer.retrieve_node_output::<FlexTensor>(ws);
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, bias_grad(&grad));
        }
        if let Some(node) = node_x {
            let dx = input_grad(&x, &w, &grad, &options).unwrap_or_else(|| {
                Flex::conv2d_x_backward(x.clone(), w.clone(), grad.clone(), options.clone())
            });
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_w {
            let dw = match weight_grad(&x, &grad, &w, &options) {
                Some(dw) => dw,
                None => Flex::conv2d_weight_backward(x, w, grad, options),
            };
            grads.register::<Flex>(node.id, dw);
        }
    }
}

/// For stride 1, `dX` is itself a convolution: of `dY` with the kernel flipped and its
/// channel axes swapped, padded by `k - 1 - p`. flex runs that forward pass with its
/// parallel im2col path, where burn's transposed convolution split over fewer threads.
/// `None` for strides above 1 and what [`weight_grad`] also leaves to burn.
fn input_grad(
    x: &FlexTensor,
    w: &FlexTensor,
    dy: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if options.stride != [1, 1] || w.dtype() != DType::F32 {
        return None;
    }
    let [_, _, h, wd] = dims4(x);
    let [_, _, oh, ow] = dims4(dy);
    let [cout, cin, kh, kw] = dims4(w);
    let [p0, p1] = options.padding;
    let pad = [kh.checked_sub(1 + p0)?, kw.checked_sub(1 + p1)?];
    if oh + 2 * pad[0] + 1 != h + kh || ow + 2 * pad[1] + 1 != wd + kw {
        return None;
    }
    let w = w.to_contiguous();
    let ws: &[f32] = w.storage();
    let mut flipped = vec![0.0f32; ws.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for ky in 0..kh {
                for kx in 0..kw {
                    flipped[((ci * cout + co) * kh + kh - 1 - ky) * kw + kw - 1 - kx] =
                        ws[((co * cin + ci) * kh + ky) * kw + kx];
                }
            }
        }
    }
    let flipped = FlexTensor::from_data(TensorData::new(flipped, [cin, cout, kh, kw]));
    let options = ConvOptions::new([1, 1], pad, [1, 1], 1);
    Some(forward_or_flexs(dy.clone(), flipped, None, options))
}

/// `db[c] = Σ dY[·, c, ·, ·]`, summed per image and channel in one pass over the data,
/// the planes split across threads. (One thread adding a plane's values one after the
/// other was 3% of a round's CPU samples with the second core idle, BENCHMARKS.md,
/// label, session 41.)
fn bias_grad(dy: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(dy);
    if dy.dtype() != DType::F32 {
        let t = Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(dy.clone()));
        let db: Tensor<Flex, 1> = t.sum_dim(0).sum_dim(2).sum_dim(3).reshape([c]);
        return db.into_primitive().tensor();
    }
    let dy = dy.to_contiguous();
    let data: &[f32] = dy.storage();
    let mut db = vec![0.0f32; c];
    if h * w > 0 {
        let sums: Vec<f32> = data[..n * c * h * w]
            .par_chunks_exact(h * w)
            .map(lane_sum)
            .collect();
        for (i, s) in sums.into_iter().enumerate() {
            db[i % c] += s;
        }
    }
    FlexTensor::from_data(TensorData::new(db, [c]))
}

/// The sum of `values` in 16 running lanes, which the compiler keeps in vector registers
/// (a single running sum is one dependent addition per value: strict float order forbids
/// vectorising it).
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Shapes of one convolution, in the names of the im2col GEMM.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    cin: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: [usize; 2],
    pad: [usize; 2],
}

impl Geometry {
    /// The convolution of `x` (`[n, cin, h, w]`) with `w` (`[cout, cin, kh, kw]`), or
    /// `None` when the channels disagree or the kernel is larger than the padded input.
    fn new(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>) -> Option<Geometry> {
        let [_, cin, h, wd] = dims4(x);
        let [_, cin2, kh, kw] = dims4(w);
        let (stride, pad) = (options.stride, options.padding);
        if cin != cin2 || stride.contains(&0) {
            return None;
        }
        Some(Geometry {
            cin,
            h,
            w: wd,
            kh,
            kw,
            oh: (h + 2 * pad[0]).checked_sub(kh)? / stride[0] + 1,
            ow: (wd + 2 * pad[1]).checked_sub(kw)? / stride[1] + 1,
            stride,
            pad,
        })
    }

    /// Rows of the column matrix: one per input channel and kernel tap.
    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    /// Columns: one per output position.
    fn l(&self) -> usize {
        self.oh * self.ow
    }

    /// Writes image `img` (`cin * h * w`) as its `k × l` column matrix into `cols`:
    /// row `(c, ky, kx)` holds, per output position, the input pixel that tap reads
    /// (0 in the padding).
    fn im2col(&self, img: &[f32], cols: &mut [f32]) {
        let g = *self;
        if g.stride == [1, 1] && g.ow == g.w {
            g.im2col_same_width(img, cols)
        } else {
            g.im2col_rows(img, cols)
        }
    }

    /// [`Geometry::im2col`] row by row of the output, for any stride and padding.
    fn im2col_rows(&self, img: &[f32], cols: &mut [f32]) {
        let g = *self;
        let mut rows = cols.chunks_exact_mut(g.l());
        for c in 0..g.cin {
            let plane = &img[c * g.h * g.w..(c + 1) * g.h * g.w];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let row = rows.next().expect("k rows");
                    for oy in 0..g.oh {
                        let out = &mut row[oy * g.ow..(oy + 1) * g.ow];
                        let iy = (oy * g.stride[0] + ky) as isize - g.pad[0] as isize;
                        if iy < 0 || iy >= g.h as isize {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                        if g.stride[1] == 1 {
                            // One copy: the columns whose tap lands inside the row.
                            let off = kx as isize - g.pad[1] as isize;
                            let lo = (-off).clamp(0, g.ow as isize) as usize;
                            let hi = (g.w as isize - off).clamp(lo as isize, g.ow as isize);
                            let hi = hi as usize;
                            // No tap of this column inside the row (a kernel wider than
                            // the padded image): `lo + off` may then lie before or past
                            // the row, and slicing there panicked.
                            if hi == lo {
                                out.fill(0.0);
                                continue;
                            }
                            out[..lo].fill(0.0);
                            let start = (lo as isize + off) as usize;
                            out[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                            out[hi..].fill(0.0);
                            continue;
                        }
                        for (ox, o) in out.iter_mut().enumerate() {
                            let ix = (ox * g.stride[1] + kx) as isize - g.pad[1] as isize;
                            *o = if ix < 0 || ix >= g.w as isize {
                                0.0
                            } else {
                                src[ix as usize]
                            };
                        }
                    }
                }
            }
        }
    }

    /// [`Geometry::im2col`] for stride 1 where the output rows are as wide as the input's
    /// (3x3 with padding 1: every layer of the classifier). Then a tap's row of the column
    /// matrix is the image plane itself shifted by `dy * w + dx`: one copy of the rows the
    /// tap reads inside the image, and zeros written over the `|dx|` columns at each row's
    /// edge that the shift carried over from the neighbouring row. The row-by-row copies
    /// of 6-48 values were calls to `memcpy` and `memset` that cost more than the values
    /// they moved (with them, `im2col` took about 11% of a round's CPU samples; perf,
    /// BENCHMARKS.md, label, session 48).
    fn im2col_same_width(&self, img: &[f32], cols: &mut [f32]) {
        let g = *self;
        let (h, w, oh) = (g.h as isize, g.w as isize, g.oh as isize);
        let len = g.l();
        let mut rows = cols.chunks_exact_mut(len);
        for c in 0..g.cin {
            let plane = &img[c * g.h * g.w..(c + 1) * g.h * g.w];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let row = rows.next().expect("k rows");
                    let (dy, dx) = (
                        ky as isize - g.pad[0] as isize,
                        kx as isize - g.pad[1] as isize,
                    );
                    let shift = dy * w + dx;
                    // Output rows whose input row lies inside the image, and within them
                    // the flat positions whose source lies inside the plane.
                    let first = (-dy).clamp(0, oh);
                    let last = (h - dy).clamp(first, oh);
                    let lo = (first * w).max(-shift).min(last * w);
                    let hi = (last * w).min(h * w - shift).max(lo);
                    let (lo, hi) = (lo as usize, hi as usize);
                    row[..lo].fill(0.0);
                    if hi > lo {
                        let start = (lo as isize + shift) as usize;
                        row[lo..hi].copy_from_slice(&plane[start..start + hi - lo]);
                    }
                    row[hi..].fill(0.0);
                    // The edge columns whose tap falls outside its own input row.
                    let edge = dx.unsigned_abs().min(g.w);
                    if edge > 0 {
                        for oy in first as usize..last as usize {
                            let r = &mut row[oy * g.w..(oy + 1) * g.w];
                            match (edge, dx < 0) {
                                // One value (padding 1): a store, not a call to `memset`.
                                (1, true) => r[0] = 0.0,
                                (1, false) => r[g.w - 1] = 0.0,
                                (_, true) => r[..edge].fill(0.0),
                                (_, false) => r[g.w - edge..].fill(0.0),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The forward pass, `Y[i] = W · cols(X[i]) + b` per image (`cout × k` by `k × l`),
/// images split across threads. flex's own first reorders the whole input to NHWC on
/// one thread and builds its columns tap by tap, channel innermost (16% of a training
/// step; perf, BENCHMARKS.md, label, session 13). `None` where [`Geometry::new`] is.
fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: Option<&FlexTensor>,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if options.groups != 1 || options.dilation != [1, 1] {
        return None;
    }
    if x.dtype() != DType::F32
        || w.dtype() != DType::F32
        || b.is_some_and(|b| b.dtype() != DType::F32)
    {
        return None;
    }
    let g = Geometry::new(x, w, options)?;
    let [n, _, _, _] = dims4(x);
    let [cout, _, _, _] = dims4(w);
    let x = x.to_contiguous();
    let w = w.to_contiguous();
    let b = b.map(|b| b.to_contiguous());
    let (xs, ws): (&[f32], &[f32]) = (x.storage(), w.storage());
    let bias: Option<&[f32]> = b.as_ref().map(|b| b.storage());
    let (k, l) = (g.k(), g.l());
    let plane = g.cin * g.h * g.w;
    let image = |i: usize, out: &mut [MaybeUninit<f32>]| {
        // The bias, or zero, is where the GEMM's sums start.
        for (co, row) in out.chunks_exact_mut(l).enumerate() {
            row.fill(MaybeUninit::new(bias.map_or(0.0, |b| b[co])));
        }
        // SAFETY: the `cout` rows of `l` values cover the plane, and each was written.
        let out = unsafe { assume_written(out) };
        with_columns(k * l, |cols| {
            g.im2col(&xs[i * plane..(i + 1) * plane], cols);
            gemm_acc(out, ws, cols, [cout, l, k], Rhs::Plain);
        });
    };
    // SAFETY: `image` writes every value of each `cout * l` plane before anything reads it.
    let y = unsafe { par_planes_written(n * cout * l, cout * l, image) };
    Some(FlexTensor::from_data(TensorData::new(
        y,
        [n, cout, g.oh, g.ow],
    )))
}

/// [`forward`], or flex's own convolution where that does not apply.
fn forward_or_flexs(
    x: FlexTensor,
    w: FlexTensor,
    b: Option<FlexTensor>,
    options: ConvOptions<2>,
) -> FlexTensor {
    forward(&x, &w, b.as_ref(), &options).unwrap_or_else(|| Flex::conv2d(x, w, b, options))
}

/// Chunks of images whose weight gradients [`weight_grad`] sums apart: a fixed number,
/// not one per thread, so that the float sums run in one order whatever the thread count
/// (with one per thread, a labeling round on 2 threads and on 16 drew other networks from
/// the same seed; the GEMM kernels still differ by CPU). Up to 16 threads share it.
const WEIGHT_GRAD_CHUNKS: usize = 16;

/// `dW = Σ_images dY · cols(X)ᵀ`, the images split into [`WEIGHT_GRAD_CHUNKS`] chunks,
/// each chunk's sum accumulated by GEMM into its own buffer, the chunks' sums added in
/// order. `None` for what this does not cover (other than f32, asymmetric shapes burn
/// pads itself), which falls back to burn.
fn weight_grad(
    x: &FlexTensor,
    dy: &FlexTensor,
    w: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || dy.dtype() != DType::F32 {
        return None;
    }
    let [n, cin, h, wd] = dims4(x);
    let [n2, cout, oh, ow] = dims4(dy);
    let [cout2, cin2, kh, kw] = dims4(w);
    if n != n2 || cout != cout2 || cin != cin2 {
        return None;
    }
    let g = Geometry::new(x, w, options)?;
    // The output size must be what these strides and paddings give, or the taps differ.
    if (g.oh, g.ow) != (oh, ow) {
        return None;
    }
    let x = x.to_contiguous();
    let dy = dy.to_contiguous();
    let xs: &[f32] = x.storage();
    let ds: &[f32] = dy.storage();
    let (k, l) = (g.k(), g.l());
    let per = n.div_ceil(WEIGHT_GRAD_CHUNKS).max(1);
    let chunks = n.div_ceil(per).max(1);
    let partials: Vec<Vec<f32>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![0.0f32; cout * k];
            with_columns(k * l, |cols| {
                for i in c * per..((c + 1) * per).min(n) {
                    g.im2col(&xs[i * cin * h * wd..(i + 1) * cin * h * wd], cols);
                    let d = &ds[i * cout * l..(i + 1) * cout * l];
                    gemm_acc(&mut acc, d, cols, [cout, k, l], Rhs::Transposed);
                }
            });
            acc
        })
        .collect();
    // The chunks' sums added in chunk order, the weights split across threads (on one
    // thread, 15 passes over a 128x1152 gradient while the other core waits).
    const SPAN: usize = 4096;
    let (first, rest) = partials.split_first()?;
    let mut total = first.clone();
    total.par_chunks_mut(SPAN).enumerate().for_each(|(j, out)| {
        for p in rest {
            let part = &p[j * SPAN..j * SPAN + out.len()];
            out.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
    });
    Some(FlexTensor::from_data(TensorData::new(
        total,
        [cout, cin, kh, kw],
    )))
}

thread_local! {
    /// Each thread's column matrix, kept from one convolution to the next: allocating and
    /// zeroing a fresh one per task (up to 663 KB) cost more than filling it.
    static COLUMNS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` on this thread's column buffer of `len` values (contents left from its last
/// use: [`Geometry::im2col`] writes every value). `f` must not start another convolution
/// on this thread (it only copies and runs a one-thread GEMM).
fn with_columns<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLUMNS.with(|cell| {
        let mut cols = cell.borrow_mut();
        if cols.len() < len {
            cols.resize(len, 0.0);
        }
        f(&mut cols[..len])
    })
}

/// How [`gemm_acc`] reads its right-hand matrix.
#[derive(Debug, Clone, Copy)]
enum Rhs {
    /// `b` is the `k × n` matrix itself.
    Plain,
    /// `b` is stored `n × k`, and its transpose is the product's right-hand side.
    Transposed,
}

/// `acc (m × n) += a (m × k) · B`, with `B` (`k × n`) read from `b` as `rhs` says; all
/// row-major.
fn gemm_acc(acc: &mut [f32], a: &[f32], b: &[f32], [m, n, k]: [usize; 3], rhs: Rhs) {
    assert!(acc.len() >= m * n && a.len() >= m * k && b.len() >= n * k);
    // Column and row strides of B: `b`'s own (1, n), or of its transpose (k, 1).
    let (b_cs, b_rs) = match rhs {
        Rhs::Plain => (1, n as isize),
        Rhs::Transposed => (k as isize, 1),
    };
    // SAFETY: the assert above bounds every index gemm touches: dst m × n with row
    // stride n, lhs m × k with row stride k, and B's k × n entries at the strides above,
    // all inside `b`'s n * k elements. The three buffers do not overlap (`acc` is
    // borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            acc.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type Inner = Flex;

    /// The fast path's gradients against burn's own on the same convolution, for a 3x3
    /// stride-1 layer and a 4x4 stride-2 one (the GAN discriminator's).
    #[test]
    fn gradients_match_burns() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        for (cin, cout, s, k, stride, pad, with_bias) in [
            (3, 8, 9, 3, 1, 1, true),
            (4, 6, 8, 4, 2, 1, true),
            (2, 3, 5, 3, 1, 0, false),
        ] {
            let x = Tensor::<Inner, 4>::random([3, cin, s, s], Distribution::Default, &dev);
            let w = Tensor::<Inner, 4>::random([cout, cin, k, k], Distribution::Default, &dev);
            let b = Tensor::<Inner, 1>::random([cout], Distribution::Default, &dev);
            let options = ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1);
            let run = |fast: bool| {
                let x = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
                let w = Tensor::<Ad, 4>::from_inner(w.clone()).require_grad();
                let b = Tensor::<Ad, 1>::from_inner(b.clone()).require_grad();
                let bias = with_bias.then(|| b.clone());
                let y = if fast {
                    conv2d(x.clone(), w.clone(), bias, options.clone())
                } else {
                    burn::tensor::module::conv2d(x.clone(), w.clone(), bias, options.clone())
                };
                // A loss that weighs every output differently.
                let weights = Tensor::<Ad, 4>::from_inner(y.clone().inner().cos());
                let g = (y.clone() * weights).sum().backward();
                let v =
                    |t: Option<Tensor<Inner, 4>>| t.unwrap().into_data().to_vec::<f32>().unwrap();
                (
                    y.inner().into_data().to_vec::<f32>().unwrap(),
                    v(x.grad(&g)),
                    v(w.grad(&g)),
                    b.grad(&g).map(|t| t.into_data().to_vec::<f32>().unwrap()),
                )
            };
            let (fast, slow) = (run(true), run(false));
            let close = |a: &[f32], b: &[f32], what: &str| {
                assert_eq!(a.len(), b.len(), "{what}");
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-3 * (1.0 + q.abs()),
                        "{what}[{i}]: {p} vs {q}"
                    );
                }
            };
            close(&fast.0, &slow.0, "output");
            close(&fast.1, &slow.1, "input gradient");
            close(&fast.2, &slow.2, "weight gradient");
            assert_eq!(fast.3.is_some(), with_bias);
            assert_eq!(slow.3.is_some(), with_bias);
            if let (Some(a), Some(b)) = (&fast.3, &slow.3) {
                close(a, b, "bias gradient");
            }
        }
    }

    /// The weight gradient's sums run in one order whatever the thread count.
    #[test]
    fn the_weight_gradient_is_the_same_on_any_number_of_threads() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        let x = Tensor::<Inner, 4>::random([37, 3, 8, 8], Distribution::Default, &dev);
        let w = Tensor::<Inner, 4>::random([5, 3, 3, 3], Distribution::Default, &dev);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let grad = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let x = Tensor::<Ad, 4>::from_inner(x.clone());
                let w = Tensor::<Ad, 4>::from_inner(w.clone()).require_grad();
                let y = conv2d(x, w.clone(), None, options.clone());
                let weights = Tensor::<Ad, 4>::from_inner(y.clone().inner().sin());
                let g = (y * weights).sum().backward();
                w.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap()
            })
        };
        let one = grad(1);
        assert!(one.iter().any(|&v| v != 0.0));
        assert_eq!(one, grad(2));
        assert_eq!(one, grad(5));
    }

    /// The shifted-plane columns for stride 1 equal the row-by-row ones, for 3x3 with
    /// padding 1, wider kernels and paddings, output heights apart from the input's, and
    /// a kernel wider than the image; every value of a dirty buffer is overwritten.
    #[test]
    fn same_width_columns_match_the_row_by_row_ones() {
        for (cin, h, w, kh, kw, p0, p1) in [
            (2, 6, 6, 3, 3, 1, 1),
            (1, 5, 7, 3, 5, 0, 2),
            (3, 4, 3, 5, 3, 2, 1),
            (1, 3, 2, 1, 7, 0, 3),
            (1, 2, 4, 3, 9, 1, 4),
            (2, 1, 1, 3, 3, 1, 1),
        ] {
            let g = Geometry {
                cin,
                h,
                w,
                kh,
                kw,
                oh: h + 2 * p0 + 1 - kh,
                ow: w + 2 * p1 + 1 - kw,
                stride: [1, 1],
                pad: [p0, p1],
            };
            assert_eq!(g.ow, g.w);
            let img: Vec<f32> = (0..cin * h * w).map(|i| i as f32 + 1.0).collect();
            let mut fast = vec![f32::NAN; g.k() * g.l()];
            let mut rows = vec![f32::NAN; g.k() * g.l()];
            g.im2col_same_width(&img, &mut fast);
            g.im2col_rows(&img, &mut rows);
            assert_eq!(
                fast, rows,
                "{cin} {h}x{w} kernel {kh}x{kw} padding {p0},{p1}"
            );
        }
    }

    /// At inference (flex without autodiff) the forward pass is ours as well: the same
    /// output as burn's.
    #[test]
    fn inference_matches_burns() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        // 3x3 / padding 1 (the crate's layers); a kernel wider than the padded image
        // (some columns have no tap inside a row: it panicked); stride 2 over a side
        // whose last row no window reaches; height and width apart.
        for (x, w, stride, pad) in [
            ([2, 3, 6, 6], [4, 3, 3, 3], [1, 1], [1, 1]),
            ([1, 1, 5, 1], [1, 1, 5, 5], [1, 1], [2, 2]),
            ([1, 2, 7, 9], [3, 2, 3, 5], [2, 2], [1, 2]),
            ([1, 2, 6, 4], [2, 2, 3, 1], [1, 1], [1, 0]),
        ] {
            let dev = Default::default();
            let x = Tensor::<Inner, 4>::random(x, Distribution::Default, &dev);
            let w = Tensor::<Inner, 4>::random(w, Distribution::Default, &dev);
            let options = ConvOptions::new(stride, pad, [1, 1], 1);
            let a = conv2d(x.clone(), w.clone(), None, options.clone());
            let b = burn::tensor::module::conv2d(x, w, None, options);
            assert_eq!(a.dims(), b.dims());
            let (a, b) = (
                a.into_data().to_vec::<f32>().unwrap(),
                b.into_data().to_vec::<f32>().unwrap(),
            );
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{p} vs {q}");
            }
        }
    }
}
