#!/usr/bin/env python3
"""The workload's per-request computation in CuPy, for comparison with the
Rust service on the same GPU (`just gpu-check`).

Identical computation to workload/src/compute/mod.rs: float32 n x n, inputs
from the same counter hash (so checksums are comparable), then per
iteration 4 GEMMs and 8 element-wise operations written as plain CuPy
expressions, the way the original service wrote them. Prints one JSON line
per timed request: size, iterations, seed, checksum, compute_ms.
"""
import argparse
import json
import sys
import time

import cupy as cp

_INIT = cp.ElementwiseKernel(
    "uint64 seed, uint64 matrix",
    "float32 out",
    """
    unsigned long long z = seed + matrix * 0xD1B54A32D192ED03ULL
                         + (unsigned long long)i * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    out = (float)(z >> 40) * (1.0f / 8388608.0f) - 1.0f;
    """,
    "workload_init",
)


def request(n, iterations, seed):
    """One request: returns the checksum (float64 sum of the final state)."""
    # The service is column-major: memory index k holds entry (k % n, k // n).
    # Filling C-ordered arrays by memory index therefore gives xt = Xᵀ and
    # wt = Wᵀ, and A = X·W becomes Aᵀ = Wᵀ·Xᵀ = wt @ xt: every product below
    # is written `wt @ …`, and the sum is unchanged by transposition.
    x = cp.empty((n, n), dtype=cp.float32)
    wt = cp.empty((n, n), dtype=cp.float32)
    _INIT(cp.uint64(seed), cp.uint64(0), x)
    _INIT(cp.uint64(seed), cp.uint64(1), wt)
    s = cp.float32(1.0 / (n ** 0.5))
    one = cp.float32(1.0)
    for _ in range(iterations):
        a = wt @ x
        a = cp.tanh(s * a)
        b = wt @ a
        b = s * b + a
        c = wt @ b
        c = one / (one + cp.exp(-s * c))
        d = wt @ c
        x = cp.tanh(s * d)
    return float(x.sum(dtype=cp.float64))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,1500,2000")
    p.add_argument("--iterations", default="20,100")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    iterations = [int(v) for v in args.iterations.split(",")]
    dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    for n in sizes:
        for it in iterations:
            request(n, it, args.seed)  # warm-up: plans, kernels, pool
            cp.cuda.Device().synchronize()
            for r in range(max(1, args.repeat)):
                seed = args.seed + r
                t = time.perf_counter()
                checksum = request(n, it, seed)
                ms = (time.perf_counter() - t) * 1e3
                print(json.dumps({"engine": "cupy", "device": dev, "size": n,
                                  "iterations": it, "seed": seed,
                                  "checksum": checksum, "compute_ms": ms}))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
