-- The dataset: one SQLite file holds any number of campaigns.
-- Times (`*_s`) are seconds since the trial start; wall-clock times are
-- RFC 3339 UTC text. Every trial's rows are written in one transaction.

CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    config_toml   TEXT    NOT NULL,   -- the campaign file as read
    config_sha256 TEXT    NOT NULL,   -- over the file and its GPU profiles
    backend       TEXT    NOT NULL,   -- sim | local | k3s
    tool_version  TEXT    NOT NULL,
    host          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    UNIQUE (config_sha256, backend)
);

CREATE TABLE trials (
    id            INTEGER PRIMARY KEY,
    campaign_id   INTEGER NOT NULL REFERENCES campaigns (id),
    scenario      TEXT    NOT NULL,
    arm           TEXT    NOT NULL,
    load_profile  TEXT    NOT NULL,
    seed          INTEGER NOT NULL,
    run_order     INTEGER NOT NULL,   -- position in the randomised run order
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'complete')),
    duration_s    REAL    NOT NULL,
    warmup_s      REAL    NOT NULL,
    wait_mode     TEXT    NOT NULL,   -- spin | yield | blocking
    params_json   TEXT    NOT NULL,   -- scenario, GPU profiles, policy, load profile
    started_at    TEXT,
    finished_at   TEXT,
    wall_ms       REAL,               -- wall-clock time the trial took
    UNIQUE (campaign_id, scenario, arm, load_profile, seed)
);

CREATE TABLE requests (
    trial_id     INTEGER NOT NULL REFERENCES trials (id),
    id           INTEGER NOT NULL,
    user         INTEGER,            -- closed-loop user, NULL for open loop
    user_seq     INTEGER,
    scheduled_s  REAL    NOT NULL,
    sent_s       REAL    NOT NULL,
    started_s    REAL,               -- a worker took it; NULL if never
    finished_s   REAL    NOT NULL,   -- the client had its answer or gave up
    pod          INTEGER,
    size         INTEGER NOT NULL,
    iterations   INTEGER NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('ok', 'rejected', 'no_endpoint', 'timeout', 'oom', 'killed')),
    latency_ms   REAL    NOT NULL,   -- finished_s - scheduled_s
    PRIMARY KEY (trial_id, id)
) WITHOUT ROWID;

CREATE TABLE samples (
    trial_id         INTEGER NOT NULL REFERENCES trials (id),
    t_s              REAL    NOT NULL,
    desired          INTEGER NOT NULL,
    ready            INTEGER NOT NULL,
    pending          INTEGER NOT NULL,
    terminating      INTEGER NOT NULL,
    gpu_util_mean    REAL    NOT NULL,  -- percent, mean over the cluster's GPUs
    gpu_util_max     REAL    NOT NULL,
    gpu_mem_used_mib REAL    NOT NULL,
    gpu_power_w      REAL    NOT NULL,
    gpu_energy_j     REAL    NOT NULL,  -- cumulative since trial start
    cpu_cores        REAL    NOT NULL,
    cpu_pct_request  REAL    NOT NULL,
    in_flight        INTEGER NOT NULL,
    queued           INTEGER NOT NULL,
    offered          INTEGER NOT NULL,  -- requests sent in this second
    completed        INTEGER NOT NULL,  -- answered OK in this second
    failed           INTEGER NOT NULL,
    PRIMARY KEY (trial_id, t_s)
) WITHOUT ROWID;

CREATE TABLE pod_samples (
    trial_id        INTEGER NOT NULL REFERENCES trials (id),
    t_s             REAL    NOT NULL,
    pod             INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    ready           INTEGER NOT NULL,
    cpu_cores       REAL    NOT NULL,
    cpu_pct_request REAL    NOT NULL,
    gpu_util        REAL,
    in_flight       INTEGER NOT NULL,
    queued          INTEGER NOT NULL,
    avg_latency_ms  REAL,
    completed       INTEGER NOT NULL,
    PRIMARY KEY (trial_id, t_s, pod)
) WITHOUT ROWID;

CREATE TABLE gpu_samples (
    trial_id     INTEGER NOT NULL REFERENCES trials (id),
    t_s          REAL    NOT NULL,
    gpu          INTEGER NOT NULL,
    util_pct     REAL    NOT NULL,
    mem_used_mib REAL    NOT NULL,
    power_w      REAL    NOT NULL,
    contexts     INTEGER NOT NULL,
    PRIMARY KEY (trial_id, t_s, gpu)
) WITHOUT ROWID;

CREATE TABLE pods (
    trial_id    INTEGER NOT NULL REFERENCES trials (id),
    pod         INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    node        TEXT,
    gpu         INTEGER,
    created_s   REAL    NOT NULL,
    scheduled_s REAL,
    started_s   REAL,
    ready_s     REAL,
    deleted_s   REAL,
    exited_s    REAL,
    restarts    INTEGER NOT NULL,
    PRIMARY KEY (trial_id, pod)
) WITHOUT ROWID;

