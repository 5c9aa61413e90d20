-- The W3C traceparent of the API request that created an import, so the
-- worker's steps for it (and their AWS calls) join the same trace.
ALTER TABLE import_requests
    ADD COLUMN traceparent text
        CHECK (traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');
