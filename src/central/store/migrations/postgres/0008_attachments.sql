-- Attachments (postgres): evidence files and generated reports kept with
-- the incident, with their SHA-256, size-limited by configuration.
CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL,
    added_by TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE INDEX attachments_incident ON attachments(incident_id, id);
