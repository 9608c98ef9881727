package io.quotaledger.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import io.quotaledger.core.Command;
import io.quotaledger.core.Period;
import io.quotaledger.engine.CommandTranslator;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.Snapshotter;
import io.quotaledger.protocol.BooleanType;
import io.quotaledger.protocol.CreditDecoder;
import io.quotaledger.protocol.DeductDecoder;
import io.quotaledger.protocol.FreezeDecoder;
import io.quotaledger.protocol.GrantDecoder;
import io.quotaledger.protocol.HelloDecoder;
import io.quotaledger.protocol.HelloResultEncoder;
import io.quotaledger.protocol.MessageHeaderDecoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.QueryDecoder;
import io.quotaledger.protocol.ReleaseDecoder;
import io.quotaledger.protocol.ReserveDecoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.RevokeVirtualKeyDecoder;
import io.quotaledger.protocol.Role;
import io.quotaledger.protocol.SetConcurrencyDecoder;
import io.quotaledger.protocol.SetGroupDecoder;
import io.quotaledger.protocol.SetLimitDecoder;
import io.quotaledger.protocol.SetPriceDecoder;
import io.quotaledger.protocol.SetRateLimitDecoder;
import io.quotaledger.protocol.SetSpendWindowDecoder;
import io.quotaledger.protocol.SetVirtualKeyDecoder;
import io.quotaledger.protocol.SetVirtualKeyServiceBudgetDecoder;
import io.quotaledger.protocol.SettleDecoder;
import io.quotaledger.protocol.SnapshotResultEncoder;
import io.quotaledger.protocol.TakeSnapshotDecoder;
import io.quotaledger.protocol.UnfreezeDecoder;
import org.agrona.concurrent.UnsafeBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteOrder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Decodes a connection's frames straight into the engine's slots (SBE flyweights over the receive buffer; no object
 * per request), after framing, version, authentication and role checks. The client's correlation id goes with the
 * request; the connection is its result listener. Bad input gets an error result, or a closed
 * connection when the stream can no longer be trusted (a bad length, a failed Hello, anything but a Hello first).
 * Back-pressure is a paused read: when the ring is full, when the connection has too many requests in flight or too
 * many error results unsent, or when it does not read its results, the server stops reading it, so memory stays
 * bounded whatever the client does. Until a connection has data waiting it holds no receive buffer.
 *
 * <p>Versions: a frame may be of protocol version 1 or 2, each with its own block length (version 1 of a message is
 * its version-2 form without the fields version 2 appended); a message version 1 does not have is refused with
 * UNSUPPORTED_VERSION. A connection is answered in the version of its Hello (docs/protocol.md, "Versions").
 */
final class RequestAdapter extends ChannelInboundHandlerAdapter implements CommandTranslator<RequestAdapter>
{
    private static final Logger LOG = LoggerFactory.getLogger(RequestAdapter.class);
    private static final int LENGTH_PREFIX = Integer.BYTES;
    private static final int HEADER = MessageHeaderDecoder.ENCODED_LENGTH;
    private static final int HELLO_RESULT_FRAME = LENGTH_PREFIX + HEADER + HelloResultEncoder.BLOCK_LENGTH;
    private static final long RING_RETRY_NANOS = TimeUnit.MICROSECONDS.toNanos(100);
    /** The oldest protocol version served. */
    private static final int MIN_VERSION = 1;
    /** The newest: the schema's. */
    private static final int VERSION = MessageHeaderDecoder.SCHEMA_VERSION;
    /** The block length a template does not have in a version (a message added later). */
    private static final int NOT_IN_VERSION = -1;
    // version 1 of a message that gained fields in version 2 ends where the first of them starts
    private static final int DEDUCT_V1_BLOCK = DeductDecoder.virtualKeyIdEncodingOffset();
    private static final int RESERVE_V1_BLOCK = ReserveDecoder.virtualKeyIdEncodingOffset();
    private static final int QUERY_V1_BLOCK = QueryDecoder.virtualKeyIdEncodingOffset();
    private static final int SERVICE_ENTRY = SetVirtualKeyDecoder.ServicesDecoder.sbeBlockLength();

    private enum Outcome
    {
        CONSUMED, RING_FULL, CLOSE, STOP
    }

    private final ServerConfig config;
    private final ConnectionRegistry registry;
    private final ApiKeys keys;
    private final ServerMetrics metrics;
    private final LedgerEngine engine;
    private final Supplier<CompletableFuture<Snapshotter.Snapshot>> snapshots;
    private final FailedHelloLog failedHellos;

    private final UnsafeBuffer frame = new UnsafeBuffer(0, 0);
    private final MessageHeaderDecoder header = new MessageHeaderDecoder();
    private final DeductDecoder deduct = new DeductDecoder();
    private final ReserveDecoder reserve = new ReserveDecoder();
    private final SettleDecoder settle = new SettleDecoder();
    private final ReleaseDecoder release = new ReleaseDecoder();
    private final CreditDecoder credit = new CreditDecoder();
    private final GrantDecoder grant = new GrantDecoder();
    private final SetLimitDecoder setLimit = new SetLimitDecoder();
    private final FreezeDecoder freeze = new FreezeDecoder();
    private final UnfreezeDecoder unfreeze = new UnfreezeDecoder();
    private final QueryDecoder query = new QueryDecoder();
    private final SetVirtualKeyDecoder setVirtualKey = new SetVirtualKeyDecoder();
    private final SetVirtualKeyServiceBudgetDecoder setServiceBudget = new SetVirtualKeyServiceBudgetDecoder();
    private final RevokeVirtualKeyDecoder revokeVirtualKey = new RevokeVirtualKeyDecoder();
    private final SetPriceDecoder setPrice = new SetPriceDecoder();
    private final SetGroupDecoder setGroup = new SetGroupDecoder();
    private final SetRateLimitDecoder setRateLimit = new SetRateLimitDecoder();
    private final SetSpendWindowDecoder setSpendWindow = new SetSpendWindowDecoder();
    private final SetConcurrencyDecoder setConcurrency = new SetConcurrencyDecoder();

