-- Playbooks (sqlite): CACAO 2.0 documents as imported; their runs for
-- incidents, persisted step by step so a restart resumes them; the tasks
-- their manual steps give people. Incidents gain category, TLP, tags and
-- the time the notification report was filed.
CREATE TABLE playbooks (
    id INTEGER PRIMARY KEY,
    cacao_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    labels TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE playbook_runs (
    id INTEGER PRIMARY KEY,
    playbook_id INTEGER NOT NULL REFERENCES playbooks(id),
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    parent_step INTEGER,
    status TEXT NOT NULL,
    variables TEXT NOT NULL,
    error TEXT,
    started_by TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE INDEX playbook_runs_incident ON playbook_runs(incident_id);
CREATE TABLE run_steps (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES playbook_runs(id),
    step_id TEXT NOT NULL,
    parent INTEGER,
    status TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    deadline INTEGER,
    iteration INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER
);
CREATE INDEX run_steps_run ON run_steps(run_id, id);
CREATE INDEX run_steps_status ON run_steps(status, not_before);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    run_step_id INTEGER NOT NULL UNIQUE REFERENCES run_steps(id),
    run_id INTEGER NOT NULL REFERENCES playbook_runs(id),
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
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
    due_at INTEGER,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    done_by TEXT
);
CREATE INDEX tasks_status ON tasks(status, unit_id);
ALTER TABLE incidents ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN tlp TEXT NOT NULL DEFAULT 'amber';
ALTER TABLE incidents ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE incidents ADD COLUMN reported_at INTEGER;
