package io.quotaledger.server;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
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
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * A newer server may answer with a result code this client does not know: docs/protocol.md says to take it as a
 * rejection. The client used to fail decoding the answer instead.
 */
class UnknownResultCodeTest
{
    private static final int LENGTH_PREFIX = Integer.BYTES;
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final int CODE_OFFSET = LENGTH_PREFIX + HEADER + 9; // Result: correlationId(8), op(1), code(1)
    private static final byte UNKNOWN_CODE = 99;

    @Test
    void shouldTakeAResultCodeItDoesNotKnowAsARejection() throws Exception
    {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            final Thread fake = new Thread(() -> answerOnce(server), "fake-newer-server");
            fake.setDaemon(true);
            fake.start();
            try (LedgerClient client = LedgerClient.connect(new ClientConfig().port(server.getLocalPort())
                .apiKey("any").timeout(Duration.ofSeconds(5))))
            {
                final LedgerResult result = client.deduct(1, 1, 1).get(10, TimeUnit.SECONDS);
                assertEquals(ResultCode.NULL_VAL, result.code());
                assertFalse(result.ok());
                assertEquals(Op.DEDUCT, result.op());
            }
            fake.join(5_000);
        }
    }

    /**
     * Answers the Hello with OK, then the first request with a Result whose code no schema version has.
     */
    private static void answerOnce(final ServerSocket server)
    {
        try (Socket socket = server.accept())
        {
            final DataInputStream in = new DataInputStream(socket.getInputStream());
            final OutputStream out = socket.getOutputStream();
            final long hello = readCorrelationId(in);
            final UnsafeBuffer helloResult = new UnsafeBuffer(new byte[LENGTH_PREFIX + HEADER +
                HelloResultEncoder.BLOCK_LENGTH]);
            helloResult.putInt(0, HEADER + HelloResultEncoder.BLOCK_LENGTH, ByteOrder.LITTLE_ENDIAN);
            new HelloResultEncoder().wrapAndApplyHeader(helloResult, LENGTH_PREFIX, new MessageHeaderEncoder())
                .correlationId(hello).code(ResultCode.OK).role(Role.GATEWAY).serverVersion(1);
            out.write(helloResult.byteArray());
            out.flush();

            final long request = readCorrelationId(in);
            final UnsafeBuffer result = new UnsafeBuffer(new byte[LENGTH_PREFIX + HEADER + ResultEncoder.BLOCK_LENGTH]);
            result.putInt(0, HEADER + ResultEncoder.BLOCK_LENGTH, ByteOrder.LITTLE_ENDIAN);
            final ResultEncoder encoder = new ResultEncoder()
                .wrapAndApplyHeader(result, LENGTH_PREFIX, new MessageHeaderEncoder())
                .correlationId(request).op(Op.DEDUCT).code(ResultCode.OK);
            encoder.flags().clear();
            encoder.fromFree(0).fromBalance(0).returned(0).balance(0).held(0).creditLimit(0).freeRemaining(0);
            result.putByte(CODE_OFFSET, UNKNOWN_CODE);
            out.write(result.byteArray());
            out.flush();
            in.read(); // until the client closes
        }
        catch (final IOException ex)
        {
            // the client went away: the assertions tell
        }
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
