-- The escalation engine's own per-incident state (policy, level start times, page rounds, updates sent).
ALTER TABLE incidents ADD COLUMN escalation_state jsonb NOT NULL DEFAULT '{}'::jsonb;
