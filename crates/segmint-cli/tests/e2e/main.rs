//! End-to-end tests of the `segmint` binary, one test binary for all: the commands on temp dirs
//! and `testdata/` (`cli`), and the parity checks against the Python peers, SQL engines and
//! Spark (`peers`), and real public exports read as shipped (`real_data`); both skipped visibly
//! unless their environment is set up, as `.ci/run` does.

mod cli;
mod common;
mod peers;
mod real_data;
