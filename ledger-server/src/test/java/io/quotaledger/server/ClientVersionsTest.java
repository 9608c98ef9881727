package io.quotaledger.server;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.protocol.HelloResultEncoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultEncoder;
import io.quotaledger.protocol.Role;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The client speaks protocol version 2; what it does with servers of version 1, played by a fake server on a raw
 * socket: one that refuses the version-2 Hello as a version-1 ledger does, and version-1 answers (no policy fields).
 */
class ClientVersionsTest
{
    private static final int LENGTH_PREFIX = Integer.BYTES;
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final int RESULT_V1_BLOCK = ResultEncoder.virtualKeyIdEncodingOffset();

    @Test
    void shouldSayWhenTheServerDoesNotSpeakVersionTwo() throws Exception
    {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            final Thread fake = new Thread(() -> refuseTheHello(server), "fake-version-1-server");
            fake.setDaemon(true);
            fake.start();
            final LedgerClientException refused = assertThrows(LedgerClientException.class,
                () -> LedgerClient.connect(new ClientConfig().port(server.getLocalPort()).apiKey("any")
                    .timeout(Duration.ofSeconds(5))));
            assertTrue(refused.getMessage().contains("does not speak protocol version 2"), refused.getMessage());
            fake.join(5_000);
        }
    }

    @Test
    void shouldReadVersionOneResultsWithThePolicyFieldsZero() throws Exception
    {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            final Thread fake = new Thread(() -> answerInVersionOne(server), "fake-version-1-answers");
            fake.setDaemon(true);
            fake.start();
            try (LedgerClient client = LedgerClient.connect(new ClientConfig().port(server.getLocalPort())
                .apiKey("any").timeout(Duration.ofSeconds(5))))
            {
                final LedgerResult result = client.deduct(1, 1, 1).get(10, TimeUnit.SECONDS);
                assertEquals(ResultCode.OK, result.code());
                assertEquals(Op.DEDUCT, result.op());
                assertEquals(900, result.balance());
                assertEquals(0, result.virtualKeyId());
                assertEquals(0, result.amount());
                assertEquals(0, result.keyBudgetRemaining());
                assertFalse(result.keyRevoked());
            }
            fake.join(5_000);
        }
    }

    /**
     * What a version-1 ledger does with a version-2 Hello: a Result UNSUPPORTED_VERSION in version 1, then close.
     */
    private static void refuseTheHello(final ServerSocket server)
    {
        try (Socket socket = server.accept())
        {
            final long hello = readCorrelationId(new DataInputStream(socket.getInputStream()));
            socket.getOutputStream().write(resultV1(hello, Op.NONE, ResultCode.UNSUPPORTED_VERSION, 0));
        }
        catch (final IOException ex)
        {
            // the client went away: the assertions tell
        }
    }

    /**
     * Answers the Hello and the first request in version 1: the Result's first 67 bytes.
     */
    private static void answerInVersionOne(final ServerSocket server)
    {
        try (Socket socket = server.accept())
        {
            final DataInputStream in = new DataInputStream(socket.getInputStream());
            final OutputStream out = socket.getOutputStream();
            final long hello = readCorrelationId(in);
            final UnsafeBuffer helloResult = new UnsafeBuffer(new byte[LENGTH_PREFIX + HEADER +
                HelloResultEncoder.BLOCK_LENGTH]);
            helloResult.putInt(0, HEADER + HelloResultEncoder.BLOCK_LENGTH, ByteOrder.LITTLE_ENDIAN);
            final MessageHeaderEncoder header = new MessageHeaderEncoder();
            new HelloResultEncoder().wrapAndApplyHeader(helloResult, LENGTH_PREFIX, header)
                .correlationId(hello).code(ResultCode.OK).role(Role.GATEWAY).serverVersion(1);
            header.version(1);
            out.write(helloResult.byteArray());
            out.write(resultV1(readCorrelationId(in), Op.DEDUCT, ResultCode.OK, 900));
            out.flush();
            in.read(); // until the client closes
        }
        catch (final IOException ex)
        {
            // the client went away: the assertions tell
        }
    }

    private static byte[] resultV1(final long correlationId, final Op op, final ResultCode code, final long balance)
    {
        final UnsafeBuffer frame = new UnsafeBuffer(new byte[LENGTH_PREFIX + HEADER + ResultEncoder.BLOCK_LENGTH]);
        final MessageHeaderEncoder header = new MessageHeaderEncoder();
        final ResultEncoder encoder = new ResultEncoder().wrapAndApplyHeader(frame, LENGTH_PREFIX, header)
            .correlationId(correlationId).op(op).code(code);
        encoder.flags().clear().keyRevoked(true); // beyond what version 1 has: must not be read
        encoder.fromFree(0).fromBalance(0).returned(0).balance(balance).held(0).creditLimit(0).freeRemaining(0)
            .virtualKeyId(77).units(1).amount(2).retryAfterMillis(3).keySpent(4).keyBudgetRemaining(5);
        header.blockLength(RESULT_V1_BLOCK).version(1);
        frame.putInt(0, HEADER + RESULT_V1_BLOCK, ByteOrder.LITTLE_ENDIAN);
        return Arrays.copyOf(frame.byteArray(), LENGTH_PREFIX + HEADER + RESULT_V1_BLOCK);
    }

    /**
     * Reads one length-prefixed frame and returns its correlation id (the first field of every request).
     */
    private static long readCorrelationId(final DataInputStream in) throws IOException
    {
        final byte[] prefix = new byte[LENGTH_PREFIX];
        in.readFully(prefix);
        final byte[] frame = new byte[ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getInt()];
        in.readFully(frame);
        return ByteBuffer.wrap(frame).order(ByteOrder.LITTLE_ENDIAN).getLong(HEADER);
    }
}
