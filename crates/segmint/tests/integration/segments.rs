//! Segment profiles and migration on small hand-made data sets, checked against numbers worked
//! out by hand (quartiles: linear interpolation, numpy's default; Kruskal–Wallis H as
//! scipy.stats.kruskal, values below confirmed with scipy 1.17.1).

use std::collections::BTreeMap;

use segmint::data::customers::Attributes;
use segmint::data::timestamp::parse_date;
use segmint::data::{ColumnMap, TableKind, TableReader};
use segmint::mart::{build_mart, MartParams};
use segmint::progress::NoProgress;
use segmint::segment::migrate::{migrate, MigrateParams, MigrationSummary, NEW};
use segmint::segment::profile::{profile, PROFILE_ATTRIBUTES};
use segmint::segment::rules::RuleSet;

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn profile_numbers_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let c = write(
        dir.path(),
        "customers.csv",
        "customer_id,age,income,credit_score,premium,loyalty_points,support_tickets\n\
         A,30,50000,700,true,100,0\nB,40,60000,650,false,200,1\nC,50,70000,600,true,300,2\n\
         D,60,80000,550,false,400,3\n",
    );
    // E has no customers row. With ref date 2024-02-01:
    // A: recency 1, frequency 1, monetary 100; B: 7, 2, 80; C: 31, 1, 20;
    // D: 21, 1, 10.50 - 0.50 = 10; E: 2, 1, 40
    let t = write(
        dir.path(),
        "transactions.csv",
        "customer_id,order_id,timestamp,amount\n\
         A,A1,2024-01-31 10:00:00,100.00\nB,B1,2024-01-22,50\nB,B2,2024-01-25,30\n\
         C,C1,2024-01-01,20\nD,D1,2024-01-11,10.50\nD,D1,2024-01-12,-0.50\nE,E1,2024-01-30,40\n",
    );
    let map = ColumnMap::new();
    let tx = TableReader::open(TableKind::Transactions, &t, &map).unwrap();
    let cust = TableReader::open(TableKind::Customers, &c, &map).unwrap();
    let mart = build_mart(
        &tx,
        &MartParams {
            ref_day: parse_date("2024-02-01"),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(mart.customer_id, ["A", "B", "C", "D", "E"]);
    let attrs = Attributes::load(&cust, PROFILE_ATTRIBUTES, &NoProgress).unwrap();
    let names = vec!["Hi".to_string(), "Lo".to_string()];
    // Hi = {A, B, E}, Lo = {C, D}
    let seg = vec![Some(0), Some(0), Some(1), Some(1), Some(0)];
    let mut actions = BTreeMap::new();
    actions.insert("Hi".to_string(), vec!["Reward".to_string()]);
    let p = profile(&names, &seg, &mart, Some(&attrs), &actions);

    assert_eq!((p.customers, p.unassigned), (5, 0));
    assert_eq!(p.revenue, 250.0);
    let (hi, lo) = (&p.segments[0], &p.segments[1]);
    assert_eq!((hi.customers, lo.customers), (3, 2));
    assert!(close(hi.share, 0.6) && close(lo.share, 0.4));
    assert_eq!((hi.revenue, lo.revenue), (220.0, 30.0));
    assert!(close(hi.revenue_share, 0.88) && close(lo.revenue_share, 0.12));
    // premium: Hi has A (yes), B (no), E (unknown); Lo has C (yes), D (no)
    let hp = hi.premium.unwrap();
    assert_eq!((hp.premium, hp.not_premium, hp.unknown), (1, 1, 1));
    assert!(close(hp.premium_share, 0.5));
    assert_eq!(lo.premium.unwrap().unknown, 0);
    assert_eq!(hi.actions, ["Reward"]);
    assert!(lo.actions.is_empty());

    let feat = |s: &segmint::segment::profile::SegmentProfile, f: &str| {
        s.behavioural
            .iter()
            .chain(&s.demographic)
            .find(|x| x.feature == f)
            .unwrap()
            .summary
    };
    // recency in Hi: 1, 7, 2 -> sorted 1, 2, 7: q25 1.5, median 2, q75 4.5, mean 10/3
    let r = feat(hi, "recency_days");
    assert_eq!((r.count, r.q25, r.median, r.q75), (3, 1.5, 2.0, 4.5));
    assert!(close(r.mean, 10.0 / 3.0));
    // monetary in Lo: 20, 10 -> q25 12.5, median 15, q75 17.5
    let m = feat(lo, "monetary");
    assert_eq!((m.q25, m.median, m.q75, m.mean), (12.5, 15.0, 17.5, 15.0));
    // age in Hi: A 30, B 40, E missing -> 2 values, median 35
    let a = feat(hi, "age");
    assert_eq!((a.count, a.median, a.q25, a.q75), (2, 35.0, 32.5, 37.5));
    assert_eq!(hi.demographic.len(), 3);
    assert_eq!(hi.behavioural.len(), 5);

    // Kruskal–Wallis, Hi vs Lo. recency: ranks Hi {1,3,2}, Lo {5,4}: H = 12/30 (3 + 4.5) = 3.0,
    // p = 0.08326451666355042 (scipy), epsilon² = 3/4. age: Hi {30,40} vs Lo {50,60}
    // (E missing): H = 2.4, epsilon² = 2.4/3 = 0.8. frequency: Hi {1,2,1}, Lo {1,1}:
    // H = 0.6666666666666714 (scipy), epsilon² = H/4.
    let test = |f: &str| {
        p.feature_ranking
            .iter()
            .find(|t| t.feature == f)
            .unwrap()
            .test
    };
    assert!(close(test("recency_days").h, 3.0));
    assert!((test("recency_days").p_value - 0.08326451666355042).abs() < 1e-12);
    assert!(close(test("recency_days").epsilon_squared, 0.75));
    assert!(close(test("age").h, 2.4));
    assert!(close(test("age").epsilon_squared, 0.8));
    assert_eq!(test("age").n, 4);
    assert!(close(test("frequency").h, 2.0 / 3.0));
    assert_eq!(p.feature_ranking.len(), 8);
    assert_eq!(p.feature_ranking.last().unwrap().feature, "frequency");
    assert!(p
        .feature_ranking
        .windows(2)
        .all(|w| w[0].test.epsilon_squared >= w[1].test.epsilon_squared));

    // outputs
    let md = p.to_markdown();
    assert!(
        md.contains("| Hi | 3 | 60.0% | 220.00 | 88.0% | 50.0% |"),
        "{md}"
    );
    assert!(md.contains("* **Hi**: Reward"));
    let out = dir.path().join("profile");
    p.write(&out, &[]).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("profile.json")).unwrap()).unwrap();
    assert_eq!(json["segments"][0]["premium"]["premium_share"], 0.5);
    assert_eq!(p.features_batch().unwrap().num_rows(), 2 * 8);
    assert!(out.join("profile_segments.parquet").is_file());
}

