-- canhgac foundation schema (PostgreSQL). Times are microseconds since the Unix
-- epoch in BIGINT columns; booleans are 0/1. Keep in step with ../sqlite.
CREATE TABLE units (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id BIGINT REFERENCES units(id),
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    unit_id BIGINT NOT NULL REFERENCES units(id),
    created_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE sensors (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    unit_id BIGINT NOT NULL REFERENCES units(id),
    enrol_hash TEXT,
    secret_hash TEXT,
    created_at BIGINT NOT NULL,
    enrolled_at BIGINT,
    revoked_at BIGINT,
    last_seen BIGINT
);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    sensor_id BIGINT NOT NULL REFERENCES sensors(id),
    unit_id BIGINT NOT NULL REFERENCES units(id),
    event_type TEXT NOT NULL,
    ts BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_unit_ts ON events(unit_id, ts);
CREATE TABLE incidents (
    id BIGSERIAL PRIMARY KEY,
    unit_id BIGINT NOT NULL REFERENCES units(id),
    gid BIGINT NOT NULL,
    signature_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    severity BIGINT NOT NULL,
    status TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    alert_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX incidents_group ON incidents(unit_id, gid, signature_id, status, last_seen);
CREATE TABLE alerts (
    event_id TEXT PRIMARY KEY REFERENCES events(event_id),
    unit_id BIGINT NOT NULL REFERENCES units(id),
    sensor_id BIGINT NOT NULL REFERENCES sensors(id),
    ts BIGINT NOT NULL,
    gid BIGINT NOT NULL,
    signature_id BIGINT NOT NULL,
    rev BIGINT NOT NULL,
    signature TEXT NOT NULL,
    category TEXT NOT NULL,
    severity BIGINT NOT NULL,
    src_ip TEXT,
    src_port BIGINT,
    dest_ip TEXT,
    dest_port BIGINT,
    proto TEXT,
    drill TEXT,
    incident_id BIGINT NOT NULL REFERENCES incidents(id)
);
CREATE INDEX alerts_unit_ts ON alerts(unit_id, ts);
CREATE INDEX alerts_incident ON alerts(incident_id);
