package io.quotaledger.core;

/**
 * Sizes, limits and windows of a {@link Ledger}, in one place. Fluent accessors; {@link #validate()} before use.
 *
 * <p>The limits (accounts, free quotas, open holds, hold ttl, settle excess) decide only new commands: what was
 * accepted under other limits is in the journal as outcomes, and {@link Ledger#apply} and
 * {@link Ledger#loadSnapshot} never consult them. A ledger restarted with lower limits therefore rebuilds exactly the
 * state it had, keeps every entry beyond a lower limit, and refuses only new entries until it is back under it.
 *
 * <p>The capacity defaults of the core tables keep a ledger at every limit at once (about 800 MB: some 81 bytes per
 * account, 64 per free quota, 174 per open hold, 184 per remembered request id) within the launcher's default 2 GiB
 * heap while a snapshot holds a copy of the state; raise them together with the heap. Gateway policy takes memory
 * only when used (docs/semantics.md, "Gateway policy"): about 113-137 bytes per virtual key, 80 per subject with
 * limits, 136 per spend window, so 1M users with 2 keys each and a rate limit on every key add about 400 MB. Its
 * capacity defaults bound that table by table; all of them full at once (4M keys, each limited) would need a
 * larger heap.
 */
public final class LedgerConfig
{
    public static final long DAY_MILLIS = 86_400_000L;
    /** Default of {@link #maxAccounts()}. */
    public static final int DEFAULT_MAX_ACCOUNTS = 2_000_000;
    /** Default of {@link #maxFreeQuotas()}: two per account on average. */
    public static final int DEFAULT_MAX_FREE_QUOTAS = 4_000_000;
    /** Default of {@link #maxOpenHolds()}. */
    public static final int DEFAULT_MAX_OPEN_HOLDS = 1_000_000;
    /** Default of {@link #maxHoldTtlMillis()}: one hour. */
    public static final long DEFAULT_MAX_HOLD_TTL_MILLIS = 3_600_000L;
    /**
     * Default of {@link #maxSettleExcess()}: a million units, more than one LLM request uses in tokens (context
     * windows reach about a million) and a dollar in micro-dollars: an honest under-estimate still settles, while
     * one settle can no longer charge an account without bound.
     */
    public static final long DEFAULT_MAX_SETTLE_EXCESS = 1_000_000L;
    /** Default of {@link #maxVirtualKeys()}: two per account at the default account capacity. */
    public static final int DEFAULT_MAX_VIRTUAL_KEYS = 4_000_000;
    /** Default of {@link #maxRateLimits()}. */
    public static final int DEFAULT_MAX_RATE_LIMITS = 4_000_000;
    /** Default of {@link #maxSpendWindows()}. */
    public static final int DEFAULT_MAX_SPEND_WINDOWS = 1_000_000;
    /** Default of {@link #maxPriceEntries()}. */
    public static final int DEFAULT_MAX_PRICE_ENTRIES = 65_536;
    /** Default of {@link #maxServiceBudgets()}. */
    public static final int DEFAULT_MAX_SERVICE_BUDGETS = 1_000_000;
    /** Spend windows one subject (a user or a virtual key) may have, each of another length. */
    public static final int MAX_SPEND_WINDOWS_PER_SUBJECT = 4;
    /**
     * Longest duration a policy may name (a rate limit's period, a spend window's length, a key's reset duration):
     * 100 years of 365.25 days. Longer gives INVALID_ARGUMENT.
     */
    public static final long MAX_POLICY_DURATION_MILLIS = 3_155_760_000_000L;

    private int expectedAccounts = 1 << 16;
    private int maxAccounts = DEFAULT_MAX_ACCOUNTS;
    private int maxFreeQuotas = DEFAULT_MAX_FREE_QUOTAS;
    private int maxOpenHolds = DEFAULT_MAX_OPEN_HOLDS;
    private int dedupeWindowCount = 1 << 20;
    private long dedupeWindowMillis = DAY_MILLIS;
    private long maxHoldTtlMillis = DEFAULT_MAX_HOLD_TTL_MILLIS;
    private long maxSettleExcess = DEFAULT_MAX_SETTLE_EXCESS;
    private int maxExpiriesPerTick = 8;
    private int maxVirtualKeys = DEFAULT_MAX_VIRTUAL_KEYS;
    private int maxRateLimits = DEFAULT_MAX_RATE_LIMITS;
    private int maxSpendWindows = DEFAULT_MAX_SPEND_WINDOWS;
    private int maxPriceEntries = DEFAULT_MAX_PRICE_ENTRIES;
    private int maxServiceBudgets = DEFAULT_MAX_SERVICE_BUDGETS;

    /**
     * @throws IllegalArgumentException naming the first setting out of range.
     */
    public LedgerConfig validate()
    {
        require(expectedAccounts > 0, "expectedAccounts must be > 0");
        require(maxAccounts > 0, "maxAccounts must be > 0");
        require(maxFreeQuotas > 0, "maxFreeQuotas must be > 0");
        require(maxOpenHolds > 0, "maxOpenHolds must be > 0");
        require(dedupeWindowCount > 0 && dedupeWindowCount <= (1 << 28), "dedupeWindowCount must be in 1..2^28");
        require(dedupeWindowMillis > 0, "dedupeWindowMillis must be > 0");
        require(maxHoldTtlMillis > 0 && maxHoldTtlMillis <= dedupeWindowMillis,
            "maxHoldTtlMillis must be > 0 and <= dedupeWindowMillis (a hold must outlive no request id)");
        require(maxSettleExcess >= 0, "maxSettleExcess must be >= 0");
        require(maxExpiriesPerTick > 0, "maxExpiriesPerTick must be > 0");
        require(maxVirtualKeys > 0, "maxVirtualKeys must be > 0");
        require(maxRateLimits > 0, "maxRateLimits must be > 0");
        require(maxSpendWindows > 0, "maxSpendWindows must be > 0");
        require(maxPriceEntries > 0, "maxPriceEntries must be > 0");
        require(maxServiceBudgets > 0, "maxServiceBudgets must be > 0");
        return this;
    }

