-- Incident workflow (postgres): the status runs new → acknowledged → contained →
-- resolved → closed; who is on it; when each step was first reached; and a
-- timeline of everything that happened to the incident.
UPDATE incidents SET status = 'new' WHERE status = 'open';
ALTER TABLE incidents ADD COLUMN assignee TEXT;
ALTER TABLE incidents ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE incidents ADD COLUMN contained_at BIGINT;
ALTER TABLE incidents ADD COLUMN resolved_at BIGINT;
ALTER TABLE incidents ADD COLUMN closed_at BIGINT;
CREATE TABLE incident_timeline (
    id BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id, id);
