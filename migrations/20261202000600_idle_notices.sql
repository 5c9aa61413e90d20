-- The inventory tells the request that imported a model when the model becomes a deletion
-- candidate (event import.model_idle), once per candidacy: when it last did, and the last
-- invocation that notice named (NULL with idle_notified_at set: "never invoked"). A model
-- invoked after the notice and idle again is a new candidacy.
ALTER TABLE account_models
    ADD COLUMN idle_notified_at timestamptz,
    ADD COLUMN idle_notified_last_invoked_at timestamptz;
