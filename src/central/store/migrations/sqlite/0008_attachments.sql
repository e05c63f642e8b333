-- Attachments (sqlite): evidence files and generated reports kept with
-- the incident, with their SHA-256, size-limited by configuration.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE INDEX attachments_incident ON attachments(incident_id, id);
