//! Mart semantics on hand-made data: returns, zero amounts, repeated order ids, mode ties,
//! customers split over Parquet row groups (merged across parallel units), non-cent amounts.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use segmint::data::{ColumnMap, TableKind, TableReader};
use segmint::mart::{build_mart, Categorical, Mart, MartColumns, MartParams};
use segmint::progress::NoProgress;

const DAY: i64 = 86_400_000_000;
// 2024-01-01 00:00 UTC in microseconds (Python: datetime(2024,1,1,tzinfo=utc).timestamp()*1e6)
const JAN1: i64 = 1_704_067_200_000_000;

struct Row(
    &'static str,
    &'static str,
    i64,
    f64,
    i64,
    &'static str,
    &'static str,
);

fn rows() -> Vec<Row> {
    vec![
        // A: three orders, one partly returned (the return row counts in no mode); three-way ties
        // of region (US, EU, ZZ) and payment (card, paypal, bank) -> smallest in byte order
        Row("A", "A1", JAN1 + 10 * DAY + 5, 100.10, 2, "US", "card"),
        Row("A", "A2", JAN1 + 20 * DAY, 50.05, 1, "EU", "paypal"),
        Row("A", "A1", JAN1 + 25 * DAY, -30.03, 1, "US", "card"),
        Row("A", "A3", JAN1 + 30 * DAY, 0.01, 1, "ZZ", "bank"),
        // B: the same order id on two purchase rows counts once; a zero row counts nowhere
        Row("B", "B1", JAN1 + 2 * DAY, 10.0, 1, "US", "cod"),
        Row("B", "B1", JAN1 + 2 * DAY + 1, 5.0, 1, "US", "cod"),
        Row("B", "B2", JAN1 + 3 * DAY, 0.0, 7, "EU", "card"),
        // C: only a return: not in the mart
        Row("C", "C1", JAN1 + 40 * DAY, -9.99, 1, "US", "card"),
        // D: the latest transaction of all (a return) sets the reference date
        Row("D", "D1", JAN1 + 50 * DAY, 1.0, 3, "LATAM", "card"),
        Row("D", "D1", JAN1 + 59 * DAY + 1, -1.0, 3, "LATAM", "card"),
    ]
}

fn write(path: &std::path::Path, rows: &[Row], group_rows: usize) {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("order_id", DataType::Utf8, false),
        Field::new("timestamp", ts, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("payment_method", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.2))
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.5))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.6))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn strings(c: &Option<Categorical>) -> Vec<Option<String>> {
    let c = c.as_ref().expect("column present");
    (0..c.len()).map(|i| c.get(i).map(str::to_string)).collect()
}

fn mart_of(rows: &[Row], group_rows: usize, params: &MartParams) -> Mart {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("transactions.parquet");
    write(&p, rows, group_rows);
    let tx = TableReader::open(TableKind::Transactions, &p, &ColumnMap::new()).unwrap();
    build_mart(&tx, params, &NoProgress).unwrap()
}

#[test]
fn semantics_by_hand() {
    let m = mart_of(&rows(), 1 << 20, &MartParams::default());
    // ref = day(JAN1 + 59 days + 1us) + 1 = Jan 1 + 60 days
    let ref_day = JAN1 / DAY + 60;
    assert_eq!(m.ref_day, ref_day);
    assert_eq!(m.customer_id, ["A", "B", "D"]);
    assert_eq!(m.frequency, [3, 1, 1]);
    // A: 100.10 + 50.05 - 30.03 + 0.01 = 120.13; B: 15.00; D: 0.00
    assert_eq!(m.monetary, [120.13, 15.0, 0.0]);
    assert_eq!(m.recency_days, [30, 58, 10]);
    assert_eq!(m.tenure_days, [50, 58, 10]);
    assert_eq!(m.avg_order_value, [120.13 / 3.0, 15.0, 0.0]);
    // A: 2 + 1 + 1 - 1 = 3; B: 1 + 1 (zero row ignored) = 2; D: 3 - 3 = 0
    assert_eq!(m.total_quantity.as_deref(), Some(&[3, 2, 0][..]));
    let region: Vec<String> = strings(&m.primary_region)
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(region, ["EU", "US", "LATAM"]);
    let pay: Vec<String> = strings(&m.preferred_payment)
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(pay, ["bank", "cod", "card"]);
    assert_eq!(m.first_purchase_us[0], JAN1 + 10 * DAY + 5);
    assert_eq!(m.last_purchase_us[1], JAN1 + 2 * DAY + 1);
    assert_eq!(m.rows_read, 10);
}

