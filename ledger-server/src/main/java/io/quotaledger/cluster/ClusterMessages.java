package io.quotaledger.cluster;

import io.quotaledger.core.Command;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * The messages between a node's gateway side ({@link ClusterEngine}) and the replicated ledger
 * ({@link LedgerClusteredService}): a request is the engine's correlation id and the command, in the cluster's log;
 * a reply is the same correlation id and the result, on the session's egress. Fixed layouts, little-endian, read and
 * written in place: nothing is allocated. The command's timestamp is not sent: the log's timestamp is the time.
 *
 * <pre>
 * request: correlationId(8) op(1) period(1) resetPeriod(1) unlimited(1) serviceCount(1) pad(3)
 *          requestIdHi requestIdLo userId amount holdIdHi holdIdLo ttlMillis virtualKeyId units multiplier requests
 *          perMillis resetMillis expiresAt (8 each) serviceId(4) groupId(4) services(4 × serviceCount)
 * reply:   correlationId(8) op(1) code(1) duplicate(1) frozen(1) flags(4)
 *          fromFree fromBalance returned balance held creditLimit freeRemaining virtualKeyId units amount
 *          retryAfterMillis keySpent keyBudgetRemaining (8 each)
 * </pre>
 */
final class ClusterMessages
{
    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    static final int CORRELATION_ID_OFFSET = 0;

    private static final int OP = 8;
    private static final int PERIOD = 9;
    private static final int RESET_PERIOD = 10;
    private static final int UNLIMITED = 11;
    private static final int SERVICE_COUNT = 12;
    private static final int REQUEST_LONGS = 16;
    private static final int REQUEST_LONG_COUNT = 14;
    private static final int SERVICE_ID = REQUEST_LONGS + REQUEST_LONG_COUNT * Long.BYTES;
    private static final int GROUP_ID = SERVICE_ID + Integer.BYTES;
    private static final int SERVICES = GROUP_ID + Integer.BYTES;

    /** The longest request: every service of a key's list. */
    static final int MAX_REQUEST_LENGTH = SERVICES + Command.MAX_SERVICES * Integer.BYTES;

    private static final int CODE = 9;
    private static final int DUPLICATE = 10;
    private static final int FROZEN = 11;
    private static final int FLAGS = 12;
    private static final int REPLY_LONGS = 16;
    private static final int REPLY_LONG_COUNT = 13;

    static final int REPLY_LENGTH = REPLY_LONGS + REPLY_LONG_COUNT * Long.BYTES;

    private ClusterMessages()
    {
    }

    /**
     * Writes a request at the start of {@code buffer}.
     *
     * @return the request's length.
     */
    static int encodeRequest(final MutableDirectBuffer buffer, final long correlationId, final Command command)
    {
        buffer.putLong(CORRELATION_ID_OFFSET, correlationId, ORDER);
        buffer.putByte(OP, command.op() == null ? 0 : command.op().code());
        buffer.putByte(PERIOD, command.period() == null ? 0 : command.period().code());
        buffer.putByte(RESET_PERIOD, command.resetPeriod() == null ? 0 : command.resetPeriod().code());
        buffer.putByte(UNLIMITED, (byte)(command.unlimited() ? 1 : 0));
        final int serviceCount = command.serviceCount();
        buffer.putByte(SERVICE_COUNT, (byte)serviceCount);
        int p = REQUEST_LONGS;
        p = putLong(buffer, p, command.requestIdHi());
        p = putLong(buffer, p, command.requestIdLo());
        p = putLong(buffer, p, command.userId());
        p = putLong(buffer, p, command.amount());
        p = putLong(buffer, p, command.holdIdHi());
        p = putLong(buffer, p, command.holdIdLo());
        p = putLong(buffer, p, command.ttlMillis());
        p = putLong(buffer, p, command.virtualKeyId());
        p = putLong(buffer, p, command.units());
        p = putLong(buffer, p, command.multiplier());
        p = putLong(buffer, p, command.requests());
        p = putLong(buffer, p, command.perMillis());
        p = putLong(buffer, p, command.resetMillis());
        putLong(buffer, p, command.expiresAt());
        buffer.putInt(SERVICE_ID, command.serviceId(), ORDER);
        buffer.putInt(GROUP_ID, command.groupId(), ORDER);
        for (int i = 0; i < serviceCount; i++)
        {
            buffer.putInt(SERVICES + i * Integer.BYTES, command.service(i), ORDER);
        }
        return SERVICES + serviceCount * Integer.BYTES;
    }

