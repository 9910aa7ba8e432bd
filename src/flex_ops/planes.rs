//! Output buffers the kernels fill plane by plane in parallel, zeroed by the same threads.
//!
//! `vec![0.0; len]` on a heap that keeps freed memory ([`crate::heap`]) is a `memset` of
//! the whole buffer on the calling thread while the other cores wait, and a second pass
//! over memory the kernel then writes again. In a default labeling round that serial
//! zeroing (batch norm's output and normalised input, its and pooling's input gradients,
//! the convolution's output) took 8.8% of the CPU samples, about 14% of the wall time on
//! two cores (BENCHMARKS.md, label, session 41). Here each worker zeroes only the plane
//! it is about to write, while it sits in its cache.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A vector of `len` values, `len` a multiple of `plane`, each `plane`-long chunk zeroed
/// (`T::default()`) and then handed to `fill` with its index, in parallel.
pub(super) fn par_planes<T>(
    len: usize,
    plane: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T>
where
    T: Copy + Default + Send + Sync,
{
    par_planes_init(len, plane, || (), |_, p, out| fill(p, out))
}

/// [`par_planes`] with a scratch value per worker, made by `init` (rayon's
/// `for_each_init`: a buffer reused across the planes one thread fills).
pub(super) fn par_planes_init<T, S>(
    len: usize,
    plane: usize,
    init: impl Fn() -> S + Sync + Send,
    fill: impl Fn(&mut S, usize, &mut [T]) + Sync,
) -> Vec<T>
where
    T: Copy + Default + Send + Sync,
{
    // The second buffer holds `()`s: zero-sized, never allocated.
    planes_with(len, plane, init, |s, p, out, _: &mut [()]| fill(s, p, out)).0
}

/// Two such vectors of `len` values each (the kernel's output and what its backward pass
/// keeps: batch norm's normalised input, pooling's winners), filled together plane by plane.
pub(super) fn par_planes2<T, U>(
    len: usize,
    plane: usize,
    fill: impl Fn(usize, &mut [T], &mut [U]) + Sync,
) -> (Vec<T>, Vec<U>)
where
    T: Copy + Default + Send + Sync,
    U: Copy + Default + Send + Sync,
{
    planes_with(len, plane, || (), |_, p, a, b| fill(p, a, b))
}

/// The one implementation of the three: two buffers of `len` values, each plane of
/// both zeroed and then filled, with a scratch value per worker.
fn planes_with<T, U, S>(
    len: usize,
    plane: usize,
    init: impl Fn() -> S + Sync + Send,
    fill: impl Fn(&mut S, usize, &mut [T], &mut [U]) + Sync,
) -> (Vec<T>, Vec<U>)
where
    T: Copy + Default + Send + Sync,
    U: Copy + Default + Send + Sync,
{
    let mut a: Vec<T> = Vec::with_capacity(len);
    let mut b: Vec<U> = Vec::with_capacity(len);
    if len == 0 {
        return (a, b);
    }
    assert!(
        len.is_multiple_of(plane),
        "len {len} is not whole planes of {plane}"
    );
    let spare_a = &mut a.spare_capacity_mut()[..len];
    let spare_b = &mut b.spare_capacity_mut()[..len];
    let chunks = spare_a
        .par_chunks_mut(plane)
        .zip(spare_b.par_chunks_mut(plane));
    let fill = |s: &mut S, (p, (ca, cb))| fill(s, p, zeroed(ca), zeroed(cb));
    chunks.enumerate().for_each_init(init, fill);
    // SAFETY: `zeroed` wrote every one of both buffers' first `len` values (the chunks
    // cover them exactly), whatever `fill` did after.
    unsafe {
        a.set_len(len);
        b.set_len(len);
    }
    (a, b)
}

/// The chunk with every value set to `T::default()`, as an initialised slice.
fn zeroed<T: Copy + Default>(chunk: &mut [MaybeUninit<T>]) -> &mut [T] {
    chunk.fill(MaybeUninit::new(T::default()));
    // SAFETY: every element was just initialised, and `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(chunk as *mut [MaybeUninit<T>] as *mut [T]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plane_is_zeroed_then_filled_in_order() {
        // `fill` writes only the first value of each plane: the rest must read zero,
        // whatever the heap held before.
        drop(vec![7.0f32; 4096]);
        let v = par_planes(4 * 9, 9, |p, out: &mut [f32]| out[0] = p as f32 + 1.0);
        for (p, plane) in v.chunks(9).enumerate() {
            assert_eq!(plane[0], p as f32 + 1.0);
            assert!(plane[1..].iter().all(|&x| x == 0.0), "plane {p}: {plane:?}");
        }
        let (a, b) = par_planes2(6, 2, |p, a: &mut [f32], b: &mut [u8]| {
            a[1] = p as f32;
            b[0] = p as u8 + 10;
        });
        assert_eq!(a, vec![0.0, 0.0, 0.0, 1.0, 0.0, 2.0]);
        assert_eq!(b, vec![10, 0, 11, 0, 12, 0]);
        assert!(par_planes(0, 0, |_, _: &mut [f32]| unreachable!()).is_empty());
        let (a, b) = par_planes2(0, 0, |_, _: &mut [f32], _: &mut [u8]| unreachable!());
        assert!(a.is_empty() && b.is_empty());
    }
}
