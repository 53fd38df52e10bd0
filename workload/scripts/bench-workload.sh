#!/usr/bin/env bash
# `just bench-workload`: CPU GEMM GFLOP/s of the workload's engine (faer)
# next to numpy's, on this machine, in the same run. numpy comes from pip
# into a virtual environment under target/. With a GPU and CuPy, use
# `just gpu-check` for the GPU figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=target/release/workload
VENV=target/bench-venv
SIZES=${SIZES:-512,1000,2000}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check numpy
fi
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
"$W" gemm --backend cpu --sizes "$SIZES" --reps 10 > "$TMP"
"$VENV/bin/python" bench/numpy_gemm.py --sizes "$SIZES" --reps 10 >> "$TMP"
"$VENV/bin/python" - "$TMP" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
faer = {r["n"]: r for r in rows if r["engine"] == "faer"}
npy = {r["n"]: r for r in rows if r["engine"].startswith("numpy")}
dev = next(iter(faer.values()))["device"]
print(f"CPU SGEMM on {dev} ({next(iter(faer.values()))['threads']} threads), median of 10 products")
print(f"{'n':>6} {'workload (faer)':>16} {next(iter(npy.values()))['engine']:>16} {'ratio':>6}  goal >= 0.9")
for n in sorted(faer):
    f, p = faer[n]["gflops"], npy[n]["gflops"]
    print(f"{n:>6} {f:>11.1f} GF/s {p:>11.1f} GF/s {f / p:>6.2f}  {'met' if f / p >= 0.9 else 'NOT met'}")
PY