    /**
     * Reads a request into a reset command.
     *
     * @return false when the request is malformed (too short, an unknown code): the command is then not to be used.
     */
    static boolean decodeRequest(final DirectBuffer buffer, final int offset, final int length, final Command command)
    {
        if (length < SERVICES)
        {
            return false;
        }
        final int serviceCount = buffer.getByte(offset + SERVICE_COUNT);
        if (serviceCount < 0 || serviceCount > Command.MAX_SERVICES || length < SERVICES + serviceCount * Integer.BYTES)
        {
            return false;
        }
        final Op op = Op.fromCode(buffer.getByte(offset + OP));
        final byte periodCode = buffer.getByte(offset + PERIOD);
        final byte resetPeriodCode = buffer.getByte(offset + RESET_PERIOD);
        final Period period = Period.fromCode(periodCode);
        final Period resetPeriod = Period.fromCode(resetPeriodCode);
        if (op == null || periodCode != 0 && period == null || resetPeriodCode != 0 && resetPeriod == null)
        {
            return false;
        }
        int p = offset + REQUEST_LONGS;
        command
            .op(op)
            .period(period)
            .resetPeriod(resetPeriod)
            .unlimited(buffer.getByte(offset + UNLIMITED) != 0)
            .requestId(buffer.getLong(p, ORDER), buffer.getLong(p + 8, ORDER));
        p += 16;
        command.userId(buffer.getLong(p, ORDER)).amount(buffer.getLong(p + 8, ORDER));
        p += 16;
        command.holdId(buffer.getLong(p, ORDER), buffer.getLong(p + 8, ORDER));
        p += 16;
        command
            .ttlMillis(buffer.getLong(p, ORDER))
            .virtualKeyId(buffer.getLong(p + 8, ORDER))
            .units(buffer.getLong(p + 16, ORDER))
            .multiplier(buffer.getLong(p + 24, ORDER))
            .requests(buffer.getLong(p + 32, ORDER))
            .perMillis(buffer.getLong(p + 40, ORDER))
            .resetMillis(buffer.getLong(p + 48, ORDER))
            .expiresAt(buffer.getLong(p + 56, ORDER))
            .serviceId(buffer.getInt(offset + SERVICE_ID, ORDER))
            .groupId(buffer.getInt(offset + GROUP_ID, ORDER));
        for (int i = 0; i < serviceCount; i++)
        {
            command.addService(buffer.getInt(offset + SERVICES + i * Integer.BYTES, ORDER));
        }
        return true;
    }

    /**
     * Writes a reply of {@link #REPLY_LENGTH} bytes at the start of {@code buffer}.
     */
    static void encodeReply(final MutableDirectBuffer buffer, final long correlationId, final Result result)
    {
        buffer.putLong(CORRELATION_ID_OFFSET, correlationId, ORDER);
        buffer.putByte(OP, result.op() == null ? 0 : result.op().code());
        buffer.putByte(CODE, result.code().code());
        buffer.putByte(DUPLICATE, (byte)(result.duplicate() ? 1 : 0));
        buffer.putByte(FROZEN, (byte)(result.frozen() ? 1 : 0));
        buffer.putInt(FLAGS, result.flags(), ORDER);
        int p = REPLY_LONGS;
        p = putLong(buffer, p, result.fromFree());
        p = putLong(buffer, p, result.fromBalance());
        p = putLong(buffer, p, result.returned());
        p = putLong(buffer, p, result.balance());
        p = putLong(buffer, p, result.held());
        p = putLong(buffer, p, result.creditLimit());
        p = putLong(buffer, p, result.freeRemaining());
        p = putLong(buffer, p, result.virtualKeyId());
        p = putLong(buffer, p, result.units());
        p = putLong(buffer, p, result.amount());
        p = putLong(buffer, p, result.retryAfterMillis());
        p = putLong(buffer, p, result.keySpent());
        putLong(buffer, p, result.keyBudgetRemaining());
    }

    /**
     * Reads a reply into a result.
     *
     * @return false when the reply is malformed.
     */
    static boolean decodeReply(final DirectBuffer buffer, final int offset, final int length, final Result result)
    {
        final ResultCode code = length < REPLY_LENGTH ? null : ResultCode.fromCode(buffer.getByte(offset + CODE));
        if (code == null)
        {
            return false;
        }
        final int p = offset + REPLY_LONGS;
        result.reset()
            .op(Op.fromCode(buffer.getByte(offset + OP)))
            .code(code)
            .duplicate(buffer.getByte(offset + DUPLICATE) != 0)
            .frozen(buffer.getByte(offset + FROZEN) != 0)
            .flags(buffer.getInt(offset + FLAGS, ORDER))
            .fromFree(buffer.getLong(p, ORDER))
            .fromBalance(buffer.getLong(p + 8, ORDER))
            .returned(buffer.getLong(p + 16, ORDER))
            .balance(buffer.getLong(p + 24, ORDER))
            .held(buffer.getLong(p + 32, ORDER))
            .creditLimit(buffer.getLong(p + 40, ORDER))
            .freeRemaining(buffer.getLong(p + 48, ORDER))
            .virtualKeyId(buffer.getLong(p + 56, ORDER))
            .units(buffer.getLong(p + 64, ORDER))
            .amount(buffer.getLong(p + 72, ORDER))
            .retryAfterMillis(buffer.getLong(p + 80, ORDER))
            .keySpent(buffer.getLong(p + 88, ORDER))
            .keyBudgetRemaining(buffer.getLong(p + 96, ORDER));
        return true;
    }

    static long correlationId(final DirectBuffer buffer, final int offset)
    {
        return buffer.getLong(offset + CORRELATION_ID_OFFSET, ORDER);
    }

    private static int putLong(final MutableDirectBuffer buffer, final int offset, final long value)
    {
        buffer.putLong(offset, value, ORDER);
        return offset + Long.BYTES;
    }
}
