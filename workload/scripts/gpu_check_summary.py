#!/usr/bin/env python3
"""Summarises a gpu-check output directory: GPU-vs-CPU agreement, Rust vs
CuPy per-request times, SGEMM as a share of FP32 peak, CPU GEMM vs numpy."""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

# Non-tensor FP32 peaks, TFLOP/s (vendor data sheets; docs/workload.md).
FP32_PEAK = [("H200", 67.0), ("H100 80GB HBM3", 66.9), ("H100 SXM", 66.9),
             ("H100 PCIe", 51.2), ("A100", 19.5), ("L4", 30.3), ("A10", 31.2),
             ("T4", 8.1), ("GTX 1650", 3.2)]


def lines(path):
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def main():
    out = Path(sys.argv[1])
    cmp = lines(out / "compare.jsonl")
    if cmp:
        worst = max(r["per_entry_diff"] for r in cmp)
        print(f"GPU vs CPU: {sum(r['agree'] for r in cmp)}/{len(cmp)} jobs agree; "
              f"largest |difference| per entry {worst:.3g} (tolerance 1e-4)")
    req = lines(out / "requests.jsonl")
    by = defaultdict(list)
    cpu = defaultdict(list)
    sums = {}
    for r in req:
        if "process_cpu_ms" in r:
            mode = r.get("wait_mode", "auto")
            cpu[(mode, r["size"], r["iterations"])].append(r["process_cpu_ms"] / r["compute_ms"])
        mode = r.get("wait_mode", "auto")
        eng = r.get("engine", "rust" if mode == "auto" else "rust-" + mode)
        by[(eng, r["size"], r["iterations"])].append(r["compute_ms"])
        sums[(eng, r["size"], r["iterations"], r["seed"])] = r["checksum"]
    print("per-request compute time, median ms (Rust = cuBLAS + fused NVRTC kernels; CuPy = plain expressions):")
    for (eng, n, it), ms in sorted(by.items()):
        if eng != "rust":
            continue
        cu = by.get(("cupy", n, it))
        line = f"  n={n} it={it}: rust {statistics.median(ms):.2f}"
        if cu:
            line += f", cupy {statistics.median(cu):.2f}, speed-up {statistics.median(cu) / statistics.median(ms):.2f}x"
        for mode in ("blocking-sync", "spin"):
            other = by.get(("rust-" + mode, n, it))
            if other:
                line += f", rust {mode} {statistics.median(other):.2f}"
        print(line)
    for (mode, n, it), share in sorted(cpu.items()):
        if n == 2000 and it == 100:
            print(f"  host CPU while computing n={n} it={it}, wait mode {mode}: "
                  f"{statistics.median(share):.2f} CPU-seconds per second")
    diffs = [abs(sums[k] - sums[("cupy",) + k[1:]]) / (k[1] * k[1])
             for k in sums if k[0] == "rust" and ("cupy",) + k[1:] in sums]
    if diffs:
        print(f"Rust vs CuPy checksums, same seeds: largest |difference| per entry {max(diffs):.3g} over {len(diffs)} jobs")
    gemm = lines(out / "gemm.jsonl")
    for r in gemm:
        if r.get("engine") == "cublas":
            peak = next((p for k, p in FP32_PEAK if k in r["device"]), None)
            share = f", {100 * r['gflops'] / 1000 / peak:.1f} % of the {peak} TFLOP/s FP32 peak" if peak else ""
            print(f"SGEMM n={r['n']}: {r['gflops'] / 1000:.2f} TFLOP/s{share} ({r['device']})")
    faer = {r["n"]: r["gflops"] for r in gemm if r.get("engine") == "faer"}
    npy = {r["n"]: r["gflops"] for r in gemm if str(r.get("engine", "")).startswith("numpy")}
    for n in sorted(faer):
        if n in npy:
            print(f"CPU GEMM n={n}: faer {faer[n]:.1f} GFLOP/s, numpy {npy[n]:.1f} GFLOP/s, ratio {faer[n] / npy[n]:.2f}")


if __name__ == "__main__":
    main()
