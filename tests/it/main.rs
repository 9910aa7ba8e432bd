//! Integration tests: one binary, one module per area.

mod common;
mod detect;
mod gan;
mod labels;
mod prep;
mod report;
