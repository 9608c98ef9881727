package io.quotaledger.server;

import io.quotaledger.protocol.HelloResultDecoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.Role;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * One raw connection to a {@link TestServer}: writes frames ({@link Frames}), reads answers.
 */
final class Wire implements AutoCloseable
{
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;

    /**
     * A result or hello result as read off the wire.
     */
    record Answer(int templateId, long correlationId, Op op, ResultCode code, Role role)
    {
    }

    final Socket socket;
    final OutputStream out;
    final DataInputStream in;

    Wire(final TestServer ledger) throws IOException
    {
        this(ledger, 0);
    }

    /**
     * @param receiveBuffer the socket's receive buffer, set before connecting; 0 for the system's.
     */
    Wire(final TestServer ledger, final int receiveBuffer) throws IOException
    {
        socket = new Socket();
        if (receiveBuffer > 0)
        {
            socket.setReceiveBufferSize(receiveBuffer);
        }
        socket.connect(new InetSocketAddress("127.0.0.1", ledger.port()));
        socket.setSoTimeout(5_000);
        out = socket.getOutputStream();
        in = new DataInputStream(socket.getInputStream());
    }

    /**
     * How long a read waits for the server: 5 s unless set.
     */
    Wire timeout(final int millis) throws SocketException
    {
        socket.setSoTimeout(millis);
        return this;
    }

    Wire send(final byte[] bytes) throws IOException
    {
        out.write(bytes);
        out.flush();
        return this;
    }

    /**
     * @return the next frame as it came, length prefix included.
     */
    byte[] readFrame() throws IOException
    {
        final byte[] prefix = new byte[4];
        in.readFully(prefix);
        final int length = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getInt();
        final byte[] frame = java.util.Arrays.copyOf(prefix, 4 + length);
        in.readFully(frame, 4, length);
        return frame;
    }

    /**
     * Reads a Result (of either protocol version) or a HelloResult.
     */
    Answer read() throws IOException
    {
        final byte[] whole = readFrame();
        final int length = whole.length - 4;
        final ByteBuffer buffer = ByteBuffer.wrap(whole, 4, length).slice().order(ByteOrder.LITTLE_ENDIAN);
        final int templateId = buffer.getShort(2) & 0xFFFF;
        if (templateId == HelloResultDecoder.TEMPLATE_ID)
        {
            assertEquals(HEADER + HelloResultDecoder.BLOCK_LENGTH, length);
            return new Answer(templateId, buffer.getLong(HEADER), Op.HELLO,
                ResultCode.get((short)(buffer.get(HEADER + 8) & 0xFF)),
                Role.get((short)(buffer.get(HEADER + 9) & 0xFF)));
        }
        assertEquals(ResultDecoder.TEMPLATE_ID, templateId);
        final int version = buffer.getShort(6) & 0xFFFF;
        assertEquals(HEADER + (version == 1 ? ResultDecoder.virtualKeyIdEncodingOffset() : ResultDecoder.BLOCK_LENGTH),
            length);
        return new Answer(templateId, buffer.getLong(HEADER), Op.get((short)(buffer.get(HEADER + 8) & 0xFF)),
            ResultCode.get((short)(buffer.get(HEADER + 9) & 0xFF)), null);
    }

    /**
     * Says Hello with the key, which must be accepted.
     */
    Wire hello(final String key) throws IOException
    {
        send(Frames.hello(key));
        final Answer answer = read();
        assertEquals(ResultCode.OK, answer.code());
        return this;
    }

    /**
     * The connection is still served: a valid Query gets its answer.
     */
    void assertOpen() throws IOException
    {
        send(Frames.query(99, 7));
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
