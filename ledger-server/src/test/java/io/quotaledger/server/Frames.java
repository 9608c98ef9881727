package io.quotaledger.server;

import io.quotaledger.protocol.CreditEncoder;
import io.quotaledger.protocol.HelloEncoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.QueryEncoder;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Protocol frames built by hand, length prefix included, for tests that talk to the server over a raw socket.
 */
final class Frames
{
    /** The correlation id of every Hello built here. */
    static final long CORRELATION = 0x0102_0304_0506_0708L;

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
}
