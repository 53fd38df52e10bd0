# Developer and user entry points. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

campaign := "data/campaigns/default.toml"
db := "data/trials.sqlite"
backend := "sim"

# List the recipes.
default:
    @just --list

# Run a campaign on a backend: `just run-trials`, `just run-trials backend=k8s`, `just run-trials CAMPAIGN DB BACKEND` (sim: the embedded simulator; local; k8s: `just deploy` first, campaign k8s-original by default).
run-trials *args:
    #!/usr/bin/env bash
    set -euo pipefail
    campaign=""; db="{{db}}"; backend="{{backend}}"; pos=0
    for a in {{args}}; do
      case "$a" in
        campaign=*) campaign="${a#campaign=}" ;;
        db=*) db="${a#db=}" ;;
        backend=*) backend="${a#backend=}" ;;
        *=*) echo "run-trials: unknown argument \`$a\` (campaign=, db=, backend=)" >&2; exit 2 ;;
        *) case $pos in
             0) campaign="$a" ;; 1) db="$a" ;; 2) backend="$a" ;;
             *) echo "run-trials: too many arguments (CAMPAIGN DB BACKEND)" >&2; exit 2 ;;
           esac; pos=$((pos + 1)) ;;
      esac
    done
    if [ -z "$campaign" ]; then
      if [ "$backend" = k8s ]; then campaign=data/campaigns/k8s-original.toml; else campaign="{{campaign}}"; fi
    fi
    cargo run --release --locked -p bench -- run --backend "$backend" --campaign "$campaign" --db "$db"
    echo "Dataset: $db  (try: sqlite3 $db 'SELECT * FROM arm_summary;'  schema: docs/dataset.md)"

# The policy zoo (data/campaigns/zoo.toml) on the simulator: every policy the bench emulates on the default campaign's load, then `just report data/zoo.sqlite`.
run-zoo db="data/zoo.sqlite":
    cargo run --release --locked -p bench -- run --campaign data/campaigns/zoo.toml --db {{db}}
    @echo "Dataset: {{db}}  (report: just report {{db}}; schema: docs/dataset.md)"

# The local backend's smoke campaign for real (CPU workload processes, 4 x 20 s trials), then its per-trial figures (utilisation, reaction to the step).
smoke-local db="local-smoke.sqlite":
    cargo build --release --locked -p workload -p bench
    "${CARGO_TARGET_DIR:-target}/release/bench" run --backend local --workload-backend cpu --campaign data/campaigns/local-smoke.toml --db {{db}}
    "${CARGO_TARGET_DIR:-target}/release/bench" summary --db {{db}}

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
    "${CARGO_TARGET_DIR:-target}/release/report" serve --db {{db}} --bind {{bind}}

# Write a static copy of the report (HTML + SVG + CSV) into a directory.
render db=db out="report-out":
    cargo run --release --locked -p report -- render --db {{db}} --out {{out}}

# The report's tables as JSON.
render-json db=db out="report.json":
    cargo run --release --locked -p report -- render --format json --db {{db}} --out {{out}}

# The served report in headless Chromium (needs: apt-get install chromium).
test-browser:
    cargo test --locked -p report --test browser -- --ignored

# Format check, clippy with warnings denied, every test, and the manifests' validation (what CI runs).
test: check-manifests
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo test --workspace --locked

# Validate every manifest in k8s/ against Kubernetes' schemas (kubernetes-validate from PyPI, in a venv under the target dir).
check-manifests:
    #!/usr/bin/env bash
    set -euo pipefail
    venv="${CARGO_TARGET_DIR:-target}/k8s-validate-venv"
    if [ ! -x "$venv/bin/kubernetes-validate" ]; then
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
    fi
    files=$(find k8s -name '*.yaml' | sort)
    # The newest schemas, and the oldest API level the Rust client is built for.
    for version in 1.37 1.33; do
      "$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" $files
    done
    echo "k8s manifests valid against Kubernetes 1.37 and 1.33: $(echo $files | wc -w) files (kustomization.yaml and the ClusterPolicy CRD have no schema there; the bench tests check both)"

