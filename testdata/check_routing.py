#!/usr/bin/env python3
"""Runs segmint compare's exported routing on the customers table and compares it with
segmint's own assignments: the DuckDB SQL (routing_duckdb.sql) in DuckDB, and the Python module
(routing.py) row by row. Prints one JSON line with the mismatch counts.

usage: check_routing.py CUSTOMERS_FILE COMPARE_OUT_DIR [TABLE]
"""
import importlib.util
import json
import sys

import duckdb
import pandas as pd

data, out = sys.argv[1], sys.argv[2]
table = sys.argv[3] if len(sys.argv) > 3 else "customers"

con = duckdb.connect()
reader = "read_parquet" if data.endswith(".parquet") else "read_csv_auto"
con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [data])
# the table name from the export, created exactly as quoted there
con.execute('CREATE VIEW "{}" AS SELECT * FROM t'.format(table.replace('"', '""')))
sql = open(f"{out}/routing_duckdb.sql", encoding="utf-8").read()
got = con.execute(sql).fetchdf()
id_col = got.columns[0]
ours = pd.read_parquet(f"{out}/assignments.parquet")
m = ours.merge(got, left_on="customer_id", right_on=id_col, suffixes=("", "_sql"))
assert len(m) == len(ours), (len(m), len(ours))
sql_group = int((m["recommended_group"] != m["recommended_group_sql"]).sum())
rid = m["rule_id"].astype("Int64")
rid_sql = m["rule_id_sql"].astype("Int64")
sql_rule = int(((rid.fillna(-1)) != (rid_sql.fillna(-1))).sum())

spec = importlib.util.spec_from_file_location("routing", f"{out}/routing.py")
routing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(routing)
rows = con.execute("SELECT * FROM t").fetchdf()
py = {}
for rec in rows.to_dict("records"):
    rec = {k: (None if v is pd.NA else v) for k, v in rec.items()}
    py[str(rec[id_col])] = (routing.route(rec), routing.rule_id(rec))
py_group = sum(1 for r in ours.itertuples() if py[r.customer_id][0] != r.recommended_group)
py_rule = sum(
    1
    for r in ours.itertuples()
    if (py[r.customer_id][1] if py[r.customer_id][1] is not None else -1)
    != (int(r.rule_id) if pd.notna(r.rule_id) else -1)
)
routed = int(ours["rule_id"].notna().sum())
print(json.dumps({"customers": len(ours), "routed": routed, "sql_group_mismatches": sql_group,
                  "sql_rule_mismatches": sql_rule, "python_group_mismatches": py_group,
                  "python_rule_mismatches": py_rule}))
