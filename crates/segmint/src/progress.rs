//! Progress reporting without printing: the library calls a [`Progress`]; the CLI shows bars.

/// Receives progress of long work. All methods have no-op defaults.
pub trait Progress: Sync {
    /// Starts a phase of `total` units (rows, blocks); 0 when unknown.
    fn begin(&self, _what: &str, _total: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
