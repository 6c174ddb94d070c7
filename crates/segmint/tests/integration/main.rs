//! The library's integration tests, one binary for all (one link instead of one per file).

mod clv;
mod csv_props;
mod mart;
mod predict;
mod segments;
