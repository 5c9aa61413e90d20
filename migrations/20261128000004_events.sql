-- The event feed (SSE and webhooks): every import event numbered in commit
-- order, without gaps, so a reader that has seen `seq` N never later finds an
-- event numbered N or below. `import_events.id` cannot serve: identities are
-- handed out at insert, and transactions commit in another order.
--
-- Numbers are taken by a deferred trigger, at commit time, from one counter
-- row. Its row lock is held only from that moment to the commit, so numbering
-- serializes commits that carry events and nothing else; an aborted
-- transaction gives its number back with everything else.
CREATE TABLE event_feed (
    seq         bigint PRIMARY KEY,
    event_id    bigint NOT NULL UNIQUE REFERENCES import_events (id)
);

CREATE TABLE event_feed_head (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq    bigint NOT NULL
);

INSERT INTO event_feed (seq, event_id)
    SELECT row_number() OVER (ORDER BY id), id FROM import_events;
INSERT INTO event_feed_head (last_seq)
    SELECT count(*) FROM import_events;

CREATE FUNCTION event_feed_number() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
BEGIN
    UPDATE event_feed_head SET last_seq = last_seq + 1 RETURNING last_seq INTO next;
    INSERT INTO event_feed (seq, event_id) VALUES (next, NEW.id);
    -- Delivered at commit, to every replica's listener.
    PERFORM pg_notify('ferry_events', next::text);
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER event_feed_number
    AFTER INSERT ON import_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION event_feed_number();

CREATE TRIGGER event_feed_append_only
    BEFORE UPDATE OR DELETE ON event_feed
    FOR EACH ROW EXECUTE FUNCTION import_events_append_only();

-- Webhook subscriptions. The signing secret must be kept in the clear (HMAC
-- needs it); it is shown once, at creation or rotation, and never logged.
-- After a rotation the previous secret keeps signing too, until it expires,
-- so receivers can switch without dropping a delivery.
CREATE TABLE webhooks (
    id                  uuid PRIMARY KEY,
    url                 text NOT NULL,
    description         text,
    -- Empty: every event type.
    event_types         text[] NOT NULL DEFAULT '{}',
    secret              text NOT NULL,
    previous_secret     text,
    previous_expires_at timestamptz,
    -- The last feed event fanned out into deliveries.
    cursor_seq          bigint NOT NULL,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_secret IS NULL) = (previous_expires_at IS NULL))
);

-- The outbox: one row per message to one endpoint, written in the same
-- transaction that advances the endpoint's cursor, retried with backoff until
-- delivered or out of attempts. Its id is the `webhook-id` receivers dedupe on.
CREATE TABLE webhook_deliveries (
    id                  uuid PRIMARY KEY,
    webhook_id          uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq                 bigint,                 -- NULL for test pings
    event_type          text NOT NULL,
    payload             jsonb NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_expires_at    timestamptz,
    last_attempt_at     timestamptz,
    last_status_code    integer,
    last_error          text,
    delivered_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (webhook_id, seq)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);

-- Wake the dispatchers on every replica when a delivery is queued.
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ferry_webhooks', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_deliveries_notify
    AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify();
