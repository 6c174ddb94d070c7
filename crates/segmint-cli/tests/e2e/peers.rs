//! Checks against the Python peers in `../shared/bench` (pandas, DuckDB, Polars, lifetimes).
//!
//! They need `../shared/bench` and a Python with `../shared/bench/requirements.txt`
//! (`SEGMINT_PYTHON`, default `python3`; `SEGMINT_BENCH_DIR` overrides the bench path). Without
//! them the tests print a visible SKIPPED message; with `SEGMINT_PEER_TESTS=1` (set by `.ci/run`)
//! missing prerequisites fail the tests instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use arrow_array::cast::AsArray;

struct Peers {
    bench: PathBuf,
    python: String,
}

fn peers(test: &str) -> Option<Peers> {
    let required = std::env::var("SEGMINT_PEER_TESTS").is_ok_and(|v| v == "1");
    let bench = std::env::var_os("SEGMINT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/bench"));
    let python = std::env::var("SEGMINT_PYTHON").unwrap_or_else(|_| "python3".into());
    let problem = if !bench.join("gen_data.py").is_file() {
        Some(format!("{} not found", bench.display()))
    } else {
        let ok = Command::new(&python)
            .args(["-c", "import duckdb, polars, pandas, pyarrow, lifetimes"])
            .output()
            .is_ok_and(|o| o.status.success());
        (!ok).then(|| {
            format!(
                "{python} lacks the peer packages (pip install -r {}/requirements.txt)",
                bench.display()
            )
        })
    };
    match problem {
        None => Some(Peers { bench, python }),
        Some(p) if required => panic!("{test}: SEGMINT_PEER_TESTS=1 but {p}"),
        Some(p) => {
            // Written to the process's stderr directly: the test harness captures eprintln!.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED peer test {test}: {p} (set SEGMINT_PEER_TESTS=1 to require it)"
            );
            None
        }
    }
}

impl Peers {
    fn py(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(&self.python)
            .arg(self.bench.join(script))
            .args(args)
            .env("BENCH_THREADS", "1")
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{script} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    }

    /// Runs `testdata/reference/SCRIPT` with the peers' Python; its last stdout line as JSON.
    fn reference_script(&self, script: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(&self.python)
            .arg(testdata(&format!("reference/{script}")))
            .args(args)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{script} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or(""),
        )
    }
}

