# Developer and user entry points. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

campaign := "data/campaigns/default.toml"
db := "data/trials.sqlite"

# List the recipes.
default:
    @just --list

# Run a campaign (default: the default campaign) on the embedded simulator.
run-trials campaign=campaign db=db:
    cargo run --release --locked -p bench -- run --campaign {{campaign}} --db {{db}}
    @echo "Dataset: {{db}}  (try: sqlite3 {{db}} 'SELECT * FROM arm_summary;'  schema: docs/dataset.md)"

# The local backend's smoke campaign for real (CPU workload processes, 4 x 20 s trials).
smoke-local db="local-smoke.sqlite":
    cargo build --release --locked -p workload -p bench
    ./target/release/bench run --backend local --workload-backend cpu --campaign data/campaigns/local-smoke.toml --db {{db}}

# Check a campaign file without running it.
check-campaign campaign=campaign:
    cargo run --release --locked -p bench -- check --campaign {{campaign}}

# Export one scenario x profile in the original experiment's JSON shape.
export scenario="original-gtx1650" profile="closed-20" out="results" db=db:
    cargo run --release --locked -p bench -- export --format original-json --db {{db}} --scenario {{scenario}} --profile {{profile}} --out {{out}}

# Replay JSON-lines observations through a policy file (shadow evaluation).
replay policy="data/policies/hpa-original.toml" observations="data/replay/example-observations.jsonl":
    cargo run --release --locked -p scaler -- replay --policy {{policy}} --observations {{observations}}

# Serve the report of a dataset on loopback.
report db=db bind="127.0.0.1:8080":
    cargo build --release --locked -p report
    @echo "Open http://{{bind}}/ (Ctrl-C stops)"
    ./target/release/report serve --db {{db}} --bind {{bind}}

# Write a static copy of the report (HTML + SVG + CSV) into a directory.
render db=db out="report-out":
    cargo run --release --locked -p report -- render --db {{db}} --out {{out}}

# The report's tables as JSON.
render-json db=db out="report.json":
    cargo run --release --locked -p report -- render --format json --db {{db}} --out {{out}}

# The served report in headless Chromium (needs: apt-get install chromium).
test-browser:
    cargo test --locked -p report --test browser -- --ignored

# Format check, clippy with warnings denied, and every test (what CI runs).
test:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo test --workspace --locked

# Simulator and dataset throughput (needs sqlite3 for the .import comparison).
bench-sim:
    cargo bench --locked -p bench --bench sim

# The local backend's load generator: send lag at 1,000 req/s and highest sustained rate, next to wrk/oha if installed.
bench-loadgen:
    cargo bench --locked -p bench --bench loadgen

# Report build and render time: default campaign and 1,000,000 request rows.
bench-report:
    cargo bench --locked -p report --bench render

# Format the code.
fmt:
    cargo fmt --all

# CPU GEMM GFLOP/s of the workload engine next to numpy's (pip, in target/bench-venv).
bench-workload:
    cargo build --release --locked -p workload
    workload/scripts/bench-workload.sh

# Serve the workload on loopback (CPU fallback when there is no GPU).
serve-workload bind="127.0.0.1:8000" backend="auto":
    cargo run --release --locked -p workload -- serve --bind {{bind}} --backend {{backend}}

# Measure this machine and write a simulator profile (GPU if usable, else CPU).
calibrate out="data/profiles/measured.toml":
    cargo run --release --locked -p workload -- calibrate --out {{out}}

# The gated GPU tests (need an NVIDIA GPU, its driver, cuBLAS and NVRTC).
test-gpu:
    cargo test --locked -p workload --test gpu -- --ignored

# Build the GPU-check bundle (release binary + scripts) in target/gpu-check.
gpu-check-bundle:
    cargo build --release --locked -p workload
    mkdir -p target/gpu-check
    cp target/release/workload workload/scripts/gpu-check.sh workload/scripts/gpu_check_summary.py bench/cupy_workload.py bench/numpy_gemm.py target/gpu-check/

# On a machine with an NVIDIA GPU: the GPU check (correctness, timings vs CuPy, NVML, calibrate).
gpu-check out="gpu-check-out": gpu-check-bundle
    target/gpu-check/gpu-check.sh target/gpu-check {{out}}
