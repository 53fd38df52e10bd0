-- The phases of each trial's periodic clocks (see bench/src/clocks.rs and
-- docs/dataset.md). Trials written before this migration have no rows here
-- and NULL pods.probe_phase_s: their clocks all started at fixed offsets.

CREATE TABLE trial_clocks (
    trial_id  INTEGER NOT NULL REFERENCES trials (id),
    clock     TEXT    NOT NULL,   -- 'controller', 'metrics_scrape', 'readiness_probe'
    scope     TEXT    NOT NULL,   -- 'seed': the same in every arm of a seed; 'arm': the arm's own
    period_s  REAL    NOT NULL,
    first_s   REAL,               -- first tick at or after t = 0; NULL for a per-pod clock
    PRIMARY KEY (trial_id, clock)
);

-- The pod's readiness-probe phase: its first probe comes this long after
-- container start + the probe's initial delay. NULL where the backend has no
-- probe ticker of its own (k8s: the kubelet's, not observed).
ALTER TABLE pods ADD COLUMN probe_phase_s REAL;
