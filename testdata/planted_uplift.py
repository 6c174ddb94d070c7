#!/usr/bin/env python3
"""The planted-segment check of the bench `uplift` task (../shared/bench/README.md) applied to a
`segmint compare` assignments file: test customers flagged A (predicted uplift >= effect_a / 2)
and B (<= -effect_b / 2) against the planted segments of SCHEMA.md. Prints one JSON line.

usage: planted_uplift.py DATA_DIR COMPARE_OUT_DIR [COLUMN]
"""
import json
import sys

import pandas as pd

data, out = sys.argv[1], sys.argv[2]
col = sys.argv[3] if len(sys.argv) > 3 else "predicted_uplift"
c = pd.read_parquet(f"{data}/customers.parquet")
a = pd.read_parquet(f"{out}/assignments.parquet")
te = c.merge(a, on="customer_id")
te = te[te["split"] == "test"]
meta = json.load(open(f"{data}/meta.json"))
eff_a = meta["uplift"]["segment_a"]["effect"]
eff_b = meta["uplift"]["segment_b"]["effect"]
in_a = ((te["income"] > 150_000) & ~te["premium"].astype(bool)).to_numpy()
in_b = ((te["age"] < 30) & (te["region"] == "AP-SOUTH")).to_numpy()


def found(flag, truth):
    tp = int((flag & truth).sum())
    return {"flagged": int(flag.sum()), "in_segment": int(truth.sum()),
            "precision": tp / max(int(flag.sum()), 1), "recall": tp / max(int(truth.sum()), 1)}


print(json.dumps({"test_customers": len(te),
                  "planted_segment_a": found((te[col] >= eff_a / 2).to_numpy(), in_a),
                  "planted_segment_b": found((te[col] <= -eff_b / 2).to_numpy(), in_b)}))
