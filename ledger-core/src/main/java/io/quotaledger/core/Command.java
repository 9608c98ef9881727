package io.quotaledger.core;

/**
 * A request to the ledger: a mutable, reusable holder so that the hot path allocates nothing. Only the fields an
 * operation names are read; the others are ignored (and left zero by {@link #reset()}).
 *
 * <pre>
 * DEDUCT    requestId, userId, serviceId, amount or units [, virtualKeyId]
 * RESERVE   requestId, userId, serviceId, amount or units, ttlMillis [, virtualKeyId]  (the request id becomes the
 *           hold id)
 * SETTLE    requestId, holdId, amount (the actual charge, may be 0)
 * RELEASE   requestId, holdId
 * CREDIT    requestId, userId, amount
 * GRANT     requestId, userId, serviceId, amount (allowance per period, 0 revokes), period
 * SET_LIMIT requestId, userId, amount (credit limit, 0 or more)
 * FREEZE    requestId, userId          UNFREEZE  requestId, userId
 * QUERY     userId [, serviceId] [, virtualKeyId]          TICK      (runtime only)
 *
 * SET_VIRTUAL_KEY                requestId, userId, virtualKeyId, amount (budget per period, ignored when unlimited)
 *                                or unlimited, resetPeriod or resetMillis or neither (never resets), expiresAt
 *                                (0: never), services (none: all allowed)
 * SET_VIRTUAL_KEY_SERVICE_BUDGET requestId, userId, virtualKeyId, serviceId, amount (budget per period, -1 removes)
 * REVOKE_VIRTUAL_KEY             requestId, userId, virtualKeyId
 * SET_PRICE                      requestId, groupId, serviceId (0: the group's default), multiplier (&gt; 0)
 * SET_GROUP                      requestId, userId, groupId (0: the default group)
 * SET_RATE_LIMIT                 requestId, userId, virtualKeyId (0: the user), requests, units, perMillis
 *                                (requests = units = 0 removes)
 * SET_SPEND_WINDOW               requestId, userId, virtualKeyId (0: the user), amount (max, 0 removes), perMillis
 *                                (the window's length, which names it)
 * SET_CONCURRENCY                requestId, userId, virtualKeyId (0: the user), amount (max open holds, 0 removes)
 * </pre>
 *
 * <p>A DEDUCT or RESERVE carries exactly one of {@code amount} and {@code units}: units are priced by the user's
 * price group ({@link #multiplier()} of the group and service, fixed point with {@link #MULTIPLIER_ONE} = 1.0).
 *
 * The timestamp (epoch milliseconds, UTC) is written by the runtime, never by the caller, so that replay and
 * tests are deterministic.
 */
public final class Command
{
    /** Most services a virtual key's list of allowed services may name. */
    public static final int MAX_SERVICES = 12;
    /** The fixed-point multiplier of 1.0: price multipliers have six decimals. */
    public static final long MULTIPLIER_ONE = 1_000_000L;

    private Op op;
    private long timestamp;
    private long requestIdHi;
    private long requestIdLo;
    private long userId;
    private int serviceId;
    private long amount;
    private long holdIdHi;
    private long holdIdLo;
    private long ttlMillis;
    private Period period;
    private long virtualKeyId;
    private long units;
    private int groupId;
    private long multiplier;
    private long requests;
    private long perMillis;
    private Period resetPeriod;
    private long resetMillis;
    private long expiresAt;
    private boolean unlimited;
    private int serviceCount;
    private final int[] services = new int[MAX_SERVICES];

    public Command reset()
    {
        op = null;
        timestamp = 0;
        requestIdHi = 0;
        requestIdLo = 0;
        userId = 0;
        serviceId = 0;
        amount = 0;
        holdIdHi = 0;
        holdIdLo = 0;
        ttlMillis = 0;
        period = null;
        virtualKeyId = 0;
        units = 0;
        groupId = 0;
        multiplier = 0;
        requests = 0;
        perMillis = 0;
        resetPeriod = null;
        resetMillis = 0;
        expiresAt = 0;
        unlimited = false;
        serviceCount = 0;
        return this;
    }

    public Command copyFrom(final Command other)
    {
        op = other.op;
        timestamp = other.timestamp;
        requestIdHi = other.requestIdHi;
        requestIdLo = other.requestIdLo;
        userId = other.userId;
        serviceId = other.serviceId;
        amount = other.amount;
        holdIdHi = other.holdIdHi;
        holdIdLo = other.holdIdLo;
        ttlMillis = other.ttlMillis;
        period = other.period;
        virtualKeyId = other.virtualKeyId;
        units = other.units;
        groupId = other.groupId;
        multiplier = other.multiplier;
        requests = other.requests;
        perMillis = other.perMillis;
        resetPeriod = other.resetPeriod;
        resetMillis = other.resetMillis;
        expiresAt = other.expiresAt;
        unlimited = other.unlimited;
        serviceCount = other.serviceCount;
        System.arraycopy(other.services, 0, services, 0, Math.min(serviceCount, MAX_SERVICES));
        return this;
    }

