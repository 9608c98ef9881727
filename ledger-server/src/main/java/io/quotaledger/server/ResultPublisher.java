package io.quotaledger.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.quotaledger.core.Command;
import io.quotaledger.core.Result;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultEncoder;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteOrder;

/**
 * Encodes results on the engine's reply thread into each connection's pending buffer and, at the end of every
 * batch, hands each touched connection one buffer to write: one flush per connection per batch, however many
 * results it holds. Encoding is a flyweight over the buffer's memory: nothing is allocated per result. In shared
 * threading mode the reply thread is the connections' own event loop, so the write goes straight to the socket.
 * Once the server closes, results are no longer sent (the connections are closing; clients resend).
 *
 * <p>Each connection gets its results in the version of its Hello: version 1 is the version-2 Result cut before
 * the fields version 2 appended, with version 1 in its header, byte for byte what a version-1 server sent.
 */
final class ResultPublisher implements Runnable
{
    static final int RESULT_FRAME_LENGTH = Integer.BYTES + MessageHeaderEncoder.ENCODED_LENGTH +
        ResultEncoder.BLOCK_LENGTH;
    /** A version-1 Result ends where the first field of version 2 starts. */
    static final int RESULT_V1_BLOCK_LENGTH = ResultEncoder.virtualKeyIdEncodingOffset();
    private static final int INITIAL_BUFFER = RESULT_FRAME_LENGTH * 64;

    private final ServerMetrics metrics;
    private final ByteBufAllocator allocator;
    private final Connection[] dirty;
    private int dirtyCount;
    private final UnsafeBuffer frame = new UnsafeBuffer(0, 0);
    private final MessageHeaderEncoder header = new MessageHeaderEncoder();
    private final ResultEncoder encoder = new ResultEncoder();
    private volatile boolean stopped;

    ResultPublisher(final ServerMetrics metrics, final ByteBufAllocator allocator, final int maxConnections)
    {
        this.metrics = metrics;
        this.allocator = allocator;
        this.dirty = new Connection[maxConnections];
    }

    /**
     * Reply thread: encodes one result for its connection, to be written at the end of the batch.
     */
    void publish(
        final Connection connection,
        final long correlationId,
        final long arrivalNanos,
        final Command command,
        final Result result)
    {
        if (connection.closed || stopped)
        {
            return; // it closed while the request was in the engine, or the server is closing
        }
        ByteBuf out = connection.pendingReplies;
        if (out == null)
        {
            out = allocator.directBuffer(INITIAL_BUFFER);
            connection.pendingReplies = out;
            dirty[dirtyCount++] = connection;
        }
        out.ensureWritable(RESULT_FRAME_LENGTH);
        final Op op = Op.get(command.op().code());
        final ResultCode code = ResultCode.get(result.code().code());
        encode(out, correlationId, op, code, result, connection.version);
        metrics.result(op, code, System.nanoTime() - arrivalNanos);
        connection.answered();
    }

    /**
     * From now on results are dropped: the server is closing its connections.
     */
    void stop()
    {
        stopped = true;
    }

    boolean stopped()
    {
        return stopped;
    }

    /**
     * End of a batch: write and flush what each connection got.
     */
    public void run()
    {
        try
        {
            for (int i = 0; i < dirtyCount; i++)
            {
                final Connection connection = dirty[i];
                final ByteBuf out = connection.pendingReplies;
                connection.pendingReplies = null;
                dirty[i] = null;
                flush(connection.channel, out);
            }
        }
        finally
        {
            dirtyCount = 0;
        }
    }

    private static void flush(final Channel channel, final ByteBuf out)
    {
        try
        {
            channel.writeAndFlush(out, channel.voidPromise()); // released by Netty once written, or if closed
        }
        catch (final RuntimeException ex) // its event loop has shut down: the connection is gone
        {
            out.release();
        }
    }

    private void encode(
        final ByteBuf out,
        final long correlationId,
        final Op op,
        final ResultCode code,
        final Result result,
        final int version)
    {
        frame.wrap(out.memoryAddress() + out.writerIndex(), RESULT_FRAME_LENGTH);
        encoder.wrapAndApplyHeader(frame, Integer.BYTES, header)
            .correlationId(correlationId)
            .op(op)
            .code(code);
        encoder.flags().clear()
            .duplicate(result.duplicate())
            .exceededHold(result.exceededHold())
            .frozen(result.frozen())
            .keyRevoked(result.keyRevoked())
            .keyExpired(result.keyExpired());
        encoder
            .fromFree(result.fromFree())
            .fromBalance(result.fromBalance())
            .returned(result.returned())
            .balance(result.balance())
            .held(result.held())
            .creditLimit(result.creditLimit())
            .freeRemaining(result.freeRemaining())
            .virtualKeyId(result.virtualKeyId())
            .units(result.units())
            .amount(result.amount())
            .retryAfterMillis(result.retryAfterMillis())
            .keySpent(result.keySpent())
            .keyBudgetRemaining(result.keyBudgetRemaining());
        out.writerIndex(out.writerIndex() + finish(frame, header, version));
    }

    /**
     * Writes the length prefix and, for a version-1 connection, cuts the Result to its version-1 block.
     *
     * @return the frame's length, prefix included.
     */
    private static int finish(final UnsafeBuffer frame, final MessageHeaderEncoder header, final int version)
    {
        if (version == 1)
        {
            header.blockLength(RESULT_V1_BLOCK_LENGTH).version(1);
            frame.putInt(0, MessageHeaderEncoder.ENCODED_LENGTH + RESULT_V1_BLOCK_LENGTH, ByteOrder.LITTLE_ENDIAN);
            return Integer.BYTES + MessageHeaderEncoder.ENCODED_LENGTH + RESULT_V1_BLOCK_LENGTH;
        }
        frame.putInt(0, RESULT_FRAME_LENGTH - Integer.BYTES, ByteOrder.LITTLE_ENDIAN);
        return RESULT_FRAME_LENGTH;
    }

    /**
     * Encodes a protocol error (a result no ledger produced) into a new buffer, on an I/O thread.
     */
    static ByteBuf error(
        final ByteBufAllocator allocator, final long correlationId, final Op op, final ResultCode code,
        final int version)
    {
        final ByteBuf out = allocator.directBuffer(RESULT_FRAME_LENGTH);
        encodeError(out, correlationId, op, code, version);
        return out;
    }

    /**
     * Appends a protocol error (a result no ledger produced) in the given version to a direct buffer, growing it as
     * needed.
     */
    static void encodeError(
        final ByteBuf out, final long correlationId, final Op op, final ResultCode code, final int version)
    {
        out.ensureWritable(RESULT_FRAME_LENGTH);
        final UnsafeBuffer frame = new UnsafeBuffer(out.memoryAddress() + out.writerIndex(), RESULT_FRAME_LENGTH);
        final MessageHeaderEncoder header = new MessageHeaderEncoder();
        final ResultEncoder encoder = new ResultEncoder().wrapAndApplyHeader(frame, Integer.BYTES, header);
        // every field but these three is 0, including those a newer schema adds
        frame.setMemory(encoder.offset(), ResultEncoder.BLOCK_LENGTH, (byte)0);
        encoder.correlationId(correlationId).op(op).code(code);
        out.writerIndex(out.writerIndex() + finish(frame, header, version));
    }
}
