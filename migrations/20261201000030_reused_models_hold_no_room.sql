-- A request that completed by reference to a model another request imported
-- (`reused_from`, one import per artifact) holds no model of its own, so it
-- takes no room in `placement_usage.models`: the count the scheduler reads
-- must agree with what `store::work::usage` counted before the counters
-- existed. The trigger now also fires when `reused_from` changes.

CREATE OR REPLACE FUNCTION placement_usage_add(account text, reg text, status text, reused uuid, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    in_flight integer := CASE WHEN status IN ('submitting', 'importing') AND reused IS NULL
                              THEN sign ELSE 0 END;
    models integer := CASE WHEN status IN ('submitting', 'importing', 'verifying', 'completed', 'deleting')
                                AND reused IS NULL
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

DROP FUNCTION placement_usage_add(text, text, text, integer);

CREATE OR REPLACE FUNCTION import_requests_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.status IS NOT DISTINCT FROM NEW.status
       AND OLD.environment IS NOT DISTINCT FROM NEW.environment
       AND OLD.hosting_account IS NOT DISTINCT FROM NEW.hosting_account
       AND OLD.region IS NOT DISTINCT FROM NEW.region
       AND OLD.reused_from IS NOT DISTINCT FROM NEW.reused_from THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM status_counts_add(OLD.status, OLD.environment, -1);
        PERFORM placement_usage_add(OLD.hosting_account, OLD.region, OLD.status, OLD.reused_from, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM status_counts_add(NEW.status, NEW.environment, 1);
        PERFORM placement_usage_add(NEW.hosting_account, NEW.region, NEW.status, NEW.reused_from, 1);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER import_requests_count ON import_requests;
CREATE TRIGGER import_requests_count
    AFTER INSERT OR DELETE OR UPDATE OF status, environment, hosting_account, region, reused_from
    ON import_requests
    FOR EACH ROW EXECUTE FUNCTION import_requests_count();

CREATE OR REPLACE FUNCTION import_requests_recount() RETURNS void
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
          AND reused_from IS NULL
          AND hosting_account IS NOT NULL AND region IS NOT NULL
        GROUP BY hosting_account, region;
    DELETE FROM status_counts;
    INSERT INTO status_counts (status, environment, shard, requests)
        SELECT status, environment, 0, count(*) FROM import_requests GROUP BY status, environment;
END;
$$;

SELECT import_requests_recount();
