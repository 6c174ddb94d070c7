#!/usr/bin/env python3
"""Regenerates the small files in testdata/ (run once; the outputs are committed).

usage: python make_testdata.py   (needs pyarrow, see ../shared/bench/requirements.txt)
"""
import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad")
GOOD = os.path.join(HERE, "good")
HEADER = "customer_id,order_id,timestamp,amount,quantity,region,payment_method,category\n"
ROWS = [
    'C1,O1,2024-03-06 12:05:49.882002Z,10.50,1,US-EAST,card,books\n',
    'C1,O2,2024-05-01T08:00:00Z,20.25,2,US-WEST,card,books\n',
    'C2,O3,2024-06-01,5.00,1,EU-WEST,paypal,home\n',
]


def write(name, data, mode="w"):
    with open(os.path.join(BAD, name), mode + ("b" if isinstance(data, bytes) else ""), **({} if isinstance(data, bytes) else {"newline": ""})) as f:
        f.write(data)


def tx_table(**over):
    ts = pa.array([dt.datetime(2024, 3, 6, 12, 5, 49, 882002, tzinfo=dt.timezone.utc),
                   dt.datetime(2024, 5, 1, 8, tzinfo=dt.timezone.utc),
                   dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)], pa.timestamp("us", tz="UTC"))
    cols = {
        "customer_id": pa.array(["C1", "C1", "C2"]),
        "order_id": pa.array(["O1", "O2", "O3"]),
        "timestamp": ts,
        "amount": pa.array([10.5, 20.25, 5.0]),
        "quantity": pa.array([1, 2, 1], pa.int64()),
        "region": pa.array(["US-EAST", "US-WEST", "EU-WEST"]),
        "payment_method": pa.array(["card", "card", "paypal"]),
    }
    cols.update(over)
    return pa.table(cols)


