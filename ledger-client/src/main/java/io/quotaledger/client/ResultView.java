package io.quotaledger.client;

import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.ResultFlagsDecoder;

import java.util.UUID;

/**
 * A result as the callback form hands it out: a view the client fills again for every result, so nothing is
 * allocated per result. The same fields as {@link LedgerResult}, with the request id as two longs.
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
     * @return an immutable copy (allocates it).
     */
    public LedgerResult toResult()
    {
        final UUID requestId = requestIdHi == 0 && requestIdLo == 0 ? null : new UUID(requestIdHi, requestIdLo);
        return new LedgerResult(requestId, op, code, duplicate, exceededHold, frozen, fromFree, fromBalance, returned,
            balance, held, creditLimit, freeRemaining);
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
