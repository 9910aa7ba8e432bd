//! Datasets on disk: the sorted walk of an input folder and prep's manifest.

pub mod manifest;
pub mod walk;
