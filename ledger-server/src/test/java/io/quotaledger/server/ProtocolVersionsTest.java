package io.quotaledger.server;

import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.server.Wire.Answer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Protocol versions 1 and 2 side by side (docs/protocol.md "Versions"). The version-1 frames and answers here are
 * written byte by byte from the version-1 tables, not with today's codecs: a client written for version 1 gets
 * exactly the bytes a version-1 server sent it.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class ProtocolVersionsTest
{
    private static final int SCHEMA_ID = 7070;
    private static final long HELLO_CORRELATION = 11;

    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    private TestServer ledger;

    @AfterEach
    void stop()
    {
        if (ledger != null)
        {
            ledger.close();
        }
    }

    /**
     * A frame: length prefix, then the SBE header, then a block the caller fills.
     */
    private static ByteBuffer frame(final int blockLength, final int templateId, final int version, final int tail)
    {
        final ByteBuffer frame = ByteBuffer.allocate(4 + 8 + blockLength + tail).order(ByteOrder.LITTLE_ENDIAN);
        frame.putInt(8 + blockLength + tail)
            .putShort((short)blockLength).putShort((short)templateId).putShort((short)SCHEMA_ID).putShort((short)version);
        return frame;
    }

    private static byte[] v1Hello(final String key)
    {
        final byte[] bytes = key.getBytes(StandardCharsets.US_ASCII);
        return frame(10, 1, 1, 2 + bytes.length).putLong(HELLO_CORRELATION).putShort((short)1)
            .putShort((short)bytes.length).put(bytes).array();
    }

    private static byte[] v1Credit(final long correlationId, final long requestIdLo, final long userId,
        final long amount)
    {
        return frame(40, 14, 1, 0).putLong(correlationId).putLong(7).putLong(requestIdLo).putLong(userId)
            .putLong(amount).array();
    }

    private static byte[] v1Deduct(final long correlationId, final long requestIdLo, final long userId,
        final int serviceId, final long amount)
    {
        return frame(44, 10, 1, 0).putLong(correlationId).putLong(7).putLong(requestIdLo).putLong(userId)
            .putInt(serviceId).putLong(amount).array();
    }

    private static byte[] v1Query(final long correlationId, final long userId, final int serviceId)
    {
        return frame(20, 19, 1, 0).putLong(correlationId).putLong(userId).putInt(serviceId).array();
    }

    private static byte[] v1HelloResult(final long correlationId, final int code, final int role)
    {
        return frame(12, 2, 1, 0).putLong(correlationId).put((byte)code).put((byte)role).putShort((short)1).array();
    }

    private static byte[] v1Result(final long correlationId, final int op, final int code, final long fromBalance,
        final long balance)
    {
        return frame(67, 30, 1, 0).putLong(correlationId).put((byte)op).put((byte)code).put((byte)0)
            .putLong(0).putLong(fromBalance).putLong(0).putLong(balance).putLong(0).putLong(0).putLong(0).array();
    }

    private static int uint16(final byte[] frame, final int offset)
    {
        return ByteBuffer.wrap(frame).order(ByteOrder.LITTLE_ENDIAN).getShort(offset) & 0xFFFF;
    }

    @Test
    void shouldAnswerAVersionOneClientWithTheVersionOneBytes() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger))
        {
            wire.send(v1Hello(ledger.adminKey));
            assertArrayEquals(v1HelloResult(HELLO_CORRELATION, 0, 2), wire.readFrame(), "HelloResult OK, ADMIN");

            wire.send(v1Credit(21, 1, 5, 1_000));
            assertArrayEquals(v1Result(21, 5, 0, 0, 1_000), wire.readFrame(), "Credit");
            wire.send(v1Deduct(22, 2, 5, 7, 100));
            assertArrayEquals(v1Result(22, 1, 0, 100, 900), wire.readFrame(), "Deduct");
            wire.send(v1Deduct(23, 3, 5, 7, 5_000));
            assertArrayEquals(v1Result(23, 1, 1, 0, 900), wire.readFrame(), "Deduct: INSUFFICIENT_FUNDS");
            wire.send(v1Query(24, 5, 7));
            assertArrayEquals(v1Result(24, 10, 0, 0, 900), wire.readFrame(), "Query");
            wire.send(v1Query(25, 6, 0));
            assertArrayEquals(v1Result(25, 10, 2, 0, 0), wire.readFrame(), "Query: UNKNOWN_ACCOUNT");

            // protocol errors too: an unknown template, and a message version 1 does not have
            final byte[] unknown = v1Query(26, 5, 0);
            unknown[4 + 2] = 77;
            wire.send(unknown);
            assertArrayEquals(v1Result(26, 0, 23, 0, 0), wire.readFrame(), "UNKNOWN_MESSAGE");
            wire.send(Frames.asVersion1(Frames.setGroup(27, 8, 5, 1), 36));
            assertArrayEquals(v1Result(27, 16, 24, 0, 0), wire.readFrame(), "SetGroup in version 1");
        }
    }

    @Test
    void shouldAnswerAVersionTwoClientInVersionTwo() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger))
        {
            wire.send(Frames.hello(ledger.gatewayKey));
            final byte[] hello = wire.readFrame();
            assertEquals(4 + 8 + 12, hello.length);
            assertEquals(2, uint16(hello, 4 + 6), "header version");
            assertEquals(2, uint16(hello, 4 + 8 + 10), "serverVersion");

            wire.send(Frames.query(31, 5, 0, 0));
            final byte[] result = wire.readFrame();
            assertEquals(4 + 8 + 115, result.length);
            assertEquals(115, uint16(result, 4));
            assertEquals(2, uint16(result, 4 + 6));
        }
    }

    @Test
    void shouldTakeFramesOfEitherVersionAndAnswerInTheVersionOfTheHello() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire v1 = new Wire(ledger); Wire v2 = new Wire(ledger).hello(ledger.adminKey))
        {
            v1.send(v1Hello(ledger.adminKey));
            v1.readFrame();
            v1.send(v1Credit(41, 1, 8, 500));
            v1.readFrame();
            // a version-2 Deduct on a version-1 connection: applied, answered in version 1
            v1.send(Frames.deduct(42, 2, 8, 1, 50, 0, 0));
            assertArrayEquals(v1Result(42, 1, 0, 50, 450), v1.readFrame());

            // a version-1 Deduct on a version-2 connection: applied, answered in version 2
            v2.send(v1Deduct(43, 3, 8, 1, 50));
            final Answer answer = v2.read();
            assertEquals(43, answer.correlationId());
            assertEquals(Op.DEDUCT, answer.op());
            assertEquals(ResultCode.OK, answer.code());
            v2.send(Frames.query(44, 8, 0, 0));
            final byte[] query = v2.readFrame();
            assertEquals(4 + 8 + 115, query.length);
            assertEquals(400, ByteBuffer.wrap(query).order(ByteOrder.LITTLE_ENDIAN).getLong(4 + 8 + 35), "balance");
        }
    }
}
