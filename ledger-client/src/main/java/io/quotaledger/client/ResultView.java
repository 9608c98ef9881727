package io.quotaledger.client;

import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.ResultFlagsDecoder;

import java.util.UUID;

/**
 * A result as the callback form hands it out: a view the client fills again for every result, so nothing is
 * allocated per result. The same fields as {@link LedgerResult}, with the request id as two longs. The gateway
 * policy fields (virtual key, units, amount, retry after, key spend and budget, key flags) are 0 or false in an answer
 * from a server that speaks only protocol version 1.
 */
public final class ResultView
{
    private long requestIdHi;
    private long requestIdLo;
    private Op op;
    private ResultCode code;
    private boolean duplicate;
    private boolean exceededHold;
    private boolean frozen;
    private long fromFree;
    private long fromBalance;
    private long returned;
    private long balance;
    private long held;
    private long creditLimit;
    private long freeRemaining;
    private boolean keyRevoked;
    private boolean keyExpired;
    private long virtualKeyId;
    private long units;
    private long amount;
    private long retryAfterMillis;
    private long keySpent;
    private long keyBudgetRemaining;

    ResultView()
    {
    }

    /**
     * Fills the view from a decoded Result.
     */
    ResultView set(final long requestIdHi, final long requestIdLo, final ResultDecoder result)
    {
        this.requestIdHi = requestIdHi;
        this.requestIdLo = requestIdLo;
        op = op(result.opRaw());
        code = resultCode(result.codeRaw());
        final ResultFlagsDecoder flags = result.flags();
        duplicate = flags.duplicate();
        exceededHold = flags.exceededHold();
        frozen = flags.frozen();
        fromFree = result.fromFree();
        fromBalance = result.fromBalance();
        returned = result.returned();
        balance = result.balance();
        held = result.held();
        creditLimit = result.creditLimit();
        freeRemaining = result.freeRemaining();
        final boolean v2 = result.actingVersion() >= 2; // a version-1 Result has none of these
        keyRevoked = v2 && flags.keyRevoked();
        keyExpired = v2 && flags.keyExpired();
        virtualKeyId = v2 ? result.virtualKeyId() : 0;
        units = v2 ? result.units() : 0;
        amount = v2 ? result.amount() : 0;
        retryAfterMillis = v2 ? result.retryAfterMillis() : 0;
        keySpent = v2 ? result.keySpent() : 0;
        keyBudgetRemaining = v2 ? result.keyBudgetRemaining() : 0;
        return this;
    }

    /**
     * @return the request id's high half (0 with the low half for a QUERY, which has none).
     */
    public long requestIdHi()
    {
        return requestIdHi;
    }

    /**
     * @return the request id's low half.
     */
    public long requestIdLo()
    {
        return requestIdLo;
    }

    /**
     * @return the operation answered.
     */
    public Op op()
    {
        return op;
    }

    /**
     * @return OK, a ledger rejection, or a protocol error.
     */
    public ResultCode code()
    {
        return code;
    }

    public boolean ok()
    {
        return code == ResultCode.OK;
    }

    /**
     * @return the request had been applied before: this is its original result.
     */
    public boolean duplicate()
    {
        return duplicate;
    }

    /**
     * @return a SETTLE charged more than its hold.
     */
    public boolean exceededHold()
    {
        return exceededHold;
    }

    /**
     * @return the account is frozen.
     */
    public boolean frozen()
    {
        return frozen;
    }

    /**
     * @return charged from the free quota.
     */
    public long fromFree()
    {
        return fromFree;
    }

    /**
     * @return charged from the balance.
     */
    public long fromBalance()
    {
        return fromBalance;
    }

    /**
     * @return given back (SETTLE, RELEASE).
     */
    public long returned()
    {
        return returned;
    }

    /**
     * @return the balance after the operation (after a rejection: the account's balance now, 0 without one).
     */
    public long balance()
    {
        return balance;
    }

    /**
     * @return the total of the account's open holds.
     */
    public long held()
    {
        return held;
    }

    /**
     * @return how far below zero the balance may go.
     */
    public long creditLimit()
    {
        return creditLimit;
    }

    /**
     * @return free units left this period for the service asked about.
     */
    public long freeRemaining()
    {
        return freeRemaining;
    }

    /**
     * @return QUERY by key: the key is revoked.
     */
    public boolean keyRevoked()
    {
        return keyRevoked;
    }

    /**
     * @return QUERY by key: the key has expired.
     */
    public boolean keyExpired()
    {
        return keyExpired;
    }

    /**
     * @return the virtual key the request went through or named, 0 for none.
     */
    public long virtualKeyId()
    {
        return virtualKeyId;
    }

    /**
     * @return the units the request asked to be priced, 0 when it carried an amount.
     */
    public long units()
    {
        return units;
    }

    /**
     * @return DEDUCT, RESERVE: the amount charged or held (priced from the units when the request carried units);
     * SETTLE: the final charge; QUERY and every setting naming a key: its budget per period, -1 when unlimited.
     */
    public long amount()
    {
        return amount;
    }

    /**
     * @return RATE_LIMITED, SPEND_WINDOW_EXCEEDED: milliseconds until the same request could pass, -1 never; else 0.
     */
    public long retryAfterMillis()
    {
        return retryAfterMillis;
    }

    /**
     * @return the key's spend in its current period after the operation.
     */
    public long keySpent()
    {
        return keySpent;
    }

    /**
     * @return what the key may still spend in its current period, -1 when unlimited.
     */
    public long keyBudgetRemaining()
    {
        return keyBudgetRemaining;
    }

    /**
     * @return an immutable copy (allocates it).
     */
    public LedgerResult toResult()
    {
        final UUID requestId = requestIdHi == 0 && requestIdLo == 0 ? null : new UUID(requestIdHi, requestIdLo);
        return new LedgerResult(requestId, op, code, duplicate, exceededHold, frozen, fromFree, fromBalance, returned,
            balance, held, creditLimit, freeRemaining, keyRevoked, keyExpired, virtualKeyId, units, amount,
            retryAfterMillis, keySpent, keyBudgetRemaining);
    }

    public String toString()
    {
        return toResult().toString();
    }

    /**
     * @return the code a result carries; one this client does not know (a newer server's) is
     * {@link ResultCode#NULL_VAL}: not OK, so a rejection, never a failure to decode the answer (docs/protocol.md).
     */
    static ResultCode resultCode(final short raw)
    {
        try
        {
            return ResultCode.get(raw);
        }
        catch (final IllegalArgumentException ex)
        {
            return ResultCode.NULL_VAL;
        }
    }

    /**
     * @return the operation a result names; one this client does not know is {@link Op#NULL_VAL}.
     */
    static Op op(final short raw)
    {
        try
        {
            return Op.get(raw);
        }
        catch (final IllegalArgumentException ex)
        {
            return Op.NULL_VAL;
        }
    }
}
