-- wardwatch incident store, PostgreSQL. Tables go into the connection's search_path schema.

CREATE TABLE incident_counters (
    year integer PRIMARY KEY,
    last bigint NOT NULL
);

CREATE TABLE incidents (
    id text PRIMARY KEY,
    number text NOT NULL UNIQUE,
    title text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    category text NOT NULL
        CHECK (category IN ('system_failure', 'network_outage', 'data_loss', 'security_event', 'other')),
    status text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    source text NOT NULL CHECK (source IN ('rule', 'trap', 'alertmanager', 'api', 'manual', 'drill')),
    fingerprint text NOT NULL,
    rule text NOT NULL,
    labels jsonb NOT NULL,
    assets jsonb NOT NULL,
    value double precision,
    summary text NOT NULL,
    description text NOT NULL,
    plan_url text,
    opened_at timestamptz NOT NULL,
    opened_by text NOT NULL,
    last_seen_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at timestamptz,
    resolved_by text,
    parent_id text REFERENCES incidents (id),
    flapping boolean NOT NULL DEFAULT false,
    escalation_level integer NOT NULL DEFAULT 0,
    last_escalated_at timestamptz,
    version integer NOT NULL DEFAULT 1
);

-- The dedup guarantee: at most one unresolved incident per fingerprint.
CREATE UNIQUE INDEX incidents_one_open_per_fingerprint ON incidents (fingerprint) WHERE status <> 'resolved';
CREATE INDEX incidents_status_opened ON incidents (status, opened_at);
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE timeline (
    id bigserial PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (id),
    at timestamptz NOT NULL,
    kind text NOT NULL,
    actor text NOT NULL,
    details jsonb NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

CREATE FUNCTION wardwatch_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER timeline_append_only BEFORE UPDATE OR DELETE ON timeline
    FOR EACH ROW EXECUTE FUNCTION wardwatch_append_only();

CREATE TABLE maintenance_windows (
    id text PRIMARY KEY,
    matchers jsonb NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    author text NOT NULL,
    reason text NOT NULL,
    created_at timestamptz NOT NULL,
    ended_at timestamptz,
    ended_by text,
    CHECK (starts_at < ends_at)
);
CREATE INDEX maintenance_windows_span ON maintenance_windows (ends_at, starts_at);

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    key text NOT NULL UNIQUE,
    incident_id text REFERENCES incidents (id),
    channel text NOT NULL,
    target text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'claimed', 'delivered', 'dead')),
    due_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    claimed_by text,
    claim_expires_at timestamptz,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX outbox_pending_due ON outbox (due_at) WHERE status = 'pending';
CREATE INDEX outbox_claimed_expiry ON outbox (claim_expires_at) WHERE status = 'claimed';
CREATE INDEX outbox_incident ON outbox (incident_id);

-- details is the exact canonical JSON text that was hashed (jsonb would re-format it).
CREATE TABLE audit_log (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    details text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION wardwatch_append_only();
