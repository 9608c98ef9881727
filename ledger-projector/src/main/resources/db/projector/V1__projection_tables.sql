-- The projector's tables: aggregates of the journal for analysts. The journal stays the source of truth; these
-- tables can be dropped and rebuilt from it (ledger project --rebuild).

-- Where the projector is: every outcome up to and including this journal sequence is counted, written in the same
-- transaction as the rows it produced.
CREATE TABLE projector_checkpoint
(
    id            SMALLINT    PRIMARY KEY CHECK (id = 1),
    sequence      BIGINT      NOT NULL,
    outcome_time  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL
);
INSERT INTO projector_checkpoint (id, sequence, outcome_time, updated_at) VALUES (1, 0, NULL, now());

-- Usage per (user, service, UTC hour). Charges count in the hour they happened: a RESERVE counts as a request with
-- the units it took, and its SETTLE, RELEASE or expiry adds (or, usually, subtracts) the difference in the hour it
-- happened. Summed over hours the units are exact. service_id 0: a rejection that named no service.
CREATE TABLE usage_hourly
(
    user_id     BIGINT      NOT NULL,
    service_id  INTEGER     NOT NULL,
    hour        TIMESTAMPTZ NOT NULL,
    requests    BIGINT      NOT NULL DEFAULT 0,
    free_units  BIGINT      NOT NULL DEFAULT 0,
    paid_units  BIGINT      NOT NULL DEFAULT 0,
    rejections  BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, service_id, hour)
);

-- The current state of every account, as of the checkpoint.
CREATE TABLE accounts
(
    user_id       BIGINT      PRIMARY KEY,
    balance       BIGINT      NOT NULL,
    held          BIGINT      NOT NULL,
    credit_limit  BIGINT      NOT NULL,
    frozen        BOOLEAN     NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- The free allowance granted per (user, service): the latest GRANT.
CREATE TABLE quota_grants
(
    user_id      BIGINT      NOT NULL,
    service_id   INTEGER     NOT NULL,
    period_type  TEXT        NOT NULL CHECK (period_type IN ('DAY', 'WEEK', 'MONTH')),
    allowance    BIGINT      NOT NULL,
    granted_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, service_id)
);

-- Free units used per (user, service, period). period_start is the UTC start of the day, ISO week or month.
CREATE TABLE free_quota
(
    user_id       BIGINT      NOT NULL,
    service_id    INTEGER     NOT NULL,
    period_type   TEXT        NOT NULL,
    period_start  DATE        NOT NULL,
    allowance     BIGINT      NOT NULL,
    used          BIGINT      NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, service_id, period_type, period_start)
);

-- Every money movement that is not a plain charge, for audit: credits, the difference a SETTLE makes (returned or
-- charged beyond the hold), releases, expiries and credit limit changes. balance_change is what it did to the
-- balance; amount is the request's own amount (credit, settle's actual, new limit).
CREATE TABLE money_movements
(
    sequence        BIGINT      PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL,
    user_id         BIGINT      NOT NULL,
    service_id      INTEGER     NOT NULL,
    kind            TEXT        NOT NULL CHECK (kind IN ('CREDIT', 'SETTLE', 'RELEASE', 'EXPIRY', 'LIMIT')),
    request_id      UUID        NOT NULL,
    hold_id         UUID,
    amount          BIGINT      NOT NULL,
    balance_change  BIGINT      NOT NULL,
    free_returned   BIGINT      NOT NULL,
    balance_after   BIGINT      NOT NULL
);

-- Holds not yet settled, released or expired: what the projector needs to know when one closes (how much it held).
CREATE TABLE open_holds
(
    hold_id       UUID        PRIMARY KEY,
    user_id       BIGINT      NOT NULL,
    service_id    INTEGER     NOT NULL,
    from_free     BIGINT      NOT NULL,
    from_balance  BIGINT      NOT NULL,
    opened_at     TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
