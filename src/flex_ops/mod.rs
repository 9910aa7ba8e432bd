//! Faster CPU kernels for the classifier's layers on flex, burn's CPU backend.
//!
//! A classifier training step on flex spent 45% of its time in the convolutions' weight
//! gradients and a further 15-25% in max pooling, both generic scalar code that barely
//! used a second core; its element-wise operations run on one thread. [`conv2d`],
//! [`batch_norm_relu`] and [`max_pool2x2`] are drop-in replacements for burn's functions
//! with kernels of their own for those parts (BENCHMARKS.md, label, sessions 12 and 13,
//! has the step times), and [`batch_norm_relu_pool2x2`] the last two as one pass.
//!
//! Rust has no specialisation, so each function picks its path by type at run time:
//! `Autodiff<Flex>` (training) and `Flex` (inference) get the fast kernels, every other
//! backend (CUDA) gets burn's function unchanged.

mod conv;
mod norm;
mod norm_pool;
mod planes;
mod pool;

pub use conv::conv2d;
pub use norm::batch_norm_relu;
pub use norm_pool::batch_norm_relu_pool2x2;
pub use pool::max_pool2x2;

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use std::any::Any;

/// The training backend the kernels serve.
type Ad = Autodiff<Flex>;

/// `value` as a `T`, when it is one (type-based dispatch without specialisation).
fn cast<T: 'static, U: 'static>(value: U) -> Result<T, U> {
    let boxed: Box<dyn Any> = Box::new(value);
    match boxed.downcast::<T>() {
        Ok(t) => Ok(*t),
        Err(b) => Err(*b.downcast::<U>().expect("the value's own type")),
    }
}

/// `value` back as the caller's type `T`, which an earlier [`cast`] showed it to be.
fn cast_back<T: 'static, U: 'static>(value: U) -> T {
    cast(value).unwrap_or_else(|_| unreachable!("the type an earlier cast matched"))
}

/// The shape of a 4-D flex tensor.
fn dims4(t: &FlexTensor) -> [usize; 4] {
    t.layout().shape().dims::<4>()
}
