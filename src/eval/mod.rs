//! Metrics and HTML reports for trained runs (`facesynth eval`).

pub mod summary;

pub use summary::EvalSummary;
