package io.quotaledger.server;

import io.quotaledger.protocol.BooleanType;
import io.quotaledger.protocol.CreditEncoder;
import io.quotaledger.protocol.DeductEncoder;
import io.quotaledger.protocol.HelloEncoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ReserveEncoder;
import io.quotaledger.protocol.RevokeVirtualKeyEncoder;
import io.quotaledger.protocol.SetConcurrencyEncoder;
import io.quotaledger.protocol.SetGroupEncoder;
import io.quotaledger.protocol.SetPriceEncoder;
import io.quotaledger.protocol.SetRateLimitEncoder;
import io.quotaledger.protocol.SetSpendWindowEncoder;
import io.quotaledger.protocol.SetVirtualKeyEncoder;
import io.quotaledger.protocol.SetVirtualKeyServiceBudgetEncoder;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Protocol frames built by hand, length prefix included, for tests that talk to the server over a raw socket.
 */
final class Frames
{
    /** The correlation id of every Hello built here. */
    static final long CORRELATION = 0x0102_0304_0506_0708L;
    /** The high half of the request id of every request built here. */
    static final long REQUEST_HI = 0x0A0B_0C0D_0E0F_1011L;

    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;

    private Frames()
    {
    }

    static byte[] hello(final String key)
    {
        final byte[] apiKey = key.getBytes(StandardCharsets.US_ASCII);
        final byte[] frame = new byte[4 + HEADER + HelloEncoder.BLOCK_LENGTH + 2 + apiKey.length];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        new HelloEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(CORRELATION)
            .clientVersion(HelloEncoder.SCHEMA_VERSION).putApiKey(apiKey, 0, apiKey.length);
        return frame;
    }

