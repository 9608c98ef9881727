-- Gateway policy (issue 12): usage and rejections per virtual key, rejections by reason, and the policy the ledger
-- was given: virtual keys, price groups, users' groups, rate limits, spend windows and concurrency caps. Like every
-- table here, rebuilt from the journal by `ledger project --rebuild`; outcomes projected before this version are not
-- in the new tables until then.

-- The type (OutcomeType code) of the outcome at the checkpoint: a POLICY_APPLIED belongs to the charge or hold outcome
-- right before it, which may be the last one of the previous batch. NULL: nothing projected, or projected before this
-- column (no outcome then was followed by a POLICY_APPLIED).
ALTER TABLE projector_checkpoint ADD COLUMN outcome_type SMALLINT;

-- The virtual key a hold was taken through (0: none): its settle, release or expiry is counted against that key.
ALTER TABLE open_holds ADD COLUMN virtual_key_id BIGINT NOT NULL DEFAULT 0;

-- Usage per (user, virtual key, service, UTC hour), like usage_hourly: requests (deducts and reserves admitted
-- through the key), units (the raw units they asked to be priced; 0 for requests that carried an amount), amount (what
-- was charged, free and paid alike: a reserve counts what it held, its settle, release or expiry adds the difference
-- in the hour it happens) and rejections (requests rejected that named the key, whatever the reason).
CREATE TABLE virtual_key_usage_hourly
(
    user_id         BIGINT      NOT NULL,
    virtual_key_id  BIGINT      NOT NULL,
    service_id      INTEGER     NOT NULL,
    hour            TIMESTAMPTZ NOT NULL,
    requests        BIGINT      NOT NULL DEFAULT 0,
    units           BIGINT      NOT NULL DEFAULT 0,
    amount          BIGINT      NOT NULL DEFAULT 0,
    rejections      BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, virtual_key_id, service_id, hour)
);
CREATE INDEX virtual_key_usage_hourly_hour ON virtual_key_usage_hourly (hour);
CREATE INDEX virtual_key_usage_hourly_key ON virtual_key_usage_hourly (virtual_key_id, hour);

-- Every rejection, by reason (the result code's name), per (user, virtual key (0: none), service, UTC hour).
CREATE TABLE rejections_hourly
(
    user_id         BIGINT      NOT NULL,
    virtual_key_id  BIGINT      NOT NULL,
    service_id      INTEGER     NOT NULL,
    hour            TIMESTAMPTZ NOT NULL,
    reason          TEXT        NOT NULL,
    rejections      BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, virtual_key_id, service_id, hour, reason)
);
CREATE INDEX rejections_hourly_hour ON rejections_hourly (hour, reason);

-- Every virtual key: its configuration as last set, whether it is revoked, and what it had spent after the last
-- charge, hold or return through it (spent in the key's period spent_period, as of spent_at).
CREATE TABLE virtual_keys
(
    virtual_key_id  BIGINT      PRIMARY KEY,
    user_id         BIGINT      NOT NULL,
    unlimited       BOOLEAN     NOT NULL,
    budget          BIGINT,
    reset           TEXT        NOT NULL CHECK (reset IN ('NEVER', 'DAY', 'WEEK', 'MONTH', 'DURATION')),
    reset_every     INTERVAL,
    expires_at      TIMESTAMPTZ,
    services        INTEGER[],
    revoked         BOOLEAN     NOT NULL DEFAULT false,
    revoked_at      TIMESTAMPTZ,
    spent           BIGINT      NOT NULL DEFAULT 0,
    spent_period    BIGINT      NOT NULL DEFAULT 0,
    spent_at        TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CHECK (unlimited = (budget IS NULL)),
    CHECK ((reset = 'DURATION') = (reset_every IS NOT NULL))
);
CREATE INDEX virtual_keys_user ON virtual_keys (user_id);

-- A virtual key's budget for one service (removed budgets are deleted), with what the key had spent on the service
-- after the last charge, hold or return through it on that service.
CREATE TABLE virtual_key_service_budgets
(
    virtual_key_id  BIGINT      NOT NULL,
    service_id      INTEGER     NOT NULL,
    user_id         BIGINT      NOT NULL,
    budget          BIGINT      NOT NULL,
    spent           BIGINT      NOT NULL DEFAULT 0,
    spent_period    BIGINT      NOT NULL DEFAULT 0,
    spent_at        TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (virtual_key_id, service_id)
);

-- Price multipliers per (group, service); service_id 0 is the group's default.
CREATE TABLE price_groups
(
    group_id    INTEGER       NOT NULL,
    service_id  INTEGER       NOT NULL,
    multiplier  NUMERIC(20,6) NOT NULL,
    updated_at  TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (group_id, service_id)
);

-- The price group each user was put in (users never put in one are in group 0).
CREATE TABLE user_groups
(
    user_id     BIGINT      PRIMARY KEY,
    group_id    INTEGER     NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_groups_group ON user_groups (group_id);

-- Limits per subject: a user (virtual_key_id 0) or one of its virtual keys. Removed limits are deleted.
CREATE TABLE rate_limits
(
    user_id         BIGINT      NOT NULL,
    virtual_key_id  BIGINT      NOT NULL,
    requests        BIGINT      NOT NULL,
    units           BIGINT      NOT NULL,
    per             INTERVAL    NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, virtual_key_id)
);

CREATE TABLE spend_windows
(
    user_id         BIGINT      NOT NULL,
    virtual_key_id  BIGINT      NOT NULL,
    per             INTERVAL    NOT NULL,
    max_amount      BIGINT      NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, virtual_key_id, per)
);

CREATE TABLE concurrency_limits
(
    user_id         BIGINT      NOT NULL,
    virtual_key_id  BIGINT      NOT NULL,
    max_open_holds  BIGINT      NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, virtual_key_id)
);
