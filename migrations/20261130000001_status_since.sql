-- When each request entered its current status, for the metrics "oldest request in a
-- status" and "oldest in the waiting line" (alerts on requests stuck in one status).
-- Kept by a trigger, so every writer of the status (store::imports::update) keeps it
-- true without knowing of it.

ALTER TABLE import_requests ADD COLUMN status_since timestamptz NOT NULL DEFAULT now();
UPDATE import_requests SET status_since = updated_at;

CREATE FUNCTION import_requests_status_since() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_since := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER import_requests_status_since
    BEFORE UPDATE OF status ON import_requests
    FOR EACH ROW EXECUTE FUNCTION import_requests_status_since();

-- The metrics snapshot counts requests by status and environment and finds the oldest
-- of each from this index alone (an index-only scan), however many finished requests
-- the table holds.
CREATE INDEX import_requests_status_environment_since
    ON import_requests (status, environment, status_since);
