-- Assets (postgres): the units' information systems with their level (1-5,
-- Decree 85/2016), addresses and owner; incidents that touch one name it,
-- take a severity raised by its level, and are marked serious.
CREATE TABLE assets (
    id BIGSERIAL PRIMARY KEY,
    unit_id BIGINT NOT NULL REFERENCES units(id),
    name TEXT NOT NULL UNIQUE,
    addresses TEXT NOT NULL,
    owner TEXT NOT NULL,
    level BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE incidents ADD COLUMN asset TEXT;
ALTER TABLE incidents ADD COLUMN serious BIGINT NOT NULL DEFAULT 0;
