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
    TICK(11, false);

    private static final Op[] BY_CODE = new Op[12];

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
