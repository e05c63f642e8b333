-- Drill incidents (postgres): incidents opened by drill-tagged alerts carry the
-- drill run id; they never merge with real incidents, and their playbook
-- actions that would reach outside (blocks, mail, webhooks, reports) are
-- simulated and shown.
ALTER TABLE incidents ADD COLUMN drill TEXT;
