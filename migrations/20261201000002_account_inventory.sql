-- The account as it really is: per hosting account and Region, what the
-- inventory step last listed (every imported model, Ferry's or not, and the
-- import jobs running) and the Bedrock quotas Service Quotas gave. The
-- scheduler counts these against the limit; GET /v1/models lists them.

CREATE TABLE account_inventories (
    account                text NOT NULL,
    region                 text NOT NULL,
    -- Service Quotas' applied values (NULL: not read, the configured values apply).
    imported_models_quota  bigint,
    concurrent_jobs_quota  bigint,
    -- Import jobs InProgress in the account, Ferry's or not.
    jobs_running           bigint NOT NULL DEFAULT 0,
    synced_at              timestamptz,
    last_error             text,
    -- The inventory step's own lease and timer, like a request's.
    next_sync_at           timestamptz NOT NULL DEFAULT now(),
    lease_owner            text,
    lease_expires_at       timestamptz,
    PRIMARY KEY (account, region)
);

CREATE TABLE account_models (
    account        text NOT NULL,
    region         text NOT NULL,
    model_arn      text NOT NULL,
    model_name     text NOT NULL,
    architecture   text,
    created_at     timestamptz,
    -- Carries Ferry's tags (ferry:request-id), or is a request's imported model.
    managed        boolean NOT NULL,
    -- The request its ferry:request-id tag names, when it has one.
    request_id     uuid,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, region, model_arn),
    FOREIGN KEY (account, region) REFERENCES account_inventories (account, region) ON DELETE CASCADE
);