    private Connection connection;
    private ByteBuf cumulation;
    private ChannelHandlerContext context;
    private ScheduledFuture<?> helloDeadline;
    private ScheduledFuture<?> failedHelloAnswer;
    private boolean closing;
    private int templateId;
    private long correlationId;
    private int frameVersion; // the header version of the frame being decoded, 0 when it has none

    // error results of the frames being decoded, written at the end of the batch; counted until they reach the socket
    private ByteBuf errors;
    private int errorsInBatch;
    private int unsentErrors;

    RequestAdapter(
        final ServerConfig config,
        final ConnectionRegistry registry,
        final ApiKeys keys,
        final ServerMetrics metrics,
        final LedgerEngine engine,
        final Supplier<CompletableFuture<Snapshotter.Snapshot>> snapshots,
        final FailedHelloLog failedHellos)
    {
        this.config = config;
        this.registry = registry;
        this.keys = keys;
        this.metrics = metrics;
        this.engine = engine;
        this.snapshots = snapshots;
        this.failedHellos = failedHellos;
    }

    public void channelActive(final ChannelHandlerContext ctx)
    {
        context = ctx;
        connection = registry.open(ctx.channel());
        if (connection == null)
        {
            metrics.connectionRefused();
            ctx.close();
            return;
        }
        metrics.connectionOpened();
        connection.resumeTask = this::resume;
        helloDeadline = ctx.executor().schedule(this::helloTimedOut, config.helloTimeoutSeconds(), TimeUnit.SECONDS);
        ctx.fireChannelActive();
    }

    public void channelInactive(final ChannelHandlerContext ctx)
    {
        closing = true;
        // a task still scheduled would keep this connection, its channel and its buffers reachable until it ran
        cancelHelloDeadline();
        if (failedHelloAnswer != null)
        {
            failedHelloAnswer.cancel(false);
            failedHelloAnswer = null;
        }
        if (connection != null)
        {
            registry.close(connection);
        }
        releaseBuffers();
        ctx.fireChannelInactive();
    }

    public void handlerRemoved(final ChannelHandlerContext ctx)
    {
        releaseBuffers();
    }

    public void channelRead(final ChannelHandlerContext ctx, final Object msg)
    {
        final ByteBuf in = (ByteBuf)msg;
        if (connection == null || closing)
        {
            in.release(); // refused, or on its way out: nothing more is decoded
            return;
        }
        cumulate(in);
        drain();
    }

    public void channelWritabilityChanged(final ChannelHandlerContext ctx)
    {
        if (connection != null)
        {
            // a client that does not read its results is not read from either
            connection.pausedForWrite = !ctx.channel().isWritable();
            updateAutoRead();
        }
        ctx.fireChannelWritabilityChanged();
    }

    public void userEventTriggered(final ChannelHandlerContext ctx, final Object event)
    {
        if (event instanceof IdleStateEvent)
        {
            LOG.debug("closing idle connection {}", ctx.channel().remoteAddress());
            metrics.connectionClosed(ServerMetrics.Close.IDLE);
            ctx.close();
            return;
        }
        ctx.fireUserEventTriggered(event);
    }

    public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
    {
        LOG.debug("connection {} failed", ctx.channel().remoteAddress(), cause);
        ctx.close();
    }

    private void cancelHelloDeadline()
    {
        if (helloDeadline != null)
        {
            helloDeadline.cancel(false);
            helloDeadline = null;
        }
    }

    private void helloTimedOut()
    {
        helloDeadline = null;
        if (connection.role == Role.NONE && context.channel().isActive())
        {
            metrics.badFrame(ServerMetrics.BadFrame.UNAUTHENTICATED);
            metrics.connectionClosed(ServerMetrics.Close.HELLO_TIMEOUT);
            context.close();
        }
    }

    /**
     * Adds what arrived to the bytes not yet decoded. A read that starts on a frame boundary is decoded where it lies;
     * only a partial frame is kept, and {@link #drain()} lets go of the buffer once everything in it is decoded.
     */
    private void cumulate(final ByteBuf in)
    {
        if (cumulation == null && in.hasMemoryAddress())
        {
            cumulation = in;
            return;
        }
        try
        {
            if (cumulation == null || cumulation.refCnt() > 1 || cumulation.isReadOnly() ||
                cumulation.maxWritableBytes() < in.readableBytes())
            {
                final int waiting = cumulation == null ? 0 : cumulation.readableBytes();
                final ByteBuf merged = context.alloc().directBuffer(waiting + in.readableBytes());
                if (cumulation != null)
                {
                    merged.writeBytes(cumulation);
                    cumulation.release();
                }
                cumulation = merged;
            }
            cumulation.writeBytes(in);
        }
        finally
        {
            in.release();
        }
    }

