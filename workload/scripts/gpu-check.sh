#!/usr/bin/env bash
# The GPU check: runs on a machine with an NVIDIA GPU, its driver, the CUDA
# libraries (cuBLAS, NVRTC), Python with CuPy and numpy, and no Rust
# toolchain or network. Uses the bundle `just gpu-check-bundle` makes.
#
#   gpu-check.sh BUNDLE_DIR OUT_DIR
#
# Writes into OUT_DIR: compare.jsonl (GPU vs CPU checksums), requests.jsonl
# (Rust service engine vs CuPy, same jobs and seeds), gemm.jsonl (SGEMM),
# service.txt (/metrics and /metrics.json of a live service, drain on
# SIGTERM), profile.toml (workload calibrate) and summary.txt.
set -uo pipefail
BUNDLE=$(cd "${1:?usage: gpu-check.sh BUNDLE_DIR OUT_DIR}" && pwd)
OUT=${2:?usage: gpu-check.sh BUNDLE_DIR OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W="$BUNDLE/workload"
SIZES=${GPU_CHECK_SIZES:-1000,1500,2000}
ITERS=${GPU_CHECK_ITERATIONS:-20,100}
REPEAT=${GPU_CHECK_REPEAT:-5}
PY=${PYTHON:-python3}
FAILED=0
say() { echo "== $*" | tee -a "$OUT/summary.txt"; }
step() { # name, command...
  local name=$1; shift
  say "$name"
  if ! "$@"; then say "FAILED: $name"; FAILED=1; fi
}

# The service is built against CUDA 12.8's API and loads libcublas and
# libnvrtc by their unversioned or CUDA-12 names. Where only other
# versions' files exist (a CUDA 13 toolkit, or pip's nvidia-* wheels), link
# unversioned names to them.
LIBDIR="$OUT/.libs"; mkdir -p "$LIBDIR"
for lib in cublas cublasLt nvrtc nvrtc-builtins; do
  found=$(ldconfig -p 2>/dev/null | awk -v l="lib$lib.so" '$1 ~ "^"l"(\\.[0-9]+)*$" {print $NF; exit}')
  if [ -z "$found" ]; then
    found=$( { ls /usr/local/cuda/lib64/lib$lib.so* 2>/dev/null;
               $PY -c 'import site,glob;[print(p) for s in site.getsitepackages() for p in glob.glob(s+"/nvidia/*/lib/lib'"$lib"'.so*")]' 2>/dev/null; } | head -n1)
  fi
  [ -n "$found" ] && ln -sf "$found" "$LIBDIR/lib$lib.so"
done
export LD_LIBRARY_PATH="$LIBDIR:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,clocks.max.sm --format=csv 2>&1
  ls -l "$LIBDIR"
  $PY -c 'import cupy, numpy; print("cupy", cupy.__version__, "numpy", numpy.__version__)' 2>&1
} > "$OUT/environment.txt"
cat "$OUT/environment.txt" >> "$OUT/summary.txt"

step "GPU vs CPU checksums" sh -c "'$W' compare --sizes 16,100,256,1000 --iterations 1,20,100 > '$OUT/compare.jsonl'"
step "Rust engine, per-request timings" sh -c "'$W' run --backend gpu --sizes $SIZES --iterations $ITERS --repeat $REPEAT > '$OUT/requests.jsonl'"
step "Rust engine, blocking-sync and spin wait" sh -c "'$W' run --backend gpu --wait-mode blocking-sync --sizes 2000 --iterations 100 --repeat $REPEAT >> '$OUT/requests.jsonl' && '$W' run --backend gpu --wait-mode spin --sizes 2000 --iterations 100 --repeat $REPEAT >> '$OUT/requests.jsonl'"
step "CuPy, same jobs" sh -c "$PY '$BUNDLE/cupy_workload.py' --sizes $SIZES --iterations $ITERS --repeat $REPEAT >> '$OUT/requests.jsonl'"
step "SGEMM rate" sh -c "'$W' gemm --backend gpu --sizes 1000,2000,4096,8192 --reps 10 > '$OUT/gemm.jsonl'"
step "CPU GEMM vs numpy on this host" sh -c "'$W' gemm --backend cpu --sizes 512,1000,2000 >> '$OUT/gemm.jsonl' && $PY '$BUNDLE/numpy_gemm.py' --sizes 512,1000,2000 >> '$OUT/gemm.jsonl'"

service_check() {
  local port=18431 log="$OUT/service.txt"
  "$W" serve --backend gpu --bind 127.0.0.1:$port --workers 2 > "$log.stderr" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
    sleep 0.1
  done
  {
    echo "--- /readyz"; curl -s "http://127.0.0.1:$port/readyz"; echo
    echo "--- POST /compute x12 (size 2000, 100 iterations), concurrent, 2 workers"
    for s in $(seq 1 12); do
      curl -s -X POST -H 'content-type: application/json' \
        -d "{\"size\":2000,\"iterations\":100,\"seed\":$s}" "http://127.0.0.1:$port/compute" > "$log.c$s" &
    done
    sleep 1.3
    echo "--- /metrics.json under load"; curl -s "http://127.0.0.1:$port/metrics.json"; echo
    echo "--- /metrics under load"; curl -s "http://127.0.0.1:$port/metrics"
    wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
    cat "$log".c*; echo
    echo "--- 422"; curl -s -X POST -d '{"size":0,"iterations":1}' "http://127.0.0.1:$port/compute"; echo
    echo "--- SIGTERM during a request"
    curl -s -X POST -d '{"size":4000,"iterations":200,"seed":9}' "http://127.0.0.1:$port/compute" > "$log.inflight" &
    local cpid=$!
    sleep 0.3
    kill -TERM $pid
    sleep 0.1
    echo "readyz while draining: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")"
    wait $cpid; echo "in-flight answer: $(cat "$log.inflight")"
    wait $pid; echo "service exit code: $?"
    echo "--- service log"; cat "$log.stderr"
  } > "$log" 2>&1
  grep -q 'service exit code: 0' "$log" && grep -q '"backend":"gpu"' "$log"
}
step "Live service (NVML metrics, drain on SIGTERM)" service_check

step "workload calibrate" sh -c "'$W' calibrate --backend gpu --out '$OUT/profile.toml' 2>> '$OUT/summary.txt'"

step "Summary" $PY "$BUNDLE/gpu_check_summary.py" "$OUT" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $FAILED