    static byte[] query(final long correlationId, final long userId)
    {
        final byte[] frame = new byte[4 + HEADER + QueryEncoder.BLOCK_LENGTH];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        new QueryEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId)
            .userId(userId).serviceId(0);
        return frame;
    }

    static byte[] credit(
        final long correlationId, final long requestIdHi, final long requestIdLo, final long userId, final long amount)
    {
        final byte[] frame = new byte[4 + HEADER + CreditEncoder.BLOCK_LENGTH];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        final CreditEncoder encoder = new CreditEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        encoder.requestId().hi(requestIdHi).lo(requestIdLo);
        encoder.userId(userId).amount(amount);
        return frame;
    }

    static byte[] query(final long correlationId, final long userId, final int serviceId, final long virtualKeyId)
    {
        final UnsafeBuffer buffer = frame(QueryEncoder.BLOCK_LENGTH);
        new QueryEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId)
            .userId(userId).serviceId(serviceId).virtualKeyId(virtualKeyId);
        return buffer.byteArray();
    }

    static byte[] deduct(final long correlationId, final long requestIdLo, final long userId, final int serviceId,
        final long amount, final long virtualKeyId, final long units)
    {
        final UnsafeBuffer buffer = frame(DeductEncoder.BLOCK_LENGTH);
        final DeductEncoder encoder = new DeductEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).serviceId(serviceId).amount(amount).virtualKeyId(virtualKeyId).units(units);
        return buffer.byteArray();
    }

    static byte[] reserve(final long correlationId, final long requestIdLo, final long userId, final int serviceId,
        final long amount, final long ttlMillis, final long virtualKeyId, final long units)
    {
        final UnsafeBuffer buffer = frame(ReserveEncoder.BLOCK_LENGTH);
        final ReserveEncoder encoder = new ReserveEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).serviceId(serviceId).amount(amount).ttlMillis(ttlMillis).virtualKeyId(virtualKeyId)
            .units(units);
        return buffer.byteArray();
    }

    static byte[] setVirtualKey(final long correlationId, final long requestIdLo, final long userId,
        final long virtualKeyId, final long budget, final boolean unlimited, final Period resetPeriod,
        final long resetMillis, final long expiresAt, final int... services)
    {
        final UnsafeBuffer buffer = frame(SetVirtualKeyEncoder.BLOCK_LENGTH + 4 + 4 * services.length);
        final SetVirtualKeyEncoder encoder = new SetVirtualKeyEncoder()
            .wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).virtualKeyId(virtualKeyId).budget(budget)
            .unlimited(unlimited ? BooleanType.TRUE : BooleanType.FALSE).resetPeriod(resetPeriod)
            .resetMillis(resetMillis).expiresAt(expiresAt);
        final SetVirtualKeyEncoder.ServicesEncoder list = encoder.servicesCount(services.length);
        for (final int service : services)
        {
            list.next().serviceId(service);
        }
        return buffer.byteArray();
    }

    static byte[] setVirtualKeyServiceBudget(final long correlationId, final long requestIdLo, final long userId,
        final long virtualKeyId, final int serviceId, final long budget)
    {
        final UnsafeBuffer buffer = frame(SetVirtualKeyServiceBudgetEncoder.BLOCK_LENGTH);
        final SetVirtualKeyServiceBudgetEncoder encoder = new SetVirtualKeyServiceBudgetEncoder()
            .wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).virtualKeyId(virtualKeyId).serviceId(serviceId).budget(budget);
        return buffer.byteArray();
    }

    static byte[] revokeVirtualKey(final long correlationId, final long requestIdLo, final long userId,
        final long virtualKeyId)
    {
        final UnsafeBuffer buffer = frame(RevokeVirtualKeyEncoder.BLOCK_LENGTH);
        final RevokeVirtualKeyEncoder encoder = new RevokeVirtualKeyEncoder()
            .wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).virtualKeyId(virtualKeyId);
        return buffer.byteArray();
    }

    static byte[] setPrice(final long correlationId, final long requestIdLo, final int groupId, final int serviceId,
        final long multiplier)
    {
        final UnsafeBuffer buffer = frame(SetPriceEncoder.BLOCK_LENGTH);
        final SetPriceEncoder encoder = new SetPriceEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.groupId(groupId).serviceId(serviceId).multiplier(multiplier);
        return buffer.byteArray();
    }

    static byte[] setGroup(final long correlationId, final long requestIdLo, final long userId, final int groupId)
    {
        final UnsafeBuffer buffer = frame(SetGroupEncoder.BLOCK_LENGTH);
        final SetGroupEncoder encoder = new SetGroupEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).groupId(groupId);
        return buffer.byteArray();
    }

    static byte[] setRateLimit(final long correlationId, final long requestIdLo, final long userId,
        final long virtualKeyId, final long requests, final long units, final long perMillis)
    {
        final UnsafeBuffer buffer = frame(SetRateLimitEncoder.BLOCK_LENGTH);
        final SetRateLimitEncoder encoder = new SetRateLimitEncoder()
            .wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).virtualKeyId(virtualKeyId).requests(requests).units(units).perMillis(perMillis);
        return buffer.byteArray();
    }

    static byte[] setSpendWindow(final long correlationId, final long requestIdLo, final long userId,
        final long virtualKeyId, final long max, final long perMillis)
    {
        final UnsafeBuffer buffer = frame(SetSpendWindowEncoder.BLOCK_LENGTH);
        final SetSpendWindowEncoder encoder = new SetSpendWindowEncoder()
            .wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).virtualKeyId(virtualKeyId).max(max).perMillis(perMillis);
        return buffer.byteArray();
    }

    static byte[] setConcurrency(final long correlationId, final long requestIdLo, final long userId,
        final long virtualKeyId, final long max)
    {
        final UnsafeBuffer buffer = frame(SetConcurrencyEncoder.BLOCK_LENGTH);
        final SetConcurrencyEncoder encoder = new SetConcurrencyEncoder()
            .wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(REQUEST_HI).lo(requestIdLo);
        encoder.userId(userId).virtualKeyId(virtualKeyId).max(max);
        return buffer.byteArray();
    }

    /**
     * @return a copy of the frame with another version in its header, nothing else changed.
     */
    static byte[] withVersion(final byte[] frame, final int version)
    {
        final byte[] copy = frame.clone();
        new UnsafeBuffer(copy).putShort(4 + 6, (short)version, ByteOrder.LITTLE_ENDIAN);
        return copy;
    }

    /**
     * @return the frame with version 1 in its header and its root block cut to {@code blockLength} (a message's
     * version-1 form is its version-2 form without the appended fields).
     */
    static byte[] asVersion1(final byte[] frame, final int blockLength)
    {
        final byte[] cut = Arrays.copyOf(frame, 4 + HEADER + blockLength);
        final UnsafeBuffer buffer = new UnsafeBuffer(cut);
        buffer.putInt(0, HEADER + blockLength, ByteOrder.LITTLE_ENDIAN);
        buffer.putShort(4, (short)blockLength, ByteOrder.LITTLE_ENDIAN);
        buffer.putShort(4 + 6, (short)1, ByteOrder.LITTLE_ENDIAN);
        return cut;
    }

    /**
     * A zeroed frame for a message of {@code messageLength} bytes after the header, its length prefix written.
     */
    private static UnsafeBuffer frame(final int messageLength)
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[4 + HEADER + messageLength]);
        buffer.putInt(0, HEADER + messageLength, ByteOrder.LITTLE_ENDIAN);
        return buffer;
    }
}
