package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * One state change, in a fixed binary layout of {@link #LENGTH} bytes (little-endian). It carries absolute values
 * (balance and free use after the change), so that applying outcomes to an empty ledger reproduces its state exactly
 * without today's business rules, and the request's fingerprint, so that the dedupe window is rebuilt too.
 *
 * <pre>
 * offset field            used by
 *   0    type   (byte)     all
 *   1    op     (byte)     all: the operation that caused it
 *   2    code   (byte)     REJECTED: the result code
 *   3    flags  (byte)     HOLD_SETTLED: Result.FLAG_EXCEEDED_HOLD
 *   4    serviceId (int)   CHARGED, HOLD_*, GRANTED, REJECTED
 *   8    timestamp         all (epoch ms)
 *  16    requestId (2 longs) all; for HOLD_EXPIRED the hold id
 *  32    holdId (2 longs)  HOLD_*
 *  48    userId            all
 *  56    amount            CREDITED: credit, GRANTED: allowance, LIMIT_SET: limit, REJECTED: requested amount,
 *                          HOLD_SETTLED: actual
 *  64    fromFree          CHARGED, HOLD_OPENED, HOLD_SETTLED (final charge)
 *  72    fromBalance       same
 *  80    returnedFree      HOLD_SETTLED, HOLD_RELEASED, HOLD_EXPIRED
 *  88    returnedBalance   same
 *  96    balanceAfter      all but REJECTED
 * 104    freeUsedAfter     CHARGED, HOLD_*, GRANTED: free units used in periodId
 * 112    periodId (int)    same
 * 116    periodType (byte) GRANTED
 * 120    expiresAt         HOLD_OPENED
 * 128    fingerprint       all but HOLD_EXPIRED
 * </pre>
 */
public final class Outcome
{
    public static final int LENGTH = 136;

    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private OutcomeType type;
    private Op op;
    private ResultCode code = ResultCode.OK;
    private int flags;
    private int serviceId;
    private long timestamp;
    private long requestIdHi;
    private long requestIdLo;
    private long holdIdHi;
    private long holdIdLo;
    private long userId;
    private long amount;
    private long fromFree;
    private long fromBalance;
    private long returnedFree;
    private long returnedBalance;
    private long balanceAfter;
    private long freeUsedAfter;
    private int periodId;
    private Period periodType;
    private long expiresAt;
    private long fingerprint;

    /**
     * Starts a new outcome: every field zero but those given.
     */
    public Outcome reset(final OutcomeType type, final Op op, final long timestamp)
    {
        this.type = type;
        this.op = op;
        this.code = ResultCode.OK;
        this.flags = 0;
        this.serviceId = 0;
        this.timestamp = timestamp;
        this.requestIdHi = 0;
        this.requestIdLo = 0;
        this.holdIdHi = 0;
        this.holdIdLo = 0;
        this.userId = 0;
        this.amount = 0;
        this.fromFree = 0;
        this.fromBalance = 0;
        this.returnedFree = 0;
        this.returnedBalance = 0;
        this.balanceAfter = 0;
        this.freeUsedAfter = 0;
        this.periodId = 0;
        this.periodType = null;
        this.expiresAt = 0;
        this.fingerprint = 0;
        return this;
    }

    public void encode(final MutableDirectBuffer buffer, final int offset)
    {
        buffer.putByte(offset, type.code());
        buffer.putByte(offset + 1, op.code());
        buffer.putByte(offset + 2, code.code());
        buffer.putByte(offset + 3, (byte)flags);
        buffer.putInt(offset + 4, serviceId, ORDER);
        buffer.putLong(offset + 8, timestamp, ORDER);
        buffer.putLong(offset + 16, requestIdHi, ORDER);
        buffer.putLong(offset + 24, requestIdLo, ORDER);
        buffer.putLong(offset + 32, holdIdHi, ORDER);
        buffer.putLong(offset + 40, holdIdLo, ORDER);
        buffer.putLong(offset + 48, userId, ORDER);
        buffer.putLong(offset + 56, amount, ORDER);
        buffer.putLong(offset + 64, fromFree, ORDER);
        buffer.putLong(offset + 72, fromBalance, ORDER);
        buffer.putLong(offset + 80, returnedFree, ORDER);
        buffer.putLong(offset + 88, returnedBalance, ORDER);
        buffer.putLong(offset + 96, balanceAfter, ORDER);
        buffer.putLong(offset + 104, freeUsedAfter, ORDER);
        buffer.putInt(offset + 112, periodId, ORDER);
        buffer.putByte(offset + 116, periodType == null ? 0 : periodType.code());
        buffer.putByte(offset + 117, (byte)0);
        buffer.putShort(offset + 118, (short)0, ORDER);
        buffer.putLong(offset + 120, expiresAt, ORDER);
        buffer.putLong(offset + 128, fingerprint, ORDER);
    }

    /**
     * @return false, leaving this outcome undefined, when the bytes do not hold a well-formed outcome.
     */
    public boolean decode(final DirectBuffer buffer, final int offset)
    {
        type = OutcomeType.fromCode(buffer.getByte(offset));
        op = Op.fromCode(buffer.getByte(offset + 1));
        code = ResultCode.fromCode(buffer.getByte(offset + 2));
        flags = buffer.getByte(offset + 3) & 0xFF;
        serviceId = buffer.getInt(offset + 4, ORDER);
        timestamp = buffer.getLong(offset + 8, ORDER);
        requestIdHi = buffer.getLong(offset + 16, ORDER);
        requestIdLo = buffer.getLong(offset + 24, ORDER);
        holdIdHi = buffer.getLong(offset + 32, ORDER);
        holdIdLo = buffer.getLong(offset + 40, ORDER);
        userId = buffer.getLong(offset + 48, ORDER);
        amount = buffer.getLong(offset + 56, ORDER);
        fromFree = buffer.getLong(offset + 64, ORDER);
        fromBalance = buffer.getLong(offset + 72, ORDER);
        returnedFree = buffer.getLong(offset + 80, ORDER);
        returnedBalance = buffer.getLong(offset + 88, ORDER);
        balanceAfter = buffer.getLong(offset + 96, ORDER);
        freeUsedAfter = buffer.getLong(offset + 104, ORDER);
        periodId = buffer.getInt(offset + 112, ORDER);
        final byte periodCode = buffer.getByte(offset + 116);
        periodType = Period.fromCode(periodCode);
        expiresAt = buffer.getLong(offset + 120, ORDER);
        fingerprint = buffer.getLong(offset + 128, ORDER);
        return type != null && op != null && code != null && (periodCode == 0 || periodType != null);
    }

    public OutcomeType type()
    {
        return type;
    }

    public Op op()
    {
        return op;
    }

    public ResultCode code()
    {
        return code;
    }

    public Outcome code(final ResultCode code)
    {
        this.code = code;
        return this;
    }

    public int flags()
    {
        return flags;
    }

    public Outcome flags(final int flags)
    {
        this.flags = flags;
        return this;
    }

    public int serviceId()
    {
        return serviceId;
    }

    public Outcome serviceId(final int serviceId)
    {
        this.serviceId = serviceId;
        return this;
    }

    public long timestamp()
    {
        return timestamp;
    }

    public long requestIdHi()
    {
        return requestIdHi;
    }

    public long requestIdLo()
    {
        return requestIdLo;
    }

    public Outcome requestId(final long hi, final long lo)
    {
        this.requestIdHi = hi;
        this.requestIdLo = lo;
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

    public Outcome holdId(final long hi, final long lo)
    {
        this.holdIdHi = hi;
        this.holdIdLo = lo;
        return this;
    }

    public long userId()
    {
        return userId;
    }

    public Outcome userId(final long userId)
    {
        this.userId = userId;
        return this;
    }

    public long amount()
    {
        return amount;
    }

    public Outcome amount(final long amount)
    {
        this.amount = amount;
        return this;
    }

    public long fromFree()
    {
        return fromFree;
    }

    public Outcome fromFree(final long fromFree)
    {
        this.fromFree = fromFree;
        return this;
    }

    public long fromBalance()
    {
        return fromBalance;
    }

    public Outcome fromBalance(final long fromBalance)
    {
        this.fromBalance = fromBalance;
        return this;
    }

    public long returnedFree()
    {
        return returnedFree;
    }

    public Outcome returnedFree(final long returnedFree)
    {
        this.returnedFree = returnedFree;
        return this;
    }

    public long returnedBalance()
    {
        return returnedBalance;
    }

    public Outcome returnedBalance(final long returnedBalance)
    {
        this.returnedBalance = returnedBalance;
        return this;
    }

    public long balanceAfter()
    {
        return balanceAfter;
    }

    public Outcome balanceAfter(final long balanceAfter)
    {
        this.balanceAfter = balanceAfter;
        return this;
    }

    public long freeUsedAfter()
    {
        return freeUsedAfter;
    }

    public Outcome freeUsedAfter(final long freeUsedAfter)
    {
        this.freeUsedAfter = freeUsedAfter;
        return this;
    }

    public int periodId()
    {
        return periodId;
    }

    public Outcome periodId(final int periodId)
    {
        this.periodId = periodId;
        return this;
    }

    public Period periodType()
    {
        return periodType;
    }

    public Outcome periodType(final Period periodType)
    {
        this.periodType = periodType;
        return this;
    }

    public long expiresAt()
    {
        return expiresAt;
    }

    public Outcome expiresAt(final long expiresAt)
    {
        this.expiresAt = expiresAt;
        return this;
    }

    public long fingerprint()
    {
        return fingerprint;
    }

    public Outcome fingerprint(final long fingerprint)
    {
        this.fingerprint = fingerprint;
        return this;
    }

    public String toString()
    {
        return "Outcome{type=" + type + ", op=" + op + ", code=" + code + ", flags=" + flags +
            ", serviceId=" + serviceId + ", timestamp=" + timestamp +
            ", requestId=" + Long.toHexString(requestIdHi) + ':' + Long.toHexString(requestIdLo) +
            ", holdId=" + Long.toHexString(holdIdHi) + ':' + Long.toHexString(holdIdLo) +
            ", userId=" + userId + ", amount=" + amount + ", fromFree=" + fromFree + ", fromBalance=" + fromBalance +
            ", returnedFree=" + returnedFree + ", returnedBalance=" + returnedBalance +
            ", balanceAfter=" + balanceAfter + ", freeUsedAfter=" + freeUsedAfter + ", periodId=" + periodId +
            ", periodType=" + periodType + ", expiresAt=" + expiresAt + ", fingerprint=" + fingerprint + '}';
    }
}
