//! Prediction features: exact values by hand, and no leakage from on or after the cutoff.

use segmint::data::timestamp::parse_date;
use segmint::data::{ColumnMap, TableKind, TableReader};
use segmint::predict::features::{customer_dataset, WindowParams, CHURN_FEATURES};
use segmint::progress::NoProgress;

const HISTORY: &str = "customer_id,order_id,timestamp,amount,quantity\n\
    A,1,2024-01-02 10:00:00,10.10,1\nA,2,2024-03-01,20,2\nA,2,2024-03-01 12:00:00,5,1\n\
    A,3,2024-03-05,-4,1\nB,4,2024-01-20,7.5,3\nC,5,2024-02-01,-3,1\n";

fn dataset(
    tx_rows: &str,
    customers: Option<&str>,
    cutoff: &str,
) -> segmint::predict::features::CustomerDataset {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("transactions.csv");
    std::fs::write(&p, tx_rows).unwrap();
    let tx = TableReader::open(TableKind::Transactions, &p, &ColumnMap::new()).unwrap();
    let c = customers.map(|text| {
        let p = dir.path().join("customers.csv");
        std::fs::write(&p, text).unwrap();
        TableReader::open(TableKind::Customers, &p, &ColumnMap::new()).unwrap()
    });
    let params = WindowParams {
        cutoff_day: parse_date(cutoff),
        horizon_days: 30,
        recent_days: 60,
        ..WindowParams::default()
    };
    customer_dataset(&tx, c.as_ref(), &params, &NoProgress).unwrap()
}

fn value(d: &segmint::predict::features::CustomerDataset, row: usize, name: &str) -> f64 {
    let j = CHURN_FEATURES.iter().position(|f| *f == name).unwrap();
    d.x.row(row)[j]
}

/// The churn table's first columns come from `Mart::numeric_columns`: the names must agree.
#[test]
fn churn_features_start_with_the_mart_columns() {
    assert_eq!(CHURN_FEATURES[..6], segmint::mart::Mart::NUMERIC);
}

#[test]
fn features_by_hand() {
    // cutoff 2024-03-10, recent window [2024-01-10, 2024-03-10), label window [cutoff, +30 days)
    let future = "A,6,2024-03-20,30,1\nA,7,2024-04-20,99,1\nB,8,2024-03-09 23:59:59,1,1\n";
    let customers = "customer_id,age,income,premium\nA,30,50000.5,true\nB,40,60000,false\n";
    let d = dataset(&format!("{HISTORY}{future}"), Some(customers), "2024-03-10");
    // C has only a return: not in the population
    assert_eq!(d.customer_id, vec!["A", "B"]);
    // A: recency 2024-03-10 - 2024-03-01 = 9 days, 2 orders, monetary 10.10 + 20 + 5 - 4
    assert_eq!(value(&d, 0, "recency_days"), 9.0);
    assert_eq!(value(&d, 0, "frequency"), 2.0);
    assert_eq!(value(&d, 0, "monetary"), 31.1);
    assert_eq!(value(&d, 0, "tenure_days"), 68.0);
    // order 1 is before the recent window; order 2 (two rows) inside it
    assert_eq!(value(&d, 0, "orders_90d"), 1.0);
    assert_eq!(value(&d, 0, "spend_90d"), 25.0);
    assert_eq!(value(&d, 0, "n_returns"), 1.0);
    assert_eq!(value(&d, 0, "total_quantity"), 3.0);
    assert_eq!(value(&d, 0, "premium"), 1.0);
    assert_eq!(value(&d, 0, "income"), 50000.5);
    // attributes the file lacks are missing (NaN), never zero
    assert!(value(&d, 0, "credit_score").is_nan());
    // B bought on 2024-03-09 23:59:59, the last second before the cutoff: history, not label
    assert_eq!(value(&d, 1, "recency_days"), 1.0);
    assert_eq!(value(&d, 1, "frequency"), 2.0);
    // labels: A bought on 2024-03-20 (inside 30 days), 2024-04-20 is outside; B did not buy
    assert_eq!(d.churn, vec![0.0, 1.0]);
    assert_eq!(d.future_value, vec![30.0, 0.0]);
    assert!(d.labels_observed);
}

