-- The readiness check: a request whose import job completed is `verifying`
-- while Ferry invokes the imported model, then `completed`.

ALTER TABLE import_requests DROP CONSTRAINT import_requests_status_check;
ALTER TABLE import_requests ADD CONSTRAINT import_requests_status_check CHECK (status IN (
    'pending_approval', 'queued', 'validating', 'submitting',
    'importing', 'verifying', 'completed', 'failed', 'rejected', 'cancelled',
    'deleting', 'deleted'));

-- A `verifying` request is worked on by the worker, and holds its imported model.
DROP INDEX import_requests_due;
CREATE INDEX import_requests_due ON import_requests (next_attempt_at)
    WHERE status IN ('queued', 'validating', 'submitting', 'importing', 'verifying', 'deleting');
DROP INDEX import_requests_placement;
CREATE INDEX import_requests_placement ON import_requests (hosting_account, region, status)
    WHERE status IN ('validating', 'submitting', 'importing', 'verifying', 'completed', 'deleting');