    /**
     * Decodes every complete frame it can, stopping when the ring is full or the connection has too many requests in
     * flight or error results unsent.
     */
    private void drain()
    {
        final ChannelHandlerContext ctx = context;
        boolean wrote = false;
        while (cumulation != null && cumulation.readableBytes() >= LENGTH_PREFIX)
        {
            if (connection.pauseIfFull())
            {
                break;
            }
            if (unsentErrors >= connection.maxInFlight())
            {
                connection.pausedForErrors = true;
                break;
            }
            final int start = cumulation.readerIndex();
            final int length = cumulation.getIntLE(start);
            if (length < HEADER + Long.BYTES || length > config.maxFrameLength())
            {
                // the stream is out of step: nothing after this can be trusted
                metrics.badFrame(length > config.maxFrameLength() ?
                    ServerMetrics.BadFrame.OVERSIZED : ServerMetrics.BadFrame.MALFORMED);
                metrics.connectionClosed(ServerMetrics.Close.OUT_OF_STEP);
                correlationId = 0;
                frameVersion = 0;
                appendError(Op.NONE, ResultCode.MALFORMED);
                closeAfterReplies();
                return;
            }
            if (cumulation.readableBytes() < LENGTH_PREFIX + length)
            {
                break;
            }
            frame.wrap(cumulation.memoryAddress() + start + LENGTH_PREFIX, length);
            final Outcome outcome = onFrame(ctx, length);
            if (outcome == Outcome.RING_FULL)
            {
                connection.pausedForRing = true;
                ctx.executor().schedule(connection.resumeTask, RING_RETRY_NANOS, TimeUnit.NANOSECONDS);
                break;
            }
            cumulation.readerIndex(start + LENGTH_PREFIX + length);
            wrote = true;
            if (outcome == Outcome.CLOSE)
            {
                closeAfterReplies();
                return;
            }
            if (outcome == Outcome.STOP)
            {
                releaseBuffers();
                updateAutoRead();
                return;
            }
        }
        keepLeftover();
        writeErrors();
        if (wrote)
        {
            ctx.flush();
        }
        updateAutoRead();
    }

    /**
     * After a batch: no buffer at all when everything was decoded, a small one when a partial frame lies at the end
     * of a large read.
     */
    private void keepLeftover()
    {
        if (cumulation == null)
        {
            return;
        }
        final int leftover = cumulation.readableBytes();
        final int oneFrame = LENGTH_PREFIX + config.maxFrameLength();
        if (leftover == 0)
        {
            cumulation.release();
            cumulation = null;
        }
        else if (leftover <= oneFrame && cumulation.capacity() > oneFrame)
        {
            final ByteBuf smaller = context.alloc().directBuffer(leftover);
            smaller.writeBytes(cumulation);
            cumulation.release();
            cumulation = smaller;
        }
        else
        {
            cumulation.discardSomeReadBytes();
        }
    }

    /**
     * Back on the I/O thread after a pause: clears the reasons that no longer hold and decodes what is waiting.
     */
    private void resume()
    {
        connection.resumeScheduled.set(false); // before the count is read: a later answer schedules another resume
        connection.pausedForRing = false;
        if (connection.inFlight() < connection.maxInFlight())
        {
            connection.pausedForInFlight = false;
        }
        if (unsentErrors < connection.maxInFlight())
        {
            connection.pausedForErrors = false;
        }
        if (context.channel().isActive() && !closing)
        {
            drain();
        }
    }

    private void updateAutoRead()
    {
        final boolean read = !closing && !connection.pausedForRing && !connection.pausedForInFlight &&
            !connection.pausedForWrite && !connection.pausedForErrors;
        if (context.channel().config().isAutoRead() != read)
        {
            context.channel().config().setAutoRead(read);
        }
    }

    private Outcome onFrame(final ChannelHandlerContext ctx, final int length)
    {
        header.wrap(frame, 0);
        final int blockLength = header.blockLength();
        final int template = header.templateId();
        final int version = header.version();
        correlationId = frame.getLong(HEADER, ByteOrder.LITTLE_ENDIAN); // the first field of every request
        frameVersion = version;
        if (header.schemaId() != MessageHeaderDecoder.SCHEMA_ID)
        {
            return refuse(ServerMetrics.BadFrame.UNKNOWN_MESSAGE, Op.NONE, ResultCode.UNKNOWN_MESSAGE);
        }
        if (version < MIN_VERSION || version > VERSION)
        {
            return refuse(ServerMetrics.BadFrame.UNSUPPORTED_VERSION, Op.NONE, ResultCode.UNSUPPORTED_VERSION);
        }
        final Op op = opOf(template);
        if (op == Op.NULL_VAL)
        {
            return refuse(ServerMetrics.BadFrame.UNKNOWN_MESSAGE, Op.NONE, ResultCode.UNKNOWN_MESSAGE);
        }
        if (op == Op.HELLO)
        {
            return connection.role == Role.NONE ? hello(ctx, blockLength, length) : secondHello(ctx);
        }
        final int expectedBlockLength = blockLengthOf(template, version);
        if (expectedBlockLength == NOT_IN_VERSION)
        {
            return refuse(ServerMetrics.BadFrame.UNSUPPORTED_VERSION, op, ResultCode.UNSUPPORTED_VERSION);
        }
        if (blockLength != expectedBlockLength || length != HEADER + blockLength + groupsLength(template, length) ||
            !enumsValid(template, blockLength, version))
        {
            return refuse(ServerMetrics.BadFrame.MALFORMED, op, ResultCode.MALFORMED);
        }
        if (connection.role == Role.NONE)
        {
            return refuse(ServerMetrics.BadFrame.UNAUTHENTICATED, op, ResultCode.UNAUTHENTICATED);
        }
        if (connection.role != Role.ADMIN && !gatewayMay(op))
        {
            return refuse(ServerMetrics.BadFrame.FORBIDDEN, op, ResultCode.FORBIDDEN);
        }
        if (op == Op.SNAPSHOT)
        {
            snapshot(ctx);
            return Outcome.CONSUMED;
        }
        templateId = template;
        try
        {
            return engine.tryPublish(this, this, connection, correlationId) ? Outcome.CONSUMED : Outcome.RING_FULL;
        }
        catch (final IllegalStateException ex) // the engine is shutting down
        {
            appendError(op, ResultCode.UNAVAILABLE);
            return Outcome.CONSUMED;
        }
    }

