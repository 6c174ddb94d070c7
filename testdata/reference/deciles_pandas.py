"""Decile table (gain, lift, KS) and KS statistic of segmint's test predictions, by pandas and
scikit-learn, for the peer test `deciles_and_ks_equal_pandas_and_sklearn_20k`:
    python deciles_pandas.py PREDICTIONS_PARQUET LABEL PREDICTION
Definitions (segmint's metrics.json `test.deciles`): test rows sorted by PREDICTION, highest
first, ties in row order (stable sort); row at 0-based position r in decile floor(10 r / n) + 1.
KS statistic: max(tpr - fpr) over sklearn.metrics.roc_curve(drop_intermediate=False), the
threshold at numpy's argmax. Prints one JSON object.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

path, label, pred = sys.argv[1:4]
df = pd.read_parquet(path)
df = df[df["split"] == "test"].reset_index(drop=True)
df = df.sort_values(pred, ascending=False, kind="mergesort").reset_index(drop=True)
n = len(df)
df["decile"] = np.arange(n) * 10 // n + 1
g = df.groupby("decile")
t = pd.DataFrame({
    "rows": g.size(),
    "min_predicted": g[pred].min(),
    "max_predicted": g[pred].max(),
    "mean_predicted": g[pred].mean(),
    "total_actual": g[label].sum(),
})
t["mean_actual"] = t["total_actual"] / t["rows"]
mean = df[label].mean()
t["cumulative_gain"] = t["total_actual"].cumsum() / df[label].sum()
t["lift"] = t["mean_actual"] / mean
t["cumulative_lift"] = t["total_actual"].cumsum() / t["rows"].cumsum() / mean
binary = set(df[label].unique()) <= {0.0, 1.0}
out = {"deciles": t.reset_index().to_dict(orient="records")}
if binary:
    pos = df[label].sum()
    neg = n - pos
    cum_neg = (t["rows"] - t["total_actual"]).cumsum()
    for rec, k in zip(out["deciles"], (t["total_actual"].cumsum() / pos - cum_neg / neg)):
        rec["ks"] = k
    fpr, tpr, thr = roc_curve(df[label], df[pred], drop_intermediate=False)
    i = int(np.argmax(tpr - fpr))
    out["ks"] = float(tpr[i] - fpr[i])
    out["ks_threshold"] = float(thr[i])
print(json.dumps(out))