#[test]
fn customers_split_over_row_groups_merge_exactly() {
    let whole = mart_of(&rows(), 1 << 20, &MartParams::default());
    for group_rows in [1, 2, 3, 4] {
        let split = mart_of(&rows(), group_rows, &MartParams::default());
        assert_eq!(
            split.customer_id, whole.customer_id,
            "groups of {group_rows}"
        );
        assert_eq!(split.frequency, whole.frequency, "groups of {group_rows}");
        assert_eq!(split.monetary, whole.monetary, "groups of {group_rows}");
        assert_eq!(
            split.total_quantity, whole.total_quantity,
            "groups of {group_rows}"
        );
        assert_eq!(
            strings(&split.primary_region),
            strings(&whole.primary_region),
            "groups of {group_rows}"
        );
        assert_eq!(
            strings(&split.preferred_payment),
            strings(&whole.preferred_payment),
            "groups of {group_rows}"
        );
        assert_eq!(
            split.first_purchase_us, whole.first_purchase_us,
            "groups of {group_rows}"
        );
    }
}

#[test]
fn ref_date_parameter() {
    let m = mart_of(
        &rows(),
        1 << 20,
        &MartParams {
            ref_day: Some(JAN1 / DAY + 100),
            ..Default::default()
        },
    );
    assert_eq!(m.recency_days, [70, 98, 50]);
}

#[test]
fn sums_are_exact_to_the_cent() {
    // 0.1 + 0.2 in floats is 0.30000000000000004; pandas' round(sum, 2) gives 0.3, and so must we,
    // also over many rows: 10,000 x 0.01 = 100.00 exactly.
    let mut rs: Vec<Row> = vec![
        Row("A", "1", JAN1, 0.1, 1, "US", "card"),
        Row("A", "2", JAN1, 0.2, 1, "US", "card"),
    ];
    rs.extend((0..10_000).map(|_| Row("B", "1", JAN1, 0.01, 1, "US", "card")));
    let m = mart_of(&rs, 777, &MartParams::default());
    assert_eq!(m.monetary, [0.3, 100.0]);
    // a non-cent amount falls back to a compensated sum rounded half-to-even like pandas
    let m = mart_of(
        &[
            Row("A", "1", JAN1, 0.125, 1, "US", "card"),
            Row("A", "2", JAN1, 1.0, 1, "US", "card"),
        ],
        4,
        &MartParams::default(),
    );
    assert_eq!(m.monetary, [1.12]);
}

/// The fields a test compares (everything but the row count).
fn fields(m: &Mart) -> impl PartialEq + std::fmt::Debug {
    (
        m.customer_id.clone(),
        m.frequency.clone(),
        m.monetary.clone(),
        m.recency_days.clone(),
        m.first_purchase_us.clone(),
        m.total_quantity.clone(),
        strings(&m.primary_region),
        strings(&m.preferred_payment),
    )
}

#[test]
fn unsorted_input_gives_the_same_mart() {
    // Sorted input takes the merge-at-boundaries path, shuffled input the global sort: same mart,
    // whatever the row groups.
    let whole = mart_of(&rows(), 1 << 20, &MartParams::default());
    let mut shuffled = rows();
    shuffled.reverse();
    shuffled.swap(1, 6);
    for group_rows in [1, 3, 1 << 20] {
        let m = mart_of(&shuffled, group_rows, &MartParams::default());
        assert_eq!(fields(&m), fields(&whole), "groups of {group_rows}");
    }
}