    /**
     * @return the bytes of the repeating groups after a root block of the right length: SetVirtualKey's services,
     * whose entries must have the length this schema gives them; -1 (no frame matches) when the group header is cut
     * short or gives another entry length.
     */
    private int groupsLength(final int template, final int length)
    {
        if (template != SetVirtualKeyDecoder.TEMPLATE_ID)
        {
            return 0;
        }
        final int groupHeader = HEADER + SetVirtualKeyDecoder.BLOCK_LENGTH;
        if (length < groupHeader + SetVirtualKeyDecoder.ServicesDecoder.HEADER_SIZE ||
            (frame.getShort(groupHeader, ByteOrder.LITTLE_ENDIAN) & 0xFFFF) != SERVICE_ENTRY)
        {
            return -1;
        }
        final int count = frame.getShort(groupHeader + 2, ByteOrder.LITTLE_ENDIAN) & 0xFFFF;
        return SetVirtualKeyDecoder.ServicesDecoder.HEADER_SIZE + count * SERVICE_ENTRY;
    }

    /**
     * Enum fields must hold a value the schema defines (SetVirtualKey's unlimited and resetPeriod), else the frame
     * is not that message. Grant's period is left to the ledger, as it always was (INVALID_ARGUMENT).
     */
    private boolean enumsValid(final int template, final int blockLength, final int version)
    {
        if (template != SetVirtualKeyDecoder.TEMPLATE_ID)
        {
            return true;
        }
        setVirtualKey.wrap(frame, HEADER, blockLength, version);
        final short unlimited = setVirtualKey.unlimitedRaw();
        final short resetPeriod = setVirtualKey.resetPeriodRaw();
        return (unlimited == BooleanType.FALSE.value() || unlimited == BooleanType.TRUE.value()) &&
            (resetPeriod == io.quotaledger.protocol.Period.NONE.value() || Period.fromCode(resetPeriod) != null);
    }

    private Outcome hello(final ChannelHandlerContext ctx, final int blockLength, final int length)
    {
        final HelloDecoder hello = new HelloDecoder(); // once per connection
        if (blockLength != HelloDecoder.BLOCK_LENGTH || length < HEADER + blockLength + 2)
        {
            return helloRefused(ctx, ServerMetrics.BadFrame.MALFORMED, "malformed Hello");
        }
        hello.wrap(frame, HEADER, blockLength, header.version());
        hello.correlationId();
        hello.clientVersion();
        final int keyLength = hello.apiKeyLength();
        if (length != HEADER + blockLength + 2 + keyLength)
        {
            return helloRefused(ctx, ServerMetrics.BadFrame.MALFORMED, "malformed Hello");
        }
        final Role role = keys.authenticate(ctx.channel(), hello.apiKey());
        if (role == Role.NONE)
        {
            return helloRefused(ctx, ServerMetrics.BadFrame.UNAUTHENTICATED, "unknown API key");
        }
        if (!registry.authenticated(connection))
        {
            closing = true; // closed to make room a moment ago; the close is under way
            return Outcome.STOP;
        }
        connection.role = role;
        connection.version = header.version(); // read by the reply thread after requests published from here
        cancelHelloDeadline();
        ctx.write(helloResult(ctx, correlationId, ResultCode.OK, role, connection.version));
        return Outcome.CONSUMED;
    }

    /**
     * A second Hello would change what an authenticated connection may do: refused, and the connection closed.
     */
    private Outcome secondHello(final ChannelHandlerContext ctx)
    {
        metrics.badFrame(ServerMetrics.BadFrame.FORBIDDEN);
        metrics.connectionClosed(ServerMetrics.Close.SECOND_HELLO);
        ctx.write(helloResult(ctx, correlationId, ResultCode.FORBIDDEN, connection.role, connection.version));
        return Outcome.CLOSE;
    }

