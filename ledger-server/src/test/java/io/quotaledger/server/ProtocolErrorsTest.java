package io.quotaledger.server;

import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.CreditEncoder;
import io.quotaledger.protocol.DeductEncoder;
import io.quotaledger.protocol.HelloEncoder;
import io.quotaledger.protocol.HelloResultDecoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.Role;
import io.quotaledger.protocol.SetVirtualKeyEncoder;
import io.quotaledger.protocol.TakeSnapshotEncoder;
import io.quotaledger.server.Wire.Answer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static io.quotaledger.server.Frames.CORRELATION;
import static io.quotaledger.server.Frames.hello;
import static io.quotaledger.server.Frames.query;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every row of docs/protocol.md "Error behaviour", over a raw socket: the exact answer, and whether the connection
 * stays open (a following valid Query is answered) or is closed.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class ProtocolErrorsTest
{
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;

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

    private static byte[] concat(final byte[] first, final byte[] second)
    {
        final byte[] both = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        return both;
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
        ledger = new TestServer(threading, dir);
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
        ledger = new TestServer(threading, dir);
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
        ledger = new TestServer(threading, dir);
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
        ledger = new TestServer(threading, dir);
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
        ledger = new TestServer(threading, dir);
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
    void shouldAnswerVersionThreeOrZeroWithUnsupportedVersionAndStayOpen() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            wire.send(withHeaderField(query(45, 1), 6, 3));
            assertAnswer(wire.read(), 45, Op.NONE, ResultCode.UNSUPPORTED_VERSION);
            wire.assertOpen();
            wire.send(withHeaderField(query(46, 1), 6, 0));
            assertAnswer(wire.read(), 46, Op.NONE, ResultCode.UNSUPPORTED_VERSION);
            wire.assertOpen();
        }
        assertEquals(2, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNSUPPORTED_VERSION));
    }

    @Test
    void shouldAnswerAVersionTwoMessageSentAsVersionOneWithUnsupportedVersionAndStayOpen() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            // SetGroup exists since version 2: in a version-1 frame it is refused, whatever its length
            wire.send(withHeaderField(Frames.setGroup(47, 1, 5, 2), 6, 1));
            assertAnswer(wire.read(), 47, Op.SET_GROUP, ResultCode.UNSUPPORTED_VERSION);
            wire.assertOpen();
        }
        assertEquals(1, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNSUPPORTED_VERSION));
    }

    @Test
    void shouldAnswerABlockLengthOfTheOtherVersionWithMalformedAndStayOpen() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            // a version-2 Deduct's block in a frame that says version 1, and a version-1 Deduct's block saying 2
            wire.send(withHeaderField(Frames.deduct(48, 1, 5, 1, 10, 0, 0), 6, 1));
            assertAnswer(wire.read(), 48, Op.DEDUCT, ResultCode.MALFORMED);
            wire.send(withHeaderField(Frames.asVersion1(Frames.deduct(49, 1, 5, 1, 10, 0, 0),
                DeductEncoder.virtualKeyIdEncodingOffset()), 6, 2));
            assertAnswer(wire.read(), 49, Op.DEDUCT, ResultCode.MALFORMED);
            wire.assertOpen();
        }
        assertEquals(2, ledger.metrics.badFrames(ServerMetrics.BadFrame.MALFORMED));
    }

    @Test
    void shouldAnswerASetVirtualKeyWithABadServiceListOrEnumWithMalformedAndStayOpen() throws Exception
    {
        ledger = new TestServer(threading, dir);
        final byte[] twoServices = Frames.setVirtualKey(50, 1, 5, 9, 100, false, Period.DAY, 0, 0, 1, 2);
        final int groupHeader = 4 + HEADER + SetVirtualKeyEncoder.BLOCK_LENGTH;
        final byte[] countTooHigh = twoServices.clone();
        new UnsafeBuffer(countTooHigh).putShort(groupHeader + 2, (short)3, ByteOrder.LITTLE_ENDIAN);
        final byte[] wideEntries = twoServices.clone();
        new UnsafeBuffer(wideEntries).putShort(groupHeader, (short)8, ByteOrder.LITTLE_ENDIAN);
        final byte[] noGroupHeader = withLength(twoServices, HEADER + SetVirtualKeyEncoder.BLOCK_LENGTH);
        final byte[] unlimitedTwo = twoServices.clone();
        unlimitedTwo[4 + HEADER + SetVirtualKeyEncoder.unlimitedEncodingOffset()] = 2;
        final byte[] periodFour = twoServices.clone();
        periodFour[4 + HEADER + SetVirtualKeyEncoder.resetPeriodEncodingOffset()] = 4;
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            for (final byte[] bad : List.of(countTooHigh, wideEntries, noGroupHeader, unlimitedTwo, periodFour))
            {
                wire.send(bad);
                assertAnswer(wire.read(), 50, Op.SET_VIRTUAL_KEY, ResultCode.MALFORMED);
            }
            wire.assertOpen();
        }
        assertEquals(5, ledger.metrics.badFrames(ServerMetrics.BadFrame.MALFORMED));
    }

    @Test
    void shouldAnswerEveryPolicySettingFromAGatewayWithForbiddenAndStayOpen() throws Exception
    {
        ledger = new TestServer(threading, dir);
        final List<byte[]> settings = List.of(
            Frames.setVirtualKey(70, 1, 5, 9, 100, false, Period.DAY, 0, 0),
            Frames.setVirtualKeyServiceBudget(71, 2, 5, 9, 1, 10),
            Frames.revokeVirtualKey(72, 3, 5, 9),
            Frames.setPrice(73, 4, 1, 1, 1_500_000),
            Frames.setGroup(74, 5, 5, 1),
            Frames.setRateLimit(75, 6, 5, 9, 10, 0, 1_000),
            Frames.setSpendWindow(76, 7, 5, 9, 100, 60_000),
            Frames.setConcurrency(77, 8, 5, 9, 2));
        final Op[] ops = { Op.SET_VIRTUAL_KEY, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, Op.REVOKE_VIRTUAL_KEY, Op.SET_PRICE,
            Op.SET_GROUP, Op.SET_RATE_LIMIT, Op.SET_SPEND_WINDOW, Op.SET_CONCURRENCY };
        try (Wire wire = new Wire(ledger).hello(ledger.gatewayKey))
        {
            for (int i = 0; i < settings.size(); i++)
            {
                wire.send(settings.get(i));
                assertAnswer(wire.read(), 70 + i, ops[i], ResultCode.FORBIDDEN);
            }
            wire.assertOpen();
        }
        assertEquals(settings.size(), ledger.metrics.badFrames(ServerMetrics.BadFrame.FORBIDDEN));
    }

    @Test
    void shouldAnswerAWrongBlockOrFrameLengthWithMalformedAndStayOpen() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            // a Query's blockLength plus one, with a frame to match: not a Query's block
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
        ledger = new TestServer(threading, dir);
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
        ledger = new TestServer(threading, dir);
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
        ledger = new TestServer(threading, dir);
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

    /**
     * A frame sent before Hello, and the error result it gets.
     */
    private record BeforeHello(String name, byte[] frame, Op op, ResultCode code)
    {
        public String toString()
        {
            return name;
        }
    }

    static List<BeforeHello> framesBeforeHello()
    {
        final byte[] longerBlock = withHeaderField(
            withLength(query(60, 1), HEADER + QueryEncoder.BLOCK_LENGTH + 1), 0, QueryEncoder.BLOCK_LENGTH + 1);
        final byte[] helloVersion3 = withHeaderField(hello("qlk_any"), 6, 3);
        final byte[] helloLongerBlock = withHeaderField(hello("qlk_any"), 0, HelloEncoder.BLOCK_LENGTH + 2);
        new UnsafeBuffer(helloVersion3).putLong(4 + HEADER, 60, ByteOrder.LITTLE_ENDIAN);
        new UnsafeBuffer(helloLongerBlock).putLong(4 + HEADER, 60, ByteOrder.LITTLE_ENDIAN);
        return List.of(
            new BeforeHello("schema id", withHeaderField(query(60, 1), 4, 9999), Op.NONE, ResultCode.UNKNOWN_MESSAGE),
            new BeforeHello("template id", withHeaderField(query(60, 1), 2, 77), Op.NONE, ResultCode.UNKNOWN_MESSAGE),
            new BeforeHello("version", withHeaderField(query(60, 1), 6, 3), Op.NONE, ResultCode.UNSUPPORTED_VERSION),
            new BeforeHello("block length", longerBlock, Op.QUERY, ResultCode.MALFORMED),
            new BeforeHello("frame length", withLength(query(60, 1), HEADER + QueryEncoder.BLOCK_LENGTH + 8),
                Op.QUERY, ResultCode.MALFORMED),
            new BeforeHello("Hello version", helloVersion3, Op.NONE, ResultCode.UNSUPPORTED_VERSION),
            new BeforeHello("Hello block length", helloLongerBlock, Op.HELLO, ResultCode.MALFORMED),
            new BeforeHello("a valid request", query(60, 1), Op.QUERY, ResultCode.UNAUTHENTICATED));
    }

    /**
     * Frames that are not a valid Hello, sent first: each is answered, then the connection is closed, and nothing sent
     * after it (here a valid Hello) is read.
     */
    @ParameterizedTest
    @MethodSource("framesBeforeHello")
    void shouldAnswerAnyFrameBeforeHelloAndClose(final BeforeHello before) throws Exception
    {
        ledger = new TestServer(threading, dir, new ServerConfig().failedHelloDelayMillis(0));
        try (Wire wire = new Wire(ledger))
        {
            wire.send(concat(before.frame(), hello(ledger.adminKey)));
            assertAnswer(wire.read(), 60, before.op(), before.code());
            wire.assertClosed();
        }
        assertEquals(1, ledger.metrics.connectionsClosed(ServerMetrics.Close.BEFORE_HELLO) +
            ledger.metrics.connectionsClosed(ServerMetrics.Close.HELLO_REFUSED));
    }

    @Test
    void shouldRefuseASecondHelloAndCloseWithoutChangingTheRole() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger).hello(ledger.gatewayKey))
        {
            // the admin key on a gateway's connection: refused, not an upgrade
            wire.send(concat(hello(ledger.adminKey), credit(61)));
            final Answer answer = wire.read();
            assertEquals(HelloResultDecoder.TEMPLATE_ID, answer.templateId());
            assertEquals(ResultCode.FORBIDDEN, answer.code());
            assertEquals(Role.GATEWAY, answer.role());
            wire.assertClosed();
        }
        assertEquals(1, ledger.metrics.connectionsClosed(ServerMetrics.Close.SECOND_HELLO));
        try (Wire admin = new Wire(ledger).hello(ledger.adminKey))
        {
            admin.assertOpen(); // the credit after the second Hello was never applied: user 5 is still unknown
            admin.send(query(62, 5));
            assertAnswer(admin.read(), 62, Op.QUERY, ResultCode.UNKNOWN_ACCOUNT);
        }
    }

    @Test
    void shouldAnswerAFailedHelloOnlyAfterAPauseWhileServingOthers() throws Exception
    {
        ledger = new TestServer(threading, dir, new ServerConfig().ioThreads(1).failedHelloDelayMillis(3_000));
        try (Wire guesser = new Wire(ledger); Wire gateway = new Wire(ledger))
        {
            final long started = System.nanoTime();
            guesser.send(concat(hello("qlk_guess"), query(63, 1)));
            // the one I/O thread is not asleep: another connection is served meanwhile
            gateway.hello(ledger.gatewayKey).assertOpen();
            assertEquals(0, guesser.in.available(), "answered before the pause");

            final Answer answer = guesser.read();
            final long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            assertEquals(HelloResultDecoder.TEMPLATE_ID, answer.templateId());
            assertEquals(ResultCode.UNAUTHENTICATED, answer.code());
            assertTrue(millis >= 2_500, "answered after " + millis + " ms");
            guesser.assertClosed(); // the query after the failed Hello was never answered
        }
        assertEquals(1, ledger.metrics.connectionsClosed(ServerMetrics.Close.HELLO_REFUSED));
    }

    @Test
    void shouldLogFailedHellosWithTheAddressAtMostOnceASecond() throws Exception
    {
        final ch.qos.logback.classic.Logger logger =
            (ch.qos.logback.classic.Logger)org.slf4j.LoggerFactory.getLogger(FailedHelloLog.class);
        final ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
            new ch.qos.logback.core.read.ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try
        {
            ledger = new TestServer(threading, dir, new ServerConfig().failedHelloDelayMillis(0));
            final long started = System.nanoTime();
            final int failures = 30;
            for (int i = 0; i < failures; i++)
            {
                try (Wire wire = new Wire(ledger))
                {
                    wire.send(hello("qlk_guess" + i));
                    assertEquals(ResultCode.UNAUTHENTICATED, wire.read().code());
                    wire.assertClosed();
                }
            }
            final long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
            assertEquals(failures, ledger.metrics.connectionsClosed(ServerMetrics.Close.HELLO_REFUSED));
            assertTrue(logged.list.size() >= 1 && logged.list.size() <= seconds + 1,
                logged.list.size() + " lines in " + seconds + " s");
            final String first = logged.list.get(0).getFormattedMessage();
            assertTrue(first.startsWith("failed Hello from /127.0.0.1:") && first.endsWith("unknown API key"), first);

            Thread.sleep(1_100);
            try (Wire wire = new Wire(ledger))
            {
                wire.send(hello("qlk_one_more"));
                wire.read();
            }
            final String last = logged.list.get(logged.list.size() - 1).getFormattedMessage();
            assertTrue(last.contains("more failed Hellos since the last report"), last);
        }
        finally
        {
            logger.detachAppender(logged);
        }
    }

    @Test
    void shouldStopReadingAClientThatDoesNotReadItsErrorResults() throws Exception
    {
        final int maxInFlight = 64;
        ledger = new TestServer(threading, dir, new ServerConfig().maxInFlight(maxInFlight));
        final int clients = 4;
        final List<Wire> wires = new ArrayList<>();
        final List<Thread> writers = new ArrayList<>();
        final AtomicLong[] written = new AtomicLong[clients];
        try
        {
            // each sends 16-byte frames of an unknown schema, as fast as it can, and never reads an answer
            final byte[] bad = withHeaderField(withLength(query(64, 1), 16), 4, 9999);
            final byte[] burst = new byte[bad.length * 512];
            for (int i = 0; i < 512; i++)
            {
                System.arraycopy(bad, 0, burst, i * bad.length, bad.length);
            }
            for (int c = 0; c < clients; c++)
            {
                final Wire wire = new Wire(ledger, 4 * 1024).hello(ledger.gatewayKey);
                wires.add(wire);
                final AtomicLong count = new AtomicLong();
                written[c] = count;
                final Thread writer = new Thread(() ->
                {
                    try
                    {
                        while (!Thread.currentThread().isInterrupted())
                        {
                            wire.out.write(burst);
                            count.addAndGet(burst.length);
                        }
                    }
                    catch (final IOException ex)
                    {
                        // closed at the end of the test
                    }
                });
                writer.setDaemon(true);
                writer.start();
                writers.add(writer);
            }
            // every writer blocks: the server stopped reading them
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            long[] before = new long[clients];
            boolean stalled = false;
            while (!stalled && System.nanoTime() < deadline)
            {
                for (int c = 0; c < clients; c++)
                {
                    before[c] = written[c].get();
                }
                Thread.sleep(1_000);
                stalled = true;
                for (int c = 0; c < clients; c++)
                {
                    stalled &= written[c].get() == before[c];
                }
            }
            assertTrue(stalled, "the server stopped reading the clients that do not read");
            // what waits in the server for them is bounded by the in-flight cap: 127 bytes an answer (plus Netty's
            // 96-byte estimate per write), not the 1 MiB write buffer each
            final long unsent = ledger.server.unsentBytes();
            assertTrue(unsent <= clients * (maxInFlight + 1) * (ResultPublisher.RESULT_FRAME_LENGTH + 96L),
                "unsent bytes held for " + clients + " clients: " + unsent);

            // the server is fine for everybody else
            try (Wire other = new Wire(ledger).hello(ledger.adminKey))
            {
                other.assertOpen();
            }
        }
        finally
        {
            writers.forEach(Thread::interrupt);
            for (final Wire wire : wires)
            {
                wire.close();
            }
        }
    }

    @Test
    void shouldLetAGatewayInWhileSocketsThatNeverSayHelloFloodTheServer() throws Exception
    {
        ledger = new TestServer(threading, dir, new ServerConfig().maxConnections(20).maxUnauthenticated(5)
            .helloTimeoutSeconds(60));
        final List<Socket> silent = new ArrayList<>();
        final AtomicBoolean flooding = new AtomicBoolean(true);
        final Thread flooder = new Thread(() ->
        {
            // 40 sockets that never send a byte, each reopened as soon as the server closes it
            try
            {
                for (int i = 0; i < 40; i++)
                {
                    silent.add(new Socket("127.0.0.1", ledger.port()));
                }
                while (flooding.get())
                {
                    for (int i = 0; i < silent.size() && flooding.get(); i++)
                    {
                        final Socket socket = silent.get(i);
                        socket.setSoTimeout(1);
                        try
                        {
                            if (socket.getInputStream().read() < 0)
                            {
                                socket.close();
                                silent.set(i, new Socket("127.0.0.1", ledger.port()));
                            }
                        }
                        catch (final SocketTimeoutException ex)
                        {
                            // still open
                        }
                        catch (final SocketException ex)
                        {
                            socket.close();
                            silent.set(i, new Socket("127.0.0.1", ledger.port()));
                        }
                    }
                }
            }
            catch (final IOException ex)
            {
                throw new java.io.UncheckedIOException(ex);
            }
        });
        flooder.setDaemon(true);
        flooder.start();
        try
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (ledger.metrics.connectionsClosed(ServerMetrics.Close.EVICTED) < 35 && System.nanoTime() < deadline)
            {
                Thread.sleep(10);
            }
            assertTrue(ledger.metrics.connectionsClosed(ServerMetrics.Close.EVICTED) >= 35, "the flood is on");
            for (int i = 0; i < 5; i++)
            {
                try (io.quotaledger.client.LedgerClient gateway = connectDuringFlood())
                {
                    assertEquals(ResultCode.UNKNOWN_ACCOUNT, gateway.blocking().query(1, 0).code());
                }
            }
            assertTrue(ledger.server.connections() <= 20);
        }
        finally
        {
            flooding.set(false);
            flooder.join(10_000);
            for (final Socket socket : silent)
            {
                socket.close();
            }
        }
    }

    /**
     * A connection is unauthenticated until its Hello is read, so the flood can evict a gateway's brand-new connection
     * in that moment (docs/operations.md): the gateway connects again, as every client does, and gets in.
     */
    private io.quotaledger.client.LedgerClient connectDuringFlood()
    {
        io.quotaledger.client.LedgerClientException last = null;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                return ledger.client(ledger.gatewayKey);
            }
            catch (final io.quotaledger.client.LedgerClientException ex)
            {
                last = ex;
            }
        }
        throw last;
    }

    @Test
    void shouldCloseANewConnectionWhenAuthenticatedOnesHoldEverySlot() throws Exception
    {
        ledger = new TestServer(threading, dir, new ServerConfig().maxConnections(2));
        try (Wire first = new Wire(ledger).hello(ledger.gatewayKey);
            Wire second = new Wire(ledger).hello(ledger.gatewayKey);
            Wire third = new Wire(ledger))
        {
            third.assertClosed(); // closed on arrival, nothing sent
            first.assertOpen();
            second.assertOpen();
        }
    }

    @Test
    void shouldNotLabelAnyRequestCountNullVal() throws Exception
    {
        ledger = new TestServer(threading, dir);
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            wire.assertOpen();
        }
        final java.io.ByteArrayOutputStream scrape = new java.io.ByteArrayOutputStream();
        ledger.metrics.write(scrape);
        final String text = scrape.toString(StandardCharsets.UTF_8);
        assertEquals(1.0, sample(text, "ledger_requests_total{op=\"query\",result=\"unknown_account\"}"), text);
        assertTrue(!text.contains("null_val"), text);
    }

    @Test
    void shouldCloseASilentConnectionAfterTheIdleTimeout() throws Exception
    {
        ledger = new TestServer(threading, dir, new ServerConfig().idleTimeoutSeconds(1));
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
        ledger = new TestServer(threading, dir, new ServerConfig().helloTimeoutSeconds(1));
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
            try (TestServer server = new TestServer(threading, dir.resolve("round-" + round));
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
        ledger = new TestServer(threading, dir);
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
