package io.quotaledger.core;

/**
 * A request to the ledger: a mutable, reusable holder so that the hot path allocates nothing. Only the fields an
 * operation names are read; the others are ignored (and left zero by {@link #reset()}).
 *
 * <pre>
 * DEDUCT    requestId, userId, serviceId, amount
 * RESERVE   requestId, userId, serviceId, amount, ttlMillis      (the request id becomes the hold id)
 * SETTLE    requestId, holdId, amount (the actual charge, may be 0)
 * RELEASE   requestId, holdId
 * CREDIT    requestId, userId, amount
 * GRANT     requestId, userId, serviceId, amount (allowance per period, 0 revokes), period
 * SET_LIMIT requestId, userId, amount (credit limit, 0 or more)
 * FREEZE    requestId, userId          UNFREEZE  requestId, userId
 * QUERY     userId [, serviceId]       TICK      (runtime only)
 * </pre>
 *
 * The timestamp (epoch milliseconds, UTC) is written by the runtime, never by the caller, so that replay and
 * tests are deterministic.
 */
public final class Command
{
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

    public String toString()
    {
        return "Command{op=" + op + ", timestamp=" + timestamp + ", requestId=" + Long.toHexString(requestIdHi) + ':' +
            Long.toHexString(requestIdLo) + ", userId=" + userId + ", serviceId=" + serviceId + ", amount=" + amount +
            ", holdId=" + Long.toHexString(holdIdHi) + ':' + Long.toHexString(holdIdLo) + ", ttlMillis=" + ttlMillis +
            ", period=" + period + '}';
    }
}