#[test]
fn migration_on_crafted_data() {
    // Active: bought in the 30 days before the date; Lapsed: otherwise.
    // from = 2025-02-01, to = 2025-06-01 (each uses the rows before 00:00 UTC of that day):
    //   A: 2025-01-05, 2025-03-10  -> from: recency 27 Active;  to: recency 83 Lapsed
    //   B: 2025-01-31 23:59:59     -> from: recency 1 Active;   to: recency 121 Lapsed
    //   C: 2024-11-01, 2025-05-20  -> from: recency 92 Lapsed;  to: recency 12 Active
    //   D: 2025-05-25              -> new;                      to: Active
    //   E: 2025-06-01 10:00        -> in neither (on the second date itself)
    //   F: 2025-01-20              -> from: Active;             to: Lapsed
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "transactions.csv",
        "customer_id,order_id,timestamp,amount\n\
         A,1,2025-01-05,10\nA,2,2025-03-10,10\nB,3,2025-01-31 23:59:59,5\n\
         C,4,2024-11-01,7\nC,5,2025-05-20,7\nD,6,2025-05-25,9\nE,7,2025-06-01 10:00:00,3\n\
         F,8,2025-01-20,4\n",
    );
    let tx = TableReader::open(TableKind::Transactions, &t, &ColumnMap::new()).unwrap();
    let rules = RuleSet::from_toml(
        "default = \"Lapsed\"\n[[segments]]\nname = \"Active\"\nwhen = \"recency_days <= 30\"\n",
        "test rules",
    )
    .unwrap();
    let (from, to) = (
        parse_date("2025-02-01").unwrap(),
        parse_date("2025-06-01").unwrap(),
    );
    let p = MigrateParams {
        from_day: from,
        to_day: to,
        ..Default::default()
    };
    let m = migrate(&tx, None, &rules, &p, &NoProgress).unwrap();
    assert_eq!(m.segments, ["Active", "Lapsed"]);
    assert_eq!(m.row_labels()[2], NEW);
    // rows: Active, Lapsed, new; columns: Active, Lapsed
    assert_eq!(m.counts, vec![vec![0, 3], vec![1, 0], vec![1, 0]]);
    assert_eq!((m.customers_from, m.customers_to), (4, 5));
    assert_eq!(m.stayed(), (0, 4));
    let flows = m.biggest_flows(5);
    assert_eq!(flows[0].sentence, "3 Active became Lapsed");
    assert!(close(flows[0].share_of_from, 1.0));
    assert_eq!(flows[1].sentence, "1 Lapsed became Active");
    assert_eq!(flows[2].sentence, "1 new customers arrived in Active");
    assert_eq!(flows.len(), 3);
    let ids: Vec<&str> = m.customers.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(ids, ["A", "B", "C", "D", "F"]);
    assert_eq!(m.to_record_batch().unwrap().num_rows(), 5);
    // dates in the wrong order are an error
    let back = MigrateParams {
        from_day: to,
        to_day: from,
        ..Default::default()
    };
    let e = migrate(&tx, None, &rules, &back, &NoProgress).unwrap_err();
    assert!(
        matches!(&e, segmint::Error::Param { param, .. } if param == "from"),
        "{e}"
    );
    assert!(e.to_string().contains("must be before"), "{e}");
    // the typed summary reads back equal and prints the matrix
    let sum = m.summary(&rules.name, 5);
    assert_eq!(sum.stayed, 0);
    assert_eq!(sum.segmented_at_both, 4);
    let path = dir.path().join("migration.json");
    sum.write_to(&path).unwrap();
    assert_eq!(MigrationSummary::read_from(&path).unwrap(), sum);
    assert!(
        sum.markdown()
            .contains("| Active | 0 (0%) | 3 (100%) | 3 |"),
        "{}",
        sum.markdown()
    );
}
