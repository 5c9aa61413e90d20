-- The audit trail names the credential behind each event, not only its
-- chosen display name: `token:<uuid>`, `oidc:<sub>`, or `ferry:worker`.
-- Events recorded before this column have no id (NULL), except `created`
-- events, whose credential is the request's requester.
ALTER TABLE import_events ADD COLUMN actor_id text;

UPDATE import_events e
   SET actor_id = r.requester_id
  FROM import_requests r
 WHERE e.import_id = r.id
   AND e.kind = 'created';
