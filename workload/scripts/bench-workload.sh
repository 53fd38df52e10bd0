#!/usr/bin/env bash
# `just bench-workload`: CPU GEMM GFLOP/s of the workload's engine (faer)
# next to numpy's, on this machine, in the same run. numpy and threadpoolctl
# come from pip into a virtual environment under the Cargo target directory
# (${CARGO_TARGET_DIR:-target}, relative to the repository root or absolute).
# numpy runs with faer's thread count, and without OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE (workarounds for old OpenBLAS builds that slow a current
# one); everything else keeps them. With a GPU and CuPy, use
# `just gpu-check` for the GPU figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-target}
W="$T/release/workload"
VENV="$T/bench-venv"
SIZES=${SIZES:-512,1000,2000}
if [ ! -x "$W" ]; then
  echo "bench-workload: no $W (build it: cargo build --release --locked -p workload)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# A venv from before threadpoolctl was needed gets it now.
if ! "$VENV/bin/python" -c 'import numpy, threadpoolctl' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check numpy threadpoolctl
fi
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
"$W" gemm --backend cpu --sizes "$SIZES" --reps 10 > "$TMP"
# faer's thread count (--cpu-threads / WORKLOAD_CPU_THREADS, else the
# logical CPUs available to the process), for numpy's BLAS too.
THREADS=$("$VENV/bin/python" -c '
import json, sys
print(next(json.loads(l)["threads"] for l in open(sys.argv[1]) if l.startswith("{")))' "$TMP")
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
  "$VENV/bin/python" bench/numpy_gemm.py --sizes "$SIZES" --reps 10 --threads "$THREADS" >> "$TMP"
"$VENV/bin/python" - "$TMP" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
faer = {r["n"]: r for r in rows if r["engine"] == "faer"}
npy = {r["n"]: r for r in rows if r["engine"].startswith("numpy")}
f0, n0 = next(iter(faer.values())), next(iter(npy.values()))
blas = n0.get("blas") or {}
print(f"CPU SGEMM on {f0['device']}, median of 10 products")
print(f"  workload: faer, {f0['threads']} threads")
lib = (f"{blas.get('internal_api') or 'unknown BLAS'} {blas.get('version') or ''}".strip()
       + (f", kernel {blas['architecture']}" if blas.get("architecture") else "")
       + (f", {blas['threading_layer']} threading" if blas.get("threading_layer") else "")
       + (f" ({blas['filepath']})" if blas.get("filepath") else ""))
print(f"  peer:     {n0['engine']} with {lib}, {n0['threads']} threads")
if str(n0["threads"]) != str(f0["threads"]):
    print(f"  NOTE: thread counts differ (faer {f0['threads']}, numpy {n0['threads']})")
unset = [f"{v}={os.environ[v]!r}" for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
print(f"  unset for numpy's run only: {', '.join(unset) if unset else 'none set'}")
kept = [f"{v}={os.environ[v]!r}" for v in sorted(os.environ)
        if v.startswith("OPENBLAS_") and v not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")]
if kept:
    print(f"  kept for numpy's run: {', '.join(kept)}")
print(f"{'n':>6} {'workload (faer)':>16} {n0['engine']:>16} {'ratio':>6}  goal >= 0.9")
for n in sorted(faer):
    f, p = faer[n]["gflops"], npy[n]["gflops"]
    print(f"{n:>6} {f:>11.1f} GF/s {p:>11.1f} GF/s {f / p:>6.2f}  {'met' if f / p >= 0.9 else 'NOT met'}")
PY
