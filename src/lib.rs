//! facesynth: turn a folder of messy face images into a clean, labeled, training-ready
//! dataset, and train attribute-conditioned GANs on it.
//!
//! The library is the product; the `facesynth` binary is a thin layer over it. Each stage
//! is a module: [`prep`] (scan, quality, crop, resize, normalize, dedup, write),
//! [`detect`] (OpenCV-cascade face detection), [`labels`] (active label synthesis),
//! [`gan`] (training and generation), [`eval`] (metrics and reports), and [`synth`]
//! (procedural faces with known attributes for the demo and tests).
#![warn(missing_docs)]

pub mod atomic;
pub mod backend_rng;
pub mod batch_norm;
pub mod config;
pub mod csv_line;
pub mod dataset;
pub mod demo;
pub mod detect;
pub mod eval;
pub mod flex_ops;
pub mod gan;
pub mod heap;
pub mod interrupt;
pub mod labels;
pub mod prep;
pub mod progress;
pub mod report;
mod simd;
pub mod synth;
