#!/usr/bin/env python3
"""Benchmark: TreeSHAP contributions of a churn model, segmint against LightGBM's
`predict(pred_contrib=True)` on the same model (segmint's model.txt), in one run.

usage: python bench/shap_bench.py [--customers 20000] [--rows 0] [--threads 1,2] [--repeat 3]
                                 [--no-build]

Run it with a Python that has the segmint package (release wheel) and ../shared/bench's
requirements (LightGBM 4). Generates the reference data (gen_data.py, seed 42) into
$BENCH_CACHE/data like bench.py, trains `segmint predict churn --folds 0` once with the release
CLI (not timed), then explains `--rows` rows of its features.parquet (0: the test split; more
than the test split: the first rows in file order) with each engine in a fresh process per run
(threads: RAYON_NUM_THREADS for segmint, `num_threads` for LightGBM), interleaved, `--repeat`
times. `seconds`: the contribution call alone (the features already in memory as a float64
matrix / DataFrame), median over the repeats. At the end both results are compared (max absolute
difference over every row and column, bias included). Quiet machine only: no build meanwhile.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH = os.environ.get("SEGMINT_BENCH_DIR", os.path.join(REPO, "..", "shared", "bench"))


def rows_of(model_dir, rows):
    import pandas as pd

    df = pd.read_parquet(os.path.join(model_dir, "features.parquet"))
    if rows == 0:
        df = df[df["split"] == "test"]
    else:
        df = df.head(rows)
    names = json.load(open(os.path.join(model_dir, "model.json")))["model"]["features"]
    return df[names].reset_index(drop=True)


def worker(engine, model_dir, rows, threads, save=None):
    import numpy as np

    x = rows_of(model_dir, rows)
    if engine == "segmint":
        import segmint

        model = segmint.predict.Model.load(os.path.join(model_dir, "model.json"))
        t0 = time.perf_counter()
        c = model.contributions(x)
        seconds = time.perf_counter() - t0
        out = np.column_stack([c.to_numpy(), np.full(len(x), model.expected_value)])
    else:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=os.path.join(model_dir, "model.txt"))
        xm = x.to_numpy(dtype="float64")
        t0 = time.perf_counter()
        out = booster.predict(xm, pred_contrib=True, num_threads=threads)
        seconds = time.perf_counter() - t0
    if save:
        np.save(save, out)
    print(json.dumps({"engine": engine, "rows": len(x), "threads": threads, "seconds": seconds}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=0, help="rows to explain (0: the test split)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-build", action="store_true", help="use target/release/segmint as it is")
    ap.add_argument("--worker", nargs=4, metavar=("ENGINE", "DIR", "ROWS", "THREADS"), help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        engine, d, rows, threads = args.worker
        return worker(engine, d, int(rows), int(threads), args.save)
    cache = os.environ.get("BENCH_CACHE", "/tmp/analytics-bench")
    data = os.path.join(cache, "data", f"n{args.customers}_s42")
    if not os.path.exists(os.path.join(data, "meta.json")):
        print(f"generating {args.customers} customers -> {data}", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(BENCH, "gen_data.py"), "--customers", str(args.customers),
                        "--seed", "42", "--out", data + ".partial"], check=True, stdout=subprocess.DEVNULL)
        os.replace(data + ".partial", data)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "segmint-cli"], cwd=REPO, check=True)
    exe = os.path.join(REPO, "target", "release", "segmint")
    model_dir = os.path.join(cache, f"shap_churn_n{args.customers}")
    if not os.path.exists(os.path.join(model_dir, "model.txt")):
        subprocess.run([exe, "predict", "churn", "--data", data, "--folds", "0", "--quiet", "--out", model_dir],
                       check=True, stdout=subprocess.DEVNULL)
    import lightgbm
    import segmint

    print(json.dumps({"task": "env", "cpus": os.cpu_count(), "segmint": segmint.__version__,
                      "lightgbm": lightgbm.__version__, "customers": args.customers, "model": model_dir}), flush=True)

    def run(engine, threads, save=None):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        cmd = [sys.executable, __file__, "--worker", engine, model_dir, str(args.rows), str(threads)]
        if save:
            cmd += ["--save", save]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    for threads in [int(t) for t in args.threads.split(",")]:
        secs = {"segmint": [], "lightgbm": []}
        rows = None
        for _ in range(args.repeat):
            for engine in secs:
                r = run(engine, threads)
                secs[engine].append(r["seconds"])
                rows = r["rows"]
        for engine, s in secs.items():
            print(json.dumps({"task": "treeshap", "engine": engine, "threads": threads, "rows": rows,
                              "seconds": round(statistics.median(s), 4), "seconds_min": round(min(s), 4),
                              "repeat": len(s)}), flush=True)
        print(json.dumps({"task": "treeshap", "threads": threads,
                          "lightgbm_over_segmint": round(statistics.median(secs["lightgbm"]) /
                                                         statistics.median(secs["segmint"]), 2)}), flush=True)
    import numpy as np

    a, b = os.path.join(model_dir, "segmint.npy"), os.path.join(model_dir, "lightgbm.npy")
    run("segmint", 2, a)
    run("lightgbm", 2, b)
    print(json.dumps({"task": "treeshap", "max_abs_difference": float(np.abs(np.load(a) - np.load(b)).max())}))


if __name__ == "__main__":
    main()
