-- Sensor fleet (SQLite): credential expiry, health from heartbeats, the
-- command channel and versioned rule bundles. Keep in step with ../postgres.
ALTER TABLE sensors ADD COLUMN enrol_expires_at INTEGER;
ALTER TABLE sensors ADD COLUMN secret_expires_at INTEGER;
ALTER TABLE sensors ADD COLUMN last_heartbeat INTEGER;
ALTER TABLE sensors ADD COLUMN health TEXT;
ALTER TABLE sensors ADD COLUMN state TEXT NOT NULL DEFAULT 'new';
CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    sensor_id INTEGER NOT NULL REFERENCES sensors(id),
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    delivered_at INTEGER,
    done_at INTEGER,
    status TEXT NOT NULL,
    result TEXT
);
CREATE INDEX commands_sensor ON commands(sensor_id, status);
CREATE TABLE rule_bundles (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    files TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
