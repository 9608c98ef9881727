package io.quotaledger.core;

/**
 * Operations the ledger understands. The numeric {@link #code()} is stable: it is written to the journal and the wire.
 */
public enum Op
{
    DEDUCT(1, true),
    RESERVE(2, true),
    SETTLE(3, true),
    RELEASE(4, true),
    CREDIT(5, true),
    GRANT(6, true),
    SET_LIMIT(7, true),
    FREEZE(8, true),
    UNFREEZE(9, true),
    QUERY(10, false),
    /** Issued by the runtime, not by clients: advances time so due holds expire even when no traffic arrives. */
    TICK(11, false),
    /**
     * Creates or updates a virtual key of a user: budget (or unlimited), reset period or duration, expiry, allowed
     * services ({@link Command}).
     */
    SET_VIRTUAL_KEY(12, true),
    /** Sets (amount &ge; 0) or removes (amount -1) a virtual key's budget for one service, per period of the key. */
    SET_VIRTUAL_KEY_SERVICE_BUDGET(13, true),
    /** Revokes a virtual key for good: it refuses every charge from then on. */
    REVOKE_VIRTUAL_KEY(14, true),
    /** Sets a price group's multiplier for a service (serviceId 0: the group's default). */
    SET_PRICE(15, true),
    /** Puts a user in a price group (0: the default group). */
    SET_GROUP(16, true),
    /** Sets or removes (requests = units = 0) the rate limit of a user or one of its virtual keys. */
    SET_RATE_LIMIT(17, true),
    /** Sets or removes (amount 0) a rolling spend window of a user or key; the window's length names it. */
    SET_SPEND_WINDOW(18, true),
    /** Sets or removes (amount 0) the cap on open holds of a user or key. */
    SET_CONCURRENCY(19, true);

    private static final Op[] BY_CODE = new Op[20];

    static
    {
        for (final Op op : values())
        {
            BY_CODE[op.code] = op;
        }
    }

    private final byte code;
    private final boolean mutating;

    Op(final int code, final boolean mutating)
    {
        this.code = (byte)code;
        this.mutating = mutating;
    }

    public byte code()
    {
        return code;
    }

    /**
     * @return true for operations that change state and are therefore idempotent by request id.
     */
    public boolean mutating()
    {
        return mutating;
    }

    /**
     * @param code a stable code.
     * @return the operation, or null when the code is unknown.
     */
    public static Op fromCode(final int code)
    {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
