package io.quotaledger.core;

/**
 * Sizes and windows of a {@link Ledger}, in one place. Fluent accessors; {@link #validate()} before use.
 */
public final class LedgerConfig
{
    public static final long DAY_MILLIS = 86_400_000L;

    private int expectedAccounts = 1 << 16;
    private int maxAccounts = 50_000_000;
    private int maxOpenHolds = 1_000_000;
    private int dedupeWindowCount = 1 << 20;
    private long dedupeWindowMillis = DAY_MILLIS;
    private long maxHoldTtlMillis = 3_600_000L;
    private int maxExpiriesPerTick = 8;

    /**
     * @throws IllegalArgumentException naming the first setting out of range.
     */
    public LedgerConfig validate()
    {
        require(expectedAccounts > 0, "expectedAccounts must be > 0");
        require(maxAccounts > 0, "maxAccounts must be > 0");
        require(maxOpenHolds > 0, "maxOpenHolds must be > 0");
        require(dedupeWindowCount > 0 && dedupeWindowCount <= (1 << 28), "dedupeWindowCount must be in 1..2^28");
        require(dedupeWindowMillis > 0, "dedupeWindowMillis must be > 0");
        require(maxHoldTtlMillis > 0 && maxHoldTtlMillis <= dedupeWindowMillis,
            "maxHoldTtlMillis must be > 0 and <= dedupeWindowMillis (a hold must outlive no request id)");
        require(maxExpiriesPerTick > 0, "maxExpiriesPerTick must be > 0");
        return this;
    }

    private static void require(final boolean condition, final String message)
    {
        if (!condition)
        {
            throw new IllegalArgumentException(message);
        }
    }

    /** Accounts to preallocate room for (maps and arrays grow past it). */
    public int expectedAccounts()
    {
        return expectedAccounts;
    }

    public LedgerConfig expectedAccounts(final int expectedAccounts)
    {
        this.expectedAccounts = expectedAccounts;
        return this;
    }

    /** CREDIT or GRANT for a new user beyond this gives CAPACITY_EXCEEDED. */
    public int maxAccounts()
    {
        return maxAccounts;
    }

    public LedgerConfig maxAccounts(final int maxAccounts)
    {
        this.maxAccounts = maxAccounts;
        return this;
    }

    /** RESERVE beyond this many open holds gives CAPACITY_EXCEEDED. */
    public int maxOpenHolds()
    {
        return maxOpenHolds;
    }

    public LedgerConfig maxOpenHolds(final int maxOpenHolds)
    {
        this.maxOpenHolds = maxOpenHolds;
        return this;
    }

    /** How many accepted request ids are remembered at most (the oldest are forgotten first). */
    public int dedupeWindowCount()
    {
        return dedupeWindowCount;
    }

    public LedgerConfig dedupeWindowCount(final int dedupeWindowCount)
    {
        this.dedupeWindowCount = dedupeWindowCount;
        return this;
    }

    /** How long an accepted request id is remembered. */
    public long dedupeWindowMillis()
    {
        return dedupeWindowMillis;
    }

    public LedgerConfig dedupeWindowMillis(final long dedupeWindowMillis)
    {
        this.dedupeWindowMillis = dedupeWindowMillis;
        return this;
    }

    /** Longest ttl a RESERVE may ask for. */
    public long maxHoldTtlMillis()
    {
        return maxHoldTtlMillis;
    }

    public LedgerConfig maxHoldTtlMillis(final long maxHoldTtlMillis)
    {
        this.maxHoldTtlMillis = maxHoldTtlMillis;
        return this;
    }

    /**
     * Holds one TICK expires at most; the runtime sends more ticks while {@link Ledger#hasDueHolds} is true. Every
     * ring slot has room for this many outcomes, so keep it small.
     */
    public int maxExpiriesPerTick()
    {
        return maxExpiriesPerTick;
    }

    public LedgerConfig maxExpiriesPerTick(final int maxExpiriesPerTick)
    {
        this.maxExpiriesPerTick = maxExpiriesPerTick;
        return this;
    }
}
