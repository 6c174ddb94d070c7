#!/usr/bin/env python3
"""Reference fits of the CLV models that the bench peer does not run, with lifetimes 0.11.3.

usage: clv_lifetimes_models.py DATA_DIR [CALIBRATION_END]  > clv_lifetimes_models_n20000_s42.json

Summary as peers/clv_lifetimes.py (purchase rows, freq="D", freq_multiplier=7), then
ModifiedBetaGeoFitter (MBG/NBD) and ParetoNBDFitter with penalizer_coef=0, tol 1e-10. lifetimes'
own Pareto/NBD log-likelihood overflows to -inf on the week data (it fits on rescaled time), so
only its parameters are recorded. Prints the
parameters and the total log-likelihood on the week data (lifetimes fits on rescaled time; the
log-likelihood is recomputed unscaled).
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd
import lifetimes
from lifetimes import ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

warnings.filterwarnings("ignore")


def main():
    data = sys.argv[1]
    end = pd.Timestamp(sys.argv[2] if len(sys.argv) > 2 else json.load(open(f"{data}/meta.json"))["end_date"])
    tx = pd.read_parquet(f"{data}/transactions.parquet", columns=["customer_id", "timestamp", "amount"])
    pos = tx[tx["amount"] > 0].copy()
    pos["timestamp"] = pos["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    s = summary_data_from_transaction_data(pos, "customer_id", "timestamp", monetary_value_col="amount",
                                           freq="D", freq_multiplier=7, observation_period_end=end)
    f, r, T = s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy()
    n = len(s)
    out = {"source": f"lifetimes {lifetimes.__version__}, testdata/reference/clv_lifetimes_models.py",
           "calibration_end": str(end.date()), "customers": n}
    mbg = ModifiedBetaGeoFitter(penalizer_coef=0.0).fit(f, r, T, tol=1e-10)
    p = mbg.params_[["r", "alpha", "a", "b"]].to_numpy(dtype=float)
    ll = -n * float(ModifiedBetaGeoFitter._negative_log_likelihood(np.log(p), f, r, T, np.ones(n), 0.0))
    out["mbgnbd"] = {**{k: float(v) for k, v in zip(["r", "alpha", "a", "b"], p)}, "log_likelihood": ll}
    pnbd = ParetoNBDFitter(penalizer_coef=0.0).fit(f, r, T, tol=1e-10)
    out["pareto_nbd"] = {k: float(pnbd.params_[k]) for k in ("r", "alpha", "s", "beta")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
