package io.quotaledger.server;

import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code --max-in-flight} of 1 to 4 under pipelined load: several connections each write thousands of requests at
 * once, so the server pauses and resumes reading every one of them on nearly every request. A resume that is missed
 * stalls its connection for good; every request must be answered, in order.
 */
class InFlightLimitTest
{
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final int CONNECTIONS = 4;
    private static final int REQUESTS = 2_000;
    private static final int RESULT_FRAME = 4 + HEADER + ResultDecoder.BLOCK_LENGTH;

    @TempDir
    Path dir;

    static Stream<Arguments> limits()
    {
        final List<Arguments> limits = new ArrayList<>();
        for (final Threading threading : Threading.values())
        {
            for (int limit = 1; limit <= 4; limit++)
            {
                limits.add(Arguments.of(threading, limit));
            }
        }
        return limits.stream();
    }

    @ParameterizedTest
    @MethodSource("limits")
    void shouldAnswerEveryPipelinedRequestWithAFewInFlight(final Threading threading, final int maxInFlight)
        throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().maxInFlight(maxInFlight)))
        {
            final List<CompletableFuture<Void>> connections = new ArrayList<>();
            for (int c = 0; c < CONNECTIONS; c++)
            {
                final int connection = c;
                connections.add(CompletableFuture.runAsync(() -> pipeline(ledger, connection)));
            }
            for (final CompletableFuture<Void> connection : connections)
            {
                connection.get(60, TimeUnit.SECONDS);
            }
            assertEquals((long)CONNECTIONS * REQUESTS, ledger.metrics.results(
                Op.CREDIT, ResultCode.OK));
        }
    }

    /**
     * Writes every request of one connection in one go (a writer thread, as the socket fills), then reads every
     * answer; fails when an answer does not come within seconds.
     */
    private static void pipeline(final TestServer ledger, final int connection)
    {
        try (Socket socket = new Socket())
        {
            socket.connect(new InetSocketAddress("127.0.0.1", ledger.port()));
            socket.setSoTimeout(10_000);
            final OutputStream out = socket.getOutputStream();
            final DataInputStream in = new DataInputStream(socket.getInputStream());
            out.write(Frames.hello(ledger.adminKey));
            final byte[] answer = new byte[RESULT_FRAME + 64];
            in.readFully(answer, 0, 4);
            in.readFully(answer, 4, new UnsafeBuffer(answer).getInt(0, ByteOrder.LITTLE_ENDIAN));

            final CompletableFuture<Void> writer = CompletableFuture.runAsync(() ->
            {
                try
                {
                    for (int i = 0; i < REQUESTS; i++)
                    {
                        out.write(Frames.credit(i, connection + 1, i + 1, connection + 1, 1));
                    }
                    out.flush();
                }
                catch (final IOException ex)
                {
                    throw new IllegalStateException(ex);
                }
            });
            final ResultDecoder result = new ResultDecoder();
            final UnsafeBuffer buffer = new UnsafeBuffer(answer);
            for (int i = 0; i < REQUESTS; i++)
            {
                try
                {
                    in.readFully(answer, 0, RESULT_FRAME);
                }
                catch (final SocketTimeoutException ex)
                {
                    fail("connection " + connection + " stalled after " + i + " of " + REQUESTS + " answers");
                }
                result.wrap(buffer, 4 + HEADER, ResultDecoder.BLOCK_LENGTH, ResultDecoder.SCHEMA_VERSION);
                assertEquals(i, result.correlationId(), "answers in request order");
                assertEquals(ResultCode.OK, result.code());
            }
            writer.get(10, TimeUnit.SECONDS);
        }
        catch (final Exception ex)
        {
            throw new IllegalStateException(ex);
        }
    }
}
