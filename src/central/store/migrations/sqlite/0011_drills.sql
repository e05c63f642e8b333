-- Drill runs (sqlite): a scenario played for one unit, its state and the
-- record of what happened (injects sent, messages shown, the team's
-- answers, playbook actions, pauses); the score is kept when it ends.
CREATE TABLE drill_runs (
    id INTEGER PRIMARY KEY,
    scenario TEXT NOT NULL,
    title TEXT NOT NULL,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    paused_at INTEGER,
    paused_micros INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    score INTEGER,
    score_max INTEGER,
    breakdown TEXT
);
CREATE INDEX drill_runs_status ON drill_runs(status, start_at);
CREATE TABLE drill_events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES drill_runs(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    inject TEXT,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX drill_events_run ON drill_events(run_id, at);