CREATE TABLE scaling_events (
    trial_id      INTEGER NOT NULL REFERENCES trials (id),
    seq           INTEGER NOT NULL,
    t_s           REAL    NOT NULL,
    from_replicas INTEGER NOT NULL,
    to_replicas   INTEGER NOT NULL,
    controller    TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    PRIMARY KEY (trial_id, seq)
) WITHOUT ROWID;

CREATE TABLE decisions (
    trial_id         INTEGER NOT NULL REFERENCES trials (id),
    seq              INTEGER NOT NULL,
    t_s              REAL    NOT NULL,
    controller       TEXT    NOT NULL,
    current_replicas INTEGER NOT NULL,
    desired_replicas INTEGER NOT NULL,
    reason           TEXT    NOT NULL,
    inputs_json      TEXT    NOT NULL,
    PRIMARY KEY (trial_id, seq)
) WITHOUT ROWID;

-- Per-trial latency percentiles (nearest rank) over successful requests
-- scheduled after the warm-up.
CREATE VIEW trial_latency AS
WITH ok AS (
    SELECT r.trial_id, r.latency_ms,
           ROW_NUMBER() OVER (PARTITION BY r.trial_id ORDER BY r.latency_ms) AS rn,
           COUNT(*)     OVER (PARTITION BY r.trial_id)                       AS n
    FROM requests r JOIN trials t ON t.id = r.trial_id
    WHERE r.outcome = 'ok' AND r.scheduled_s >= t.warmup_s
)
SELECT trial_id,
       AVG(latency_ms) AS latency_avg_ms,
       MIN(latency_ms) AS latency_min_ms,
       MAX(latency_ms) AS latency_max_ms,
       MIN(CASE WHEN rn >= 0.50 * n THEN latency_ms END) AS latency_p50_ms,
       MIN(CASE WHEN rn >= 0.95 * n THEN latency_ms END) AS latency_p95_ms,
       MIN(CASE WHEN rn >= 0.99 * n THEN latency_ms END) AS latency_p99_ms
FROM ok GROUP BY trial_id;

-- One row per complete trial with the original experiment's metrics, after
-- the warm-up.
CREATE VIEW trial_summary AS
SELECT t.id AS trial_id, t.campaign_id, t.scenario, t.load_profile, t.arm, t.seed,
       t.duration_s, t.warmup_s, t.wait_mode,
       s.pods_min, s.pods_max, s.pods_avg,
       s.gpu_util_avg, s.gpu_util_max, s.cpu_util_avg,
       l.latency_avg_ms, l.latency_min_ms, l.latency_max_ms,
       l.latency_p50_ms, l.latency_p95_ms, l.latency_p99_ms,
       q.total_requests, q.ok_requests, q.failed_requests,
       CASE WHEN q.total_requests > 0 THEN 1.0 * q.ok_requests / q.total_requests END AS success_rate,
       q.ok_requests / (t.duration_s - t.warmup_s) AS throughput_rps,
       (SELECT COUNT(*) FROM scaling_events e WHERE e.trial_id = t.id AND e.t_s >= t.warmup_s) AS scaling_events,
       s.gpu_energy_j
FROM trials t
JOIN (SELECT sm.trial_id,
             MIN(sm.ready) AS pods_min, MAX(sm.ready) AS pods_max, AVG(sm.ready) AS pods_avg,
             AVG(sm.gpu_util_mean) AS gpu_util_avg, MAX(sm.gpu_util_max) AS gpu_util_max,
             AVG(sm.cpu_pct_request) AS cpu_util_avg,
             MAX(sm.gpu_energy_j) - MIN(sm.gpu_energy_j) AS gpu_energy_j
      FROM samples sm JOIN trials tt ON tt.id = sm.trial_id
      WHERE sm.t_s > tt.warmup_s
      GROUP BY sm.trial_id) s ON s.trial_id = t.id
JOIN (SELECT r.trial_id,
             COUNT(*) AS total_requests,
             SUM(r.outcome = 'ok') AS ok_requests,
             SUM(r.outcome <> 'ok') AS failed_requests
      FROM requests r JOIN trials tt ON tt.id = r.trial_id
      WHERE r.scheduled_s >= tt.warmup_s
      GROUP BY r.trial_id) q ON q.trial_id = t.id
LEFT JOIN trial_latency l ON l.trial_id = t.id
WHERE t.status = 'complete';

-- Per-arm means over the trials of each campaign × scenario × load profile.
CREATE VIEW arm_summary AS
SELECT campaign_id, scenario, load_profile, arm,
       COUNT(*)            AS trials,
       AVG(pods_avg)       AS pods_avg,
       AVG(gpu_util_avg)   AS gpu_util_avg,
       AVG(cpu_util_avg)   AS cpu_util_avg,
       AVG(latency_avg_ms) AS latency_avg_ms,
       AVG(latency_p95_ms) AS latency_p95_ms,
       AVG(latency_p99_ms) AS latency_p99_ms,
       AVG(success_rate)   AS success_rate,
       AVG(throughput_rps) AS throughput_rps,
       AVG(scaling_events) AS scaling_events
FROM trial_summary
GROUP BY campaign_id, scenario, load_profile, arm;
