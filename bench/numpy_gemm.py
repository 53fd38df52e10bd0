#!/usr/bin/env python3
"""numpy's float32 GEMM throughput, for `just bench-workload`: one JSON line
per size with the median of timed n x n products (after one warm-up).

Each line names the BLAS library numpy actually called, as threadpoolctl
sees it (library, version, kernel, thread count, file); without
threadpoolctl (the GPU-check host may lack it) the "blas" field is null and
"threads" falls back to OMP_NUM_THREADS or "default". `--threads N` limits
numpy's BLAS to N threads (needs threadpoolctl), to match the workload's
CPU engine."""
import argparse
import json
import os
import statistics
import time
from contextlib import nullcontext

import numpy as np

try:
    import threadpoolctl
except ImportError:  # the GPU-check host: report what can be known without it
    threadpoolctl = None


def blas_info():
    """The BLAS library numpy loaded (threadpoolctl's view), or None."""
    if threadpoolctl is None:
        return None
    libs = [r for r in threadpoolctl.threadpool_info() if r.get("user_api") == "blas"]
    if not libs:
        return None
    # Prefer the one shipped with or linked by numpy when several are loaded.
    np_dir = os.path.dirname(os.path.dirname(np.__file__))
    lib = next((r for r in libs if str(r.get("filepath", "")).startswith(np_dir)), libs[0])
    return {
        "internal_api": lib.get("internal_api"),
        "version": lib.get("version"),
        # OpenBLAS and BLIS name the kernel they picked; MKL does not.
        "architecture": lib.get("architecture") or lib.get("corename"),
        "threading_layer": lib.get("threading_layer"),
        "num_threads": lib.get("num_threads"),
        "filepath": os.path.basename(str(lib.get("filepath", ""))) or None,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="512,1000,2000")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for numpy (threadpoolctl); default: the library's own")
    args = p.parse_args()
    if args.threads is not None and threadpoolctl is None:
        p.error("--threads needs threadpoolctl (pip install threadpoolctl)")
    limit = (threadpoolctl.threadpool_limits(limits=args.threads, user_api="blas")
             if args.threads is not None else nullcontext())
    rng = np.random.default_rng(1)
    with limit:
        blas = blas_info()
        threads = (blas["num_threads"] if blas and blas["num_threads"] is not None
                   else os.environ.get("OMP_NUM_THREADS", "default"))
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
                              "threads": threads, "blas": blas,
                              "gflops": gflops}), flush=True)


if __name__ == "__main__":
    main()