/// Rows on or after the cutoff change the labels and nothing else: a feature that leaked the
/// future (a window that ends late, a mart built on all rows) would fail this test.
#[test]
fn features_never_see_the_future() {
    let quiet = dataset(
        &format!("{HISTORY}Z,9,2024-05-01,1,1\n"),
        None,
        "2024-03-10",
    );
    let busy = dataset(
        &format!(
            "{HISTORY}A,10,2024-03-10,500,9\nA,10,2024-03-11,-100,9\nB,11,2024-03-15,1000,5\n\
             D,12,2024-03-12,50,1\nZ,9,2024-05-01,1,1\n"
        ),
        None,
        "2024-03-10",
    );
    assert_eq!(
        quiet.customer_id, busy.customer_id,
        "no new customers from the future"
    );
    assert_eq!(quiet.x.data.len(), busy.x.data.len());
    for (a, b) in quiet.x.data.iter().zip(&busy.x.data) {
        assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
    }
    assert_eq!(quiet.churn, vec![1.0, 1.0]);
    assert_eq!(busy.churn, vec![0.0, 0.0]);
    assert_eq!(busy.future_value, vec![400.0, 1000.0]);
}

fn sessions(rows: &str) -> segmint::predict::conversion::SessionDataset {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("events.csv");
    std::fs::write(
        &p,
        format!("user_id,session_id,timestamp,event_type,product_id,price,device,traffic_source\n{rows}"),
    )
    .unwrap();
    let ev = TableReader::open(TableKind::Events, &p, &ColumnMap::new()).unwrap();
    segmint::predict::conversion::session_dataset(&ev, &NoProgress).unwrap()
}

/// Session features by hand; the purchase event (its time, its price) changes the label only,
/// and the user's history counts only what happened before the session started.
#[test]
fn session_features_never_see_the_purchase() {
    let base = "U,S1,2024-01-01 10:00:00,page_view,,,desktop,email\n\
                U,S1,2024-01-01 10:00:30,product_view,P1,20,desktop,email\n\
                U,S1,2024-01-01 10:01:00,add_to_cart,P1,20,desktop,email\n\
                U,S1,2024-01-01 10:02:00,begin_checkout,,20,desktop,email\n\
                U,S2,2024-01-03 09:00:00,page_view,,,mobile,social\n";
    let bought = sessions(&format!(
        "{base}U,S1,2024-01-01 10:09:00,purchase,P1,999,desktop,email\n"
    ));
    let browsed = sessions(base);
    let names = segmint::predict::conversion::conversion_features();
    let get = |d: &segmint::predict::conversion::SessionDataset, s: usize, f: &str| {
        d.x.row(s)[names.iter().position(|n| n == f).unwrap()]
    };
    assert_eq!(bought.session_id, vec!["S1", "S2"]);
    assert_eq!(bought.converted, vec![1.0, 0.0]);
    assert_eq!(browsed.converted, vec![0.0, 0.0]);
    // S1: features identical with and without the purchase, except S2's purchase history
    for f in &names {
        let (a, b) = (get(&bought, 0, f), get(&browsed, 0, f));
        assert!(a == b || (a.is_nan() && b.is_nan()), "{f}: {a} vs {b}");
    }
    assert_eq!(
        get(&bought, 0, "duration_s"),
        120.0,
        "up to the last event before the purchase"
    );
    assert_eq!(get(&bought, 0, "depth"), 4.0);
    assert_eq!(get(&bought, 0, "cart_value"), 20.0);
    assert_eq!(get(&bought, 0, "events"), 4.0);
    assert_eq!(get(&bought, 0, "device_desktop"), 1.0);
    assert_eq!(get(&bought, 0, "source_email"), 1.0);
    assert_eq!(get(&bought, 0, "prior_sessions"), 0.0);
    assert!(get(&bought, 0, "days_since_prior_session").is_nan());
    // S2 starts after S1's purchase: one prior session, one prior purchase
    assert_eq!(get(&bought, 1, "prior_sessions"), 1.0);
    assert_eq!(get(&bought, 1, "prior_purchases"), 1.0);
    assert_eq!(get(&browsed, 1, "prior_purchases"), 0.0);
    assert!((get(&bought, 1, "days_since_prior_session") - (23.0 / 24.0 + 1.0)).abs() < 1e-12);
    assert_eq!(get(&bought, 1, "device_mobile"), 1.0);
}

