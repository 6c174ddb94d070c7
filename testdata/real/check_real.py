"""Reference computations for the real-data tests (crates/segmint-cli/tests/e2e/real_data.rs),
done with pandas and lifetimes on the raw files with the same definitions as segmint's flags.
Each subcommand prints one JSON line of differences; the Rust test asserts on them.

  mart ONLINE_RETAIL(.csv.gz) NROWS SEGMINT_MART.parquet
      the customer mart of the UCI Online Retail rows (the first NROWS data rows, 0 = all):
      rows without CustomerID dropped, amount = Quantity * UnitPrice, purchases amount > 0,
      frequency = distinct InvoiceNo among purchase rows, monetary = net sum (returns included)
  lifetimes CDNOW_sample.txt SEGMINT_METRICS.json
      lifetimes 0.11.3 BG/NBD and Gamma-Gamma on the CDNOW sample (calibration to 1997-09-30,
      observation to 1998-06-30, segmint's week convention freq="D", freq_multiplier=7; $0 rows
      are purchases as with --purchases non-negative; Gamma-Gamma on monetary_value > 0)
  hillstrom hillstrom.csv
      visit rate per arm (segment) and customers
"""
import json
import sys

import pandas as pd


def mart(path, nrows, segmint_mart):
    nrows = int(nrows) or None
    df = pd.read_csv(path, nrows=nrows, dtype={"CustomerID": str, "InvoiceNo": str})
    df = df[df["CustomerID"].notna()].copy()
    df["amount"] = df["Quantity"] * df["UnitPrice"]
    pos = df[df["amount"] > 0]
    ref = pd.read_parquet(segmint_mart).set_index("customer_id")
    want = pd.DataFrame({
        "frequency": pos.groupby("CustomerID")["InvoiceNo"].nunique(),
        "monetary": df.groupby("CustomerID")["amount"].sum().round(2),
    }).dropna(subset=["frequency"])
    want.index = want.index.astype(str)
    common = want.index.intersection(ref.index)
    print(json.dumps({
        "customers_pandas": len(want),
        "customers_segmint": len(ref),
        "customers_common": len(common),
        "frequency_mismatches": int((want.loc[common, "frequency"] != ref.loc[common, "frequency"]).sum()),
        "max_abs_monetary_diff": float((want.loc[common, "monetary"] - ref.loc[common, "monetary"]).abs().max()),
        "monetary_total_pandas": round(float(want["monetary"].sum()), 2),
        "rows_dropped_pandas": int(pd.read_csv(path, nrows=nrows, usecols=["CustomerID"])["CustomerID"].isna().sum()),
    }))


def lifetimes_fit(path, metrics):
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import calibration_and_holdout_data

    df = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "master_id", "date", "cds", "dollars"],
                     dtype={"id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    s = calibration_and_holdout_data(df, "id", "date", calibration_period_end="1997-09-30",
                                     observation_period_end="1998-06-30", freq="D", freq_multiplier=7,
                                     monetary_value_col="dollars")
    bg = BetaGeoFitter().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])
    rep = s[(s["frequency_cal"] > 0) & (s["monetary_value_cal"] > 0)]
    gg = GammaGammaFitter().fit(rep["frequency_cal"], rep["monetary_value_cal"])
    m = json.load(open(metrics))
    seg_bg = m["bgnbd"]["params"] if "params" in m["bgnbd"] else m["bgnbd"]
    seg = {k: seg_bg[k] for k in ["r", "alpha", "a", "b"]}
    seg.update({k: m["gamma_gamma"][k] for k in ["p", "q", "v"]})
    ref = {**{k: float(bg.params_[k]) for k in ["r", "alpha", "a", "b"]},
           **{k: float(gg.params_[k]) for k in ["p", "q", "v"]}}
    # the tracking series at segmint's parameters, 1997-01-01 to 1998-06-30 in weeks (546 days)
    from lifetimes.utils import expected_cumulative_transactions
    at_ours = BetaGeoFitter()
    at_ours.params_ = pd.Series({k: seg[k] for k in ["r", "alpha", "a", "b"]})
    days = (pd.Timestamp("1998-06-30") - df["date"].min()).days + 1
    track = expected_cumulative_transactions(at_ours, df, "date", "id", days, freq="D", freq_multiplier=7)
    ours = m.get("tracking") or {"actual": [], "expected": []}
    n = min(len(track), len(ours["expected"]))
    print(json.dumps({
        "customers_lifetimes": len(s),
        "customers_segmint": m["customers"],
        "lifetimes": ref,
        "segmint": seg,
        "max_rel_diff": max(abs(seg[k] - ref[k]) / abs(ref[k]) for k in ref),
        "tracking_periods_lifetimes": len(track),
        "tracking_periods_segmint": len(ours["expected"]),
        "tracking_calibration_periods": ours.get("calibration_periods"),
        "tracking_actual_equal": bool(n == len(track) and
                                      all(float(a) == b for a, b in zip(track["actual"], ours["actual"]))),
        "tracking_max_rel_diff": max((abs(e - float(p)) / max(abs(float(p)), 1e-12)
                                      for e, p in zip(ours["expected"], track["predicted"])), default=None),
    }))


def hillstrom(path):
    df = pd.read_csv(path)
    rates = df.groupby("segment")["visit"].mean()
    print(json.dumps({"customers": len(df), "visit_rate": {k: float(v) for k, v in rates.items()}}))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"mart": mart, "lifetimes": lifetimes_fit, "hillstrom": hillstrom}[cmd](*args)
