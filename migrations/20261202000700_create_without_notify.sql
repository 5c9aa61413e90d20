-- Creates commit without a NOTIFY.
--
-- `import_requests_notify_insert` notified `ferry_work` inside every create's
-- transaction. Postgres takes its notification queue lock at such a commit and
-- holds it until the commit is flushed, so concurrent creates committed one at
-- a time (780–870 creates/s with it, 1,290–1,300 without, 32 connections on 2
-- cores). The API now notifies after the commit instead, once for every create
-- of the last 10 ms (`ferry_store::notify::Nudge`). Status changes keep their
-- trigger: they come from workers and reviewers, not from a burst of clients.
DROP TRIGGER import_requests_notify_insert ON import_requests;
