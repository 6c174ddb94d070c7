#!/usr/bin/env python3
"""Checks `segmint clv` output against lifetimes 0.11.3 at segmint's own parameters.

usage: clv_lifetimes_check.py DATA_DIR CLV_PARQUET CLV_JSON

Builds lifetimes' summary (summary_data_from_transaction_data, freq="D", freq_multiplier=7, purchase
rows only, observation end = calibration end of CLV_JSON) and compares it with segmint's; then loads
segmint's fitted parameters into BetaGeoFitter (ModifiedBetaGeoFitter, ParetoNBDFitter when the
prediction model is mbgnbd, pareto_nbd) / GammaGammaFitter and computes P(alive), expected
purchases over the horizon, expected average profit and customer_lifetime_value (freq "W", monthly
discount) with lifetimes, and prints one JSON line with the largest relative differences.
With a holdout in CLV_JSON it also compares calibration and holdout columns with lifetimes'
calibration_and_holdout_data on timestamps floored to days (lifetimes compares datetimes with the
end dates, so without flooring it leaves out the end days themselves; segmint includes them).
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

warnings.filterwarnings("ignore")


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def main():
    data, clv_path, meta_path = sys.argv[1:4]
    meta = json.load(open(meta_path))
    ours = pd.read_parquet(clv_path).set_index("customer_id")
    tx = pd.read_parquet(f"{data}/transactions.parquet", columns=["customer_id", "timestamp", "amount"])
    pos = tx[tx["amount"] > 0].copy()
    pos["timestamp"] = pos["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    end = pd.Timestamp(meta["calibration_end"])
    s = summary_data_from_transaction_data(pos, "customer_id", "timestamp", monetary_value_col="amount",
                                           freq="D", freq_multiplier=7, observation_period_end=end)
    s = s.reindex(ours.index)
    summary_ok = bool(len(s) == len(ours) and np.allclose(
        s[["frequency", "recency", "T", "monetary_value"]].to_numpy(),
        ours[["frequency", "recency", "T", "monetary_value"]].to_numpy(), rtol=0, atol=1e-9))
    model = meta.get("prediction_model", "bgnbd")
    bg = meta[model]
    gg = meta["gamma_gamma"]
    pr = meta["predictions"]
    if model == "pareto_nbd":
        bgf = ParetoNBDFitter()
        bgf.params_ = pd.Series({k: bg[k] for k in ("r", "alpha", "s", "beta")})
    else:
        bgf = ModifiedBetaGeoFitter() if model == "mbgnbd" else BetaGeoFitter()
        bgf.params_ = pd.Series({k: bg[k] for k in ("r", "alpha", "a", "b")})
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # as fit() sets it
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series({k: gg[k] for k in ("p", "q", "v")})
    f, r, T, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
    p_alive = bgf.conditional_probability_alive(f, r, T)
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(pr["horizon"], f, r, T)
    value = ggf.conditional_expected_average_profit(f, m)
    clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=pr["clv_months"],
                                      discount_rate=pr["discount_rate"], freq="W")
    holdout_ok = None
    if meta.get("holdout"):
        days = pos.copy()
        days["timestamp"] = days["timestamp"].dt.floor("D")
        c = calibration_and_holdout_data(days, "customer_id", "timestamp",
                                         calibration_period_end=meta["calibration_end"],
                                         observation_period_end=meta["holdout"]["holdout_end"],
                                         freq="D", freq_multiplier=7, monetary_value_col="amount")
        o = ours.reindex(c.index)
        pairs = [("frequency_cal", "frequency"), ("recency_cal", "recency"), ("T_cal", "T"),
                 ("monetary_value_cal", "monetary_value"), ("frequency_holdout", "frequency_holdout")]
        holdout_ok = bool(len(c) == len(ours) and not o.isna().any().any() and all(
            np.allclose(c[a].to_numpy(), o[b].to_numpy(), rtol=0, atol=1e-9) for a, b in pairs)
            and abs(c["duration_holdout"].iloc[0] - meta["holdout"]["duration"]) < 1e-12)
    dist_rel = None
    if meta.get("purchase_distribution") and model == "bgnbd":
        got = [d["probability"] for d in meta["purchase_distribution"]]
        want = [float(bgf.probability_of_n_purchases_up_to_time(pr["horizon"], k)) for k in range(len(got))]
        dist_rel = rel(got, want)
    print(json.dumps({
        "purchase_distribution_max_rel": dist_rel,
        "holdout_identical": holdout_ok,
        "summary_identical": summary_ok,
        "p_alive_max_rel": rel(ours["p_alive"], p_alive),
        "expected_purchases_max_rel": rel(ours["expected_purchases"], expected),
        "expected_order_value_max_rel": rel(ours["expected_order_value"], value),
        "clv_max_rel": rel(ours["clv"], clv),
        "customers": int(len(ours)),
    }))


if __name__ == "__main__":
    main()
