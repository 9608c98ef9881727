package io.quotaledger.core;

/**
 * What happened to the state. Outcomes, not commands, are journaled: replay re-applies them without re-running
 * the business rules. The numeric {@link #code()} is stable.
 */
public enum OutcomeType
{
    /** A top-up; opens the account when new. */
    CREDITED(1),
    /** A deduct, with its free/paid split. */
    CHARGED(2),
    /** Funds taken and held under the RESERVE's request id. */
    HOLD_OPENED(3),
    /** A hold charged with its actual amount; the rest returned. */
    HOLD_SETTLED(4),
    /** A hold returned in full on request. */
    HOLD_RELEASED(5),
    /** A hold returned in full by the ledger because its ttl ran out. */
    HOLD_EXPIRED(6),
    /** A free allowance set for (user, service); opens the account when new. */
    GRANTED(7),
    /** A credit limit set. */
    LIMIT_SET(8),
    FROZEN(9),
    UNFROZEN(10),
    /** A rejected request: changes nothing, journaled so that analysts can count rejections. */
    REJECTED(11);

    private static final OutcomeType[] BY_CODE = new OutcomeType[12];

    static
    {
        for (final OutcomeType type : values())
        {
            BY_CODE[type.code] = type;
        }
    }

    private final byte code;

    OutcomeType(final int code)
    {
        this.code = (byte)code;
    }

    public byte code()
    {
        return code;
    }

    /**
     * @param code a stable code.
     * @return the type, or null when the code is unknown.
     */
    public static OutcomeType fromCode(final int code)
    {
        return code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
