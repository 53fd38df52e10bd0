#!/bin/sh
# Container entry point: `serve` listens on all interfaces (the Kubernetes
# Service routes to the pod IP); any other sub-command runs as given, e.g.
# `docker run --gpus all IMAGE calibrate`.
set -eu
if [ "${1:-serve}" = "serve" ]; then
  [ $# -gt 0 ] && shift
  exec /usr/local/bin/workload serve --bind "${WORKLOAD_BIND:-0.0.0.0:8000}" "$@"
fi
exec /usr/local/bin/workload "$@"