    /**
     * A failed Hello is logged (rate-limited), and answered and closed only after a pause, with nothing more read
     * meanwhile: guessing keys is slow, and no thread waits.
     */
    private Outcome helloRefused(final ChannelHandlerContext ctx, final ServerMetrics.BadFrame kind, final String why)
    {
        metrics.badFrame(kind);
        metrics.connectionClosed(ServerMetrics.Close.HELLO_REFUSED);
        failedHellos.failed(ctx.channel().remoteAddress(), why);
        closing = true;
        cancelHelloDeadline(); // the answer below closes it
        final long helloCorrelationId = correlationId;
        final int version = frameVersion;
        final Runnable answer = () ->
        {
            failedHelloAnswer = null;
            if (ctx.channel().isActive())
            {
                final ByteBuf out = kind == ServerMetrics.BadFrame.MALFORMED ?
                    ResultPublisher.error(ctx.alloc(), helloCorrelationId, Op.HELLO, ResultCode.MALFORMED, version) :
                    helloResult(ctx, helloCorrelationId, ResultCode.UNAUTHENTICATED, Role.NONE, version);
                ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
            }
        };
        if (config.failedHelloDelayMillis() == 0)
        {
            answer.run();
        }
        else
        {
            failedHelloAnswer = ctx.executor().schedule(answer, config.failedHelloDelayMillis(), TimeUnit.MILLISECONDS);
        }
        return Outcome.STOP;
    }

    /**
     * The answer to a Hello, in the Hello's version, which it also names as the server's: the version this connection
     * is answered in (HelloResult is the same in both).
     */
    private static ByteBuf helloResult(
        final ChannelHandlerContext ctx, final long correlationId, final ResultCode code, final Role role,
        final int version)
    {
        final ByteBuf out = ctx.alloc().directBuffer(HELLO_RESULT_FRAME);
        final UnsafeBuffer buffer = new UnsafeBuffer(out.memoryAddress(), HELLO_RESULT_FRAME);
        buffer.putInt(0, HELLO_RESULT_FRAME - LENGTH_PREFIX, ByteOrder.LITTLE_ENDIAN);
        final MessageHeaderEncoder header = new MessageHeaderEncoder();
        new HelloResultEncoder().wrapAndApplyHeader(buffer, LENGTH_PREFIX, header)
            .correlationId(correlationId)
            .code(code)
            .role(role)
            .serverVersion(version);
        header.version(version);
        out.writerIndex(HELLO_RESULT_FRAME);
        return out;
    }

    /**
     * Takes a snapshot of the running ledger and answers once its file is durable (or at once when it cannot).
     */
    private void snapshot(final ChannelHandlerContext ctx)
    {
        final long requestCorrelationId = correlationId;
        final CompletableFuture<Snapshotter.Snapshot> taken = snapshots == null ? null : snapshots.get();
        final int version = connection.version;
        if (taken == null)
        {
            ctx.write(snapshotResult(ctx, requestCorrelationId, null, version));
            return;
        }
        taken.whenComplete((snapshot, failure) ->
        {
            if (failure != null)
            {
                LOG.error("snapshot requested over the protocol failed", failure);
            }
            ctx.executor().execute(() ->
                ctx.writeAndFlush(snapshotResult(ctx, requestCorrelationId, failure == null ? snapshot : null,
                version)));
        });
    }

    private static ByteBuf snapshotResult(
        final ChannelHandlerContext ctx, final long correlationId, final Snapshotter.Snapshot snapshot,
        final int version)
    {
        final int length = HEADER + SnapshotResultEncoder.BLOCK_LENGTH;
        final ByteBuf out = ctx.alloc().directBuffer(LENGTH_PREFIX + length);
        final UnsafeBuffer buffer = new UnsafeBuffer(out.memoryAddress(), LENGTH_PREFIX + length);
        buffer.putInt(0, length, ByteOrder.LITTLE_ENDIAN);
        final MessageHeaderEncoder header = new MessageHeaderEncoder();
        new SnapshotResultEncoder().wrapAndApplyHeader(buffer, LENGTH_PREFIX, header)
            .correlationId(correlationId)
            .code(snapshot == null ? ResultCode.UNAVAILABLE : ResultCode.OK)
            .sequence(snapshot == null ? 0 : snapshot.sequence())
            .bytes(snapshot == null ? 0 : snapshot.bytes())
            .pauseMicros(snapshot == null ? 0 : TimeUnit.NANOSECONDS.toMicros(snapshot.pauseNanos()));
        header.version(version); // the same message in both versions
        out.writerIndex(LENGTH_PREFIX + length);
        return out;
    }

    /**
     * Answers a frame that never reaches the ledger. Before a successful Hello nothing but a Hello may come, so the
     * connection is then closed after the answer.
     */
    private Outcome refuse(final ServerMetrics.BadFrame kind, final Op op, final ResultCode code)
    {
        metrics.badFrame(kind);
        appendError(op, code);
        if (connection.role == Role.NONE)
        {
            metrics.connectionClosed(ServerMetrics.Close.BEFORE_HELLO);
            return Outcome.CLOSE;
        }
        return Outcome.CONSUMED;
    }

    /**
     * Encodes an error result for the frame being decoded into this batch's error buffer.
     */
    private void appendError(final Op op, final ResultCode code)
    {
        if (errors == null)
        {
            errors = context.alloc().directBuffer(ResultPublisher.RESULT_FRAME_LENGTH * 4);
        }
        ResultPublisher.encodeError(errors, correlationId, op, code, replyVersion());
        errorsInBatch++;
        unsentErrors++;
    }

