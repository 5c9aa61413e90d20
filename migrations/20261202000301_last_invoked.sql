-- When each imported model was last invoked, as CloudWatch's AWS/Bedrock Invocations metric
-- (dimension ModelId) told the inventory: the start of the latest day-long period with an
-- invocation. NULL: none seen within the metric's retention.
ALTER TABLE account_models ADD COLUMN last_invoked_at timestamptz;