    /**
     * A 64-bit digest of everything but the request id and timestamp. A retry must carry the same digest; a request
     * id reused for a different request is detected by it. It never stands in for the request id itself.
     *
     * @return the digest.
     */
    public long fingerprint()
    {
        // a multiply-add chain and one final mix: cheap on the hot path, and every field affects every bit
        long h = op == null ? 0 : op.code();
        h = h * Hashing.PRIME + userId;
        h = h * Hashing.PRIME + serviceId;
        h = h * Hashing.PRIME + amount;
        h = h * Hashing.PRIME + holdIdHi;
        h = h * Hashing.PRIME + holdIdLo;
        h = h * Hashing.PRIME + ttlMillis;
        h = h * Hashing.PRIME + (period == null ? 0 : period.code());
        if (hasPolicyFields())
        {
            // only then, so that the digest of every request without them is what it was before they existed
            h = h * Hashing.PRIME + virtualKeyId;
            h = h * Hashing.PRIME + units;
            h = h * Hashing.PRIME + groupId;
            h = h * Hashing.PRIME + multiplier;
            h = h * Hashing.PRIME + requests;
            h = h * Hashing.PRIME + perMillis;
            h = h * Hashing.PRIME + (resetPeriod == null ? 0 : resetPeriod.code());
            h = h * Hashing.PRIME + resetMillis;
            h = h * Hashing.PRIME + expiresAt;
            h = h * Hashing.PRIME + (unlimited ? 1 : 0);
            h = h * Hashing.PRIME + serviceCount;
            for (int i = 0, n = Math.min(serviceCount, MAX_SERVICES); i < n; i++)
            {
                h = h * Hashing.PRIME + services[i];
            }
        }
        return Hashing.mix(h);
    }

    public Op op()
    {
        return op;
    }

    public Command op(final Op op)
    {
        this.op = op;
        return this;
    }

    public long timestamp()
    {
        return timestamp;
    }

    public Command timestamp(final long epochMillis)
    {
        this.timestamp = epochMillis;
        return this;
    }

    public long requestIdHi()
    {
        return requestIdHi;
    }

    public long requestIdLo()
    {
        return requestIdLo;
    }

    /**
     * @param hi the most significant 64 bits of the 128-bit request id (a UUID's most significant bits).
     * @param lo the least significant 64 bits.
     * @return this.
     */
    public Command requestId(final long hi, final long lo)
    {
        this.requestIdHi = hi;
        this.requestIdLo = lo;
        return this;
    }

    public long userId()
    {
        return userId;
    }

    public Command userId(final long userId)
    {
        this.userId = userId;
        return this;
    }

    public int serviceId()
    {
        return serviceId;
    }

    public Command serviceId(final int serviceId)
    {
        this.serviceId = serviceId;
        return this;
    }

    public long amount()
    {
        return amount;
    }

    public Command amount(final long amount)
    {
        this.amount = amount;
        return this;
    }

    public long holdIdHi()
    {
        return holdIdHi;
    }

    public long holdIdLo()
    {
        return holdIdLo;
    }

    /**
     * @param hi most significant bits of the request id of the RESERVE that opened the hold.
     * @param lo least significant bits.
     * @return this.
     */
    public Command holdId(final long hi, final long lo)
    {
        this.holdIdHi = hi;
        this.holdIdLo = lo;
        return this;
    }

    public long ttlMillis()
    {
        return ttlMillis;
    }

    public Command ttlMillis(final long ttlMillis)
    {
        this.ttlMillis = ttlMillis;
        return this;
    }

    public Period period()
    {
        return period;
    }

    public Command period(final Period period)
    {
        this.period = period;
        return this;
    }

    private boolean hasPolicyFields()
    {
        return virtualKeyId != 0 || units != 0 || groupId != 0 || multiplier != 0 || requests != 0 || perMillis != 0 ||
            resetPeriod != null || resetMillis != 0 || expiresAt != 0 || unlimited || serviceCount != 0;
    }

    /**
     * @return the virtual key a DEDUCT, RESERVE or QUERY goes through, or the key a key setting names; 0 for none
     * (for SET_RATE_LIMIT, SET_SPEND_WINDOW and SET_CONCURRENCY: the user itself).
     */
    public long virtualKeyId()
    {
        return virtualKeyId;
    }

    public Command virtualKeyId(final long virtualKeyId)
    {
        this.virtualKeyId = virtualKeyId;
        return this;
    }

    /**
     * @return DEDUCT, RESERVE: raw units (tokens) to be priced instead of an amount (then amount is 0); 0 for none.
     * SET_RATE_LIMIT: units admitted per {@link #perMillis()} (0: no unit limit).
     */
    public long units()
    {
        return units;
    }

    public Command units(final long units)
    {
        this.units = units;
        return this;
    }

    /**
     * @return SET_PRICE: the price group whose multiplier is set; SET_GROUP: the group the user joins (0 is the
     * default group every user is in until set).
     */
    public int groupId()
    {
        return groupId;
    }

