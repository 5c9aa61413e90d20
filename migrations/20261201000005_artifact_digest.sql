-- One import per artifact: the content digest the preflight computed (see
-- ferry_domain::artifacts::ArtifactDigest), and, on a request that completed by
-- reference to a model another request imported, that request.

ALTER TABLE import_requests
    ADD COLUMN artifact_digest text,
    ADD COLUMN reused_from uuid REFERENCES import_requests (id);

-- The scheduler's question, asked under the placement lock: which request of the
-- environment imported (or is importing) a model of this digest?
CREATE INDEX import_requests_artifact_digest ON import_requests (environment, artifact_digest, id)
    WHERE artifact_digest IS NOT NULL AND reused_from IS NULL
      AND status IN ('submitting', 'importing', 'verifying', 'completed');
