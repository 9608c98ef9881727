package io.quotaledger.server;

import io.quotaledger.protocol.CreditEncoder;
import io.quotaledger.protocol.HelloEncoder;
import io.quotaledger.protocol.HelloResultDecoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.Role;
import io.quotaledger.protocol.TakeSnapshotEncoder;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every row of docs/protocol.md "Error behaviour", over a raw socket: the exact answer, and whether the connection
 * stays open (a following valid Query is answered) or is closed.
 */
class ProtocolErrorsTest
{
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final long CORRELATION = 0x0102_0304_0506_0708L;

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
     * A result or hello result as read off the wire.
     */
    private record Answer(int templateId, long correlationId, Op op, ResultCode code, Role role)
    {
    }

    /**
     * One raw connection: writes frames, reads answers.
     */
    private static final class Wire implements AutoCloseable
    {
        final Socket socket;
        final OutputStream out;
        final DataInputStream in;

        Wire(final TestServer ledger) throws IOException
        {
            socket = new Socket("127.0.0.1", ledger.port());
            socket.setSoTimeout(5_000);
            out = socket.getOutputStream();
            in = new DataInputStream(socket.getInputStream());
        }

        Wire send(final byte[] bytes) throws IOException
        {
            out.write(bytes);
            out.flush();
            return this;
        }

        Answer read() throws IOException
        {
            final byte[] prefix = new byte[4];
            in.readFully(prefix);
            final int length = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getInt();
            final byte[] frame = new byte[length];
            in.readFully(frame);
            final ByteBuffer buffer = ByteBuffer.wrap(frame).order(ByteOrder.LITTLE_ENDIAN);
            final int templateId = buffer.getShort(2) & 0xFFFF;
            if (templateId == HelloResultDecoder.TEMPLATE_ID)
            {
                assertEquals(HEADER + HelloResultDecoder.BLOCK_LENGTH, length);
                return new Answer(templateId, buffer.getLong(HEADER), Op.HELLO,
                    ResultCode.get((short)(buffer.get(HEADER + 8) & 0xFF)),
                    Role.get((short)(buffer.get(HEADER + 9) & 0xFF)));
            }
            assertEquals(ResultDecoder.TEMPLATE_ID, templateId);
            assertEquals(HEADER + ResultDecoder.BLOCK_LENGTH, length);
            return new Answer(templateId, buffer.getLong(HEADER), Op.get((short)(buffer.get(HEADER + 8) & 0xFF)),
                ResultCode.get((short)(buffer.get(HEADER + 9) & 0xFF)), null);
        }

        Wire hello(final String key) throws IOException
        {
            send(ProtocolErrorsTest.hello(key));
            final Answer answer = read();
            assertEquals(ResultCode.OK, answer.code());
            return this;
        }

        /**
         * The connection is still served: a valid Query gets its answer.
         */
        void assertOpen() throws IOException
        {
            send(query(99, 7));
            final Answer answer = read();
            assertEquals(99, answer.correlationId());
            assertEquals(Op.QUERY, answer.op());
            assertEquals(ResultCode.UNKNOWN_ACCOUNT, answer.code());
        }

        /**
         * The server closed the connection (end of stream or a reset), nothing more sent.
         */
        void assertClosed() throws IOException
        {
            try
            {
                final int next = in.read();
                assertEquals(-1, next, "expected the connection closed, got more bytes");
            }
            catch (final SocketTimeoutException ex)
            {
                fail("the connection is still open");
            }
            catch (final SocketException ex)
            {
                // reset by the server: closed too
            }
        }

        public void close() throws IOException
        {
            socket.close();
        }
    }

    private static byte[] hello(final String key)
    {
        final byte[] apiKey = key.getBytes(StandardCharsets.US_ASCII);
        final byte[] frame = new byte[4 + HEADER + HelloEncoder.BLOCK_LENGTH + 2 + apiKey.length];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        new HelloEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(CORRELATION)
            .clientVersion(1).putApiKey(apiKey, 0, apiKey.length);
        return frame;
    }