def main():
    os.makedirs(BAD, exist_ok=True)
    os.makedirs(GOOD, exist_ok=True)
    write("empty.csv", "")
    write("header_only.csv", HEADER)
    write("bom.csv", b"\xef\xbb\xbf" + (HEADER + "".join(ROWS)).encode())
    write("crlf.csv", (HEADER + "".join(ROWS)).replace("\n", "\r\n"))
    write("crlf_bad_amount.csv", (HEADER + ROWS[0] + 'C1,O2,2024-05-01,12..5,1,US-WEST,card,books\n').replace("\n", "\r\n"))
    write("quoted_commas.csv", HEADER + '"C1","O1","2024-03-06 12:05:49Z","1,234.50",1,"US, EAST","card","books"\n')
    write("quoted_commas_ok.csv", HEADER + '"C,1","O1","2024-03-06 12:05:49Z","1234.50",1,"US, EAST","card","home, garden"\n')
    write("non_utf8.csv", HEADER.encode() + ROWS[0].encode() + b"C\xe92,O2,2024-05-01,5.00,1,US-EAST,card,books\n")
    write("missing_columns.csv", "customer_id,order_id,timestamp,quantity\nC1,O1,2024-03-06,1\n")
    write("wrong_types.csv", HEADER + "C1,O1,2024-03-06,ten dollars,1,US-EAST,card,books\n")
    write("bad_timestamp.csv", HEADER + ROWS[0] + "C1,O2,2024-13-45 10:00:00,5.00,1,US-EAST,card,books\n")
    write("null_id.csv", HEADER + ROWS[0] + ",O2,2024-05-01,5.00,1,US-EAST,card,books\n")
    write("huge_numbers.csv", HEADER + "C1,O1,2024-03-06,10.00,99999999999999999999999,US-EAST,card,books\n")
    write("huge_amount.csv", HEADER + "C1,O1,2024-03-06,1e300,1,US-EAST,card,books\n")
    write("nan_amount.csv", HEADER + ROWS[0] + "C1,O2,2024-05-01,NaN,1,US-EAST,card,books\n")
    write("inf_amount.csv", HEADER + "C1,O1,2024-03-06,-inf,1,US-EAST,card,books\n")
    write("ragged.csv", HEADER + ROWS[0] + "C1,O2,2024-05-01,5.00\n")
    write("unclosed_quote.csv", HEADER + ROWS[0] + '"C1,O2,2024-05-01,5.00,1,US-EAST,card,books\n')
    write("no_purchases.csv", HEADER + "C1,O1,2024-03-06,-5.00,1,US-EAST,card,books\n")
    # Parquet
    good = os.path.join(GOOD, "transactions_small.parquet")
    pq.write_table(tx_table(), good)
    data = open(good, "rb").read()
    write("truncated.parquet", data[: len(data) // 2])
    write("not_parquet.parquet", b"customer_id,order_id\nC1,O1\n")
    pq.write_table(tx_table(timestamp=pa.array([1, 2, 3], pa.int64())), os.path.join(BAD, "wrong_types.parquet"))
    pq.write_table(tx_table(amount=pa.array([1.0, float("nan"), 2.0])), os.path.join(BAD, "nan_amount.parquet"))
    pq.write_table(tx_table(customer_id=pa.array(["C1", None, "C2"])), os.path.join(BAD, "null_id.parquet"))
    pq.write_table(tx_table().drop_columns(["amount"]), os.path.join(BAD, "missing_columns.parquet"))
    pq.write_table(tx_table(amount=pa.array(["10.5", "x", "5"])), os.path.join(BAD, "amount_as_text.parquet"))
    # good variants: other physical types that must be accepted
    t = tx_table(timestamp=pa.array([1709726749882002000, 1714550400000000000, 1717200000000000000], pa.timestamp("ns")),
                 quantity=pa.array([1, 2, 1], pa.int32()),
                 region=pa.array(["US-EAST", "US-WEST", "EU-WEST"]).dictionary_encode(),
                 customer_id=pa.array(["C1", "C1", "C2"], pa.large_string()))
    pq.write_table(t, os.path.join(GOOD, "transactions_ns_naive.parquet"))
    t = tx_table(timestamp=pa.array(["2024-03-06T13:05:49.882002+01:00", "2024-05-01 08:00:00", "2024-06-01"]),
                 amount=pa.array(["10.50", "20.25", "5"]))
    pq.write_table(t, os.path.join(GOOD, "transactions_text_types.parquet"))
    t = tx_table(timestamp=pa.array([dt.datetime(2024, 3, 6, 12, 5, 49, 882002), dt.datetime(2024, 5, 1, 8),
                                     dt.datetime(2024, 6, 1)], pa.timestamp("ms", tz="America/New_York")))
    pq.write_table(t, os.path.join(GOOD, "transactions_ms_tz.parquet"))
    # mapped column names
    with open(os.path.join(GOOD, "orders_mapped.csv"), "w", newline="") as f:
        f.write("client,order_no,order_date,revenue,units,region,payment_method\n")
        f.write("C1,O1,2024-03-06 12:05:49.882002Z,10.50,1,US-EAST,card\n")
        f.write("C1,O2,2024-05-01T08:00:00Z,20.25,2,US-WEST,card\n")
        f.write("C2,O3,2024-06-01,5.00,1,EU-WEST,paypal\n")


if __name__ == "__main__":
    main()


def more_forms():
    """Dates for timestamps and decimal amounts, as warehouses export them."""
    import decimal
    t = tx_table(timestamp=pa.array([dt.date(2024, 3, 6), dt.date(2024, 5, 1), dt.date(2024, 6, 1)], pa.date32()),
                 amount=pa.array([decimal.Decimal("10.50"), decimal.Decimal("20.25"), decimal.Decimal("5.00")],
                                 pa.decimal128(12, 2)))
    pq.write_table(t, os.path.join(GOOD, "transactions_date_decimal.parquet"))


if __name__ == "__main__":
    more_forms()
