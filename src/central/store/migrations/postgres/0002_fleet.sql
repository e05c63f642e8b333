-- Sensor fleet (PostgreSQL): credential expiry, health from heartbeats, the
-- command channel and versioned rule bundles. Keep in step with ../sqlite.
ALTER TABLE sensors ADD COLUMN enrol_expires_at BIGINT;
ALTER TABLE sensors ADD COLUMN secret_expires_at BIGINT;
ALTER TABLE sensors ADD COLUMN last_heartbeat BIGINT;
ALTER TABLE sensors ADD COLUMN health TEXT;
ALTER TABLE sensors ADD COLUMN state TEXT NOT NULL DEFAULT 'new';
CREATE TABLE commands (
    id BIGSERIAL PRIMARY KEY,
    sensor_id BIGINT NOT NULL REFERENCES sensors(id),
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    delivered_at BIGINT,
    done_at BIGINT,
    status TEXT NOT NULL,
    result TEXT
);
CREATE INDEX commands_sensor ON commands(sensor_id, status);
CREATE TABLE rule_bundles (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    files TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
