-- Costs that do not grow with history. The scheduler's questions and the
-- metrics snapshot grouped or counted every request of a hosting account and
-- Region (or of the whole table) on each activation or scrape. Now:
--
-- * `placement_usage` holds each hosting account and Region's jobs in flight
--   and models held, kept by a trigger in the transaction that changes a
--   request's status or placement (the scheduler reads one row). Such changes
--   are the worker's, already serialised per placement by its job slots.
-- * `status_counts` holds the number of requests per status and environment,
--   in 32 shards chosen by the writing backend, so concurrent writers rarely
--   touch the same counter row; a reader sums at most statuses x
--   environments x 32 rows.
-- * The waiting line is read through a partial index on waiting requests,
--   and each team's last service through an index probe per waiting team.
-- * `waiting_positions` holds each waiting request's place in its line,
--   written by the scheduler when the line changes; reads look one up.

CREATE TABLE placement_usage (
    hosting_account text NOT NULL,
    region          text NOT NULL,
    -- submitting, importing
    in_flight       bigint NOT NULL DEFAULT 0,
    -- submitting, importing, verifying, completed, deleting
    models          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (hosting_account, region)
);

CREATE TABLE status_counts (
    status          text NOT NULL,
    environment     text NOT NULL,
    shard           smallint NOT NULL,
    requests        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (status, environment, shard)
);

CREATE TABLE waiting_positions (
    import_id       uuid PRIMARY KEY REFERENCES import_requests (id) ON DELETE CASCADE,
    hosting_account text NOT NULL,
    region          text NOT NULL,
    position        integer NOT NULL
);
CREATE INDEX waiting_positions_line ON waiting_positions (hosting_account, region, position);

CREATE INDEX import_requests_waiting ON import_requests (hosting_account, region, team, id)
    WHERE status = 'validating' AND preflight_passed IS TRUE;
CREATE INDEX import_requests_last_served ON import_requests (hosting_account, region, team, submitted_at)
    WHERE submitted_at IS NOT NULL;
CREATE INDEX import_requests_submitting ON import_requests (hosting_account, region, team)
    WHERE status = 'submitting';

CREATE FUNCTION placement_usage_add(account text, reg text, status text, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    in_flight integer := CASE WHEN status IN ('submitting', 'importing') THEN sign ELSE 0 END;
    models integer := CASE WHEN status IN ('submitting', 'importing', 'verifying', 'completed', 'deleting')
                           THEN sign ELSE 0 END;
BEGIN
    IF account IS NULL OR reg IS NULL OR models = 0 THEN
        RETURN;
    END IF;
    INSERT INTO placement_usage AS u (hosting_account, region, in_flight, models)
        VALUES (account, reg, in_flight, models)
        ON CONFLICT (hosting_account, region) DO UPDATE
        SET in_flight = u.in_flight + EXCLUDED.in_flight, models = u.models + EXCLUDED.models;
END;
$$;

CREATE FUNCTION status_counts_add(st text, env text, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_counts AS c (status, environment, shard, requests)
        VALUES (st, env, pg_backend_pid() % 32, sign)
        ON CONFLICT (status, environment, shard) DO UPDATE SET requests = c.requests + EXCLUDED.requests;
END;
$$;

CREATE FUNCTION import_requests_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.status IS NOT DISTINCT FROM NEW.status
       AND OLD.environment IS NOT DISTINCT FROM NEW.environment
       AND OLD.hosting_account IS NOT DISTINCT FROM NEW.hosting_account
       AND OLD.region IS NOT DISTINCT FROM NEW.region THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM status_counts_add(OLD.status, OLD.environment, -1);
        PERFORM placement_usage_add(OLD.hosting_account, OLD.region, OLD.status, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM status_counts_add(NEW.status, NEW.environment, 1);
        PERFORM placement_usage_add(NEW.hosting_account, NEW.region, NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER import_requests_count
    AFTER INSERT OR DELETE OR UPDATE OF status, environment, hosting_account, region
    ON import_requests
    FOR EACH ROW EXECUTE FUNCTION import_requests_count();

-- Recounts both tables from the requests: here, and after a bulk load made
-- with triggers off (`session_replication_role = replica`).
CREATE FUNCTION import_requests_recount() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE import_requests IN SHARE MODE;
    DELETE FROM placement_usage;
    INSERT INTO placement_usage (hosting_account, region, in_flight, models)
        SELECT hosting_account, region,
               count(*) FILTER (WHERE status IN ('submitting', 'importing')),
               count(*)
        FROM import_requests
        WHERE status IN ('submitting', 'importing', 'verifying', 'completed', 'deleting')
          AND hosting_account IS NOT NULL AND region IS NOT NULL
        GROUP BY hosting_account, region;
    DELETE FROM status_counts;
    INSERT INTO status_counts (status, environment, shard, requests)
        SELECT status, environment, 0, count(*) FROM import_requests GROUP BY status, environment;
END;
$$;

SELECT import_requests_recount();
