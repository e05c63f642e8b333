-- Observables (sqlite): addresses, domains, URLs, hashes and accounts taken
-- from an incident's alerts, with how often and when they were seen.
CREATE TABLE incident_observables (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (incident_id, kind, value)
);
