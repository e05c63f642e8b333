-- canhgac foundation schema (SQLite). Times are microseconds since the Unix
-- epoch in INTEGER columns; booleans are 0/1. Keep in step with ../postgres.
CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id INTEGER REFERENCES units(id),
    path TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    created_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE sensors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    enrol_hash TEXT,
    secret_hash TEXT,
    created_at INTEGER NOT NULL,
    enrolled_at INTEGER,
    revoked_at INTEGER,
    last_seen INTEGER
);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    sensor_id INTEGER NOT NULL REFERENCES sensors(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    event_type TEXT NOT NULL,
    ts INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_unit_ts ON events(unit_id, ts);
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    gid INTEGER NOT NULL,
    signature_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    severity INTEGER NOT NULL,
    status TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    alert_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX incidents_group ON incidents(unit_id, gid, signature_id, status, last_seen);
CREATE TABLE alerts (
    event_id TEXT PRIMARY KEY REFERENCES events(event_id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    sensor_id INTEGER NOT NULL REFERENCES sensors(id),
    ts INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    signature_id INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    signature TEXT NOT NULL,
    category TEXT NOT NULL,
    severity INTEGER NOT NULL,
    src_ip TEXT,
    src_port INTEGER,
    dest_ip TEXT,
    dest_port INTEGER,
    proto TEXT,
    drill TEXT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id)
);
CREATE INDEX alerts_unit_ts ON alerts(unit_id, ts);
CREATE INDEX alerts_incident ON alerts(incident_id);
