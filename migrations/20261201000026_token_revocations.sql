-- Replicas cache token lookups for a few seconds. A revoked, expired-by-edit
-- or deleted token is announced to every replica, which drops its cache.
CREATE FUNCTION api_tokens_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ferry_tokens', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_notify
    AFTER UPDATE OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION api_tokens_notify();
