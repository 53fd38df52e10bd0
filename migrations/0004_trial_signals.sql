-- The signal pipelines of each trial: for every per-pod signal its policy
-- reads, the sample-and-hold stages between the pod and the policy (see
-- bench/src/trial/signal.rs and docs/dataset.md). Trials written before
-- this migration have no rows here.

CREATE TABLE trial_signals (
    trial_id  INTEGER NOT NULL REFERENCES trials (id),
    signal    TEXT    NOT NULL,   -- 'cpu_usage', 'gpu_utilization', 'in_flight', 'avg_latency'
    stage     INTEGER NOT NULL,   -- position in the pipeline, 0 nearest the pod
    name      TEXT    NOT NULL,   -- 'metrics_server', 'device_sampler', 'pod_endpoint'
    period_s  REAL,               -- seconds between samples; NULL: read when the policy ticks
    first_s   REAL,               -- samples at first_s + k * period_s; NULL: not known or no period
    window_s  REAL,               -- seconds each value covers; NULL: instantaneous or not known
    emulated  INTEGER NOT NULL,   -- 1: applied by the bench; 0: the backend's own, real stage
    PRIMARY KEY (trial_id, signal, stage)
);
