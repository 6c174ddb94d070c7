//! Property tests: the CSV reader (and the mart and validation on top of it) never panics on
//! random or mutated input; it returns either a result or an error that names the file.

use proptest::prelude::*;
use segmint::data::validate::{validate, ValidateParams};
use segmint::data::{ColumnMap, Inputs, TableKind, TableReader};
use segmint::mart::{build_mart, MartParams};
use segmint::progress::NoProgress;

const VALID: &str = "customer_id,order_id,timestamp,amount,quantity,region,payment_method\n\
C1,O1,2024-03-06 12:05:49.882002Z,10.50,1,US-EAST,card\n\
C1,O2,2024-05-01T08:00:00Z,20.25,2,\"US, WEST\",card\n\
C2,O3,2024-06-01,5.00,1,EU-WEST,paypal\n\
C2,O3,2024-06-03,-5.00,1,EU-WEST,paypal\n";

fn run_all(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transactions.csv");
    std::fs::write(&path, bytes).unwrap();
    match TableReader::open(TableKind::Transactions, &path, &ColumnMap::new()) {
        Ok(tx) => {
            if let Err(e) = build_mart(&tx, &MartParams::default(), &NoProgress) {
                let msg = e.to_string();
                assert!(
                    msg.contains("transactions.csv"),
                    "error names the file: {msg}"
                );
                assert!(!msg.contains('\n'), "one line: {msg}");
            }
        }
        Err(e) => assert!(e.to_string().contains("transactions.csv"), "{e}"),
    }
    let _ = validate(
        &Inputs::from_dir(dir.path()),
        &ColumnMap::new(),
        &ValidateParams::default(),
        &NoProgress,
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        run_all(&bytes);
    }

    #[test]
    fn random_text_after_header_never_panics(body in "[A-Za-z0-9,.:\"\\- \n\r]{0,300}") {
        let text = format!("customer_id,order_id,timestamp,amount,quantity,region,payment_method\n{body}");
        run_all(text.as_bytes());
    }

    #[test]
    fn mutated_valid_file_never_panics(edits in proptest::collection::vec((0usize..VALID.len(), any::<u8>(), 0u8..3), 1..8)) {
        let mut b = VALID.as_bytes().to_vec();
        for (pos, byte, op) in edits {
            let pos = pos.min(b.len().saturating_sub(1));
            match op {
                0 if !b.is_empty() => b[pos] = byte,
                1 => b.insert(pos, byte),
                _ if !b.is_empty() => { b.remove(pos); }
                _ => {}
            }
        }
        run_all(&b);
    }
}

#[test]
fn the_valid_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transactions.csv");
    std::fs::write(&path, VALID).unwrap();
    let tx = TableReader::open(TableKind::Transactions, &path, &ColumnMap::new()).unwrap();
    let m = build_mart(&tx, &MartParams::default(), &NoProgress).unwrap();
    assert_eq!(m.customer_id, ["C1", "C2"]);
    assert_eq!(m.monetary, [30.75, 0.0]);
}
