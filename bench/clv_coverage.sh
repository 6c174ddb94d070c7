#!/usr/bin/env bash
# Coverage of the CLV intervals on data with known BG/NBD parameters (the demo generator):
# for seeds 1..N, `segmint demo --customers C --seed S`, then `segmint clv` with a calibration
# period to 2025-06-30, a holdout to 2025-12-31 and `--interval 0.9 --interval-method M`; counts
# how often the 90% prediction interval (and the interval of the expectation) of the total
# holdout purchases holds the actual.
#
# usage: bench/clv_coverage.sh [N=40] [C=5000] [METHOD=delta]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-40}; customers=${2:-5000}; method=${3:-delta}
cargo build --release -q -p segmint-cli
exe=target/release/segmint
tmp=$(mktemp -d -t segmint-coverage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for seed in $(seq 1 "$n"); do
  "$exe" demo --customers "$customers" --seed "$seed" --out "$tmp/d" --quiet
  "$exe" clv --data "$tmp/d" --calibration-end 2025-06-30 --holdout-end 2025-12-31 \
    --interval 0.9 --interval-method "$method" --out "$tmp/c.parquet" --json --quiet > "$tmp/j$seed.json"
  rm -rf "$tmp/d"
done
python3 - "$tmp" "$n" "$customers" "$method" <<'PY'
import json, sys
tmp, n, customers, method = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
pi = ci = 0
ratio = []
for s in range(1, n + 1):
    t = json.load(open(f"{tmp}/j{s}.json"))["intervals"]["totals"]
    a, p, c = t["holdout_actual"], t["holdout_prediction"], t["holdout_purchases"]
    pi += p["lower"] <= a <= p["upper"]
    ci += c["lower"] <= a <= c["upper"]
    ratio.append(p["estimate"] / a)
print(json.dumps({"data_sets": n, "customers": int(customers), "method": method, "level": 0.9,
                  "prediction_interval_coverage": round(pi / n, 3),
                  "expectation_interval_coverage": round(ci / n, 3),
                  "mean_predicted_over_actual": round(sum(ratio) / n, 4)}))
PY