    private static byte[] query(final long correlationId, final long userId)
    {
        final byte[] frame = new byte[4 + HEADER + QueryEncoder.BLOCK_LENGTH];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        new QueryEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId)
            .userId(userId).serviceId(0);
        return frame;
    }

    private static byte[] credit(final long correlationId)
    {
        final byte[] frame = new byte[4 + HEADER + CreditEncoder.BLOCK_LENGTH];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        final CreditEncoder encoder = new CreditEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        encoder.requestId().hi(1).lo(2);
        encoder.userId(5).amount(100);
        return frame;
    }

    private static byte[] takeSnapshot(final long correlationId)
    {
        final byte[] frame = new byte[4 + HEADER + TakeSnapshotEncoder.BLOCK_LENGTH];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        new TakeSnapshotEncoder().wrapAndApplyHeader(buffer, 4, new MessageHeaderEncoder()).correlationId(correlationId);
        return frame;
    }

    /**
     * @param offset of a uint16 in the SBE header: 0 blockLength, 2 templateId, 4 schemaId, 6 version.
     */
    private static byte[] withHeaderField(final byte[] frame, final int offset, final int value)
    {
        final byte[] copy = frame.clone();
        new UnsafeBuffer(copy).putShort(4 + offset, (short)value, ByteOrder.LITTLE_ENDIAN);
        return copy;
    }

    /**
     * A frame of {@code length} bytes after the prefix: the given frame's message, cut or zero-padded.
     */
    private static byte[] withLength(final byte[] frame, final int length)
    {
        final byte[] copy = Arrays.copyOf(frame, 4 + length);
        new UnsafeBuffer(copy).putInt(0, length, ByteOrder.LITTLE_ENDIAN);
        return copy;
    }

    private static void assertAnswer(final Answer answer, final long correlationId, final Op op, final ResultCode code)
    {
        assertEquals(ResultDecoder.TEMPLATE_ID, answer.templateId());
        assertEquals(correlationId, answer.correlationId());
        assertEquals(op, answer.op());
        assertEquals(code, answer.code());
    }

    @Test
    void shouldAnswerARequestBeforeHelloWithUnauthenticatedAndClose() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger))
        {
            wire.send(query(42, 1));
            assertAnswer(wire.read(), 42, Op.QUERY, ResultCode.UNAUTHENTICATED);
            wire.assertClosed();
        }
        assertEquals(1, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNAUTHENTICATED));
    }

    @Test
    void shouldAnswerAHelloWithAWrongKeyWithUnauthenticatedAndClose() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger))
        {
            wire.send(hello("qlk_wrong"));
            final Answer answer = wire.read();
            assertEquals(HelloResultDecoder.TEMPLATE_ID, answer.templateId());
            assertEquals(CORRELATION, answer.correlationId());
            assertEquals(ResultCode.UNAUTHENTICATED, answer.code());
            assertEquals(Role.NONE, answer.role());
            wire.assertClosed();
        }
    }

    @Test
    void shouldAnswerAMalformedHelloWithMalformedAndClose() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger))
        {
            final byte[] hello = hello(ledger.adminKey);
            wire.send(withLength(hello, hello.length - 4 + 3)); // three bytes more than the key's length says
            assertAnswer(wire.read(), CORRELATION, Op.HELLO, ResultCode.MALFORMED);
            wire.assertClosed();
        }
    }

    @Test
    void shouldAnswerHelloWithTheRole() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire admin = new Wire(ledger); Wire gateway = new Wire(ledger))
        {
            final Answer adminAnswer = admin.send(hello(ledger.adminKey)).read();
            assertEquals(CORRELATION, adminAnswer.correlationId());
            assertEquals(Role.ADMIN, adminAnswer.role());
            assertEquals(Role.GATEWAY, gateway.send(hello(ledger.gatewayKey)).read().role());
        }
    }

    @Test
    void shouldAnswerAWrongSchemaIdOrTemplateIdWithUnknownMessageAndStayOpen() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            wire.send(withHeaderField(query(43, 1), 4, 9999));
            assertAnswer(wire.read(), 43, Op.NONE, ResultCode.UNKNOWN_MESSAGE);
            wire.assertOpen();

            wire.send(withHeaderField(query(44, 1), 2, 77));
            assertAnswer(wire.read(), 44, Op.NONE, ResultCode.UNKNOWN_MESSAGE);
            wire.assertOpen();
        }
        assertEquals(2, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNKNOWN_MESSAGE));
    }

    @Test
    void shouldAnswerVersionTwoWithUnsupportedVersionAndStayOpen() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            wire.send(withHeaderField(query(45, 1), 6, 2));
            assertAnswer(wire.read(), 45, Op.NONE, ResultCode.UNSUPPORTED_VERSION);
            wire.assertOpen();
        }
        assertEquals(1, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNSUPPORTED_VERSION));
    }

    @Test
    void shouldAnswerAWrongBlockOrFrameLengthWithMalformedAndStayOpen() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            // blockLength 21 with a frame to match: not a Query's block
            final byte[] longerBlock = withLength(query(46, 1), HEADER + QueryEncoder.BLOCK_LENGTH + 1);
            wire.send(withHeaderField(longerBlock, 0, QueryEncoder.BLOCK_LENGTH + 1));
            assertAnswer(wire.read(), 46, Op.QUERY, ResultCode.MALFORMED);
            wire.assertOpen();

            // the right blockLength, but a frame with trailing bytes
            wire.send(withLength(query(47, 1), HEADER + QueryEncoder.BLOCK_LENGTH + 8));
            assertAnswer(wire.read(), 47, Op.QUERY, ResultCode.MALFORMED);
            wire.assertOpen();
        }
        assertEquals(2, ledger.metrics.badFrames(ServerMetrics.BadFrame.MALFORMED));
    }

    @ParameterizedTest
    @ValueSource(ints = { 8, 15, 4097, 5000 })
    void shouldAnswerAFrameLengthOutOfRangeWithMalformedAndClose(final int length) throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            final byte[] bytes = new byte[4 + Math.min(length, 16)];
            new UnsafeBuffer(bytes).putInt(0, length, ByteOrder.LITTLE_ENDIAN);
            wire.send(bytes);
            assertAnswer(wire.read(), 0, Op.NONE, ResultCode.MALFORMED);
            wire.assertClosed();
        }
        final ServerMetrics.BadFrame kind = length > 4096 ?
            ServerMetrics.BadFrame.OVERSIZED : ServerMetrics.BadFrame.MALFORMED;
        assertEquals(1, ledger.metrics.badFrames(kind));
    }

    @Test
    void shouldAcceptTheSmallestAndLargestFrameLengths() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            // 16 and 4096 are in range: answered MALFORMED (not a Query's length) on an open connection
            wire.send(withLength(query(48, 1), 16));
            assertAnswer(wire.read(), 48, Op.QUERY, ResultCode.MALFORMED);
            wire.send(withLength(query(49, 1), 4096));
            assertAnswer(wire.read(), 49, Op.QUERY, ResultCode.MALFORMED);
            wire.assertOpen();
        }
    }

    @Test
    void shouldAnswerAGatewayCreditOrSnapshotWithForbiddenAndStayOpen() throws Exception
    {
        ledger = new TestServer(dir);
        try (Wire wire = new Wire(ledger).hello(ledger.gatewayKey))
        {
            wire.send(credit(50));
            assertAnswer(wire.read(), 50, Op.CREDIT, ResultCode.FORBIDDEN);
            wire.assertOpen(); // user 5 was not opened by the refused credit

            wire.send(takeSnapshot(51));
            assertAnswer(wire.read(), 51, Op.SNAPSHOT, ResultCode.FORBIDDEN);
            wire.assertOpen();
        }
        assertEquals(2, ledger.metrics.badFrames(ServerMetrics.BadFrame.FORBIDDEN));
    }

    @Test
    void shouldCloseASilentConnectionAfterTheIdleTimeout() throws Exception
    {
        ledger = new TestServer(dir, new ServerConfig().idleTimeoutSeconds(1));
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            final long start = System.nanoTime();
            wire.assertClosed();
            final long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis >= 700 && millis < 3_000, "closed after " + millis + " ms");
        }
    }

    @Test
    void shouldCloseAConnectionThatNeverSaysHello() throws Exception
    {
        ledger = new TestServer(dir, new ServerConfig().helloTimeoutSeconds(1));
        try (Wire wire = new Wire(ledger))
        {
            final long start = System.nanoTime();
            wire.assertClosed();
            final long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis >= 700 && millis < 3_000, "closed after " + millis + " ms");
        }
        assertEquals(1, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNAUTHENTICATED));
    }

    @Test
    void shouldCloseEveryConnectionWhenTheServerCloses() throws Exception
    {
        for (int round = 0; round < 5; round++)
        {
            try (TestServer server = new TestServer(dir.resolve("round-" + round));
                Wire authenticated = new Wire(server).hello(server.adminKey);
                Wire anonymous = new Wire(server))
            {
                server.close();
                // else a client never notices the server went away, and never reconnects to its successor
                assertEquals(0, server.server.connections(), "round " + round);
                authenticated.assertClosed();
                anonymous.assertClosed();
            }
        }
    }

    @Test
    void shouldCountBadFramesOnTheMetricsEndpointAndAnswerHealth() throws Exception
    {
        ledger = new TestServer(dir);
        try (MetricsHttpServer http = new MetricsHttpServer("127.0.0.1", 0, ledger.metrics,
            () -> new MetricsHttpServer.Health(true, "{\"status\":\"ok\"}")))
        {
            try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
            {
                wire.send(withLength(new byte[12], 8));
                assertAnswer(wire.read(), 0, Op.NONE, ResultCode.MALFORMED);
                wire.assertClosed();
            }

            final HttpClient client = HttpClient.newHttpClient();
            final HttpResponse<String> metrics = client.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + http.port() + "/metrics")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
            assertEquals(200, metrics.statusCode());
            assertEquals(1.0, sample(metrics.body(), "ledger_bad_frames_total{kind=\"malformed\"}"), metrics.body());
            assertEquals(0.0, sample(metrics.body(), "ledger_bad_frames_total{kind=\"forbidden\"}"), metrics.body());

            final HttpResponse<String> health = client.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + http.port() + "/health")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode());
            assertTrue(health.body().contains("\"status\":\"ok\""), health.body());
        }
    }

    /**
     * @return the value of one sample line of a Prometheus text exposition, failing when it is missing.
     */
    static double sample(final String exposition, final String series)
    {
        for (final String line : exposition.split("\n"))
        {
            if (line.startsWith(series + " "))
            {
                return Double.parseDouble(line.substring(series.length() + 1).trim().split(" ")[0]);
            }
        }
        throw new AssertionError("no " + series + " in\n" + exposition);
    }
}
