-- Playbooks (postgres): CACAO 2.0 documents as imported; their runs for
-- incidents, persisted step by step so a restart resumes them; the tasks
-- their manual steps give people. Incidents gain category, TLP, tags and
-- the time the notification report was filed.
CREATE TABLE playbooks (
    id BIGSERIAL PRIMARY KEY,
    cacao_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    labels TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE playbook_runs (
    id BIGSERIAL PRIMARY KEY,
    playbook_id BIGINT NOT NULL REFERENCES playbooks(id),
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    parent_step BIGINT,
    status TEXT NOT NULL,
    variables TEXT NOT NULL,
    error TEXT,
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX playbook_runs_incident ON playbook_runs(incident_id);
CREATE TABLE run_steps (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES playbook_runs(id),
    step_id TEXT NOT NULL,
    parent BIGINT,
    status TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    deadline BIGINT,
    iteration BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT
);
CREATE INDEX run_steps_run ON run_steps(run_id, id);
CREATE INDEX run_steps_status ON run_steps(status, not_before);
CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    run_step_id BIGINT NOT NULL UNIQUE REFERENCES run_steps(id),
    run_id BIGINT NOT NULL REFERENCES playbook_runs(id),
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    unit_id BIGINT NOT NULL REFERENCES units(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    role TEXT NOT NULL,
    assignee TEXT,
    checklist TEXT NOT NULL,
    answer_var TEXT,
    answer_options TEXT NOT NULL,
    answer TEXT,
    evidence TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    due_at BIGINT,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    done_by TEXT
);
CREATE INDEX tasks_status ON tasks(status, unit_id);
ALTER TABLE incidents ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN tlp TEXT NOT NULL DEFAULT 'amber';
ALTER TABLE incidents ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE incidents ADD COLUMN reported_at BIGINT;
