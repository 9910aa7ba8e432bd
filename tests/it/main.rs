//! Integration tests: one binary, one module per area.

mod common;
mod detect;
mod eval;
mod gan;
mod labels;
mod prep;
mod prep_safety;
mod report;