    private static void require(final boolean condition, final String message)
    {
        if (!condition)
        {
            throw new IllegalArgumentException(message);
        }
    }

    /** Accounts to preallocate room for (maps and arrays grow past it, up to {@link #maxAccounts()}). */
    public int expectedAccounts()
    {
        return expectedAccounts;
    }

    public LedgerConfig expectedAccounts(final int expectedAccounts)
    {
        this.expectedAccounts = expectedAccounts;
        return this;
    }

    /** CREDIT or GRANT for a new user beyond this many accounts gives CAPACITY_EXCEEDED. */
    public int maxAccounts()
    {
        return maxAccounts;
    }

    public LedgerConfig maxAccounts(final int maxAccounts)
    {
        this.maxAccounts = maxAccounts;
        return this;
    }

    /**
     * GRANT for a new (user, service) pair beyond this many free quotas, in all accounts together, gives
     * CAPACITY_EXCEEDED. A quota is never removed: a grant of 0 revokes the free tier but keeps the entry.
     */
    public int maxFreeQuotas()
    {
        return maxFreeQuotas;
    }

    public LedgerConfig maxFreeQuotas(final int maxFreeQuotas)
    {
        this.maxFreeQuotas = maxFreeQuotas;
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

    /** Longest ttl a RESERVE may ask for; a longer one gives INVALID_ARGUMENT. At most the dedupe window's age. */
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
     * How far a SETTLE's actual charge may exceed its hold {@code H}: by at most {@code max(H, maxSettleExcess)}, so
     * up to twice the hold, or the hold plus this for small holds. Beyond it the SETTLE gives INVALID_AMOUNT and the
     * hold stays open. {@code Long.MAX_VALUE} lifts the cap.
     */
    public long maxSettleExcess()
    {
        return maxSettleExcess;
    }

    public LedgerConfig maxSettleExcess(final long maxSettleExcess)
    {
        this.maxSettleExcess = maxSettleExcess;
        return this;
    }

    /**
     * Holds one TICK expires at most; the runtime sends more ticks while {@link Ledger#hasDueHolds} is true. Every
     * ring slot has room for {@link #maxOutcomesPerCommand()} outcomes, so keep it small.
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

    /**
     * Most outcomes one command emits: a TICK expiring {@link #maxExpiriesPerTick()} holds, each followed by its
     * POLICY_APPLIED when the hold touched gateway policy, or a SETTLE or RELEASE that finds its hold due
     * (HOLD_EXPIRED, POLICY_APPLIED, REJECTED); a charge emits two at most. Size per-command outcome buffers with it.
     */
    public int maxOutcomesPerCommand()
    {
        return Math.max(3, 2 * maxExpiriesPerTick);
    }

    /** SET_VIRTUAL_KEY for a new key beyond this many virtual keys (revoked ones included) gives CAPACITY_EXCEEDED. */
    public int maxVirtualKeys()
    {
        return maxVirtualKeys;
    }

    public LedgerConfig maxVirtualKeys(final int maxVirtualKeys)
    {
        this.maxVirtualKeys = maxVirtualKeys;
        return this;
    }

    /**
     * SET_RATE_LIMIT for a subject (a user or a virtual key) without a rate limit beyond this many subjects with one
     * gives CAPACITY_EXCEEDED.
     */
    public int maxRateLimits()
    {
        return maxRateLimits;
    }

    public LedgerConfig maxRateLimits(final int maxRateLimits)
    {
        this.maxRateLimits = maxRateLimits;
        return this;
    }

    /**
     * SET_SPEND_WINDOW adding a window beyond this many spend windows, of all subjects together, gives
     * CAPACITY_EXCEEDED (as does a fifth window of one subject, {@link #MAX_SPEND_WINDOWS_PER_SUBJECT}).
     */
    public int maxSpendWindows()
    {
        return maxSpendWindows;
    }

    public LedgerConfig maxSpendWindows(final int maxSpendWindows)
    {
        this.maxSpendWindows = maxSpendWindows;
        return this;
    }

    /** SET_PRICE for a new (group, service) pair beyond this many prices gives CAPACITY_EXCEEDED. */
    public int maxPriceEntries()
    {
        return maxPriceEntries;
    }

    public LedgerConfig maxPriceEntries(final int maxPriceEntries)
    {
        this.maxPriceEntries = maxPriceEntries;
        return this;
    }

    /**
     * SET_VIRTUAL_KEY_SERVICE_BUDGET for a new (key, service) pair beyond this many per-service budgets gives
     * CAPACITY_EXCEEDED.
     */
    public int maxServiceBudgets()
    {
        return maxServiceBudgets;
    }

    public LedgerConfig maxServiceBudgets(final int maxServiceBudgets)
    {
        this.maxServiceBudgets = maxServiceBudgets;
        return this;
    }
}