    /**
     * @return the version to answer in: the connection's once it has said Hello; before, the frame's when this server
     * speaks it, else the oldest (every client reads it).
     */
    private int replyVersion()
    {
        if (connection.version != 0)
        {
            return connection.version;
        }
        return frameVersion >= MIN_VERSION && frameVersion <= VERSION ? frameVersion : MIN_VERSION;
    }

    /**
     * Writes this batch's error results; they stop counting against the connection once they reach the socket.
     */
    private void writeErrors()
    {
        if (errors == null)
        {
            return;
        }
        final ByteBuf out = errors;
        final int count = errorsInBatch;
        errors = null;
        errorsInBatch = 0;
        context.write(out).addListener(future -> errorsWritten(count));
    }

    private void errorsWritten(final int count)
    {
        unsentErrors -= count;
        if (connection.pausedForErrors && unsentErrors <= connection.maxInFlight() / 2)
        {
            // not from here: this may run inside a flush in the middle of a batch
            context.executor().execute(connection.resumeTask);
        }
    }

    /**
     * Writes what is owed and closes once it is written; nothing more is read or decoded.
     */
    private void closeAfterReplies()
    {
        closing = true;
        writeErrors();
        context.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        releaseBuffers();
        updateAutoRead();
    }

    private void releaseBuffers()
    {
        if (cumulation != null)
        {
            cumulation.release();
            cumulation = null;
        }
        if (errors != null)
        {
            errors.release();
            errors = null;
            errorsInBatch = 0;
        }
    }

    /**
     * Fills the engine's slot from the frame being decoded; runs inside tryPublish, before the slot is published.
     * A version-1 frame has none of the fields version 2 appended: they stay 0 (the command was reset).
     */
    public void translateTo(final Command command, final RequestAdapter self)
    {
        final int version = header.version();
        final int blockLength = header.blockLength();
        final boolean v2 = version >= 2;
        switch (templateId)
        {
            case DeductDecoder.TEMPLATE_ID ->
            {
                deduct.wrap(frame, HEADER, blockLength, version);
                deduct.correlationId();
                command.op(io.quotaledger.core.Op.DEDUCT)
                    .requestId(deduct.requestId().hi(), deduct.requestId().lo())
                    .userId(deduct.userId())
                    .serviceId(deduct.serviceId())
                    .amount(deduct.amount());
                if (v2)
                {
                    command.virtualKeyId(deduct.virtualKeyId()).units(deduct.units());
                }
            }
            case ReserveDecoder.TEMPLATE_ID ->
            {
                reserve.wrap(frame, HEADER, blockLength, version);
                reserve.correlationId();
                command.op(io.quotaledger.core.Op.RESERVE)
                    .requestId(reserve.requestId().hi(), reserve.requestId().lo())
                    .userId(reserve.userId())
                    .serviceId(reserve.serviceId())
                    .amount(reserve.amount())
                    .ttlMillis(reserve.ttlMillis());
                if (v2)
                {
                    command.virtualKeyId(reserve.virtualKeyId()).units(reserve.units());
                }
            }
            case SettleDecoder.TEMPLATE_ID ->
            {
                settle.wrap(frame, HEADER, blockLength, version);
                settle.correlationId();
                command.op(io.quotaledger.core.Op.SETTLE)
                    .requestId(settle.requestId().hi(), settle.requestId().lo())
                    .holdId(settle.holdId().hi(), settle.holdId().lo())
                    .amount(settle.actual());
            }
            case ReleaseDecoder.TEMPLATE_ID ->
            {
                release.wrap(frame, HEADER, blockLength, version);
                release.correlationId();
                command.op(io.quotaledger.core.Op.RELEASE)
                    .requestId(release.requestId().hi(), release.requestId().lo())
                    .holdId(release.holdId().hi(), release.holdId().lo());
            }
            case CreditDecoder.TEMPLATE_ID ->
            {
                credit.wrap(frame, HEADER, blockLength, version);
                credit.correlationId();
                command.op(io.quotaledger.core.Op.CREDIT)
                    .requestId(credit.requestId().hi(), credit.requestId().lo())
                    .userId(credit.userId())
                    .amount(credit.amount());
            }
            case GrantDecoder.TEMPLATE_ID ->
            {
                grant.wrap(frame, HEADER, blockLength, version);
                grant.correlationId();
                command.op(io.quotaledger.core.Op.GRANT)
                    .requestId(grant.requestId().hi(), grant.requestId().lo())
                    .userId(grant.userId())
                    .serviceId(grant.serviceId())
                    .amount(grant.allowance())
                    .period(Period.fromCode(grant.periodRaw())); // an unknown period stays null: INVALID_ARGUMENT
            }
            case SetLimitDecoder.TEMPLATE_ID ->
            {
                setLimit.wrap(frame, HEADER, blockLength, version);
                setLimit.correlationId();
                command.op(io.quotaledger.core.Op.SET_LIMIT)
                    .requestId(setLimit.requestId().hi(), setLimit.requestId().lo())
                    .userId(setLimit.userId())
                    .amount(setLimit.creditLimit());
            }
            case FreezeDecoder.TEMPLATE_ID ->
            {
                freeze.wrap(frame, HEADER, blockLength, version);
                freeze.correlationId();
                command.op(io.quotaledger.core.Op.FREEZE)
                    .requestId(freeze.requestId().hi(), freeze.requestId().lo())
                    .userId(freeze.userId());
            }
            case UnfreezeDecoder.TEMPLATE_ID ->
            {
                unfreeze.wrap(frame, HEADER, blockLength, version);
                unfreeze.correlationId();
                command.op(io.quotaledger.core.Op.UNFREEZE)
                    .requestId(unfreeze.requestId().hi(), unfreeze.requestId().lo())
                    .userId(unfreeze.userId());
            }
            case QueryDecoder.TEMPLATE_ID ->
            {
                query.wrap(frame, HEADER, blockLength, version);
                query.correlationId();
                command.op(io.quotaledger.core.Op.QUERY)
                    .userId(query.userId())
                    .serviceId(query.serviceId());
                if (v2)
                {
                    command.virtualKeyId(query.virtualKeyId());
                }
            }
            default -> translatePolicy(command, blockLength, version);
        }
        connection.published();
    }

