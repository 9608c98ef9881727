package io.quotaledger.core;

/**
 * The answer to a {@link Command}: a mutable, reusable holder. For accepted operations the account fields show the
 * state right after the operation; a duplicate gets the original answer back with {@link #duplicate()} set.
 *
 * <pre>
 * fromFree, fromBalance  what was charged (DEDUCT, RESERVE; for SETTLE the final charge of the hold)
 * returned               what went back to the user: SETTLE the unused part of the hold, RELEASE all of it; free
 *                        units count when they went back to the quota (not those of a rolled or regranted period)
 * balance, held          the account after the operation; held is the total of its open holds
 * creditLimit, frozen    the account's settings
 * freeRemaining          free units left in the current period for the command's service (0 without one)
 *
 * virtualKeyId           the key the request went through or named (0 for none)
 * units                  the units the request asked to be priced (0 when it carried an amount)
 * amount                 DEDUCT, RESERVE: the (priced) amount charged or held; SETTLE: the final charge; QUERY and
 *                        SET_VIRTUAL_KEY of a key: the key's budget per period (-1: unlimited)
 * retryAfterMillis       RATE_LIMITED, SPEND_WINDOW_EXCEEDED: ms until the refusing check would pass (-1: never)
 * keySpent               the key's spend in its current period after the operation
 * keyBudgetRemaining     what the key may still spend in its current period (-1: unlimited)
 * flags                  FLAG_EXCEEDED_HOLD; for a key: FLAG_KEY_REVOKED, FLAG_KEY_EXPIRED
 * </pre>
 *
 * <p>A rejection (a code other than OK) charges and returns nothing: fromFree, fromBalance and returned are 0 and
 * FLAG_EXCEEDED_HOLD is clear. Its account fields show the current state of the account the request names (for
 * SETTLE and RELEASE the account of the hold, while it is open or when the request itself expired it), and are 0
 * when there is none; its key fields (and key flags) the state of the virtual key it names, when that key is the
 * user's.
 */
public final class Result
{
    /** Set on a SETTLE whose actual charge exceeded the hold: the excess was charged even into debt. */
    public static final int FLAG_EXCEEDED_HOLD = 1;
    /** Set when the result describes a virtual key that is revoked. */
    public static final int FLAG_KEY_REVOKED = 2;
    /** Set when the result describes a virtual key that has expired at the request's time. */
    public static final int FLAG_KEY_EXPIRED = 4;

    private Op op;
    private ResultCode code = ResultCode.OK;
    private boolean duplicate;
    private int flags;
    private long fromFree;
    private long fromBalance;
    private long returned;
    private long balance;
    private long held;
    private long creditLimit;
    private long freeRemaining;
    private boolean frozen;
    private long virtualKeyId;
    private long units;
    private long amount;
    private long retryAfterMillis;
    private long keySpent;
    private long keyBudgetRemaining;

    public Result reset()
    {
        op = null;
        code = ResultCode.OK;
        duplicate = false;
        flags = 0;
        fromFree = 0;
        fromBalance = 0;
        returned = 0;
        balance = 0;
        held = 0;
        creditLimit = 0;
        freeRemaining = 0;
        frozen = false;
        virtualKeyId = 0;
        units = 0;
        amount = 0;
        retryAfterMillis = 0;
        keySpent = 0;
        keyBudgetRemaining = 0;
        return this;
    }

    public Result copyFrom(final Result other)
    {
        op = other.op;
        code = other.code;
        duplicate = other.duplicate;
        flags = other.flags;
        fromFree = other.fromFree;
        fromBalance = other.fromBalance;
        returned = other.returned;
        balance = other.balance;
        held = other.held;
        creditLimit = other.creditLimit;
        freeRemaining = other.freeRemaining;
        frozen = other.frozen;
        virtualKeyId = other.virtualKeyId;
        units = other.units;
        amount = other.amount;
        retryAfterMillis = other.retryAfterMillis;
        keySpent = other.keySpent;
        keyBudgetRemaining = other.keyBudgetRemaining;
        return this;
    }

    public boolean accepted()
    {
        return code == ResultCode.OK;
    }

    public Op op()
    {
        return op;
    }

    public Result op(final Op op)
    {
        this.op = op;
        return this;
    }

    public ResultCode code()
    {
        return code;
    }

    public Result code(final ResultCode code)
    {
        this.code = code;
        return this;
    }

    public boolean duplicate()
    {
        return duplicate;
    }

    public Result duplicate(final boolean duplicate)
    {
        this.duplicate = duplicate;
        return this;
    }

    public int flags()
    {
        return flags;
    }