/// The reference data set (gen_data.py, 20,000 customers, seed 42), generated once into cargo's
/// target tmp dir and reused by the tests of this binary (and later runs).
fn reference_data(p: &Peers) -> PathBuf {
    static DATA: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut guard = DATA.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = &*guard {
        return d.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench_n20000_s42");
    if !dir.join("meta.json").is_file() {
        let partial = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&partial);
        p.py(
            "gen_data.py",
            &["--customers", "20000", "--seed", "42", "--out", s(&partial)],
        );
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).unwrap();
    }
    *guard = Some(dir.clone());
    dir
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn reference(name: &str) -> serde_json::Value {
    json(&std::fs::read_to_string(testdata(&format!("reference/{name}"))).unwrap())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The mart is bit-identical to pandas, DuckDB and Polars on the reference data (20k, seed 42).
#[test]
fn mart_bit_identical_to_peers_20k() {
    let Some(p) = peers("mart_bit_identical_to_peers_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let res = dir.path().join("res");
    for engine in ["pandas", "duckdb", "polars"] {
        p.py(
            &format!("peers/mart_{engine}.py"),
            &["--data", s(&data), "--out", s(&res)],
        );
    }
    let ours = dir.path().join("mart_segmint.parquet");
    let v = segmint_json(&["mart", "--data", s(&data), "--out", s(&ours)]);
    let want = reference("mart_n20000_s42.json");
    for k in ["customers", "monetary_total", "frequency_total", "ref_date"] {
        assert_eq!(v[k], want[k], "{k} (reference: bench README)");
    }
    assert_eq!(v["rows"], want["transaction_rows"]);
    let cmp = json(&p.py(
        "peers/compare_marts.py",
        &[
            s(&ours),
            s(&res.join("mart_pandas.parquet")),
            s(&res.join("mart_duckdb.parquet")),
            s(&res.join("mart_polars.parquet")),
        ],
    ));
    assert_eq!(cmp["identical"], true, "{cmp}");
    for (name, c) in cmp["comparisons"].as_object().unwrap() {
        assert_eq!(c["floats_bit_identical"], true, "{name}: {c}");
        assert_eq!(c["rows"], 20000, "{name}");
    }
}

/// `segmint demo` output passes the reference checker, and BG/NBD and Gamma-Gamma fits with
/// lifetimes recover the planted parameters (as they do on the Python generator's data).
#[test]
fn demo_passes_check_data_and_fits_recover_parameters() {
    let Some(p) = peers("demo_passes_check_data_and_fits_recover_parameters") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let r = segmint(&[
        "demo",
        "--customers",
        "20000",
        "--seed",
        "42",
        "--out",
        s(&data),
        "--quiet",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let check = json(&p.py("check_data.py", &[s(&data)]));
    assert_eq!(check["ok"], true, "{check}");
    let stats = &check["stats"];
    let near =
        |x: &serde_json::Value, want: f64, tol: f64| (x.as_f64().unwrap() - want).abs() <= tol;
    // SCHEMA.md: ~2% returns, browse ratio 4, tiers 0.7/0.2/0.1, sale success ~20%
    assert!(near(&stats["return_share"], 0.02, 0.004), "{stats}");
    assert!(
        near(&stats["nonconverting_per_converting"], 4.0, 0.2),
        "{stats}"
    );
    assert!(
        near(&stats["tier_share"]["Standard"], 0.7, 0.015),
        "{stats}"
    );
    assert!(near(&stats["sale_success_rate"], 0.205, 0.015), "{stats}");
    let fit = json(&p.py(
        "peers/clv_lifetimes.py",
        &["--data", s(&data), "--out", s(&dir.path().join("clv"))],
    ));
    let tol = reference("demo_fit_tolerances.json");
    let rel = tol["relative_tolerance"].as_f64().unwrap();
    for (got, truth) in [
        (&fit["bgnbd"], &tol["bgnbd_true"]),
        (
            &fit["gg_fit_on_tier_normalised_spend"],
            &tol["gg_tier_normalised_true"],
        ),
    ] {
        for (k, t) in truth.as_object().unwrap() {
            let t = t.as_f64().unwrap();
            let g = got[k].as_f64().unwrap_or_else(|| panic!("{k} in {fit}"));
            assert!(
                (g - t).abs() <= rel * t,
                "{k}: fitted {g}, true {t} (tolerance {rel})"
            );
        }
    }
    assert!(fit["p_alive_auc_vs_truth"].as_f64().unwrap() > 0.9, "{fit}");
}

/// RFM scores and segments equal `peers/rfm_pandas.py` on every row (20k, seed 42).
#[test]
fn rfm_equal_to_pandas_20k() {
    let Some(p) = peers("rfm_equal_to_pandas_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let ours = dir.path().join("rfm_segmint.parquet");
    p.py(
        "peers/rfm_pandas.py",
        &["--data", s(&data), "--out", s(dir.path())],
    );
    let v = segmint_json(&["rfm", "--data", s(&data), "--out", s(&ours)]);
    // bench README reference results (pandas 3.1.1)
    let want = [
        ("Top Customers", 7276),
        ("At Risk", 5611),
        ("New Customers", 464),
        ("Dormant", 1319),
        ("Others - Premium", 990),
        ("Others - Not premium", 4340),
    ];
    for (k, n) in want {
        assert_eq!(v["segments"][k], n, "{k}");
    }
    let code = "import sys, pyarrow.parquet as pq\n\
a = pq.read_table(sys.argv[1]); b = pq.read_table(sys.argv[2])\n\
assert a.schema.names == b.schema.names, (a.schema.names, b.schema.names)\n\
bad = [c for c in b.schema.names if not a.column(c).cast(b.schema.field(c).type).equals(b.column(c))]\n\
print('OK' if not bad and a.num_rows == b.num_rows else 'DIFF ' + ','.join(bad))\n";
    let out = Command::new(&p.python)
        .args([
            "-c",
            code,
            s(&ours),
            s(&dir.path().join("rfm_pandas.parquet")),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "OK",
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs testdata/reference/clv_lifetimes_check.py on a `segmint clv` output and returns its
/// JSON line (largest relative differences to lifetimes at segmint's parameters).
fn lifetimes_check(p: &Peers, data: &Path, out: &Path, metrics: &Path) -> serde_json::Value {
    let check = Command::new(&p.python)
        .arg(testdata("reference/clv_lifetimes_check.py"))
        .args([s(data), s(out), s(metrics)])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    json(String::from_utf8_lossy(&check.stdout).trim())
}

/// BG/NBD and Gamma-Gamma equal lifetimes 0.11.3 on the reference data (20k, seed 42):
/// parameters within 1e-4 relative and log-likelihoods within 0.01 of the bench reference, the
/// summary identical to lifetimes' and the per-customer predictions within 1e-6 relative of
/// lifetimes' at segmint's parameters (testdata/reference/clv_lifetimes_check.py).
#[test]
fn clv_equal_to_lifetimes_20k() {
    let Some(p) = peers("clv_equal_to_lifetimes_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let out = dir.path().join("clv.parquet");
    let metrics = dir.path().join("clv.json");
    let v = segmint_json(&[
        "clv",
        "--data",
        s(&data),
        "--calibration-end",
        "2025-12-31",
        "--out",
        s(&out),
        "--metrics",
        s(&metrics),
    ]);
    let want = reference("clv_lifetimes_n20000_s42.json");
    let close = |got: &serde_json::Value, want: &serde_json::Value, rel: f64| {
        let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
        assert!((g - w).abs() <= rel * w.abs(), "{g} vs {w}");
    };
    for k in ["r", "alpha", "a", "b"] {
        close(&v["bgnbd"][k], &want["bgnbd"][k], 1e-4);
    }
    for k in ["p", "q", "v"] {
        close(&v["gamma_gamma"][k], &want["gg"][k], 1e-4);
    }
    let ll = |got: &serde_json::Value, w: &serde_json::Value| {
        assert!(
            (got.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= 0.01,
            "{got} vs {w}"
        );
    };
    ll(&v["bgnbd"]["log_likelihood"], &want["bgnbd_loglik"]);
    ll(&v["gamma_gamma"]["log_likelihood"], &want["gg_loglik"]);
    assert_eq!(v["customers"], want["customers"]);
    assert_eq!(v["repeat_customers"], want["repeat_customers"]);
    close(
        &v["predictions"]["p_alive_mean"],
        &want["p_alive_mean"],
        1e-5,
    );
    close(
        &v["predictions"]["expected_purchases_total"],
        &want["expected_purchases_52w_total"],
        1e-5,
    );
    assert!(v["bgnbd"]["diagnostics"]["converged"].as_bool().unwrap());
    assert!(v["bgnbd"]["estimates"][0]["std_error"].as_f64().unwrap() > 0.0);
    // per customer, at the same parameters
    let r = lifetimes_check(&p, &data, &out, &metrics);
    assert_eq!(r["summary_identical"], true, "{r}");
    assert_eq!(r["customers"], 20000);
    for k in [
        "p_alive_max_rel",
        "expected_purchases_max_rel",
        "expected_order_value_max_rel",
        "clv_max_rel",
        "purchase_distribution_max_rel",
    ] {
        assert!(r[k].as_f64().unwrap() <= 1e-6, "{k}: {r}");
    }
    let dist = v["purchase_distribution"].as_array().unwrap();
    assert_eq!(dist.len(), 11);
}

/// The calibration/holdout split equals lifetimes' calibration_and_holdout_data (timestamps
/// floored to days, see the check script) and the scorecard is consistent (20k, seed 42).
#[test]
fn clv_holdout_equal_to_lifetimes_20k() {
    let Some(p) = peers("clv_holdout_equal_to_lifetimes_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let out = dir.path().join("clv.parquet");
    let metrics = dir.path().join("clv.json");
    let v = segmint_json(&[
        "clv",
        "--data",
        s(&data),
        "--calibration-end",
        "2025-06-30",
        "--holdout-end",
        "2025-12-31",
        "--out",
        s(&out),
        "--metrics",
        s(&metrics),
    ]);
    let h = &v["holdout"];
    // 184 days = 26.2857 weeks
    assert!((h["duration"].as_f64().unwrap() - 184.0 / 7.0).abs() < 1e-12);
    let rows = h["by_calibration_frequency"].as_array().unwrap();
    let n: u64 = rows.iter().map(|r| r["customers"].as_u64().unwrap()).sum();
    assert_eq!(n, v["customers"].as_u64().unwrap());
    assert_eq!(rows.last().unwrap()["calibration_frequency"], "7+");
    // BG/NBD's total holdout purchases are close to the actual total on this data (within 5%)
    let (pred, act) = (
        h["purchases"]["total_predicted"].as_f64().unwrap(),
        h["purchases"]["total_actual"].as_f64().unwrap(),
    );
    assert!((pred - act).abs() < 0.05 * act, "{pred} vs {act}");
    assert!(h["purchases"]["correlation"].as_f64().unwrap() > 0.5);
    let r = lifetimes_check(&p, &data, &out, &metrics);
    assert_eq!(r["holdout_identical"], true, "{r}");
    // lifetimes' plain summary counts the end day (it compares days), as segmint does
    assert_eq!(r["summary_identical"], true, "{r}");
}

/// MBG/NBD equals lifetimes' ModifiedBetaGeoFitter (reference fit by
/// testdata/reference/clv_lifetimes_models.py), and its predictions equal lifetimes' at the same
/// parameters (20k, seed 42).
#[test]
fn mbgnbd_equal_to_lifetimes_20k() {
    let Some(p) = peers("mbgnbd_equal_to_lifetimes_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let out = dir.path().join("clv.parquet");
    let metrics = dir.path().join("clv.json");
    let v = segmint_json(&[
        "clv",
        "--data",
        s(&data),
        "--calibration-end",
        "2025-12-31",
        "--models",
        "mbgnbd,bgnbd,gamma-gamma",
        "--out",
        s(&out),
        "--metrics",
        s(&metrics),
    ]);
    let want = reference("clv_lifetimes_models_n20000_s42.json");
    for k in ["r", "alpha", "a", "b"] {
        let (g, w) = (
            v["mbgnbd"][k].as_f64().unwrap(),
            want["mbgnbd"][k].as_f64().unwrap(),
        );
        assert!((g - w).abs() <= 1e-4 * w, "{k}: {g} vs {w}");
    }
    let (g, w) = (
        v["mbgnbd"]["log_likelihood"].as_f64().unwrap(),
        want["mbgnbd"]["log_likelihood"].as_f64().unwrap(),
    );
    assert!((g - w).abs() <= 0.01, "{g} vs {w}");
    assert_eq!(v["prediction_model"], "mbgnbd");
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[1]["model"], "bgnbd");
    let r = lifetimes_check(&p, &data, &out, &metrics);
    for k in [
        "p_alive_max_rel",
        "expected_purchases_max_rel",
        "expected_order_value_max_rel",
        "clv_max_rel",
    ] {
        assert!(r[k].as_f64().unwrap() <= 1e-6, "{k}: {r}");
    }
}

/// Pareto/NBD parameters within 1e-4 of lifetimes' ParetoNBDFitter (reference fit by
/// testdata/reference/clv_lifetimes_models.py), and P(alive), expected purchases and CLV within
/// 1e-6 of lifetimes' at the same parameters (20k, seed 42).
#[test]
fn pareto_nbd_equal_to_lifetimes_20k() {
    let Some(p) = peers("pareto_nbd_equal_to_lifetimes_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let out = dir.path().join("clv.parquet");
    let metrics = dir.path().join("clv.json");
    let v = segmint_json(&[
        "clv",
        "--data",
        s(&data),
        "--calibration-end",
        "2025-12-31",
        "--models",
        "pareto-nbd,gamma-gamma",
        "--out",
        s(&out),
        "--metrics",
        s(&metrics),
    ]);
    let want = reference("clv_lifetimes_models_n20000_s42.json");
    for k in ["r", "alpha", "s", "beta"] {
        let (g, w) = (
            v["pareto_nbd"][k].as_f64().unwrap(),
            want["pareto_nbd"][k].as_f64().unwrap(),
        );
        assert!((g - w).abs() <= 1e-4 * w, "{k}: {g} vs {w}");
    }
    assert!(v["pareto_nbd"]["log_likelihood"]
        .as_f64()
        .unwrap()
        .is_finite());
    assert!(v["pareto_nbd"]["diagnostics"]["converged"]
        .as_bool()
        .unwrap());
    let r = lifetimes_check(&p, &data, &out, &metrics);
    for k in [
        "p_alive_max_rel",
        "expected_purchases_max_rel",
        "clv_max_rel",
    ] {
        assert!(r[k].as_f64().unwrap() <= 1e-6, "{k}: {r}");
    }
}

/// K-means with the bench defaults (k = 4) matches scikit-learn: inertia within 0.5% of the
/// reference (22,097.83, bench README / peers_n20000_s42.jsonl) and adjusted Rand index >= 0.95
/// against `peers/kmeans_sklearn.py`'s labels (20k, seed 42).
#[test]
fn kmeans_matches_sklearn_20k() {
    let Some(p) = peers("kmeans_matches_sklearn_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let ours = dir.path().join("clusters.parquet");
    let v = segmint_json(&["cluster", "--data", s(&data), "-k", "4", "--out", s(&ours)]);
    let inertia = v["inertia"].as_f64().unwrap();
    let reference = 22097.827801258045;
    assert!(
        (inertia - reference).abs() <= 0.005 * reference,
        "{inertia} vs {reference}"
    );
    p.py(
        "peers/kmeans_sklearn.py",
        &["--data", s(&data), "--out", s(dir.path())],
    );
    let labels = |path: &Path| -> Vec<u32> {
        let b = read_parquet(path);
        // pandas may write large strings and int32 labels
        let ids = arrow_cast::cast(
            b.column_by_name("customer_id").unwrap(),
            &arrow_schema::DataType::Utf8,
        )
        .unwrap();
        let ids = ids.as_string::<i32>();
        let col = arrow_cast::cast(
            b.column_by_name("cluster").unwrap(),
            &arrow_schema::DataType::Int64,
        )
        .unwrap();
        let col = col.as_primitive::<arrow_array::types::Int64Type>();
        let value = |i: usize| col.value(i) as u32;
        let mut rows: Vec<(String, u32)> = (0..b.num_rows())
            .map(|i| (ids.value(i).to_string(), value(i)))
            .collect();
        rows.sort();
        rows.into_iter().map(|r| r.1).collect()
    };
    let (a, b) = (
        labels(&ours),
        labels(&dir.path().join("kmeans_sklearn.parquet")),
    );
    assert_eq!(a.len(), 20000);
    let ari = segmint::cluster::adjusted_rand_index(&a, &b);
    assert!(ari >= 0.95, "ARI {ari}");
}

/// Churn: segmint's feature table equals the peers' (`churn_features.parquet`, pandas), and on the
/// peers' own split and folds segmint's test and CV ROC-AUC are at least LightGBM's minus 0.005
/// (reference: testdata/reference/churn_lightgbm_n20000_s42.json).
#[test]
fn churn_matches_lightgbm_20k() {
    let Some(p) = peers("churn_matches_lightgbm_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let peer = json(&p.py(
        "peers/churn_lightgbm.py",
        &["--data", s(&data), "--out", s(dir.path())],
    ));
    let reference = reference("churn_lightgbm_n20000_s42.json");
    for k in ["customers", "churn_rate", "test_auc", "cv_auc_mean"] {
        assert_eq!(
            peer[k], reference[k],
            "{k}: the peer reproduces its reference"
        );
    }
    let table = dir.path().join("churn_features.parquet");
    let ours = dir.path().join("ours");
    let v = segmint_json(&[
        "predict",
        "churn",
        "--train-table",
        s(&table),
        "--out",
        s(&ours),
    ]);
    let (auc, cv) = (
        v["test_auc"].as_f64().unwrap(),
        v["cv_auc_mean"].as_f64().unwrap(),
    );
    let (peer_auc, peer_cv) = (
        reference["test_auc"].as_f64().unwrap(),
        reference["cv_auc_mean"].as_f64().unwrap(),
    );
    assert!(
        auc >= peer_auc - 0.005,
        "test AUC {auc} vs LightGBM {peer_auc}"
    );
    assert!(cv >= peer_cv - 0.005, "CV AUC {cv} vs LightGBM {peer_cv}");
    assert_eq!(v["customers"], reference["customers"]);
    // our own features from the raw data: the same customers, labels and values as pandas
    let own = dir.path().join("own");
    segmint_json(&[
        "predict",
        "churn",
        "--data",
        s(&data),
        "--folds",
        "0",
        "--n-estimators",
        "5",
        "--out",
        s(&own),
    ]);
    let read = |path: &Path| -> std::collections::BTreeMap<String, Vec<f64>> {
        let b = read_parquet(path);
        let ids = arrow_cast::cast(
            b.column_by_name("customer_id").unwrap(),
            &arrow_schema::DataType::Utf8,
        )
        .unwrap();
        let ids = ids.as_string::<i32>();
        // the bench task's 15 features (README, task `churn`) and the label
        let mut names = segmint::predict::features::CHURN_FEATURES.to_vec();
        names.push("churn");
        let cols: Vec<Vec<f64>> = names
            .iter()
            .map(|n| {
                let c = b
                    .column_by_name(n)
                    .unwrap_or_else(|| panic!("{n} in {}", path.display()));
                let c = arrow_cast::cast(c, &arrow_schema::DataType::Float64).unwrap();
                c.as_primitive::<arrow_array::types::Float64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        (0..b.num_rows())
            .map(|i| {
                (
                    ids.value(i).to_string(),
                    cols.iter().map(|c| c[i]).collect(),
                )
            })
            .collect()
    };
    let (a, b) = (read(&own.join("features.parquet")), read(&table));
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert_eq!(va, vb, "features of {ka}");
    }
}

/// A generated data set (gen_data.py with `args`), cached in cargo's target tmp dir by name.
fn generated(p: &Peers, name: &str, args: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if !dir.join("meta.json").is_file() {
        let partial = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&partial);
        let mut all = args.to_vec();
        all.extend(["--out", s(&partial)]);
        p.py("gen_data.py", &all);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).unwrap();
    }
    dir
}

/// The exported SQL (on DuckDB) and Python routed every customer as segmint did.
fn assert_routing_matches(routing: &serde_json::Value) {
    for k in [
        "sql_group_mismatches",
        "sql_rule_mismatches",
        "python_group_mismatches",
        "python_rule_mismatches",
    ] {
        assert_eq!(routing[k], 0, "{k}: {routing}");
    }
}

/// Runs `segmint compare` on a data set and checks the acceptance of issue 8: both planted
/// segments among the top rules with verdict IMPLEMENT NOW or PILOT, the planted-segment check
/// of the bench `uplift` task on `predicted_uplift` at precision >= 0.7 and recall >= 0.8,
/// and the exported DuckDB SQL and Python routing equal to segmint's own for every customer.
fn compare_planted(p: &Peers, data: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("compare");
    let v = segmint_json(&["compare", "--data", s(data), "--out", s(&out)]);
    let rules = v["rules"].as_array().unwrap();
    let top: Vec<&serde_json::Value> = rules.iter().take(3).collect();
    let features = |r: &serde_json::Value| -> Vec<String> {
        r["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["feature"].as_str().unwrap().to_string())
            .collect()
    };
    for (want, group) in [(["income", "premium"], "A"), (["age", "region"], "B")] {
        let hit = top.iter().find(|r| {
            features(r) == want && r["recommended_group"] == group && r["routed"] == true
        });
        assert!(
            hit.is_some(),
            "planted segment on {want:?} (group {group}) not among the top rules: {:#}",
            serde_json::Value::Array(top.iter().map(|r| r["rule"].clone()).collect())
        );
        let verdict = hit.unwrap()["verdict"].as_str().unwrap();
        assert!(["IMPLEMENT NOW", "PILOT"].contains(&verdict), "{verdict}");
    }
    let check = json(&p.py(s(&testdata("planted_uplift.py")), &[s(data), s(&out)]));
    for seg in ["planted_segment_a", "planted_segment_b"] {
        let (prec, rec) = (
            check[seg]["precision"].as_f64().unwrap(),
            check[seg]["recall"].as_f64().unwrap(),
        );
        assert!(prec >= 0.7 && rec >= 0.8, "{seg}: {check}");
    }
    let routing = json(&p.py(
        s(&testdata("check_routing.py")),
        &[s(&data.join("customers.parquet")), s(&out)],
    ));
    assert_routing_matches(&routing);
    assert!(routing["routed"].as_u64().unwrap() > 0, "{routing}");
    check
}

/// Issue 8 at 20,000 customers (seed 42): segmint beats the scikit-learn T-learner peer on the
/// planted-segment check (the peer reproduces its reference numbers first).
#[test]
fn compare_finds_planted_segments_20k() {
    let Some(p) = peers("compare_finds_planted_segments_20k") else {
        return;
    };
    let data = reference_data(&p);
    let dir = tempfile::tempdir().unwrap();
    let peer = json(&p.py(
        "peers/uplift_sklearn.py",
        &["--data", s(&data), "--out", s(dir.path())],
    ));
    let reference = reference("uplift_sklearn_n20000_s42.json");
    for seg in ["planted_segment_a", "planted_segment_b"] {
        for k in ["precision", "recall"] {
            assert_eq!(peer[seg][k], reference[seg][k], "peer {seg} {k}");
        }
    }
    let ours = compare_planted(&p, &data);
    // better than the peer on the weaker segment
    assert!(
        ours["planted_segment_b"]["precision"].as_f64().unwrap()
            > reference["planted_segment_b"]["precision"]
                .as_f64()
                .unwrap()
    );
}

/// Issue 8 at 200,000 customers (seed 42).
#[test]
fn compare_finds_planted_segments_200k() {
    let Some(p) = peers("compare_finds_planted_segments_200k") else {
        return;
    };
    let data = generated(
        &p,
        "bench_n200000_s42",
        &["--customers", "200000", "--seed", "42"],
    );
    compare_planted(&p, &data);
}

/// Issue 8: on data without any effect (gen_data.py --effect-a 0 --effect-b 0, seeds 1..10,
/// 20,000 customers) at most one rule in total gets IMPLEMENT NOW.
#[test]
fn compare_without_effect_implements_nothing() {
    let Some(p) = peers("compare_without_effect_implements_nothing") else {
        return;
    };
    let mut implement = Vec::new();
    for seed in 1..=10 {
        let seed_s = seed.to_string();
        let data = generated(
            &p,
            &format!("null_n20000_s{seed}"),
            &[
                "--customers",
                "20000",
                "--seed",
                &seed_s,
                "--effect-a",
                "0",
                "--effect-b",
                "0",
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let v = segmint_json(&["compare", "--data", s(&data), "--out", s(dir.path())]);
        for r in v["rules"].as_array().unwrap() {
            if r["verdict"] == "IMPLEMENT NOW" {
                implement.push(format!("seed {seed}: {}", r["rule"]));
            }
        }
    }
    assert!(implement.len() <= 1, "{implement:#?}");
}

/// Column names and category values that try to break out of their quotes: the exported SQL
/// still runs on DuckDB and routes every customer as segmint does, and the Python module too.
#[test]
fn compare_export_is_injection_safe_on_duckdb() {
    let Some(p) = peers("compare_export_is_injection_safe_on_duckdb") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let evil_col = "reg\"ion'; DROP TABLE t; --";
    let evil_val = "AP'); DROP TABLE t; --\\";
    let evil_group = "B\"'";
    // B is 30 points better for the evil region, A 25 points better for income > 100000
    let mut csv = format!(
        "customer_id,age,income,\"{}\",seller_group,sale_success\n",
        evil_col.replace('"', "\"\"")
    );
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..6000 {
        let age = 20 + (next() * 50.0) as i64;
        let income = 20000.0 + (next() * 160000.0).round();
        let region = if next() < 0.25 { evil_val } else { "EU;WEST" };
        let group = if next() < 0.5 { "A" } else { evil_group };
        let mut pr = 0.2;
        if group == "A" && income > 100000.0 {
            pr += 0.25;
        }
        if group != "A" && region == evil_val {
            pr += 0.3;
        }
        let y = (next() < pr) as u8;
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        csv.push_str(&format!(
            "C{i:05},{age},{income},{},{},{y}\n",
            q(region),
            q(group)
        ));
    }
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, csv).unwrap();
    let out = dir.path().join("out");
    let map = format!("region={evil_col}");
    let v = segmint_json(&[
        "compare",
        "--customers",
        s(&file),
        "--columns",
        &map,
        "--table",
        "cust\"omers",
        "--out",
        s(&out),
    ]);
    let routed: Vec<&serde_json::Value> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["routed"] == true)
        .collect();
    let texts: Vec<String> = routed.iter().map(|r| r["rule"].to_string()).collect();
    assert!(
        routed.iter().any(|r| r["recommended_group"] == evil_group
            && r["conditions"].to_string().contains("DROP TABLE")),
        "{texts:?}"
    );
    let sql = std::fs::read_to_string(out.join("routing_duckdb.sql")).unwrap();
    assert!(sql.contains("\"reg\"\"ion'; DROP TABLE t; --\""), "{sql}");
    let routing = json(&p.py(
        s(&testdata("check_routing.py")),
        &[s(&file), s(&out), "cust\"omers"],
    ));
    assert_routing_matches(&routing);
}

/// PostgreSQL server programs for the SQL checks: required with `SEGMINT_PG_TESTS=1` (set by
/// `.ci/run`), else used when present and skipped with a visible message when not.
fn postgres_available(test: &str) -> bool {
    let found = [
        "/usr/lib/postgresql/17/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/15/bin",
    ]
    .iter()
    .any(|d| Path::new(d).join("initdb").is_file())
        || Command::new("initdb").arg("--version").output().is_ok();
    let psql = Command::new("psql").arg("--version").output().is_ok();
    found && psql
        || missing(
            test,
            "SEGMINT_PG_TESTS",
            "PostgreSQL part",
            "initdb/psql not found",
        )
}

/// A prerequisite of an optional part of a test is missing: fails when `flag`=1 (as `.ci/run`
/// sets), else prints a visible SKIPPED line. Returns false (the part does not run).
fn missing(test: &str, flag: &str, part: &str, why: &str) -> bool {
    assert!(
        std::env::var(flag).map_or(true, |v| v != "1"),
        "{test}: {flag}=1 but {why}"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {part} of {test}: {why} (set {flag}=1 to require it)"
    );
    false
}

/// RFM options for the parity checks: testdata/rules_sql.toml (every kind of condition, hostile
/// segment names), a reference date, average ties and quartiles.
fn tricky_rfm_options(rules: &Path) -> Vec<&str> {
    vec![
        "--rules",
        s(rules),
        "--ref-date",
        "2025-11-01",
        "--ties",
        "average",
        "--bins",
        "4",
    ]
}

/// Runs the statement of `segmint sql --dialect D <sql_args>` on DuckDB (dialects duckdb and
/// portable) and, when `pg`, PostgreSQL (postgres and portable) over `data`, and asserts that
/// each result equals `expect` (testdata/check_sql.py: every row, floats bit for bit); returns
/// the checker's JSON lines.
fn check_sql_engines(
    p: &Peers,
    data: &Path,
    sql_args: &[&str],
    expect: &Path,
    pg: bool,
    dir: &Path,
    tag: &str,
) -> Vec<serde_json::Value> {
    let mut engines = vec![("duckdb", "duckdb"), ("portable", "duckdb")];
    if pg {
        engines.extend([("postgres", "postgres"), ("portable", "postgres")]);
    }
    let mut found = Vec::new();
    for (dialect, engine) in engines {
        let file = dir.join(format!("{tag}_{dialect}.sql"));
        let args = [
            &["sql", "--dialect", dialect][..],
            sql_args,
            &["--out", s(&file), "-q"],
        ]
        .concat();
        let r = segmint(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out = Command::new(&p.python)
            .arg(testdata("check_sql.py"))
            .args([
                engine,
                "--data",
                s(data),
                "--sql",
                s(&file),
                "--expect",
                s(expect),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{tag} {dialect} on {engine}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(text.trim());
        assert_eq!(v["differences"], 0, "{tag} {dialect} on {engine}: {v}");
        found.push(v);
    }
    found
}

/// `segmint sql` statements give exactly the in-process results on DuckDB and PostgreSQL (mart,
/// the default rules, and a rule set with every kind of condition, a reference date, average
/// ties and quartiles), checked row for row by testdata/check_sql.py (floats bit for bit).
#[test]
fn sql_equal_to_in_process_on_duckdb_and_postgres_20k() {
    let Some(p) = peers("sql_equal_to_in_process_on_duckdb_and_postgres_20k") else {
        return;
    };
    let pg = postgres_available("sql_equal_to_in_process_on_duckdb_and_postgres_20k");
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    let rules = testdata("rules_sql.toml");
    let cases: [(&str, Vec<&str>); 3] = [
        ("mart", vec![]),
        ("rfm", vec![]),
        ("rfm", tricky_rfm_options(&rules)),
    ];
    for (i, (task, opts)) in cases.iter().enumerate() {
        let expect = dir.path().join(format!("case{i}.parquet"));
        let mut args = vec![*task, "--data", s(&data), "--out", s(&expect), "-q"];
        args.extend(opts);
        let r = segmint(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let sql_args = [&["--task", task][..], opts].concat();
        for v in check_sql_engines(
            &p,
            &data,
            &sql_args,
            &expect,
            pg,
            dir.path(),
            &format!("case{i}"),
        ) {
            assert_eq!(v["rows"], 20000, "{v}");
        }
    }
}

/// `segmint sql --task cohorts` on DuckDB (and PostgreSQL when available), in each dialect
/// that runs there, gives `segmint cohorts`' table bit for bit (20k reference data; month,
/// ISO week and quarter).
#[test]
fn cohorts_sql_equal_to_in_process_20k() {
    let test = "cohorts_sql_equal_to_in_process_20k";
    let Some(p) = peers(test) else {
        return;
    };
    let pg = postgres_available(test);
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    for period in ["month", "week", "quarter"] {
        let out = dir.path().join(period);
        let v = segmint_json(&[
            "cohorts",
            "--data",
            s(&data),
            "--period",
            period,
            "--out",
            s(&out),
        ]);
        let expect = out.join("cohorts.parquet");
        let rows: usize = v["cohorts"].as_u64().unwrap() as usize;
        assert!(rows > 0, "{v}");
        let sql_args = ["--task", "cohorts", "--period", period];
        let tag = format!("cohorts_{period}");
        check_sql_engines(&p, &data, &sql_args, &expect, pg, dir.path(), &tag);
    }
}

/// The Spark Connect server for the `--engine spark` checks: `SEGMINT_SPARK_REMOTE`
/// (`.ci/run` starts one with testdata/spark_connect_server.sh and sets it, with
/// `SEGMINT_SPARK_TESTS=1`, which makes a missing server fail instead of skip).
fn spark_remote(test: &str) -> Option<String> {
    match std::env::var("SEGMINT_SPARK_REMOTE") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            missing(
                test,
                "SEGMINT_SPARK_TESTS",
                "Spark test",
                "SEGMINT_SPARK_REMOTE=sc://HOST:PORT is not set (start a server with testdata/spark_connect_server.sh)",
            );
            None
        }
    }
}

/// `segmint mart|rfm --engine spark` on a real Spark Connect server give files identical to the
/// in-process engine (20k reference data; the default rules and testdata/rules_sql.toml with a
/// reference date, average ties and quartiles; CSV input read by Spark too), and
/// `--spark-write` leaves the same rows in Spark's output directory.
#[test]
fn spark_engine_equal_to_in_process_20k() {
    let test = "spark_engine_equal_to_in_process_20k";
    let Some(p) = peers(test) else {
        return;
    };
    let Some(remote) = spark_remote(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    // the same data as CSV, for Spark's CSV path
    let csv = dir.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    let code = "import sys, pyarrow.parquet as pq, pyarrow.csv as pc\n\
for n in ('transactions', 'customers'):\n    pc.write_csv(pq.read_table(f'{sys.argv[1]}/{n}.parquet'), f'{sys.argv[2]}/{n}.csv')\n";
    let out = Command::new(&p.python)
        .args(["-c", code, s(&data), s(&csv)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = testdata("rules_sql.toml");
    let written = dir.path().join("spark_out");
    let cases: Vec<(&str, &Path, Vec<&str>)> = vec![
        ("mart", &data, vec![]),
        ("rfm", &data, vec![]),
        (
            "rfm",
            &data,
            [
                tricky_rfm_options(&rules),
                vec!["--spark-write", s(&written)],
            ]
            .concat(),
        ),
        ("mart", &csv, vec!["--ref-date", "2025-11-01"]),
    ];
    for (i, (task, input, opts)) in cases.iter().enumerate() {
        let local = dir.path().join(format!("case{i}_local.parquet"));
        let spark = dir.path().join(format!("case{i}_spark.parquet"));
        let local_opts: Vec<&str> = opts
            .iter()
            .copied()
            .take_while(|o| *o != "--spark-write")
            .collect();
        let mut args = vec![*task, "--data", s(input), "--out", s(&local), "-q"];
        args.extend(&local_opts);
        let r = segmint(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut args = vec![
            *task,
            "--data",
            s(input),
            "--out",
            s(&spark),
            "--engine",
            "spark",
            "--spark-remote",
            &remote,
            "-q",
        ];
        args.extend(opts);
        let r = segmint(&args);
        assert_eq!(r.code, 0, "case {i}: {}", r.stderr);
        let a = read_parquet(&local);
        let b = read_parquet(&spark);
        assert_eq!(a.num_rows(), 20000, "case {i}");
        assert_eq!(a.schema().fields(), b.schema().fields(), "case {i}");
        for (j, f) in a.schema().fields().iter().enumerate() {
            assert_eq!(
                a.column(j).to_data(),
                b.column(j).to_data(),
                "case {i} ({task} {opts:?}): column {}",
                f.name()
            );
        }
    }
    // segmint run --engine spark: the mart from Spark, the RFM stage here on it
    let run_out = dir.path().join("run");
    let r = segmint(&[
        "run",
        "--data",
        s(&data),
        "--stages",
        "rfm",
        "--engine",
        "spark",
        "--spark-remote",
        &remote,
        "--out",
        s(&run_out),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (ours, theirs) in [
        ("mart.parquet", "case0_local.parquet"),
        ("rfm.parquet", "case1_local.parquet"),
    ] {
        let a = read_parquet(&run_out.join(ours));
        let b = read_parquet(&dir.path().join(theirs));
        assert_eq!(a.columns().len(), b.columns().len(), "{ours}");
        for j in 0..a.columns().len() {
            assert_eq!(
                a.column(j).to_data(),
                b.column(j).to_data(),
                "run {ours} column {j}"
            );
        }
    }
    // what Spark wrote for case 2 holds the same rows
    let code = "import sys, pyarrow.parquet as pq, pyarrow.dataset as ds\n\
b = pq.read_table(sys.argv[2])\n\
a = ds.dataset(sys.argv[1], format='parquet').to_table().sort_by('customer_id').select(b.schema.names).cast(b.schema)\n\
print('OK' if a.equals(b) else 'DIFF')\n";
    let out = Command::new(&p.python)
        .args([
            "-c",
            code,
            s(&written),
            s(&dir.path().join("case2_local.parquet")),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // segmint cohorts --engine spark: the statement of `segmint sql --dialect spark --task
    // cohorts` on Spark gives the in-process table bit for bit, and the same curve and trend
    for period in ["month", "week"] {
        let (local, spark) = (
            dir.path().join(format!("coh_{period}_local")),
            dir.path().join(format!("coh_{period}_spark")),
        );
        let a = segmint_json(&[
            "cohorts",
            "--data",
            s(&data),
            "--period",
            period,
            "--out",
            s(&local),
        ]);
        let b = segmint_json(&[
            "cohorts",
            "--data",
            s(&data),
            "--period",
            period,
            "--engine",
            "spark",
            "--spark-remote",
            &remote,
            "--out",
            s(&spark),
        ]);
        assert_eq!(a["curve"], b["curve"], "{period}");
        assert_eq!(a["trend"], b["trend"], "{period}");
        let x = read_parquet(&local.join("cohorts.parquet"));
        let y = read_parquet(&spark.join("cohorts.parquet"));
        assert_eq!(x.num_rows(), y.num_rows(), "{period}");
        for j in 0..x.columns().len() {
            assert_eq!(
                x.column(j).to_data(),
                y.column(j).to_data(),
                "cohorts {period} column {j}"
            );
        }
    }
}

/// `segmint cohorts` equals a pandas computation of the same definitions
/// (testdata/reference/cohorts_pandas.py) in every cell on the reference data (20k, seed 42):
/// by month, and by ISO week split by region.
#[test]
fn cohorts_equal_to_pandas_20k() {
    let Some(p) = peers("cohorts_equal_to_pandas_20k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = reference_data(&p);
    for (period, by) in [
        ("month", None),
        ("week", Some("region")),
        ("quarter", Some("premium")),
    ] {
        let out = dir.path().join(format!("cohorts_{period}"));
        let mut args = vec![
            "cohorts",
            "--data",
            s(&data),
            "--period",
            period,
            "--out",
            s(&out),
        ];
        if let Some(b) = by {
            args.extend(["--by", b]);
        }
        let v = segmint_json(&args);
        assert_eq!(v["customers"], 20000, "{v}");
        let mut check_args = vec![
            s(&data).to_string(),
            s(&out.join("cohorts.parquet")).to_string(),
            period.to_string(),
        ];
        check_args.extend(by.map(str::to_string));
        let check_args: Vec<&str> = check_args.iter().map(String::as_str).collect();
        let r = p.reference_script("cohorts_pandas.py", &check_args);
        assert_eq!(r["rows"], r["rows_pandas"], "{period}: {r}");
        assert_eq!(r["only_segmint"], 0, "{period}: {r}");
        assert_eq!(r["only_pandas"], 0, "{period}: {r}");
        for (col, d) in r["max_abs_diff"].as_object().unwrap() {
            // counts and cent sums exact; the running sum of per-customer revenue to rounding
            assert!(d.as_f64().unwrap() <= 1e-9, "{period} {col}: {r}");
        }
    }
}

/// Issue 30: on the reference data (20k, seed 42, tier withheld) both the default target
/// (spend) and the average order value find the hidden tiers (adjusted Rand index >= 0.6) and
/// the verdict is "use segment models" with the improvement and its interval; the order value,
/// heavy-tailed, is modelled on log1p (chosen on validation rows, not on the test rows). Issue
/// 30's run before the change: order value ARI 0.551, improvement 5.0%, "the global model is
/// enough".
#[test]
fn segments_discover_finds_tiers_for_spend_and_order_value_20k() {
    let Some(p) = peers("segments_discover_finds_tiers_for_spend_and_order_value_20k") else {
        return;
    };
    let data = reference_data(&p);
    let dir = tempfile::tempdir().unwrap();
    for target in ["monetary", "avg_order_value"] {
        let out = dir.path().join(target);
        let v = segmint_json(&[
            "segments",
            "discover",
            "--data",
            s(&data),
            "--target",
            target,
            "--truth",
            "tier",
            "--out",
            s(&out),
        ]);
        let ari = v["truth"]["ari"].as_f64().unwrap();
        assert!(ari >= 0.6, "{target}: ARI vs tier {ari}");
        assert_eq!(
            v["verdict"], "use_segment_models",
            "{target}: {}",
            v["reason"]
        );
        let e = &v["evaluation"];
        let (lo, hi) = (
            e["improvement_ci"][0].as_f64().unwrap(),
            e["improvement_ci"][1].as_f64().unwrap(),
        );
        let improvement = e["improvement"].as_f64().unwrap();
        assert!(lo > 0.0 && lo <= improvement && improvement <= hi, "{e}");
        // the reason states the improvement and its interval
        let reason = v["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{:.1}%", 100.0 * improvement))
                && reason.contains("95% interval"),
            "{reason}"
        );
        // both methods were tried on validation rows
        let methods: Vec<&str> = v["selection"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["method"].as_str().unwrap())
            .collect();
        assert_eq!(methods, ["mob", "mixture"]);
        // both transformations tried on validation rows; the chosen one is the report's
        let transforms = v["transforms"].as_array().unwrap();
        assert_eq!(transforms.len(), 2);
        let chosen: Vec<&serde_json::Value> =
            transforms.iter().filter(|t| t["chosen"] == true).collect();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0]["transform"], v["transform"]);
        if target == "avg_order_value" {
            assert_eq!(v["transform"], "log1p");
        }
    }
}

/// Issue 28: LightGBM loads the `model.txt` segmint writes beside `model.json`; on the 5,277
/// test customers of the reference churn data its `predict` equals segmint's probabilities and
/// its `predict(pred_contrib=True)` (LightGBM's TreeSHAP) equals segmint's contributions, both to
/// 1e-9 (testdata/reference/lightgbm_contrib.py).
#[test]
fn lightgbm_loads_model_txt_and_agrees_on_contributions_20k() {
    let Some(p) = peers("lightgbm_loads_model_txt_and_agrees_on_contributions_20k") else {
        return;
    };
    let data = reference_data(&p);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("churn");
    segmint_json(&[
        "predict",
        "churn",
        "--data",
        s(&data),
        "--folds",
        "0",
        "--out",
        s(&out),
    ]);
    let lgb = dir.path().join("lightgbm.parquet");
    let ran = p.reference_script(
        "lightgbm_contrib.py",
        &[
            s(&out.join("model.txt")),
            s(&out.join("features.parquet")),
            s(&lgb),
        ],
    );
    assert!(ran["lightgbm"].as_str().unwrap().starts_with('4'), "{ran}");
    // segmint's side: the saved model on the same test rows
    let model = segmint::predict::analysis::PredictModel::load(&out.join("model.json"))
        .unwrap()
        .model;
    let b = read_parquet(&out.join("features.parquet"));
    let split = arrow_cast::cast(
        b.column_by_name("split").unwrap(),
        &arrow_schema::DataType::Utf8,
    )
    .unwrap();
    let split = split.as_string::<i32>();
    let test: Vec<usize> = (0..b.num_rows())
        .filter(|&i| split.value(i) == "test")
        .collect();
    let column = |b: &arrow_array::RecordBatch, name: &str| -> Vec<f64> {
        let c = arrow_cast::cast(
            b.column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}")),
            &arrow_schema::DataType::Float64,
        )
        .unwrap();
        c.as_primitive::<arrow_array::types::Float64Type>()
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    };
    let cols: Vec<Vec<f64>> = model
        .features
        .iter()
        .map(|f| {
            let all = column(&b, f);
            test.iter().map(|&i| all[i]).collect()
        })
        .collect();
    let x = segmint::predict::Table::from_columns(model.features.clone(), &cols);
    let ours_p = model.predict(&x);
    let ours = model.contributions(&x).unwrap();
    let theirs = read_parquet(&lgb);
    assert_eq!(theirs.num_rows(), test.len());
    assert!(test.len() > 5000, "{} test rows", test.len());
    let their_p = column(&theirs, "prediction");
    let mut worst = 0.0f64;
    for (a, b) in ours_p.iter().zip(&their_p) {
        worst = worst.max((a - b).abs());
    }
    assert!(worst < 1e-9, "probabilities differ by up to {worst}");
    let mut worst = 0.0f64;
    for (j, f) in model.features.iter().enumerate() {
        let theirs = column(&theirs, &format!("contrib_{f}"));
        for (i, t) in theirs.iter().enumerate() {
            worst = worst.max((ours.row(i)[j] - t).abs());
        }
    }
    assert!(worst < 1e-9, "contributions differ by up to {worst}");
    let ev = column(&theirs, "expected_value");
    assert!(
        (ev[0] - ours.expected_value).abs() < 1e-9,
        "{} vs {}",
        ev[0],
        ours.expected_value
    );
}

/// Issue 28: the decile table (gain, lift, KS per decile) and the KS statistic of the test
/// predictions equal a pandas / scikit-learn computation of the same definitions
/// (testdata/reference/deciles_pandas.py), for churn (classification) and value (regression).
#[test]
fn deciles_and_ks_equal_pandas_and_sklearn_20k() {
    let Some(p) = peers("deciles_and_ks_equal_pandas_and_sklearn_20k") else {
        return;
    };
    let data = reference_data(&p);
    let dir = tempfile::tempdir().unwrap();
    for (task, label, pred) in [
        ("churn", "churn", "churn_probability"),
        ("value", "future_value", "predicted_value"),
    ] {
        let out = dir.path().join(task);
        let v = segmint_json(&[
            "predict",
            task,
            "--data",
            s(&data),
            "--folds",
            "0",
            "--out",
            s(&out),
        ]);
        let want = p.reference_script(
            "deciles_pandas.py",
            &[s(&out.join("predictions.parquet")), label, pred],
        );
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap())
                .unwrap();
        let ours = metrics["test"]["deciles"].as_array().unwrap();
        let theirs = want["deciles"].as_array().unwrap();
        assert_eq!(ours.len(), 10, "{task}");
        assert_eq!(ours.len(), theirs.len());
        let mut keys = vec![
            "min_predicted",
            "max_predicted",
            "mean_predicted",
            "total_actual",
            "mean_actual",
            "cumulative_gain",
            "lift",
            "cumulative_lift",
        ];
        if task == "churn" {
            keys.push("ks");
        }
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(o["decile"], t["decile"]);
            assert_eq!(o["rows"], t["rows"]);
            for k in &keys {
                let (a, b) = (o[k].as_f64().unwrap(), t[k].as_f64().unwrap());
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "{task} decile {} {k}: {a} vs {b}",
                    o["decile"]
                );
            }
        }
        if task == "churn" {
            for k in ["ks", "ks_threshold"] {
                let (a, b) = (
                    metrics["test"][k].as_f64().unwrap(),
                    want[k].as_f64().unwrap(),
                );
                assert!((a - b).abs() < 1e-12, "{k}: {a} vs {b}");
            }
            // a model that ranks: the top decile's churn rate above the overall one
            assert!(ours[0]["lift"].as_f64().unwrap() > 1.0);
        }
        assert!(v["customers"].as_u64().unwrap() > 0);
    }
}

/// Issue 28: `--calibrate isotonic` on the reference churn data lowers the expected calibration
/// error of the test split (the map is fitted on out-of-fold predictions of the training rows
/// only); the Brier score and ECE in metrics.json, before calibration in
/// `calibration.before` and after in `test`, equal scikit-learn's on the probabilities written
/// (testdata/reference/calibration_sklearn.py), and so do the ROC and precision-recall curve
/// points.
#[test]
fn calibrate_isotonic_lowers_ece_20k() {
    let Some(p) = peers("calibrate_isotonic_lowers_ece_20k") else {
        return;
    };
    let data = reference_data(&p);
    let dir = tempfile::tempdir().unwrap();
    let read = |out: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
    };
    let plain = dir.path().join("plain");
    let calibrated = dir.path().join("isotonic");
    for (out, extra) in [(&plain, None), (&calibrated, Some("isotonic"))] {
        let mut args = vec!["predict", "churn", "--data", s(&data), "--folds", "0"];
        if let Some(m) = extra {
            args.extend(["--calibrate", m]);
        }
        args.extend(["--out", s(out)]);
        segmint_json(&args);
    }
    let (m0, m1) = (read(&plain), read(&calibrated));
    let c = &m1["calibration"];
    assert_eq!(c["method"], "isotonic");
    // the uncalibrated model is the same model: its test scores are the plain run's
    for k in ["brier", "ece"] {
        let (a, b) = (
            c["before"][k].as_f64().unwrap(),
            m0["test"][k].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-12, "{k}: {a} vs {b}");
    }
    let (before, after) = (
        c["before"]["ece"].as_f64().unwrap(),
        c["after"]["ece"].as_f64().unwrap(),
    );
    eprintln!(
        "isotonic: ECE {before:.5} -> {after:.5}, Brier {:.5} -> {:.5}",
        c["before"]["brier"], c["after"]["brier"]
    );
    assert!(after < before, "ECE {before} -> {after}");
    assert_eq!(c["after"]["ece"], m1["test"]["ece"]);
    for (out, m) in [(&plain, &m0), (&calibrated, &m1)] {
        let want = p.reference_script(
            "calibration_sklearn.py",
            &[
                s(&out.join("predictions.parquet")),
                "churn",
                "churn_probability",
            ],
        );
        for k in ["brier", "ece"] {
            let (a, b) = (m["test"][k].as_f64().unwrap(), want[k].as_f64().unwrap());
            assert!((a - b).abs() < 1e-9, "{k}: {a} vs {b}");
        }
        // every curve point written is a point of scikit-learn's curve, both ends included
        for curve in ["roc", "pr"] {
            let theirs: Vec<(f64, f64)> = want[curve]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| (q[0].as_f64().unwrap(), q[1].as_f64().unwrap()))
                .collect();
            let ours = m["test"]["curves"][curve].as_array().unwrap();
            assert!(ours.len() > 50, "{curve}: {} points", ours.len());
            for q in ours {
                let (x, y) = (q[0].as_f64().unwrap(), q[1].as_f64().unwrap());
                assert!(
                    theirs
                        .iter()
                        .any(|t| (t.0 - x).abs() < 1e-12 && (t.1 - y).abs() < 1e-12),
                    "{curve} point ({x}, {y}) is not on scikit-learn's curve"
                );
            }
            let last = ours.last().unwrap();
            let t = theirs.last().unwrap();
            assert!((last[0].as_f64().unwrap() - t.0).abs() < 1e-12);
            assert!((last[1].as_f64().unwrap() - t.1).abs() < 1e-12);
        }
    }
}
