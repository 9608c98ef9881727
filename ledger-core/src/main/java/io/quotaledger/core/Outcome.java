package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * One state change, in a fixed binary layout of {@link #LENGTH} bytes (little-endian). It carries absolute values
 * (balance and free use after the change), so that applying outcomes to an empty ledger reproduces its state exactly
 * without today's business rules, and the request's fingerprint, so that the dedupe window is rebuilt too.
 *
 * <p>Every type shares the head: type, op, code, flags, serviceId, timestamp, requestId, userId and fingerprint.
 * Types 1 to 11 use this layout:
 * <pre>
 * offset field            used by
 *   0    type   (byte)     all
 *   1    op     (byte)     all: the operation that caused it
 *   2    code   (byte)     REJECTED: the result code
 *   3    flags  (byte)     HOLD_SETTLED: Result.FLAG_EXCEEDED_HOLD
 *   4    serviceId (int)   CHARGED, HOLD_*, GRANTED, REJECTED
 *   8    timestamp         all (epoch ms)
 *  16    requestId (2 longs) all; for HOLD_EXPIRED the hold id
 *  32    holdId (2 longs)  HOLD_*, REJECTED
 *  48    userId            all
 *  56    amount            CREDITED: credit, GRANTED: allowance, LIMIT_SET: limit, REJECTED: requested amount,
 *                          HOLD_SETTLED: actual
 *  64    fromFree          CHARGED, HOLD_OPENED, HOLD_SETTLED (final charge); REJECTED: virtualKeyId
 *  72    fromBalance       same;                                             REJECTED: retryAfterMillis
 *  80    returnedFree      HOLD_SETTLED, HOLD_RELEASED, HOLD_EXPIRED;        REJECTED: units
 *  88    returnedBalance   same
 *  96    balanceAfter      all but REJECTED
 * 104    freeUsedAfter     CHARGED, HOLD_*, GRANTED: free units used in periodId
 * 112    periodId (int)    same
 * 116    periodType (byte) GRANTED
 * 120    expiresAt         HOLD_OPENED
 * 128    fingerprint       all but HOLD_EXPIRED
 * </pre>
 *
 * Gateway policy types (12 to 20) keep the head and lay out the rest by type (unused bytes are zero):
 * <pre>
 * offset  POLICY_APPLIED        VIRTUAL_KEY_SET         the other *_SET types and VIRTUAL_KEY_REVOKED
 *   3     -                     flags: FLAG_UNLIMITED   -
 *   4     serviceId             -                       serviceId: VIRTUAL_KEY_SERVICE_BUDGET_SET, PRICE_SET
 *  32     userRequestsTat       resetMillis             -
 *  40     userUnitsTat          resetPeriod (byte),     -
 *                               serviceCount (byte, 41)
 *  48     userId                userId                  userId (0 for PRICE_SET)
 *  56     amount                amount: budget (-1:     amount: SERVICE_BUDGET_SET budget (-1: removed),
 *                               unlimited)              SPEND_WINDOW_SET max, CONCURRENCY_SET max (0: removed);
 *                                                       PRICE_SET: multiplier
 *  64     virtualKeyId          virtualKeyId            virtualKeyId (0: the user itself)
 *  72     keySpentAfter         services (12 ints,      RATE_LIMIT_SET: requests
 *  80     units                 72..119, first          RATE_LIMIT_SET: units
 *  88     keyServiceSpentAfter  serviceCount used)      RATE_LIMIT_SET, SPEND_WINDOW_SET: perMillis
 *  96     keyPeriodId                                   -
 * 104     keyRequestsTat                                -
 * 112     keyUnitsTat                                   groupId (int): PRICE_SET, GROUP_SET
 * 120     -                     expiresAt (0: never)    -
 * 128     fingerprint           fingerprint             fingerprint
 * </pre>
 *
 * POLICY_APPLIED follows the CHARGED or HOLD_* outcome of the same request (same op, timestamp, requestId, userId,
 * serviceId): amount is what that outcome charged or held (the final charge for a close), units what the request
 * asked to be priced (0 for an amount), keySpentAfter and keyServiceSpentAfter the key's spend (and its spend on the
 * service) in period keyPeriodId after it, the four TATs the rate limiters' theoretical arrival times after it
 * (microseconds since the epoch; 0 where there is no limiter).
 */