    public Result flags(final int flags)
    {
        this.flags = flags;
        return this;
    }

    public boolean exceededHold()
    {
        return (flags & FLAG_EXCEEDED_HOLD) != 0;
    }

    public boolean keyRevoked()
    {
        return (flags & FLAG_KEY_REVOKED) != 0;
    }

    public boolean keyExpired()
    {
        return (flags & FLAG_KEY_EXPIRED) != 0;
    }

    public long fromFree()
    {
        return fromFree;
    }

    public Result fromFree(final long fromFree)
    {
        this.fromFree = fromFree;
        return this;
    }

    public long fromBalance()
    {
        return fromBalance;
    }

    public Result fromBalance(final long fromBalance)
    {
        this.fromBalance = fromBalance;
        return this;
    }

    public long returned()
    {
        return returned;
    }

    public Result returned(final long returned)
    {
        this.returned = returned;
        return this;
    }

    /**
     * @return the balance after the operation (named balanceAfter in DESIGN.md).
     */
    public long balance()
    {
        return balance;
    }

    public Result balance(final long balance)
    {
        this.balance = balance;
        return this;
    }

    public long held()
    {
        return held;
    }

    public Result held(final long held)
    {
        this.held = held;
        return this;
    }

    public long creditLimit()
    {
        return creditLimit;
    }

    public Result creditLimit(final long creditLimit)
    {
        this.creditLimit = creditLimit;
        return this;
    }

    public long freeRemaining()
    {
        return freeRemaining;
    }

    public Result freeRemaining(final long freeRemaining)
    {
        this.freeRemaining = freeRemaining;
        return this;
    }

    public boolean frozen()
    {
        return frozen;
    }

    public Result frozen(final boolean frozen)
    {
        this.frozen = frozen;
        return this;
    }

    /**
     * @return the virtual key the request went through or named; 0 for none.
     */
    public long virtualKeyId()
    {
        return virtualKeyId;
    }

    public Result virtualKeyId(final long virtualKeyId)
    {
        this.virtualKeyId = virtualKeyId;
        return this;
    }

    /**
     * @return the units the request asked to be priced, as requested; 0 when it carried an amount.
     */
    public long units()
    {
        return units;
    }

    public Result units(final long units)
    {
        this.units = units;
        return this;
    }

    /**
     * @return DEDUCT, RESERVE: the amount charged or held (priced from the units when the request carried units);
     * SETTLE: the final charge; QUERY or SET_VIRTUAL_KEY of a key: the key's budget per period, -1 when unlimited.
     */
    public long amount()
    {
        return amount;
    }

    public Result amount(final long amount)
    {
        this.amount = amount;
        return this;
    }

    /**
     * @return RATE_LIMITED, SPEND_WINDOW_EXCEEDED: milliseconds from the request's time until the refusing check
     * would pass for the same request if nothing else happened, -1 when it never can (the request alone is over the
     * limit); 0 otherwise.
     */
    public long retryAfterMillis()
    {
        return retryAfterMillis;
    }

    public Result retryAfterMillis(final long retryAfterMillis)
    {
        this.retryAfterMillis = retryAfterMillis;
        return this;
    }

    /**
     * @return the key's spend in its current period after the operation (free and paid parts alike).
     */
    public long keySpent()
    {
        return keySpent;
    }

    public Result keySpent(final long keySpent)
    {
        this.keySpent = keySpent;
        return this;
    }

    /**
     * @return what the key may still spend in its current period, 0 when spent up, -1 when unlimited.
     */
    public long keyBudgetRemaining()
    {
        return keyBudgetRemaining;
    }

    public Result keyBudgetRemaining(final long keyBudgetRemaining)
    {
        this.keyBudgetRemaining = keyBudgetRemaining;
        return this;
    }

    public String toString()
    {
        return "Result{op=" + op + ", code=" + code + (duplicate ? ", duplicate" : "") + ", flags=" + flags +
            ", fromFree=" + fromFree + ", fromBalance=" + fromBalance + ", returned=" + returned +
            ", balance=" + balance + ", held=" + held + ", creditLimit=" + creditLimit +
            ", freeRemaining=" + freeRemaining + ", frozen=" + frozen +
            (virtualKeyId != 0 || units != 0 || amount != 0 || retryAfterMillis != 0 ?
            ", virtualKeyId=" + virtualKeyId + ", units=" + units + ", amount=" + amount +
            ", retryAfterMillis=" + retryAfterMillis + ", keySpent=" + keySpent +
            ", keyBudgetRemaining=" + keyBudgetRemaining : "") + '}';
    }
}