#[test]
fn before_cutoff_uses_only_earlier_rows() {
    // Rows before Jan 1 + 21 days: A's first two purchases (100.10 + 50.05), B's rows;
    // C's return, D's rows and A's later rows are left out.
    let m = mart_of(
        &rows(),
        3,
        &MartParams {
            ref_day: Some(JAN1 / DAY + 21),
            before_us: Some(JAN1 + 21 * DAY),
            ..Default::default()
        },
    );
    assert_eq!(m.customer_id, ["A", "B"]);
    assert_eq!(m.monetary, [150.15, 15.0]);
    assert_eq!(m.frequency, [2, 1]);
    assert_eq!(m.recency_days, [1, 19]);
    // a cutoff before every purchase: an error that names the date
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("transactions.parquet");
    write(&p, &rows(), 1 << 20);
    let tx = TableReader::open(TableKind::Transactions, &p, &ColumnMap::new()).unwrap();
    let e = build_mart(
        &tx,
        &MartParams {
            before_us: Some(JAN1),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no purchase rows (amount > 0) before 2024-01-01"),
        "{e}"
    );
}

#[test]
fn rfm_columns_skip_the_modes() {
    let all = mart_of(&rows(), 2, &MartParams::default());
    let lean = mart_of(
        &rows(),
        2,
        &MartParams {
            columns: MartColumns::Rfm,
            ..Default::default()
        },
    );
    assert_eq!(lean.customer_id, all.customer_id);
    assert_eq!(lean.monetary, all.monetary);
    assert_eq!(lean.frequency, all.frequency);
    assert_eq!(lean.tenure_days, all.tenure_days);
    assert!(lean.total_quantity.is_none() && lean.primary_region.is_none());
}

/// Tables handed over in memory as Arrow record batches (no file) give the same mart as the
/// file they came from, with the same column mapping and checks.
#[test]
fn mart_from_record_batches_equals_the_file() {
    use segmint::data::{ColumnMap, Inputs, TableKind, TableReader};
    use segmint::mart::{build_mart, MartParams};
    use segmint::progress::NoProgress;
    let dir = tempfile::tempdir().unwrap();
    let demo = segmint::demo::DemoParams {
        customers: 800,
        ..Default::default()
    };
    segmint::demo::generate(&demo, dir.path(), &NoProgress).unwrap();
    let file = Inputs::from_dir(dir.path())
        .open(TableKind::Transactions, &ColumnMap::new())
        .unwrap();
    let from_file = build_mart(&file, &MartParams::default(), &NoProgress).unwrap();
    // the same rows, renamed and in three batches of another size than the file's row groups
    let f = std::fs::File::open(dir.path().join("transactions.parquet")).unwrap();
    let rows: Vec<arrow_array::RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .with_batch_size(700)
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let renamed: Vec<arrow_array::RecordBatch> = rows
        .iter()
        .map(|b| {
            let fields: Vec<arrow_schema::Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    let name = if f.name() == "amount" {
                        "Umsatz"
                    } else {
                        f.name()
                    };
                    f.as_ref().clone().with_name(name)
                })
                .collect();
            arrow_array::RecordBatch::try_new(
                std::sync::Arc::new(arrow_schema::Schema::new(fields)),
                b.columns().to_vec(),
            )
            .unwrap()
        })
        .collect();
    assert!(renamed.len() > 2);
    let mut map = ColumnMap::new();
    map.parse_cli("amount=Umsatz").unwrap();
    let mem = TableReader::from_batches(
        TableKind::Transactions,
        "transactions",
        renamed.clone(),
        &map,
    )
    .unwrap();
    let from_memory = build_mart(&mem, &MartParams::default(), &NoProgress).unwrap();
    assert_eq!(from_memory.customer_id, from_file.customer_id);
    assert_eq!(from_memory.frequency, from_file.frequency);
    assert_eq!(from_memory.monetary, from_file.monetary);
    assert_eq!(from_memory.recency_days, from_file.recency_days);
    // without the mapping the amount is missing, named with the stand-in file name
    let e = TableReader::from_batches(
        TableKind::Transactions,
        "transactions",
        renamed,
        &ColumnMap::new(),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("<transactions>") && e.contains("missing column amount"),
        "{e}"
    );
    drop(rows);
    let e = TableReader::from_batches(TableKind::Transactions, "tx", Vec::new(), &ColumnMap::new())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("<tx>") && e.contains("no record batches"), "{e}");
}
