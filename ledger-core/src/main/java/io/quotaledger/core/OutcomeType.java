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
    REJECTED(11),
    /**
     * Follows the CHARGED or HOLD_* outcome of a request that touched gateway policy (a virtual key, a price, a rate
     * limit, a spend window, a concurrency cap): the key's spend and the rate limiters after it.
     */
    POLICY_APPLIED(12),
    /** A virtual key created or updated: its whole configuration after. */
    VIRTUAL_KEY_SET(13),
    /** A virtual key's budget for one service set or removed. */
    VIRTUAL_KEY_SERVICE_BUDGET_SET(14),
    VIRTUAL_KEY_REVOKED(15),
    /** A price group's multiplier for a service set. */
    PRICE_SET(16),
    /** A user put in a price group. */
    GROUP_SET(17),
    /** A rate limit of a user or key set or removed. */
    RATE_LIMIT_SET(18),
    /** A spend window of a user or key set or removed. */
    SPEND_WINDOW_SET(19),
    /** A cap on open holds of a user or key set or removed. */
    CONCURRENCY_SET(20);

    private static final OutcomeType[] BY_CODE = new OutcomeType[21];

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
