#!/usr/bin/env python3
"""Benchmark: a task (the customer mart, RFM scores and segments, or k-means clusters) with segmint and the Python
peers on the same data, in one run.

usage: python bench/bench.py [--task mart|rfm|kmeans|churn|uplift|clv] [--customers 1000000] [--threads 1,2] [--repeat 3]

Needs ../shared/bench and a Python with its requirements.txt (run this script with that Python).
Generates the reference data with gen_data.py (seed 42) into $BENCH_CACHE/data (default
/tmp/analytics-bench, shared with run_peers.sh), builds segmint in release mode, then for each
thread count runs every engine --repeat times, interleaved, on a quiet machine (do not build or
run anything else meanwhile). Prints one JSON line per engine and thread count, then one line of
ratios per thread count:

* seconds: the engine's own "seconds" (read Parquet -> result in memory; excludes start-up and
  writing the output), median over the repeats (min also given);
* wall_s: the whole process (start-up, imports, writing); peak_rss_mb: /usr/bin/time's maximum
  resident set size of the whole process.
Peers: mart: pandas, DuckDB, Polars (peers/mart_*.py); rfm: pandas (peers/rfm_pandas.py, mart
included). Every engine runs at every thread count (BENCH_THREADS); pandas cannot use more than
one core. The outputs are compared: marts with compare_marts.py (equal values; float bit-identity
reported), RFM outputs row by row with pandas (every column, every row).
churn: LightGBM and scikit-learn's HistGradientBoosting (peers/churn_*.py: features, fit on the
70% split, test AUC, 5-fold CV); segmint trains on the peers' churn_features.parquet
(--train-table: the same features, split and folds) with the same settings, so `train_s` (the fit
on the 70% split) compares like for like; segmint's `seconds` also includes reading the table,
the logistic baseline, permutation importance and the output files, the peers' the feature
building from the raw files.
uplift: scikit-learn's T-learner (peers/uplift_sklearn.py) against `segmint compare` (three
discovery methods, validation, bootstrap, exports); after the timings, the planted-segment check
of the bench `uplift` task for both (testdata/planted_uplift.py on segmint's predicted_uplift).
clv: lifetimes (peers/clv_lifetimes.py: summary, BG/NBD and Gamma-Gamma fits, P(alive), expected
purchases in 52 weeks, expected order value) against `segmint clv` (the same, plus standard errors
and the 12-month CLV); `seconds` covers reading to predictions in memory on both sides; after the
timings, both fits' parameters and log-likelihoods side by side. The engine `segmint_interval`
(`--engines segmint,segmint_interval,lifetimes`) is `segmint clv --interval 0.9` (the delta
method): its ratio to `segmint` is the cost of the intervals.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH = os.environ.get("SEGMINT_BENCH_DIR", os.path.join(REPO, "..", "shared", "bench"))


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (last stdout line as JSON, wall seconds, peak RSS MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name] + cmd, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
        rss_kb = int(tf.read().strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, rss_kb / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["mart", "rfm", "kmeans", "churn", "uplift", "clv"], default="mart")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default=None, help="default: segmint and every peer of the task")
    args = ap.parse_args()
    task = args.task
    if args.engines is None:
        args.engines = {"mart": "segmint,duckdb,polars,pandas", "rfm": "segmint,pandas",
                        "kmeans": "segmint,sklearn", "churn": "lightgbm,sklearn,segmint",
                        "uplift": "segmint,sklearn", "clv": "segmint,lifetimes"}[task]
    cache = os.environ.get("BENCH_CACHE", "/tmp/analytics-bench")
    data = os.path.join(cache, "data", f"n{args.customers}_s42")
    if not os.path.exists(os.path.join(data, "meta.json")):
        print(f"generating {args.customers} customers -> {data}", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(BENCH, "gen_data.py"), "--customers", str(args.customers),
                        "--seed", "42", "--out", data + ".partial"], check=True, stdout=subprocess.DEVNULL)
        os.replace(data + ".partial", data)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "segmint-cli"], cwd=REPO, check=True)
    exe = os.path.join(REPO, "target", "release", "segmint")
    out_dir = tempfile.mkdtemp(prefix="segmint-bench-")
    engines = args.engines.split(",")
    env_info = {"task": "env", "cpus": os.cpu_count(), "python": sys.version.split()[0],
                "segmint": subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip(),
                "data": data, "customers": args.customers}
    print(json.dumps(env_info), flush=True)
    results = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ, BENCH_THREADS=str(threads))
        runs = {}
        for _ in range(args.repeat):
            for eng in engines:
                if eng == "segmint" and task == "churn":
                    cmd = [exe, "predict", "churn", "--threads", str(threads), "--quiet", "--json",
                           "--train-table", os.path.join(out_dir, "churn_features.parquet"),
                           "--out", os.path.join(out_dir, "churn_segmint")]
                elif eng == "segmint" and task == "uplift":
                    cmd = [exe, "compare", "--threads", str(threads), "--data", data, "--quiet", "--json",
                           "--out", os.path.join(out_dir, "uplift_segmint")]
                elif eng == "segmint_interval" and task == "clv":
                    cmd = [exe, "clv", "--threads", str(threads), "--data", data, "--quiet", "--json",
                           "--interval", "0.9", "--out", os.path.join(out_dir, "clv_segmint_interval.parquet")]
                elif eng == "segmint":
                    cmd = [exe, "cluster" if task == "kmeans" else task, "--threads", str(threads),
                           "--data", data, "--quiet", "--json",
                           "--out", os.path.join(out_dir, f"{task}_segmint.parquet")]
                    if task == "kmeans":
                        cmd += ["-k", "4", "--n-init", "10", "--silhouette-sample", "10000"]
                else:
                    script = f"{task}_{eng}.py" if task != "churn" or eng == "lightgbm" else "churn_sklearn.py"
                    cmd = [sys.executable, os.path.join(BENCH, "peers", script), "--data", data,
                           "--out", out_dir]
                rec, wall, rss = timed(cmd, env)
                runs.setdefault(eng, []).append((rec["seconds"], wall, rss, rec))
        for eng, rs in runs.items():
            secs = [r[0] for r in rs]
            line = {"task": task, "engine": eng, "threads": threads, "customers": rs[0][3].get("customers", rs[0][3].get("rows")),
                    "rows": rs[0][3].get("rows"), "seconds": round(statistics.median(secs), 3),
                    "seconds_min": round(min(secs), 3), "wall_s": round(statistics.median(r[1] for r in rs), 3),
                    "peak_rss_mb": round(statistics.median(r[2] for r in rs), 1), "repeat": len(rs),
                    "monetary_total": rs[0][3].get("monetary_total"),
                    "inertia": rs[0][3].get("inertia"), "silhouette": rs[0][3].get("silhouette")}
            if task == "churn":
                line.update(train_s=round(statistics.median(r[3]["train_seconds"] for r in rs), 3),
                            test_auc=rs[0][3]["test_auc"], cv_auc_mean=rs[0][3]["cv_auc_mean"])
            results[(eng, threads)] = line
            print(json.dumps(line), flush=True)
        if "segmint" in runs:
            s = results[("segmint", threads)]
            ratio = {"task": f"{task}_ratio", "threads": threads}
            for eng in runs:
                if eng != "segmint":
                    p = results[(eng, threads)]
                    ratio[f"{eng}_seconds_over_segmint"] = round(p["seconds"] / s["seconds"], 2)
                    ratio[f"{eng}_wall_over_segmint"] = round(p["wall_s"] / s["wall_s"], 2)
                    ratio[f"segmint_rss_over_{eng}"] = round(s["peak_rss_mb"] / p["peak_rss_mb"], 2)
                    if task == "churn":
                        ratio[f"{eng}_train_over_segmint"] = round(p["train_s"] / s["train_s"], 2)
                        ratio[f"auc_segmint_minus_{eng}"] = round(s["test_auc"] - p["test_auc"], 6)
            print(json.dumps(ratio), flush=True)
    files = [os.path.join(out_dir, f"{task}_{e}.parquet") for e in engines]
    if task == "mart":
        cmp = subprocess.run([sys.executable, os.path.join(BENCH, "peers", "compare_marts.py")] + files,
                             capture_output=True, text=True)
        print(cmp.stdout.strip(), flush=True)
    elif task == "churn":
        pass
    elif task == "clv":
        ours, theirs = runs["segmint"][0][3], runs["lifetimes"][0][3]
        print(json.dumps({"task": "clv_compare",
                          "bgnbd_segmint": {k: round(ours["bgnbd"][k], 6) for k in ("r", "alpha", "a", "b")},
                          "bgnbd_lifetimes": theirs["bgnbd"],
                          "bgnbd_loglik": [round(ours["bgnbd"]["log_likelihood"], 4), theirs["bgnbd_loglik"]],
                          "gg_segmint": {k: round(ours["gamma_gamma"][k], 6) for k in ("p", "q", "v")},
                          "gg_lifetimes": theirs["gg"],
                          "gg_loglik": [round(ours["gamma_gamma"]["log_likelihood"], 4), theirs["gg_loglik"]]}),
              flush=True)
    elif task == "uplift":
        check = subprocess.run([sys.executable, os.path.join(REPO, "testdata", "planted_uplift.py"), data,
                                os.path.join(out_dir, "uplift_segmint")], capture_output=True, text=True, check=True)
        ours = json.loads(check.stdout)
        for eng, rec in [("segmint", ours), ("sklearn", runs["sklearn"][0][3])]:
            line = {"task": "uplift_found", "engine": eng}
            for seg in ["planted_segment_a", "planted_segment_b"]:
                d = rec[seg]
                line[seg] = {"precision": round(d["precision"], 4), "recall": round(d["recall"], 4),
                             "found": d["precision"] >= 0.5 and d["recall"] >= 0.5}
            print(json.dumps(line), flush=True)
    elif task == "kmeans":
        import pandas as pd
        from sklearn.metrics import adjusted_rand_score
        a = pd.read_parquet(files[engines.index("segmint")])
        b = pd.read_parquet(files[engines.index("sklearn")])
        m = a.merge(b, on="customer_id", suffixes=("_segmint", "_sklearn"))
        si = results[("segmint", threads)]["inertia"]
        ki = results[("sklearn", threads)]["inertia"]
        print(json.dumps({"task": "kmeans_compare", "rows": len(m),
                          "ari_vs_sklearn": round(adjusted_rand_score(m["cluster_segmint"], m["cluster_sklearn"]), 6),
                          "inertia_rel_diff": (si - ki) / ki}), flush=True)
    else:
        import pandas as pd
        ref = pd.read_parquet(files[engines.index("pandas")])
        for e, f in zip(engines, files):
            if e != "pandas":
                got = pd.read_parquet(f)
                print(json.dumps({"task": "rfm_compare", "engine": e, "rows": len(got),
                                  "equal_to_pandas": bool(got.equals(ref))}), flush=True)


if __name__ == "__main__":
    main()
