-- Indexes for the common questions (docs/analytics.md). The primary keys already serve per-user lookups.

-- top spenders / usage over a time range, across users
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
-- usage per service per day
CREATE INDEX usage_hourly_service_hour ON usage_hourly (service_id, hour);
-- users close to zero balance
CREATE INDEX accounts_available ON accounts ((balance + credit_limit));
-- a user's movements, newest first; movements in a time range
CREATE INDEX money_movements_user_at ON money_movements (user_id, at);
CREATE INDEX money_movements_at ON money_movements (at);
-- the movement a request caused
CREATE INDEX money_movements_request ON money_movements (request_id);
