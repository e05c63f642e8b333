-- Observables (postgres): addresses, domains, URLs, hashes and accounts taken
-- from an incident's alerts, with how often and when they were seen.
CREATE TABLE incident_observables (
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (incident_id, kind, value)
);
