-- Trials stopped before they completed (Ctrl-C, a backend failure). The
-- trial itself stays 'pending' with no rows, so a rerun redoes it; this
-- table keeps the record that it was aborted, when and why.
CREATE TABLE trial_aborts (
    trial_id    INTEGER NOT NULL REFERENCES trials (id),
    aborted_at  TEXT    NOT NULL,   -- RFC 3339 UTC
    reason      TEXT    NOT NULL
);
CREATE INDEX trial_aborts_trial ON trial_aborts (trial_id);