/// The user's clickstream history as of a session start: events of earlier sessions that had
/// ended by then, and sessions started in the 30 / 90 days before.
#[test]
fn session_history_counts_only_finished_sessions() {
    let d = sessions(
        "U,S1,2024-01-01 10:00:00,product_view,P1,5,desktop,email\n\
         U,S1,2024-01-01 10:01:00,product_view,P2,5,desktop,email\n\
         U,S1,2024-01-01 10:05:00,add_to_cart,P2,5,desktop,email\n\
         U,S2,2024-01-20 12:00:00,page_view,,,mobile,paid\n\
         U,S2,2024-01-20 12:01:00,product_view,P3,9,mobile,paid\n\
         U,S2,2024-01-20 12:30:00,begin_checkout,,9,mobile,paid\n\
         U,S3,2024-01-20 12:10:00,page_view,,,tablet,direct\n\
         U,S4,2024-03-01 12:10:00,page_view,,,tablet,direct\n",
    );
    let names = segmint::predict::conversion::conversion_features();
    assert_eq!(names.len(), 25);
    let get = |s: usize, f: &str| d.x.row(s)[names.iter().position(|n| n == f).unwrap()];
    assert_eq!(d.session_id, vec!["S1", "S2", "S3", "S4"]);
    // S3 starts while S2 is still running (until 12:30): only S1's events count
    assert_eq!(get(2, "prior_sessions"), 2.0);
    assert_eq!(get(2, "prior_product_views"), 2.0);
    assert_eq!(get(2, "prior_carts"), 1.0);
    assert_eq!(get(2, "prior_checkouts"), 0.0);
    assert_eq!(get(2, "prior_sessions_30d"), 2.0);
    // S4: all three earlier sessions have ended; none started in its last 30 days
    assert_eq!(get(3, "prior_product_views"), 3.0);
    assert_eq!(get(3, "prior_carts"), 1.0);
    assert_eq!(get(3, "prior_checkouts"), 1.0);
    assert_eq!(get(3, "prior_sessions_30d"), 0.0);
    assert_eq!(get(3, "prior_sessions_90d"), 3.0);
    for f in ["prior_product_views", "prior_sessions_90d"] {
        assert_eq!(get(0, f), 0.0, "{f} of the first session");
    }
}

fn with_clickstream(events: &str) -> segmint::predict::features::CustomerDataset {
    let mut d = dataset(HISTORY, None, "2024-03-10");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("events.csv");
    std::fs::write(
        &p,
        format!("user_id,session_id,timestamp,event_type,product_id,price,device,traffic_source\n{events}"),
    )
    .unwrap();
    let ev = TableReader::open(TableKind::Events, &p, &ColumnMap::new()).unwrap();
    d.add_clickstream(&ev, &NoProgress).unwrap();
    d
}

