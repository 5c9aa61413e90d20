-- The import pipeline: worker leases, preflight reports, Bedrock job tracking,
-- per-account scheduling and a shared AWS call budget.

ALTER TABLE import_requests
    -- Where the job runs: copied from the environment so scheduling can group
    -- by hosting account and Region (Bedrock's quotas are per account+Region).
    ADD COLUMN hosting_account   text,
    ADD COLUMN region            text,
    -- Each retry of a failed request is a new attempt with a new job name and
    -- client request token; the history stays in the event log.
    ADD COLUMN attempt           integer NOT NULL DEFAULT 1,
    -- Lease: a worker owns the row until lease_expires_at. Work is due at
    -- next_attempt_at.
    ADD COLUMN lease_owner       text,
    ADD COLUMN lease_expires_at  timestamptz,
    ADD COLUMN next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    -- Consecutive retryable failures (throttling, 5xx), for backoff.
    ADD COLUMN retries           integer NOT NULL DEFAULT 0,
    ADD COLUMN polls             integer NOT NULL DEFAULT 0,
    ADD COLUMN preflight         jsonb,
    ADD COLUMN preflight_passed  boolean,
    ADD COLUMN bedrock_job_arn   text,
    ADD COLUMN imported_model_arn text,
    ADD COLUMN imported_model    jsonb,
    ADD COLUMN failure_message   text,
    ADD COLUMN submitted_at      timestamptz,
    ADD COLUMN finished_at       timestamptz;

-- What workers poll for.
CREATE INDEX import_requests_due ON import_requests (next_attempt_at)
    WHERE status IN ('queued', 'validating', 'submitting', 'importing', 'deleting');
-- Slots in use and the waiting line, per hosting account and Region.
CREATE INDEX import_requests_placement ON import_requests (hosting_account, region, status)
    WHERE status IN ('validating', 'submitting', 'importing', 'completed', 'deleting');

-- A token bucket per hosting account and Region, shared by every replica,
-- capping Ferry's call rate to the AWS APIs.
CREATE TABLE call_budgets (
    account     text NOT NULL,
    region      text NOT NULL,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account, region)
);

-- Wake workers on every replica when there is new work or a slot frees up.
CREATE FUNCTION import_requests_notify_work() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ferry_work', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER import_requests_notify_insert
    AFTER INSERT ON import_requests
    FOR EACH ROW EXECUTE FUNCTION import_requests_notify_work();

CREATE TRIGGER import_requests_notify_status
    AFTER UPDATE OF status ON import_requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION import_requests_notify_work();
