-- Grouping and campaigns (sqlite): alerts join an open incident with the
-- same group key (by default the rule; configurable: source, destination);
-- a source seen against several units opens a campaign incident that the
-- unit incidents link to.
ALTER TABLE incidents ADD COLUMN group_key TEXT NOT NULL DEFAULT '';
UPDATE incidents SET group_key = 'rule=' || gid || ':' || signature_id;
CREATE INDEX incidents_group_key ON incidents(unit_id, group_key, status, last_seen);
ALTER TABLE incidents ADD COLUMN kind TEXT NOT NULL DEFAULT 'unit';
ALTER TABLE incidents ADD COLUMN campaign_id INTEGER;
CREATE INDEX alerts_src_ts ON alerts(src_ip, ts);
CREATE INDEX alerts_dest_ts ON alerts(dest_ip, ts);
