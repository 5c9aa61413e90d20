-- Ferry's system of record. Migrations are append-only: never edit one that
-- has been applied anywhere; add a new file instead.

CREATE TABLE import_requests (
    id              uuid PRIMARY KEY,           -- UUIDv7: sorts by creation time
    team            text NOT NULL,
    environment     text NOT NULL,
    source_uri      text NOT NULL,
    model_name      text NOT NULL,
    job_name        text NOT NULL,
    description     text,
    model_tags      jsonb NOT NULL DEFAULT '[]',
    job_tags        jsonb NOT NULL DEFAULT '[]',
    requested_by    text NOT NULL,              -- display name of the requester
    requester_id    text NOT NULL,              -- principal id (separation of duties)
    status          text NOT NULL CHECK (status IN (
                        'pending_approval', 'queued', 'validating', 'submitting',
                        'importing', 'completed', 'failed', 'rejected', 'cancelled',
                        'deleting', 'deleted')),
    conditions      jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Keyset pagination walks ids newest first, optionally within one filter.
CREATE INDEX import_requests_team_id ON import_requests (team, id DESC);
CREATE INDEX import_requests_environment_id ON import_requests (environment, id DESC);
CREATE INDEX import_requests_status_id ON import_requests (status, id DESC);

-- Bedrock refuses a second job of the same name, and a second imported model
-- of the same name, in one account: catch both before a job is ever created.
CREATE UNIQUE INDEX import_requests_job_name ON import_requests (environment, job_name);
CREATE UNIQUE INDEX import_requests_live_model_name ON import_requests (environment, model_name)
    WHERE status NOT IN ('failed', 'rejected', 'cancelled', 'deleted');

-- The audit trail: every state change, who made it and why. Append-only.
CREATE TABLE import_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id       uuid NOT NULL REFERENCES import_requests (id),
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor           text NOT NULL,
    kind            text NOT NULL,
    from_status     text,
    to_status       text,
    detail          jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX import_events_import_id ON import_events (import_id, id);

CREATE FUNCTION import_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'import_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER import_events_append_only
    BEFORE UPDATE OR DELETE ON import_events
    FOR EACH ROW EXECUTE FUNCTION import_events_append_only();

-- Bearer tokens. Only a SHA-256 of each token is kept: tokens are 256 random
-- bits, so a fast hash is enough and lookups stay a single index probe.
CREATE TABLE api_tokens (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('researcher', 'hosting', 'viewer', 'admin')),
    team            text,
    token_hash      bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    CHECK (role <> 'researcher' OR team IS NOT NULL)
);

-- Idempotency-Key records, scoped per principal, replayed until they expire.
CREATE TABLE idempotency_keys (
    principal       text NOT NULL,
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    response_status smallint NOT NULL,
    response_body   jsonb NOT NULL,
    resource_id     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
