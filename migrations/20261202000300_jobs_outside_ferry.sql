-- Import jobs running in a hosting account that Ferry did not start (no request of
-- Ferry's bears their job name), as the inventory last listed them. Each holds one of
-- Bedrock's concurrent-import slots, so the scheduler counts them and names them to the
-- requests that wait for it.

CREATE TABLE account_jobs (
    account     text NOT NULL,
    region      text NOT NULL,
    job_arn     text NOT NULL,
    job_name    text NOT NULL,
    model_name  text,
    created_at  timestamptz,
    PRIMARY KEY (account, region, job_arn),
    FOREIGN KEY (account, region) REFERENCES account_inventories (account, region) ON DELETE CASCADE
);
