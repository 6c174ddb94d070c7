"""Brier score, expected calibration error and ROC / precision-recall curve points of segmint's
test predictions, by scikit-learn, for the peer test `calibrate_isotonic_lowers_ece_20k`:
    python calibration_sklearn.py PREDICTIONS_PARQUET LABEL PREDICTION
Brier: sklearn.metrics.brier_score_loss. ECE: ten bins [0, .1), ..., [.9, 1.0] of the
probability, sum over bins of rows / n * |mean prediction - positive rate| (Guo et al. 2017,
eq. 3). Curves: sklearn.metrics.roc_curve(drop_intermediate=False) and
precision_recall_curve, as (x, y) pairs from the highest threshold down. Prints one JSON object.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, precision_recall_curve, roc_curve

path, label, pred = sys.argv[1:4]
df = pd.read_parquet(path)
df = df[df["split"] == "test"].reset_index(drop=True)
y, p = df[label].to_numpy(), df[pred].to_numpy()
ece = 0.0
for b in range(10):
    m = (p >= b / 10) & ((p < (b + 1) / 10) | (b == 9))
    if m.any():
        ece += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
precision, recall, _ = precision_recall_curve(y, p)
print(json.dumps({
    "brier": float(brier_score_loss(y, p)),
    "ece": float(ece),
    "roc": [[float(a), float(b)] for a, b in zip(fpr, tpr)],
    # sklearn lists the PR points from the lowest threshold and appends (recall 0, precision 1)
    "pr": [[float(a), float(b)] for a, b in zip(recall[-2::-1], precision[-2::-1])],
}))
