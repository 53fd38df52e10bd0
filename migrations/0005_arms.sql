-- The arms of each campaign: every policy it compares, which of them is the
-- baseline the others are compared against, and the arms' display order
-- (see docs/dataset.md). Campaigns written before this migration get their
-- arms from their trials: kind from the policy each trial recorded, the arm
-- named 'hpa' as baseline (else the first by name), positions by name with
-- the baseline first.

CREATE TABLE arms (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    name        TEXT    NOT NULL,   -- the arm's name, as in trials.arm
    kind        TEXT    NOT NULL,   -- the policy's kind: 'hpa', 'userscale', 'hpa-gpu', ...
    position    INTEGER NOT NULL,   -- 0 for the baseline, then the other arms by name
    baseline    INTEGER NOT NULL CHECK (baseline IN (0, 1)),
    policy_json TEXT    NOT NULL,   -- the arm's policy, without the replica bounds (they are the scenario's)
    PRIMARY KEY (campaign_id, name),
    UNIQUE (campaign_id, position)
);

INSERT INTO arms (campaign_id, name, kind, position, baseline, policy_json)
WITH found AS (
    SELECT campaign_id, arm,
           MIN(json_extract(params_json, '$.policy.kind')) AS kind,
           MIN(json_extract(params_json, '$.policy')) AS policy
    FROM trials GROUP BY campaign_id, arm
),
base AS (
    SELECT campaign_id,
           COALESCE(MAX(CASE WHEN arm = 'hpa' THEN arm END), MIN(arm)) AS arm
    FROM found GROUP BY campaign_id
)
SELECT f.campaign_id, f.arm, COALESCE(f.kind, f.arm),
       CASE WHEN f.arm = b.arm THEN 0
            ELSE 1 + (SELECT COUNT(*) FROM found o
                       WHERE o.campaign_id = f.campaign_id AND o.arm <> b.arm AND o.arm < f.arm)
       END,
       f.arm = b.arm, COALESCE(json_remove(f.policy, '$.min_replicas', '$.max_replicas'), '{}')
FROM found f JOIN base b ON b.campaign_id = f.campaign_id;
