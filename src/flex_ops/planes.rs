//! Output buffers the kernels write plane by plane in parallel, without a zeroing pass.
//!
//! `vec![0.0; len]` on a heap that keeps freed memory ([`crate::heap`]) is a `memset` of
//! the whole buffer on the calling thread while the other cores wait, and a second pass
//! over memory the kernel then writes again. In a default labeling round that serial
//! zeroing (batch norm's output and normalised input, its and pooling's input gradients,
//! the convolution's output) took 8.8% of the CPU samples, about 14% of the wall time on
//! two cores (BENCHMARKS.md, label, session 41); zeroed plane by plane by the workers
//! it still took 2-3% (session 48). Every kernel here writes each value of its planes,
//! so the buffers start unwritten, and the workers write them while they sit in cache.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A vector of `len` values whose `plane`-long chunks `fill` writes, with their
/// indices, in parallel. No zeroing pass: for kernels that write every value, a zeroing
/// pass is one more write of the whole output (the planes' zeroing was 2-3% of a round's
/// CPU samples; BENCHMARKS.md, label, session 48).
///
/// # Safety
/// `fill` must write every value of each plane it is handed.
pub(super) unsafe fn par_planes_written<T>(
    len: usize,
    plane: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T>
where
    T: Copy + Send + Sync,
{
    let fill = |p, a: &mut [MaybeUninit<T>], _: &mut [MaybeUninit<()>], _: &mut _| fill(p, a);
    // SAFETY: the caller's `fill` writes every value of `a`; the other two hold `()`s,
    // which have no bytes to write (zero-sized: never allocated either).
    unsafe {
        par_planes_pooled_written::<T, (), ()>(whole_planes(len, plane), plane, plane, fill).0
    }
}

/// Two such vectors of `len` values each (the kernel's output and what its backward pass
/// keeps: batch norm's normalised input, pooling's winners), written together plane by
/// plane, without a zeroing pass.
///
/// # Safety
/// `fill` must write every value of both planes it is handed.
pub(super) unsafe fn par_planes2_written<T, U>(
    len: usize,
    plane: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>], &mut [MaybeUninit<U>]) + Sync,
) -> (Vec<T>, Vec<U>)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
{
    let fill = |p, a: &mut _, b: &mut _, _: &mut [MaybeUninit<()>]| fill(p, a, b);
    // SAFETY: the caller's contract for `a` and `b`; the third holds `()`s.
    let (a, b, _) =
        unsafe { par_planes_pooled_written(whole_planes(len, plane), plane, plane, fill) };
    (a, b)
}

/// How many `plane`-long planes `len` values are (none for none).
fn whole_planes(len: usize, plane: usize) -> usize {
    if len == 0 {
        return 0;
    }
    assert!(
        plane > 0 && len.is_multiple_of(plane),
        "len {len} is not whole planes of {plane}"
    );
    len / plane
}

/// Three such vectors for a kernel that shrinks its planes (batch norm with pooling):
/// `planes` planes of `big` values of `A` (the normalised input), and of `small` values
/// of `T` and `U` (the pooled output and its winners), written together plane by plane,
/// without a zeroing pass. The one implementation: the writers above call it with
/// zero-sized `()` buffers for what they do not write.
///
/// # Safety
/// `fill` must write every value of the three planes it is handed.
pub(super) unsafe fn par_planes_pooled_written<A, T, U>(
    planes: usize,
    big: usize,
    small: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<A>], &mut [MaybeUninit<T>], &mut [MaybeUninit<U>]) + Sync,
) -> (Vec<A>, Vec<T>, Vec<U>)
where
    A: Copy + Send + Sync,
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
{
    let mut a: Vec<A> = Vec::with_capacity(planes * big);
    let mut t: Vec<T> = Vec::with_capacity(planes * small);
    let mut u: Vec<U> = Vec::with_capacity(planes * small);
    if planes == 0 {
        return (a, t, u);
    }
    // Empty planes would give no chunks, and nothing would be written.
    assert!(
        big > 0 && small > 0,
        "planes of {big} values pooled to {small}"
    );
    let spare_a = &mut a.spare_capacity_mut()[..planes * big];
    let spare_t = &mut t.spare_capacity_mut()[..planes * small];
    let spare_u = &mut u.spare_capacity_mut()[..planes * small];
    spare_a
        .par_chunks_mut(big)
        .zip(spare_t.par_chunks_mut(small))
        .zip(spare_u.par_chunks_mut(small))
        .enumerate()
        .for_each(|(p, ((ca, ct), cu))| fill(p, ca, ct, cu));
    // SAFETY: the chunks cover the three buffers' first `planes * big` and `planes *
    // small` values exactly, and `fill` wrote every value of each (the caller's contract).
    unsafe {
        a.set_len(planes * big);
        t.set_len(planes * small);
        u.set_len(planes * small);
    }
    (a, t, u)
}

/// `out` as an initialised slice, once every value of it has been written.
///
/// # Safety
/// Every element of `out` must have been written.
pub(super) unsafe fn assume_written<T>(out: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: the caller's contract; `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [T]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_written_in_order() {
        // SAFETY: each `fill` below writes every value of its planes.
        let (a, b) = unsafe {
            par_planes2_written(6, 2, |p, a: &mut [MaybeUninit<f32>], b| {
                for (i, (a, b)) in a.iter_mut().zip(b).enumerate() {
                    a.write((2 * p + i) as f32);
                    b.write(p as u8 + 10);
                }
            })
        };
        assert_eq!(a, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(b, vec![10, 10, 11, 11, 12, 12]);
        let v = unsafe {
            par_planes_written(3 * 4, 4, |p, out: &mut [MaybeUninit<f32>]| {
                for (i, o) in out.iter_mut().enumerate() {
                    o.write((p * 10 + i) as f32);
                }
            })
        };
        assert_eq!(
            v.chunks(4).map(|c| c[3]).collect::<Vec<_>>(),
            [3.0, 13.0, 23.0]
        );
        assert!(unsafe { par_planes_written::<f32>(0, 0, |_, _| unreachable!()) }.is_empty());
        let (a, b) = unsafe { par_planes2_written::<f32, u8>(0, 0, |_, _, _| unreachable!()) };
        assert!(a.is_empty() && b.is_empty());
    }
}
