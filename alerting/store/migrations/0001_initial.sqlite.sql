-- wardwatch incident store, SQLite. Times are fixed-width UTC text ('2026-11-28T04:52:00.000000Z'), which sorts
-- like the instant; JSON is text.

CREATE TABLE incident_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    category TEXT NOT NULL
        CHECK (category IN ('system_failure', 'network_outage', 'data_loss', 'security_event', 'other')),
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    source TEXT NOT NULL CHECK (source IN ('rule', 'trap', 'alertmanager', 'api', 'manual', 'drill')),
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    assets TEXT NOT NULL,
    value REAL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    plan_url TEXT,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at TEXT,
    resolved_by TEXT,
    parent_id TEXT REFERENCES incidents (id),
    flapping INTEGER NOT NULL DEFAULT 0,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    last_escalated_at TEXT,
    version INTEGER NOT NULL DEFAULT 1
);

-- The dedup guarantee: at most one unresolved incident per fingerprint.
CREATE UNIQUE INDEX incidents_one_open_per_fingerprint ON incidents (fingerprint) WHERE status <> 'resolved';
CREATE INDEX incidents_status_opened ON incidents (status, opened_at);
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'timeline is append-only');
END;
CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'timeline is append-only');
END;

CREATE TABLE maintenance_windows (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    ended_at TEXT,
    ended_by TEXT,
    CHECK (starts_at < ends_at)
);
CREATE INDEX maintenance_windows_span ON maintenance_windows (ends_at, starts_at);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    incident_id TEXT REFERENCES incidents (id),
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'delivered', 'dead')),
    due_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claim_expires_at TEXT,
    last_error TEXT,
    delivered_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_pending_due ON outbox (due_at) WHERE status = 'pending';
CREATE INDEX outbox_claimed_expiry ON outbox (claim_expires_at) WHERE status = 'claimed';
CREATE INDEX outbox_incident ON outbox (incident_id);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
