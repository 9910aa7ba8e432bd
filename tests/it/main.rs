//! Integration tests: one binary, one module per area.

mod common;
mod detect;
mod labels;
mod prep;