public final class Outcome
{
    public static final int LENGTH = 136;
    /** VIRTUAL_KEY_SET: the key has no budget. */
    public static final int FLAG_UNLIMITED = 1;

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
    private long virtualKeyId;
    private long units;
    private long retryAfterMillis;
    private long keySpentAfter;
    private long keyServiceSpentAfter;
    private long keyPeriodId;
    private long userRequestsTat;
    private long userUnitsTat;
    private long keyRequestsTat;
    private long keyUnitsTat;
    private int groupId;
    private long multiplier;
    private long requests;
    private long perMillis;
    private Period resetPeriod;
    private long resetMillis;
    private int serviceCount;
    private final int[] services = new int[Command.MAX_SERVICES];

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
        this.virtualKeyId = 0;
        this.units = 0;
        this.retryAfterMillis = 0;
        this.keySpentAfter = 0;
        this.keyServiceSpentAfter = 0;
        this.keyPeriodId = 0;
        this.userRequestsTat = 0;
        this.userUnitsTat = 0;
        this.keyRequestsTat = 0;
        this.keyUnitsTat = 0;
        this.groupId = 0;
        this.multiplier = 0;
        this.requests = 0;
        this.perMillis = 0;
        this.resetPeriod = null;
        this.resetMillis = 0;
        this.serviceCount = 0;
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
        buffer.putLong(offset + 48, userId, ORDER);
        buffer.putLong(offset + 128, fingerprint, ORDER);
        switch (type)
        {
            case POLICY_APPLIED:
                buffer.putLong(offset + 32, userRequestsTat, ORDER);
                buffer.putLong(offset + 40, userUnitsTat, ORDER);
                buffer.putLong(offset + 56, amount, ORDER);
                buffer.putLong(offset + 64, virtualKeyId, ORDER);
                buffer.putLong(offset + 72, keySpentAfter, ORDER);
                buffer.putLong(offset + 80, units, ORDER);
                buffer.putLong(offset + 88, keyServiceSpentAfter, ORDER);
                buffer.putLong(offset + 96, keyPeriodId, ORDER);
                buffer.putLong(offset + 104, keyRequestsTat, ORDER);
                buffer.putLong(offset + 112, keyUnitsTat, ORDER);
                buffer.putLong(offset + 120, 0, ORDER);
                break;
            case VIRTUAL_KEY_SET:
                buffer.putLong(offset + 32, resetMillis, ORDER);
                buffer.putLong(offset + 40, 0, ORDER);
                buffer.putByte(offset + 40, resetPeriod == null ? 0 : resetPeriod.code());
                buffer.putByte(offset + 41, (byte)serviceCount);
                buffer.putLong(offset + 56, amount, ORDER);
                buffer.putLong(offset + 64, virtualKeyId, ORDER);
                for (int i = 0; i < Command.MAX_SERVICES; i++)
                {
                    buffer.putInt(offset + 72 + i * Integer.BYTES, i < serviceCount ? services[i] : 0, ORDER);
                }
                buffer.putLong(offset + 120, expiresAt, ORDER);
                break;
            case VIRTUAL_KEY_SERVICE_BUDGET_SET:
            case VIRTUAL_KEY_REVOKED:
            case PRICE_SET:
            case GROUP_SET:
            case RATE_LIMIT_SET:
            case SPEND_WINDOW_SET:
            case CONCURRENCY_SET:
                buffer.putLong(offset + 32, 0, ORDER);
                buffer.putLong(offset + 40, 0, ORDER);
                buffer.putLong(offset + 56, type == OutcomeType.PRICE_SET ? multiplier : amount, ORDER);
                buffer.putLong(offset + 64, virtualKeyId, ORDER);
                buffer.putLong(offset + 72, requests, ORDER);
                buffer.putLong(offset + 80, units, ORDER);
                buffer.putLong(offset + 88, perMillis, ORDER);
                buffer.putLong(offset + 96, 0, ORDER);
                buffer.putLong(offset + 104, 0, ORDER);
                buffer.putInt(offset + 112, groupId, ORDER);
                buffer.putInt(offset + 116, 0, ORDER);
                buffer.putLong(offset + 120, 0, ORDER);
                break;
            default:
            {
                final boolean rejected = type == OutcomeType.REJECTED;
                buffer.putLong(offset + 32, holdIdHi, ORDER);
                buffer.putLong(offset + 40, holdIdLo, ORDER);
                buffer.putLong(offset + 56, amount, ORDER);
                buffer.putLong(offset + 64, rejected ? virtualKeyId : fromFree, ORDER);
                buffer.putLong(offset + 72, rejected ? retryAfterMillis : fromBalance, ORDER);
                buffer.putLong(offset + 80, rejected ? units : returnedFree, ORDER);
                buffer.putLong(offset + 88, returnedBalance, ORDER);
                buffer.putLong(offset + 96, balanceAfter, ORDER);
                buffer.putLong(offset + 104, freeUsedAfter, ORDER);
                buffer.putInt(offset + 112, periodId, ORDER);
                buffer.putByte(offset + 116, periodType == null ? 0 : periodType.code());
                buffer.putByte(offset + 117, (byte)0);
                buffer.putShort(offset + 118, (short)0, ORDER);
                buffer.putLong(offset + 120, expiresAt, ORDER);
                break;
            }
        }
    }

    /**
     * @return false, leaving this outcome undefined, when the bytes do not hold a well-formed outcome.
     */
    public boolean decode(final DirectBuffer buffer, final int offset)
    {
        reset(OutcomeType.fromCode(buffer.getByte(offset)), Op.fromCode(buffer.getByte(offset + 1)),
            buffer.getLong(offset + 8, ORDER));
        code = ResultCode.fromCode(buffer.getByte(offset + 2));
        flags = buffer.getByte(offset + 3) & 0xFF;
        serviceId = buffer.getInt(offset + 4, ORDER);
        requestIdHi = buffer.getLong(offset + 16, ORDER);
        requestIdLo = buffer.getLong(offset + 24, ORDER);
        userId = buffer.getLong(offset + 48, ORDER);
        fingerprint = buffer.getLong(offset + 128, ORDER);
        if (type == null || op == null || code == null)
        {
            return false;
        }
        switch (type)
        {
            case POLICY_APPLIED:
                userRequestsTat = buffer.getLong(offset + 32, ORDER);
                userUnitsTat = buffer.getLong(offset + 40, ORDER);
                amount = buffer.getLong(offset + 56, ORDER);
                virtualKeyId = buffer.getLong(offset + 64, ORDER);
                keySpentAfter = buffer.getLong(offset + 72, ORDER);
                units = buffer.getLong(offset + 80, ORDER);
                keyServiceSpentAfter = buffer.getLong(offset + 88, ORDER);
                keyPeriodId = buffer.getLong(offset + 96, ORDER);
                keyRequestsTat = buffer.getLong(offset + 104, ORDER);
                keyUnitsTat = buffer.getLong(offset + 112, ORDER);
                return true;
            case VIRTUAL_KEY_SET:
            {
                resetMillis = buffer.getLong(offset + 32, ORDER);
                final byte periodCode = buffer.getByte(offset + 40);
                resetPeriod = Period.fromCode(periodCode);
                serviceCount = buffer.getByte(offset + 41) & 0xFF;
                amount = buffer.getLong(offset + 56, ORDER);
                virtualKeyId = buffer.getLong(offset + 64, ORDER);
                if (serviceCount > Command.MAX_SERVICES)
                {
                    return false;
                }
                for (int i = 0; i < serviceCount; i++)
                {
                    services[i] = buffer.getInt(offset + 72 + i * Integer.BYTES, ORDER);
                }
                expiresAt = buffer.getLong(offset + 120, ORDER);
                return periodCode == 0 || resetPeriod != null;
            }
            case VIRTUAL_KEY_SERVICE_BUDGET_SET:
            case VIRTUAL_KEY_REVOKED:
            case PRICE_SET:
            case GROUP_SET:
            case RATE_LIMIT_SET:
            case SPEND_WINDOW_SET:
            case CONCURRENCY_SET:
                if (type == OutcomeType.PRICE_SET)
                {
                    multiplier = buffer.getLong(offset + 56, ORDER);
                }
                else
                {
                    amount = buffer.getLong(offset + 56, ORDER);
                }
                virtualKeyId = buffer.getLong(offset + 64, ORDER);
                requests = buffer.getLong(offset + 72, ORDER);
                units = buffer.getLong(offset + 80, ORDER);
                perMillis = buffer.getLong(offset + 88, ORDER);
                groupId = buffer.getInt(offset + 112, ORDER);
                return true;
            default:
            {
                final boolean rejected = type == OutcomeType.REJECTED;
                holdIdHi = buffer.getLong(offset + 32, ORDER);
                holdIdLo = buffer.getLong(offset + 40, ORDER);
                amount = buffer.getLong(offset + 56, ORDER);
                if (rejected)
                {
                    virtualKeyId = buffer.getLong(offset + 64, ORDER);
                    retryAfterMillis = buffer.getLong(offset + 72, ORDER);
                    units = buffer.getLong(offset + 80, ORDER);
                }
                else
                {
                    fromFree = buffer.getLong(offset + 64, ORDER);
                    fromBalance = buffer.getLong(offset + 72, ORDER);
                    returnedFree = buffer.getLong(offset + 80, ORDER);
                }
                returnedBalance = buffer.getLong(offset + 88, ORDER);
                balanceAfter = buffer.getLong(offset + 96, ORDER);
                freeUsedAfter = buffer.getLong(offset + 104, ORDER);
                periodId = buffer.getInt(offset + 112, ORDER);
                final byte periodCode = buffer.getByte(offset + 116);
                periodType = Period.fromCode(periodCode);
                expiresAt = buffer.getLong(offset + 120, ORDER);
                return periodCode == 0 || periodType != null;
            }
        }
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

    /**
     * @return REJECTED, POLICY_APPLIED, VIRTUAL_KEY_*: the virtual key; RATE_LIMIT_SET, SPEND_WINDOW_SET,
     * CONCURRENCY_SET: the key whose limit was set, 0 for the user itself.
     */
    public long virtualKeyId()
    {
        return virtualKeyId;
    }

    public Outcome virtualKeyId(final long virtualKeyId)
    {
        this.virtualKeyId = virtualKeyId;
        return this;
    }

    /**
     * @return REJECTED, POLICY_APPLIED: the units the request asked to be priced (0: it carried an amount);
     * RATE_LIMIT_SET: units admitted per perMillis (0: none).
     */
    public long units()
    {
        return units;
    }

    public Outcome units(final long units)
    {
        this.units = units;
        return this;
    }

    /**
     * @return REJECTED with RATE_LIMITED or SPEND_WINDOW_EXCEEDED: ms until the check would pass, -1 never.
     */
    public long retryAfterMillis()
    {
        return retryAfterMillis;
    }

    public Outcome retryAfterMillis(final long retryAfterMillis)
    {
        this.retryAfterMillis = retryAfterMillis;
        return this;
    }

    /**
     * @return POLICY_APPLIED: the key's spend in period keyPeriodId after the request.
     */
    public long keySpentAfter()
    {
        return keySpentAfter;
    }

    public Outcome keySpentAfter(final long keySpentAfter)
    {
        this.keySpentAfter = keySpentAfter;
        return this;
    }

    /**
     * @return POLICY_APPLIED: the key's spend on the request's service in period keyPeriodId after the request (0
     * without a budget for that service).
     */
    public long keyServiceSpentAfter()
    {
        return keyServiceSpentAfter;
    }

    public Outcome keyServiceSpentAfter(final long keyServiceSpentAfter)
    {
        this.keyServiceSpentAfter = keyServiceSpentAfter;
        return this;
    }

    /**
     * @return POLICY_APPLIED: the key's current period (0 for a key that never resets).
     */
    public long keyPeriodId()
    {
        return keyPeriodId;
    }

    public Outcome keyPeriodId(final long keyPeriodId)
    {
        this.keyPeriodId = keyPeriodId;
        return this;
    }

    /**
     * @return POLICY_APPLIED: theoretical arrival time (µs) of the user's request limiter after the request.
     */
    public long userRequestsTat()
    {
        return userRequestsTat;
    }

    public Outcome userRequestsTat(final long userRequestsTat)
    {
        this.userRequestsTat = userRequestsTat;
        return this;
    }

    /**
     * @return POLICY_APPLIED: theoretical arrival time (µs) of the user's unit limiter after the request.
     */
    public long userUnitsTat()
    {
        return userUnitsTat;
    }

    public Outcome userUnitsTat(final long userUnitsTat)
    {
        this.userUnitsTat = userUnitsTat;
        return this;
    }

    /**
     * @return POLICY_APPLIED: theoretical arrival time (µs) of the key's request limiter after the request.
     */
    public long keyRequestsTat()
    {
        return keyRequestsTat;
    }

    public Outcome keyRequestsTat(final long keyRequestsTat)
    {
        this.keyRequestsTat = keyRequestsTat;
        return this;
    }

    /**
     * @return POLICY_APPLIED: theoretical arrival time (µs) of the key's unit limiter after the request.
     */
    public long keyUnitsTat()
    {
        return keyUnitsTat;
    }

    public Outcome keyUnitsTat(final long keyUnitsTat)
    {
        this.keyUnitsTat = keyUnitsTat;
        return this;
    }

    /**
     * @return PRICE_SET, GROUP_SET: the price group.
     */
    public int groupId()
    {
        return groupId;
    }

    public Outcome groupId(final int groupId)
    {
        this.groupId = groupId;
        return this;
    }

    /**
     * @return PRICE_SET: the multiplier, fixed point with six decimals ({@link Command#MULTIPLIER_ONE} is 1.0).
     */
    public long multiplier()
    {
        return multiplier;
    }

    public Outcome multiplier(final long multiplier)
    {
        this.multiplier = multiplier;
        return this;
    }

    /**
     * @return RATE_LIMIT_SET: requests admitted per perMillis (0: none).
     */
    public long requests()
    {
        return requests;
    }

    public Outcome requests(final long requests)
    {
        this.requests = requests;
        return this;
    }

    /**
     * @return RATE_LIMIT_SET: the limit's period; SPEND_WINDOW_SET: the window's length (ms).
     */
    public long perMillis()
    {
        return perMillis;
    }

    public Outcome perMillis(final long perMillis)
    {
        this.perMillis = perMillis;
        return this;
    }

    /**
     * @return VIRTUAL_KEY_SET: the calendar period the key's budget resets with, or null.
     */
    public Period resetPeriod()
    {
        return resetPeriod;
    }

    public Outcome resetPeriod(final Period resetPeriod)
    {
        this.resetPeriod = resetPeriod;
        return this;
    }

    /**
     * @return VIRTUAL_KEY_SET: the duration (ms) the key's budget resets with, 0 for none.
     */
    public long resetMillis()
    {
        return resetMillis;
    }

    public Outcome resetMillis(final long resetMillis)
    {
        this.resetMillis = resetMillis;
        return this;
    }

    /**
     * @return VIRTUAL_KEY_SET: the key has no budget (flag {@link #FLAG_UNLIMITED}).
     */
    public boolean unlimited()
    {
        return type == OutcomeType.VIRTUAL_KEY_SET && (flags & FLAG_UNLIMITED) != 0;
    }

    /**
     * @return VIRTUAL_KEY_SET: how many allowed services the key has (0: all are allowed).
     */
    public int serviceCount()
    {
        return serviceCount;
    }

    /**
     * @param index 0 &le; index &lt; serviceCount().
     * @return VIRTUAL_KEY_SET: the allowed service at that index.
     */
    public int service(final int index)
    {
        if (index < 0 || index >= serviceCount)
        {
            throw new IndexOutOfBoundsException("service " + index + " of " + serviceCount);
        }
        return services[index];
    }

    /**
     * VIRTUAL_KEY_SET: adds an allowed service, at most {@link Command#MAX_SERVICES}.
     */
    public Outcome addService(final int serviceId)
    {
        if (serviceCount == Command.MAX_SERVICES)
        {
            throw new IllegalStateException("more than " + Command.MAX_SERVICES + " services");
        }
        services[serviceCount++] = serviceId;
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
            ", periodType=" + periodType + ", expiresAt=" + expiresAt + ", fingerprint=" + fingerprint +
            policyToString() + '}';
    }

    private String policyToString()
    {
        if (type == null || type.code() < OutcomeType.POLICY_APPLIED.code() && type != OutcomeType.REJECTED)
        {
            return "";
        }
        final StringBuilder sb = new StringBuilder(256)
            .append(", virtualKeyId=").append(virtualKeyId).append(", units=").append(units)
            .append(", retryAfterMillis=").append(retryAfterMillis).append(", keySpentAfter=").append(keySpentAfter)
            .append(", keyServiceSpentAfter=").append(keyServiceSpentAfter).append(", keyPeriodId=").append(keyPeriodId)
            .append(", tats=").append(userRequestsTat).append('/').append(userUnitsTat).append('/')
            .append(keyRequestsTat).append('/').append(keyUnitsTat)
            .append(", groupId=").append(groupId).append(", multiplier=").append(multiplier)
            .append(", requests=").append(requests).append(", perMillis=").append(perMillis)
            .append(", resetPeriod=").append(resetPeriod).append(", resetMillis=").append(resetMillis)
            .append(", services=[");
        for (int i = 0; i < serviceCount; i++)
        {
            sb.append(i == 0 ? "" : ",").append(services[i]);
        }
        return sb.append(']').toString();
    }
}