    /**
     * The gateway policy messages (version 2 only).
     */
    private void translatePolicy(final Command command, final int blockLength, final int version)
    {
        switch (templateId)
        {
            case SetVirtualKeyDecoder.TEMPLATE_ID ->
            {
                setVirtualKey.wrap(frame, HEADER, blockLength, version);
                setVirtualKey.correlationId();
                command.op(io.quotaledger.core.Op.SET_VIRTUAL_KEY)
                    .requestId(setVirtualKey.requestId().hi(), setVirtualKey.requestId().lo())
                    .userId(setVirtualKey.userId())
                    .virtualKeyId(setVirtualKey.virtualKeyId())
                    .amount(setVirtualKey.budget())
                    .unlimited(setVirtualKey.unlimitedRaw() == BooleanType.TRUE.value())
                    .resetPeriod(Period.fromCode(setVirtualKey.resetPeriodRaw())) // NONE (0) is null: see resetMillis
                    .resetMillis(setVirtualKey.resetMillis())
                    .expiresAt(setVirtualKey.expiresAt());
                final SetVirtualKeyDecoder.ServicesDecoder services = setVirtualKey.services();
                while (services.hasNext())
                {
                    command.addService(services.next().serviceId()); // beyond 12 counted: INVALID_ARGUMENT
                }
            }
            case SetVirtualKeyServiceBudgetDecoder.TEMPLATE_ID ->
            {
                setServiceBudget.wrap(frame, HEADER, blockLength, version);
                setServiceBudget.correlationId();
                command.op(io.quotaledger.core.Op.SET_VIRTUAL_KEY_SERVICE_BUDGET)
                    .requestId(setServiceBudget.requestId().hi(), setServiceBudget.requestId().lo())
                    .userId(setServiceBudget.userId())
                    .virtualKeyId(setServiceBudget.virtualKeyId())
                    .serviceId(setServiceBudget.serviceId())
                    .amount(setServiceBudget.budget());
            }
            case RevokeVirtualKeyDecoder.TEMPLATE_ID ->
            {
                revokeVirtualKey.wrap(frame, HEADER, blockLength, version);
                revokeVirtualKey.correlationId();
                command.op(io.quotaledger.core.Op.REVOKE_VIRTUAL_KEY)
                    .requestId(revokeVirtualKey.requestId().hi(), revokeVirtualKey.requestId().lo())
                    .userId(revokeVirtualKey.userId())
                    .virtualKeyId(revokeVirtualKey.virtualKeyId());
            }
            case SetPriceDecoder.TEMPLATE_ID ->
            {
                setPrice.wrap(frame, HEADER, blockLength, version);
                setPrice.correlationId();
                command.op(io.quotaledger.core.Op.SET_PRICE)
                    .requestId(setPrice.requestId().hi(), setPrice.requestId().lo())
                    .groupId(setPrice.groupId())
                    .serviceId(setPrice.serviceId())
                    .multiplier(setPrice.multiplier());
            }
            case SetGroupDecoder.TEMPLATE_ID ->
            {
                setGroup.wrap(frame, HEADER, blockLength, version);
                setGroup.correlationId();
                command.op(io.quotaledger.core.Op.SET_GROUP)
                    .requestId(setGroup.requestId().hi(), setGroup.requestId().lo())
                    .userId(setGroup.userId())
                    .groupId(setGroup.groupId());
            }
            case SetRateLimitDecoder.TEMPLATE_ID ->
            {
                setRateLimit.wrap(frame, HEADER, blockLength, version);
                setRateLimit.correlationId();
                command.op(io.quotaledger.core.Op.SET_RATE_LIMIT)
                    .requestId(setRateLimit.requestId().hi(), setRateLimit.requestId().lo())
                    .userId(setRateLimit.userId())
                    .virtualKeyId(setRateLimit.virtualKeyId())
                    .requests(setRateLimit.requests())
                    .units(setRateLimit.units())
                    .perMillis(setRateLimit.perMillis());
            }
            case SetSpendWindowDecoder.TEMPLATE_ID ->
            {
                setSpendWindow.wrap(frame, HEADER, blockLength, version);
                setSpendWindow.correlationId();
                command.op(io.quotaledger.core.Op.SET_SPEND_WINDOW)
                    .requestId(setSpendWindow.requestId().hi(), setSpendWindow.requestId().lo())
                    .userId(setSpendWindow.userId())
                    .virtualKeyId(setSpendWindow.virtualKeyId())
                    .amount(setSpendWindow.max())
                    .perMillis(setSpendWindow.perMillis());
            }
            default ->
            {
                setConcurrency.wrap(frame, HEADER, blockLength, version);
                setConcurrency.correlationId();
                command.op(io.quotaledger.core.Op.SET_CONCURRENCY)
                    .requestId(setConcurrency.requestId().hi(), setConcurrency.requestId().lo())
                    .userId(setConcurrency.userId())
                    .virtualKeyId(setConcurrency.virtualKeyId())
                    .amount(setConcurrency.max());
            }
        }
    }

