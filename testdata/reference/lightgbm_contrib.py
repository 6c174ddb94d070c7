"""LightGBM's own predictions and TreeSHAP contributions for a segmint model.txt.

Run by the peer test `lightgbm_loads_model_txt_and_agrees_on_contributions_20k`:
    python lightgbm_contrib.py MODEL_TXT FEATURES_PARQUET OUT_PARQUET
Loads MODEL_TXT with lightgbm.Booster, takes the test rows of FEATURES_PARQUET (segmint's
features.parquet, column `split`), and writes `predict` and `predict(pred_contrib=True)` (one
column per feature, then `expected_value`) for them into OUT_PARQUET.
"""
import sys

import lightgbm as lgb
import pandas as pd

model, features, out = sys.argv[1:4]
booster = lgb.Booster(model_file=model)
df = pd.read_parquet(features)
df = df[df["split"] == "test"].reset_index(drop=True)
names = booster.feature_name()
x = df[names].to_numpy(dtype="float64")
res = pd.DataFrame({"prediction": booster.predict(x)})
contrib = booster.predict(x, pred_contrib=True)
for j, n in enumerate(names):
    res[f"contrib_{n}"] = contrib[:, j]
res["expected_value"] = contrib[:, len(names)]
res.to_parquet(out)
print(f'{{"rows": {len(res)}, "lightgbm": "{lgb.__version__}"}}')
