#![warn(missing_docs)]
//! # segmint
//!
//! Customer analytics in one fast, reproducible library: ingestion and validation of customers,
//! transactions and clickstream events (Parquet or CSV), the per-customer mart, and the
//! deterministic demo-data generator. The `segmint` binary is a thin layer over this crate.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::mart::{build_mart, MartParams};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
//! segmint::output::write_parquet(&mart.to_record_batch()?, "mart.parquet".as_ref(), &[])?;
//! # Ok::<(), segmint::Error>(())
//! ```

pub mod cluster;
pub mod clv;
pub mod cohorts;
pub mod data;
pub mod demo;
pub mod error;
pub mod files;
pub mod hidden;
pub(crate) mod linalg;
pub mod mart;
pub mod output;
pub mod params;
pub mod pipeline;
pub mod predict;
pub mod progress;
pub mod report;
pub mod retention;
pub(crate) mod revenue;
pub mod segment;
mod slices;
pub mod sql;
pub(crate) mod stats;
pub mod table;
pub mod uplift;

pub use error::{Error, Result};

/// Version of the library, written into every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
