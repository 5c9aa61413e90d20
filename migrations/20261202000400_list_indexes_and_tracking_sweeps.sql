-- `GET /v1/imports` pages newest first (`ORDER BY id DESC`, keyset cursor
-- `id < $cursor`) under any combination of the documented filters: `team`,
-- `environment`, `status`, `model_name`. Each combination gets an index whose
-- equality columns are the filters and whose last column is `id`, so a page
-- reads about `limit` index entries from the cursor backwards and never sorts
-- the matching set. Before, only (team, id), (environment, id) and
-- (status, id) existed: team + environment + status at a million rows walked
-- one of them and filtered, or sorted every match (p99 168 ms).
--
-- served by                                   filters
--   import_requests_pkey                      none
--   import_requests_team_id                   team
--   import_requests_environment_id            environment
--   import_requests_status_id                 status
--   import_requests_team_environment_id       team + environment
--   import_requests_team_status_id            team + status
--   import_requests_environment_status_id     environment + status
--   import_requests_team_environment_status_id team + environment + status
--   import_requests_model_name_id             model_name, alone or with any
--                                             other (a name's requests are few:
--                                             Bedrock names are unique per
--                                             account and Region while held)

CREATE INDEX import_requests_team_environment_id
    ON import_requests (team, environment, id DESC);
CREATE INDEX import_requests_team_status_id
    ON import_requests (team, status, id DESC);
CREATE INDEX import_requests_environment_status_id
    ON import_requests (environment, status, id DESC);
CREATE INDEX import_requests_team_environment_status_id
    ON import_requests (team, environment, status, id DESC);
CREATE INDEX import_requests_model_name_id
    ON import_requests (model_name, id DESC);

-- Tracking at the floor. With several import jobs in flight in an
-- environment, one replica per poll interval lists the environment's jobs
-- (`ListModelImportJobs`, from the oldest job in flight on, every page) and
-- steps the requests whose job ended; no replica polls those jobs one by one
-- meanwhile. One row per environment: `next_at` hands each interval's sweep
-- to one replica (an UPDATE only one can win); while `listing_until` is in
-- the future, claiming due work skips the environment's `importing` requests
-- (the listing answers for them). A replica that stops sweeping lets
-- `listing_until` pass, and per-job polling takes over again.
CREATE TABLE tracking_sweeps (
    environment   text PRIMARY KEY,
    next_at       timestamptz NOT NULL DEFAULT now(),
    listing_until timestamptz,
    swept_by      text
);
