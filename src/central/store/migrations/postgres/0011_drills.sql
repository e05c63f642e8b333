-- Drill runs (postgres): a scenario played for one unit, its state and the
-- record of what happened (injects sent, messages shown, the team's
-- answers, playbook actions, pauses); the score is kept when it ends.
CREATE TABLE drill_runs (
    id BIGSERIAL PRIMARY KEY,
    scenario TEXT NOT NULL,
    title TEXT NOT NULL,
    unit_id BIGINT NOT NULL REFERENCES units(id),
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    paused_at BIGINT,
    paused_micros BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    score BIGINT,
    score_max BIGINT,
    breakdown TEXT
);
CREATE INDEX drill_runs_status ON drill_runs(status, start_at);
CREATE TABLE drill_events (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES drill_runs(id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    inject TEXT,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX drill_events_run ON drill_events(run_id, at);