/// Customer-level clickstream features at the cutoff 2024-03-10, by hand; events on or after
/// the cutoff (the rest of a session that spans it, later sessions) change nothing.
#[test]
fn clickstream_features_by_hand_and_without_leakage() {
    use segmint::predict::clickstream::CLICKSTREAM_FEATURES;
    let before = "A,S1,2023-12-01 10:00:00,page_view,,,mobile,email\n\
        A,S1,2023-12-01 10:01:00,product_view,P1,5,mobile,email\n\
        A,S2,2024-02-20 10:00:00,page_view,,,mobile,email\n\
        A,S2,2024-02-20 10:01:00,product_view,P1,5,mobile,email\n\
        A,S2,2024-02-20 10:02:00,add_to_cart,P1,5,mobile,email\n\
        A,S2,2024-02-20 10:03:00,begin_checkout,,5,mobile,email\n\
        A,S2,2024-02-20 10:04:00,purchase,P1,5,mobile,email\n\
        A,S3,2024-03-09 23:59:00,page_view,,,mobile,email\n\
        Z,S9,2024-02-01 10:00:00,page_view,,,mobile,email\n";
    let after = "A,S3,2024-03-10 00:01:00,product_view,P2,5,mobile,email\n\
        A,S4,2024-03-15 10:00:00,page_view,,,mobile,email\n\
        B,S5,2024-03-11 10:00:00,add_to_cart,P1,5,mobile,email\n";
    let d = with_clickstream(&format!("{before}{after}"));
    let clean = with_clickstream(before);
    assert_eq!(d.x.data.len(), clean.x.data.len());
    for (a, b) in d.x.data.iter().zip(&clean.x.data) {
        assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
    }
    let off = d.x.names.iter().position(|n| n == "sessions").unwrap();
    assert_eq!(off, CHURN_FEATURES.len());
    let row = |r: usize| d.x.row(r)[off..].to_vec();
    // A: S1 100 days before the cutoff, S2 19 days before, S3 one minute before
    let a = row(0);
    assert_eq!(
        a[..14],
        [3.0, 3.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "{CLICKSTREAM_FEATURES:?}"
    );
    assert!((a[14] - 1.0 / 1440.0).abs() < 1e-12);
    // B: no events before the cutoff
    let b = row(1);
    assert!(b[..14].iter().all(|&v| v == 0.0));
    assert!(b[14].is_nan());
}

/// The prediction analysis as a library: params -> data -> fit -> typed result written and
/// read back unchanged; the saved model scores new data by feature name and refuses a table
/// without one of its features; a bad parameter is named.
#[test]
fn analysis_fits_writes_reads_and_scores() {
    use segmint::data::Inputs;
    use segmint::predict::analysis::{fit, PredictData, PredictParams, PredictResult, Task};
    use segmint::predict::PredictModel;
    let dir = tempfile::tempdir().unwrap();
    let demo = segmint::demo::DemoParams {
        customers: 1500,
        ..Default::default()
    };
    segmint::demo::generate(&demo, dir.path(), &NoProgress).unwrap();
    let inputs = Inputs::from_dir(dir.path());
    let tx = inputs
        .open(TableKind::Transactions, &ColumnMap::new())
        .unwrap();
    let mut params = PredictParams {
        task: Task::Churn,
        folds: 3,
        permutation_repeats: 0,
        ..PredictParams::default()
    };
    params.gbdt.n_estimators = 30;
    let data = PredictData::from_tables(Some(&tx), None, None, &params, &NoProgress).unwrap();
    // one row per customer with a purchase before the cutoff
    let n = data.ids.len();
    assert!(n > 1000 && n <= 1500, "{n}");
    let out = fit(&data, &params, None, &NoProgress).unwrap();
    let m = &out.result.metrics;
    assert_eq!(m.train_rows + m.test_rows, n);
    assert!(
        (m.test_rows as f64 - 0.3 * n as f64).abs() <= 2.0,
        "{}",
        m.test_rows
    );
    assert_eq!(m.cv_folds.len(), 3);
    // the planted churn signal (recency) is learnt: far better than chance
    assert!(m.test_auc.unwrap() > 0.75, "{:?}", m.test_auc);
    let bands = out.result.insights.risk_bands.as_ref().unwrap();
    assert_eq!(bands.low + bands.medium + bands.high, n);
    let out_dir = dir.path().join("churn");
    out.write_to(&out_dir, &data, &params).unwrap();
    let back = PredictResult::read_from(&out_dir).unwrap();
    assert_eq!(back.insights, out.result.insights);
    assert_eq!(back.metrics.test_auc, m.test_auc);
    assert_eq!(back.metrics.features, data.x.names);
    // scoring at the data's end: one row per customer, the model's bands
    let model = PredictModel::load(&out_dir.join("model.json")).unwrap();
    let s = model
        .score(Some(&tx), None, None, None, &NoProgress)
        .unwrap();
    assert!(s.scores.ids.len() >= n, "{}", s.scores.ids.len());
    assert!(s.scores.prediction.iter().all(|p| (0.0..=1.0).contains(p)));
    let mut bad = model.clone();
    bad.model.features[0] = "no_such_feature".into();
    let e = bad
        .score(Some(&tx), None, None, None, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no_such_feature"), "{e}");
    let e = PredictParams {
        folds: 1,
        ..PredictParams::default()
    }
    .check()
    .unwrap_err();
    assert!(matches!(e, segmint::Error::Param { ref param, .. } if param == "folds"));
}
