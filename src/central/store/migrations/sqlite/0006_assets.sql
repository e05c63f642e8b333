-- Assets (sqlite): the units' information systems with their level (1-5,
-- Decree 85/2016), addresses and owner; incidents that touch one name it,
-- take a severity raised by its level, and are marked serious.
CREATE TABLE assets (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    name TEXT NOT NULL UNIQUE,
    addresses TEXT NOT NULL,
    owner TEXT NOT NULL,
    level INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
ALTER TABLE incidents ADD COLUMN asset TEXT;
ALTER TABLE incidents ADD COLUMN serious INTEGER NOT NULL DEFAULT 0;
