"""The cohort table of `segmint cohorts` computed with pandas from the same definitions
(crates/segmint/src/cohorts.rs), compared cell by cell with segmint's output.

    python cohorts_pandas.py DATA_DIR SEGMINT_COHORTS_PARQUET PERIOD [BY]

DATA_DIR holds transactions.parquet (and customers.parquet for BY). Prints one JSON line:
rows of each table, the rows only one side has, and per column the largest absolute difference.
"""

import json
import sys

import numpy as np
import pandas as pd


def period_index(days: pd.Series, period: str) -> pd.Series:
    d = pd.to_datetime(days, unit="D")
    if period == "week":
        return (days + 3) // 7
    months = d.dt.year * 12 + d.dt.month - 1
    return months if period == "month" else months // 3


def period_start(index: pd.Series, period: str) -> pd.Series:
    if period == "week":
        return pd.to_datetime(index * 7 - 3, unit="D")
    months = index * 3 if period == "quarter" else index
    return pd.to_datetime(
        pd.DataFrame({"year": months // 12, "month": months % 12 + 1, "day": 1})
    )


def main():
    data, ours_path, period = sys.argv[1], sys.argv[2], sys.argv[3]
    by = sys.argv[4] if len(sys.argv) > 4 else None
    tx = pd.read_parquet(f"{data}/transactions.parquet")
    ts = pd.to_datetime(tx["timestamp"], utc=True)
    tx["day"] = (ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.days
    tx["p"] = period_index(tx["day"], period)
    buys = tx[tx["amount"] > 0]
    first = buys.groupby("customer_id")["p"].min().rename("p0")
    tx = tx.merge(first, left_on="customer_id", right_index=True, how="inner")
    tx = tx[tx["p"] >= tx["p0"]].copy()
    tx["k"] = tx["p"] - tx["p0"]
    keys = ["p0", "k"]
    if by:
        cust = pd.read_parquet(f"{data}/customers.parquet").drop_duplicates("customer_id")
        label = cust.set_index("customer_id")[by].astype(object).map(
            lambda v: "(missing)" if pd.isna(v) else (str(v).lower() if isinstance(v, (bool, np.bool_)) else str(v))
        )
        first = first.to_frame().join(label.rename("group"))
        first["group"] = first["group"].fillna("(missing)")
        tx = tx.merge(first[["group"]], left_on="customer_id", right_index=True)
        keys = ["group"] + keys
    sizes = first.reset_index().groupby(keys[:-1]).size().rename("customers")
    buys = tx[tx["amount"] > 0]
    active = buys.groupby(keys)["customer_id"].nunique().rename("active")
    orders = buys.groupby(keys + ["customer_id"])["order_id"].nunique().groupby(keys).sum().rename("orders")
    revenue = tx.groupby(keys)["amount"].sum().round(2).rename("revenue")
    last = tx["p"].max()
    # every observed period of every cohort
    grid = sizes.reset_index()
    grid["n"] = last - grid["p0"] + 1
    grid = grid.loc[grid.index.repeat(grid["n"])].copy()
    grid["k"] = grid.groupby(keys[:-1]).cumcount()
    t = grid.drop(columns="n").set_index(keys).join(active).join(orders).join(revenue)
    t = t.fillna({"active": 0, "orders": 0, "revenue": 0.0}).reset_index()
    t["retention"] = t["active"] / t["customers"]
    t["revenue_per_customer"] = t["revenue"] / t["customers"]
    t["cumulative_revenue_per_customer"] = t.groupby(keys[:-1])["revenue_per_customer"].cumsum()
    t["cohort"] = period_start(t["p0"], period).dt.date
    t = t.rename(columns={"k": "period"})
    ours = pd.read_parquet(ours_path)
    ours["cohort"] = pd.to_datetime(ours["cohort"]).dt.date
    on = (["group"] if by else []) + ["cohort", "period"]
    m = ours.merge(t, on=on, how="outer", suffixes=("", "_pd"), indicator=True)
    diff = {}
    for c in ["customers", "active", "retention", "orders", "revenue", "revenue_per_customer",
              "cumulative_revenue_per_customer"]:
        both = m[m["_merge"] == "both"]
        diff[c] = float(np.max(np.abs(both[c].astype(float) - both[c + "_pd"].astype(float))))
    print(json.dumps({
        "rows": len(ours), "rows_pandas": len(t),
        "only_segmint": int((m["_merge"] == "left_only").sum()),
        "only_pandas": int((m["_merge"] == "right_only").sum()),
        "max_abs_diff": diff,
    }))


if __name__ == "__main__":
    main()
