//! Helpers shared by the end-to-end tests: run the real binary, read Parquet outputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::RecordBatch;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_segmint"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn testdata(rel: &str) -> PathBuf {
    repo_root().join("testdata").join(rel)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn segmint(args: &[&str]) -> Run {
    let out: Output = Command::new(bin())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run segmint");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn read_parquet(path: &Path) -> RecordBatch {
    let f = std::fs::File::open(path).expect("open parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet")
        .with_batch_size(1 << 24)
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    arrow_select_concat(&batches)
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "small test outputs fit in one batch");
    batches[0].clone()
}

/// Runs a command with `--json --quiet`, asserts success and returns the JSON summary.
pub fn segmint_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--json", "--quiet"]);
    let r = segmint(&all);
    assert_eq!(r.code, 0, "segmint {args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

/// Asserts a bad-input failure: exit code 2 and one line of stderr that holds every `needle`.
pub fn assert_clear_error(r: &Run, needles: &[&str]) {
    assert_eq!(r.code, 2, "{}", r.stderr);
    for n in needles {
        assert!(r.stderr.contains(n), "{n:?} not in: {}", r.stderr);
    }
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
}
