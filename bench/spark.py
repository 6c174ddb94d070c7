#!/usr/bin/env python3
"""In-process engine vs Spark Connect for `segmint mart` and `segmint rfm`.

    bench/spark.py --data DIR --spark-remote sc://127.0.0.1:15002 --spark-pid PID
                   [--partitions 200,8,2] [--repeat 2] [--segmint target/release/segmint]

For each task: the local engine at --threads 2, then `--engine spark` once per value of
spark.sql.shuffle.partitions (the first Spark run of a server warms its JVM and is reported
apart as `warmup`). Wall time is the best of --repeat; memory is segmint's peak RSS (local) and
the Spark server JVM's peak RSS so far (VmHWM of --spark-pid, which only grows). Every Spark
output is compared with the local one column by column (`identical`). One JSON line per run.
"""
import argparse
import json
import os
import resource
import subprocess
import tempfile
import time

import pyarrow.parquet as pq


def vm_hwm_mb(pid):
    """Peak RSS of a process and its children's java (the server script execs java)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def java_pid(pid):
    """The java process under the server script's pid (itself after exec)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "java":
                return pid
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for child in out:
            j = java_pid(int(child))
            if j:
                return j
    except OSError:
        pass
    return pid


def same_column(a, b):
    """Equal values; floats bit for bit (so -0.0 differs from 0.0)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_floating(a.type):
        x, y = a.to_numpy(), b.to_numpy()
        return x.shape == y.shape and np.array_equal(x.view(np.uint64), y.view(np.uint64))
    return a.equals(b)


def run(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    secs = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return secs, max(before, after) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--spark-remote", default="sc://127.0.0.1:15002")
    ap.add_argument("--spark-pid", type=int, required=True)
    ap.add_argument("--partitions", default="200,8,2")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--segmint", default="target/release/segmint")
    ap.add_argument("--tasks", default="mart,rfm")
    args = ap.parse_args()
    jpid = java_pid(args.spark_pid)
    tmp = tempfile.mkdtemp(prefix="segmint-spark-bench-")
    warm = True
    for task in args.tasks.split(","):
        local = os.path.join(tmp, f"{task}_local.parquet")
        best = min(run([args.segmint, "--threads", "2", "-q", task, "--data", args.data, "--out", local])
                   for _ in range(args.repeat))
        ref = pq.read_table(local)
        print(json.dumps({"task": task, "engine": "local", "threads": 2, "seconds": round(best[0], 3),
                          "peak_rss_mb": round(best[1]), "customers": ref.num_rows}), flush=True)
        for parts in args.partitions.split(","):
            out = os.path.join(tmp, f"{task}_spark_{parts}.parquet")
            cmd = [args.segmint, "-q", task, "--data", args.data, "--out", out, "--engine", "spark",
                   "--spark-remote", args.spark_remote, "--spark-conf", f"spark.sql.shuffle.partitions={parts}"]
            if warm:
                secs, _ = run(cmd)
                print(json.dumps({"task": task, "engine": "spark", "warmup": True, "seconds": round(secs, 3)}),
                      flush=True)
                warm = False
            times = [run(cmd)[0] for _ in range(args.repeat)]
            got = pq.read_table(out)
            same = got.schema == ref.schema and all(same_column(got.column(c), ref.column(c))
                                                    for c in ref.schema.names)
            print(json.dumps({"task": task, "engine": "spark", "shuffle_partitions": int(parts),
                              "seconds": round(min(times), 3), "server_peak_rss_mb": round(vm_hwm_mb(jpid) or 0),
                              "identical": same}), flush=True)


if __name__ == "__main__":
    main()
