"""segmint.mart on a pandas DataFrame against the pandas peer's groupby, in one run.

  python bench/py_mart.py DATA_DIR [THREADS] [KIND]

DATA_DIR is written by ../shared/bench/gen_data.py. Runs, with THREADS (default 2) for both:
the peer ../shared/bench/peers/mart_pandas.py (its compute_s: the groupby only, read excluded),
then segmint.mart on the same transactions as a pandas frame (3 runs; the time includes the
pandas -> Arrow conversion), and the peak RSS of this process before and after (the frame's
own size beside it). KIND (pandas, polars or pyarrow; default pandas) is the frame handed to
segmint.mart: from Polars and pyarrow the columns go over the Arrow C stream without a copy, so
the peak RSS added is the engine's own work (the mart's tables). Needs the segmint wheel
installed in the running Python.
"""
import json
import os
import resource
import subprocess
import sys
import time

import pandas as pd


def main():
    data = sys.argv[1]
    threads = sys.argv[2] if len(sys.argv) > 2 else "2"
    kind = sys.argv[3] if len(sys.argv) > 3 else "pandas"
    bench = os.environ.get("SEGMINT_BENCH_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
    out = subprocess.run(
        [sys.executable, os.path.join(bench, "peers", "mart_pandas.py"), "--data", data, "--out", "/tmp/py_mart_peer"],
        check=True, capture_output=True, text=True, env={**os.environ, "BENCH_THREADS": threads},
    ).stdout.strip().splitlines()[-1]
    peer = json.loads(out)
    os.environ["RAYON_NUM_THREADS"] = threads
    import segmint

    path = os.path.join(data, "transactions.parquet")
    if kind == "polars":
        import polars as pl

        tx = pl.read_parquet(path)
        frame_mb = tx.estimated_size() / 1e6
    elif kind == "pyarrow":
        import pyarrow.parquet as pq

        tx = pq.read_table(path)
        frame_mb = tx.nbytes / 1e6
    else:
        tx = pd.read_parquet(path)
        frame_mb = tx.memory_usage(deep=True).sum() / 1e6
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    runs = []
    m = None
    for i in range(3):
        m = None  # the previous result is freed before the next run
        t = time.perf_counter()
        m = segmint.mart(tx)
        runs.append(time.perf_counter() - t)
        if i == 0:
            rss_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(json.dumps({
        "kind": kind, "rows": len(tx), "customers": len(m), "threads": int(threads),
        "pandas_compute_s": peer["compute_s"], "segmint_s": [round(r, 3) for r in runs],
        "speedup_best": round(peer["compute_s"] / min(runs), 1),
        "frame_mb": round(frame_mb),
        "peak_rss_mb_before": round(rss0), "peak_rss_mb_after_first": round(rss_first),
        "peak_rss_mb_after": round(rss1),
    }))


if __name__ == "__main__":
    main()