    private static Op opOf(final int templateId)
    {
        return switch (templateId)
        {
            case HelloDecoder.TEMPLATE_ID -> Op.HELLO;
            case DeductDecoder.TEMPLATE_ID -> Op.DEDUCT;
            case ReserveDecoder.TEMPLATE_ID -> Op.RESERVE;
            case SettleDecoder.TEMPLATE_ID -> Op.SETTLE;
            case ReleaseDecoder.TEMPLATE_ID -> Op.RELEASE;
            case CreditDecoder.TEMPLATE_ID -> Op.CREDIT;
            case GrantDecoder.TEMPLATE_ID -> Op.GRANT;
            case SetLimitDecoder.TEMPLATE_ID -> Op.SET_LIMIT;
            case FreezeDecoder.TEMPLATE_ID -> Op.FREEZE;
            case UnfreezeDecoder.TEMPLATE_ID -> Op.UNFREEZE;
            case QueryDecoder.TEMPLATE_ID -> Op.QUERY;
            case TakeSnapshotDecoder.TEMPLATE_ID -> Op.SNAPSHOT;
            case SetVirtualKeyDecoder.TEMPLATE_ID -> Op.SET_VIRTUAL_KEY;
            case SetVirtualKeyServiceBudgetDecoder.TEMPLATE_ID -> Op.SET_VIRTUAL_KEY_SERVICE_BUDGET;
            case RevokeVirtualKeyDecoder.TEMPLATE_ID -> Op.REVOKE_VIRTUAL_KEY;
            case SetPriceDecoder.TEMPLATE_ID -> Op.SET_PRICE;
            case SetGroupDecoder.TEMPLATE_ID -> Op.SET_GROUP;
            case SetRateLimitDecoder.TEMPLATE_ID -> Op.SET_RATE_LIMIT;
            case SetSpendWindowDecoder.TEMPLATE_ID -> Op.SET_SPEND_WINDOW;
            case SetConcurrencyDecoder.TEMPLATE_ID -> Op.SET_CONCURRENCY;
            default -> Op.NULL_VAL;
        };
    }

    /**
     * @return the root block length of a request in a protocol version, or {@link #NOT_IN_VERSION}.
     */
    static int blockLengthOf(final int templateId, final int version)
    {
        final boolean v1 = version < 2;
        return switch (templateId)
        {
            case DeductDecoder.TEMPLATE_ID -> v1 ? DEDUCT_V1_BLOCK : DeductDecoder.BLOCK_LENGTH;
            case ReserveDecoder.TEMPLATE_ID -> v1 ? RESERVE_V1_BLOCK : ReserveDecoder.BLOCK_LENGTH;
            case QueryDecoder.TEMPLATE_ID -> v1 ? QUERY_V1_BLOCK : QueryDecoder.BLOCK_LENGTH;
            case SettleDecoder.TEMPLATE_ID -> SettleDecoder.BLOCK_LENGTH;
            case ReleaseDecoder.TEMPLATE_ID -> ReleaseDecoder.BLOCK_LENGTH;
            case CreditDecoder.TEMPLATE_ID -> CreditDecoder.BLOCK_LENGTH;
            case GrantDecoder.TEMPLATE_ID -> GrantDecoder.BLOCK_LENGTH;
            case SetLimitDecoder.TEMPLATE_ID -> SetLimitDecoder.BLOCK_LENGTH;
            case FreezeDecoder.TEMPLATE_ID -> FreezeDecoder.BLOCK_LENGTH;
            case UnfreezeDecoder.TEMPLATE_ID -> UnfreezeDecoder.BLOCK_LENGTH;
            case TakeSnapshotDecoder.TEMPLATE_ID -> TakeSnapshotDecoder.BLOCK_LENGTH;
            case SetVirtualKeyDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : SetVirtualKeyDecoder.BLOCK_LENGTH;
            case SetVirtualKeyServiceBudgetDecoder.TEMPLATE_ID ->
                v1 ? NOT_IN_VERSION : SetVirtualKeyServiceBudgetDecoder.BLOCK_LENGTH;
            case RevokeVirtualKeyDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : RevokeVirtualKeyDecoder.BLOCK_LENGTH;
            case SetPriceDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : SetPriceDecoder.BLOCK_LENGTH;
            case SetGroupDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : SetGroupDecoder.BLOCK_LENGTH;
            case SetRateLimitDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : SetRateLimitDecoder.BLOCK_LENGTH;
            case SetSpendWindowDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : SetSpendWindowDecoder.BLOCK_LENGTH;
            case SetConcurrencyDecoder.TEMPLATE_ID -> v1 ? NOT_IN_VERSION : SetConcurrencyDecoder.BLOCK_LENGTH;
            default -> NOT_IN_VERSION;
        };
    }

    private static boolean gatewayMay(final Op op)
    {
        return op == Op.DEDUCT || op == Op.RESERVE || op == Op.SETTLE || op == Op.RELEASE || op == Op.QUERY;
    }
}
