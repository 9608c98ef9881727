package io.quotaledger.core;

/**
 * Outcome of a command. Business rejections are result codes, never exceptions. The numeric {@link #code()} is
 * stable: it is written to the journal and the wire.
 */
public enum ResultCode
{
    OK(0),
    /** Free quota plus balance plus credit limit does not cover the amount. */
    INSUFFICIENT_FUNDS(1),
    /** The user has no account (accounts are opened by CREDIT or GRANT). */
    UNKNOWN_ACCOUNT(2),
    /** The account is frozen; charges are refused until UNFREEZE. */
    FROZEN(3),
    /** No hold with that id is known (never reserved, or forgotten with the dedupe window). */
    UNKNOWN_HOLD(4),
    /** The hold was already settled, released or expired. */
    HOLD_ALREADY_CLOSED(5),
    /**
     * An amount is zero or negative where it must be positive, or negative where it may be zero; or a SETTLE's actual
     * exceeds its hold by more than the settle cap ({@link LedgerConfig#maxSettleExcess()}).
     */
    INVALID_AMOUNT(6),
    /** A field other than an amount is out of range: ids, period, a ttl outside 1..maxHoldTtlMillis. */
    INVALID_ARGUMENT(7),
    /** The operation would take a balance, a hold total or a time beyond 64 bits. */
    AMOUNT_OVERFLOW(8),
    /** The request id was already used for a different request. */
    REQUEST_ID_CONFLICT(9),
    /**
     * A configured capacity is exhausted: accounts, free quotas, open holds, virtual keys, per-service budgets, prices,
     * rate limits or spend windows (four per subject at most) ({@link LedgerConfig}). Nothing changed.
     */
    CAPACITY_EXCEEDED(10),
    /** A bug in the ledger: the command was not applied. Logged and counted by the runtime. */
    INTERNAL_ERROR(11),
    /**
     * The ledger could not make the change durable (its journal failed) and accepts no more changes until it is
     * restarted: the request was not acknowledged. Retry it with the same request id once the ledger is back.
     */
    UNAVAILABLE(12),
    /** No virtual key with that id, or it belongs to another user. */
    UNKNOWN_VIRTUAL_KEY(13),
    /** The virtual key is revoked (revocation is final: setting it again gives this too). */
    VIRTUAL_KEY_REVOKED(14),
    /** The virtual key has an expiry and the request's time is at or past it. */
    VIRTUAL_KEY_EXPIRED(15),
    /** The virtual key has a list of allowed services without the request's service. */
    SERVICE_NOT_ALLOWED(16),
    /** The virtual key's budget, or its budget for the service, in the current period would be exceeded. */
    VIRTUAL_KEY_BUDGET_EXCEEDED(17),
    /**
     * A rate limit of the user or the key would be exceeded; {@link Result#retryAfterMillis()} says when it would
     * pass (-1: never, the request alone is over the limit).
     */
    RATE_LIMITED(18),
    /** A RESERVE beyond the user's or the key's cap on open holds. */
    CONCURRENCY_LIMITED(19),
    /**
     * Code 30, not 20: 20-29 are the protocol's own errors on the wire (UNAUTHENTICATED, FORBIDDEN, ...).
     * A rolling spend window of the user or the key would be exceeded; {@link Result#retryAfterMillis()} says when
     * enough has left the window (-1: never, the request alone is over the window's maximum).
     */
    SPEND_WINDOW_EXCEEDED(30);

    private static final ResultCode[] BY_CODE = new ResultCode[31];

    static
    {
        for (final ResultCode rc : values())
        {
            BY_CODE[rc.code] = rc;
        }
    }

    private final byte code;

    ResultCode(final int code)
    {
        this.code = (byte)code;
    }

    public byte code()
    {
        return code;
    }

    /**
     * @param code a stable code.
     * @return the result code, or null when the code is unknown.
     */
    public static ResultCode fromCode(final int code)
    {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
