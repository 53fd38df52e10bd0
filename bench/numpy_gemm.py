#!/usr/bin/env python3
"""numpy's float32 GEMM throughput, for `just bench-workload`: one JSON line
per size with the median of timed n x n products (after one warm-up)."""
import argparse
import json
import os
import statistics
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="512,1000,2000")
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    rng = np.random.default_rng(1)
    for n in (int(v) for v in args.sizes.split(",")):
        a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        c = np.empty((n, n), dtype=np.float32)
        np.matmul(a, b, out=c)
        times = []
        for _ in range(max(1, args.reps)):
            t = time.perf_counter()
            np.matmul(a, b, out=c)
            times.append(time.perf_counter() - t)
        gflops = 2 * n ** 3 / statistics.median(times) / 1e9
        print(json.dumps({"engine": "numpy " + np.__version__, "n": n,
                          "threads": os.environ.get("OMP_NUM_THREADS", "default"),
                          "gflops": gflops}))


if __name__ == "__main__":
    main()