# Put the manifests (k8s/base) on the cluster of the current kubeconfig context and wait for the rollout.
deploy context="":
    cargo run --release --locked -p bench -- deploy {{ if context == "" { "" } else { "--context " + context } }}

# Cluster-wide, once per cluster: the GPU Operator's time-slicing config (6 per GPU) and the ClusterPolicy reference.
gpu-operator-timeslicing:
    kubectl apply --server-side --field-manager=userscale-bench -f k8s/gpu-operator/time-slicing-config.yaml
    kubectl apply --server-side --field-manager=userscale-bench -f k8s/gpu-operator/cluster-policy.yaml

# Build the workload and scaler images, import them into k3s's containerd (on the k3s node; the tarballs go to the target dir) and print their digests as a kustomize `images` block, to pin them.
k3s-images:
    #!/usr/bin/env bash
    set -euo pipefail
    t="${CARGO_TARGET_DIR:-target}"
    docker build -f workload/Dockerfile -t userscale/workload:0.1.0 .
    docker build -f scaler/Dockerfile -t userscale/scaler:0.1.0 .
    mkdir -p "$t"
    docker save userscale/workload:0.1.0 -o "$t/workload-image.tar"
    docker save userscale/scaler:0.1.0 -o "$t/scaler-image.tar"
    sudo k3s ctr images import "$t/workload-image.tar"
    sudo k3s ctr images import "$t/scaler-image.tar"
    # The digests containerd holds: to run exactly these images, add this
    # block to k8s/base/kustomization.yaml (the bench's renderer and
    # `kubectl apply -k` both apply it).
    echo "images:"
    for img in workload scaler; do
      d=$(sudo k3s ctr images ls "name==docker.io/userscale/$img:0.1.0" | awk 'NR == 2 { print $3 }')
      printf '  - name: userscale/%s\n    digest: %s\n' "$img" "$d"
    done

# A short campaign on the cluster (2 x 30 s trials): checks the k8s backend end to end.
smoke-k8s db="k8s-smoke.sqlite":
    cargo run --release --locked -p bench -- run --backend k8s --campaign data/campaigns/k8s-smoke.toml --db {{db}}

# The gated cluster tests: bench deploy + the smoke campaign on the current kubeconfig context (or BENCH_K8S_CONTEXT); needs the images on the cluster.
test-cluster:
    cargo test --locked -p bench --test k8s_cluster -- --ignored --nocapture

# Remove the bench's namespace (both arms, the HPA, the scaler) from the cluster.
undeploy:
    kubectl delete namespace userscale --ignore-not-found

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

# CPU GEMM GFLOP/s of the workload engine next to numpy's, same thread count, OPENBLAS_CORETYPE/L2_SIZE unset for numpy (pip numpy + threadpoolctl in the target dir's bench-venv).
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

# Build the GPU-check bundle (release binary + scripts) in the target dir's gpu-check/ (target/gpu-check unless CARGO_TARGET_DIR is set).
gpu-check-bundle:
    #!/usr/bin/env bash
    set -euo pipefail
    t="${CARGO_TARGET_DIR:-target}"
    cargo build --release --locked -p workload
    mkdir -p "$t/gpu-check"
    cp "$t/release/workload" workload/scripts/gpu-check.sh workload/scripts/gpu_check_summary.py bench/cupy_workload.py bench/numpy_gemm.py "$t/gpu-check/"

# On a machine with an NVIDIA GPU: the GPU check (correctness, timings vs CuPy, NVML, calibrate).
gpu-check out="gpu-check-out": gpu-check-bundle
    "${CARGO_TARGET_DIR:-target}/gpu-check/gpu-check.sh" "${CARGO_TARGET_DIR:-target}/gpu-check" {{out}}