    public Command groupId(final int groupId)
    {
        this.groupId = groupId;
        return this;
    }

    /**
     * @return SET_PRICE: the multiplier, fixed point with six decimals ({@link #MULTIPLIER_ONE} is 1.0), &gt; 0.
     */
    public long multiplier()
    {
        return multiplier;
    }

    public Command multiplier(final long multiplier)
    {
        this.multiplier = multiplier;
        return this;
    }

    /**
     * @return SET_RATE_LIMIT: requests admitted per {@link #perMillis()} (0: no request limit).
     */
    public long requests()
    {
        return requests;
    }

    public Command requests(final long requests)
    {
        this.requests = requests;
        return this;
    }

    /**
     * @return SET_RATE_LIMIT: the limit's period; SET_SPEND_WINDOW: the window's length. In milliseconds, &gt; 0.
     */
    public long perMillis()
    {
        return perMillis;
    }

    public Command perMillis(final long perMillis)
    {
        this.perMillis = perMillis;
        return this;
    }

    /**
     * @return SET_VIRTUAL_KEY: the calendar period (UTC) the key's budget resets with, or null (see
     * {@link #resetMillis()}; neither: the budget never resets).
     */
    public Period resetPeriod()
    {
        return resetPeriod;
    }

    public Command resetPeriod(final Period resetPeriod)
    {
        this.resetPeriod = resetPeriod;
        return this;
    }

    /**
     * @return SET_VIRTUAL_KEY: a duration (ms, &gt; 0) the key's budget resets with, counted from the time of the
     * SET_VIRTUAL_KEY that set it; 0 for none. At most one of resetPeriod and resetMillis is set.
     */
    public long resetMillis()
    {
        return resetMillis;
    }

    public Command resetMillis(final long resetMillis)
    {
        this.resetMillis = resetMillis;
        return this;
    }

    /**
     * @return SET_VIRTUAL_KEY: when the key expires (epoch ms, UTC); 0 for never.
     */
    public long expiresAt()
    {
        return expiresAt;
    }

    public Command expiresAt(final long expiresAt)
    {
        this.expiresAt = expiresAt;
        return this;
    }

    /**
     * @return SET_VIRTUAL_KEY: the key has no budget (its spend is still counted); amount is then ignored.
     */
    public boolean unlimited()
    {
        return unlimited;
    }

    public Command unlimited(final boolean unlimited)
    {
        this.unlimited = unlimited;
        return this;
    }

    /**
     * @return SET_VIRTUAL_KEY: how many allowed services were added; none means every service is allowed. More than
     * {@link #MAX_SERVICES} is possible (only the first are kept) and makes the command INVALID_ARGUMENT.
     */
    public int serviceCount()
    {
        return serviceCount;
    }

    /**
     * @param index 0 &le; index &lt; min(serviceCount(), MAX_SERVICES).
     * @return the allowed service at that index.
     */
    public int service(final int index)
    {
        if (index < 0 || index >= Math.min(serviceCount, MAX_SERVICES))
        {
            throw new IndexOutOfBoundsException("service " + index + " of " + serviceCount);
        }
        return services[index];
    }

    /**
     * Adds an allowed service to a SET_VIRTUAL_KEY. Beyond {@link #MAX_SERVICES} the service is not kept but counted,
     * so that the ledger refuses the command with INVALID_ARGUMENT instead of silently allowing fewer services.
     */
    public Command addService(final int serviceId)
    {
        if (serviceCount < MAX_SERVICES)
        {
            services[serviceCount] = serviceId;
        }
        if (serviceCount < Integer.MAX_VALUE)
        {
            serviceCount++;
        }
        return this;
    }

    public String toString()
    {
        final StringBuilder sb = new StringBuilder(256)
            .append("Command{op=").append(op).append(", timestamp=").append(timestamp)
            .append(", requestId=").append(Long.toHexString(requestIdHi)).append(':')
            .append(Long.toHexString(requestIdLo)).append(", userId=").append(userId)
            .append(", serviceId=").append(serviceId).append(", amount=").append(amount)
            .append(", holdId=").append(Long.toHexString(holdIdHi)).append(':').append(Long.toHexString(holdIdLo))
            .append(", ttlMillis=").append(ttlMillis).append(", period=").append(period);
        if (hasPolicyFields())
        {
            sb.append(", virtualKeyId=").append(virtualKeyId).append(", units=").append(units)
                .append(", groupId=").append(groupId).append(", multiplier=").append(multiplier)
                .append(", requests=").append(requests).append(", perMillis=").append(perMillis)
                .append(", resetPeriod=").append(resetPeriod).append(", resetMillis=").append(resetMillis)
                .append(", expiresAt=").append(expiresAt).append(", unlimited=").append(unlimited)
                .append(", services=[");
            for (int i = 0, n = Math.min(serviceCount, MAX_SERVICES); i < n; i++)
            {
                sb.append(i == 0 ? "" : ",").append(services[i]);
            }
            sb.append(serviceCount > MAX_SERVICES ? ",...]" : "]");
        }
        return sb.append('}').toString();
    }
}
