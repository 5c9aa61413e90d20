-- The event feed without a lock held through every commit.
--
-- `event_feed_number` numbered each event at commit from one counter row, so
-- every transaction that carried an event held that row's lock through its
-- commit's WAL flush, and such commits went one at a time. Now an event only
-- marks itself pending (an insert that waits for nobody), and the sequencer,
-- `event_feed_sequence()`, numbers pending events after they commit: any
-- replica may run it; an advisory lock lets one run at a time, and one run
-- numbers every event committed before it with one commit of its own.
--
-- The feed keeps its promises. Positions stay dense integers (cursors and
-- `Last-Event-ID`s from before this change stay valid), assigned in the
-- order events become visible: an event committed before another is never
-- numbered after it, and events that became visible to the same run are
-- numbered in the order they were inserted (`import_events.id`), which keeps
-- one request's events in order, since each was written under the request's
-- row lock after the previous one committed. The head moves in the same
-- transaction as the numbers, so everything at or below it is final.
CREATE TABLE event_feed_pending (
    event_id    bigint PRIMARY KEY
);

DROP TRIGGER event_feed_number ON import_events;
DROP FUNCTION event_feed_number();

CREATE FUNCTION event_feed_pend() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_feed_pending (event_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER event_feed_pend
    AFTER INSERT ON import_events
    FOR EACH ROW EXECUTE FUNCTION event_feed_pend();

-- Numbers every committed pending event and returns the head. Without
-- pending events it writes nothing and takes no lock. Run it on its own
-- (autocommit): the lock and the numbers are released at its commit, which
-- also notifies `ferry_events` with the new head.
CREATE FUNCTION event_feed_sequence() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    before  bigint;
    taken   bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_feed_pending) THEN
        RETURN (SELECT last_seq FROM event_feed_head);
    END IF;
    -- 'ferry:event_feed' as an advisory lock key.
    PERFORM pg_advisory_xact_lock(7308863302390473217);
    -- Each statement below sees what committed before the lock was taken,
    -- the previous run's numbers included.
    SELECT last_seq INTO before FROM event_feed_head;
    WITH pending AS (
        DELETE FROM event_feed_pending RETURNING event_id
    )
    INSERT INTO event_feed (seq, event_id)
        SELECT before + row_number() OVER (ORDER BY event_id), event_id FROM pending;
    GET DIAGNOSTICS taken = ROW_COUNT;
    IF taken > 0 THEN
        UPDATE event_feed_head SET last_seq = before + taken;
        PERFORM pg_notify('ferry_events', (before + taken)::text);
    END IF;
    RETURN before + taken;
END;
$$;

