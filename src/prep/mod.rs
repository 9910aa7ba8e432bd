//! The prep pipeline.
