-- Promotion: a request made from a completed one for another environment
-- (same artifact, same checks), so the lineage dev -> staging -> prod shows.
ALTER TABLE import_requests
    ADD COLUMN promoted_from uuid REFERENCES import_requests (id);

CREATE INDEX import_requests_promoted_from ON import_requests (promoted_from)
    WHERE promoted_from IS NOT NULL;
