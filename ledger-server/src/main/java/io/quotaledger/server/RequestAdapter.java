package io.quotaledger.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import io.quotaledger.core.Command;
import io.quotaledger.engine.CommandTranslator;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.Snapshotter;
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
import io.quotaledger.protocol.Role;
import io.quotaledger.protocol.SetLimitDecoder;
import io.quotaledger.protocol.SettleDecoder;
import io.quotaledger.protocol.SnapshotResultEncoder;
import io.quotaledger.protocol.TakeSnapshotDecoder;
import io.quotaledger.protocol.UnfreezeDecoder;
import io.quotaledger.core.Period;
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
 */
final class RequestAdapter extends ChannelInboundHandlerAdapter implements CommandTranslator<RequestAdapter>
{
    private static final Logger LOG = LoggerFactory.getLogger(RequestAdapter.class);
    private static final int LENGTH_PREFIX = Integer.BYTES;
    private static final int HEADER = MessageHeaderDecoder.ENCODED_LENGTH;
    private static final int HELLO_RESULT_FRAME = LENGTH_PREFIX + HEADER + HelloResultEncoder.BLOCK_LENGTH;
    private static final long RING_RETRY_NANOS = TimeUnit.MICROSECONDS.toNanos(100);

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

    private Connection connection;
    private ByteBuf cumulation;
    private ChannelHandlerContext context;
    private ScheduledFuture<?> helloDeadline;
    private ScheduledFuture<?> failedHelloAnswer;
    private boolean closing;
    private int templateId;
    private long correlationId;

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
        correlationId = frame.getLong(HEADER, ByteOrder.LITTLE_ENDIAN); // the first field of every request
        if (header.schemaId() != MessageHeaderDecoder.SCHEMA_ID)
        {
            return refuse(ServerMetrics.BadFrame.UNKNOWN_MESSAGE, Op.NONE, ResultCode.UNKNOWN_MESSAGE);
        }
        if (header.version() != MessageHeaderDecoder.SCHEMA_VERSION)
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
        if (blockLength != blockLengthOf(template) || length != HEADER + blockLength)
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
        cancelHelloDeadline();
        ctx.write(helloResult(ctx, correlationId, ResultCode.OK, role));
        return Outcome.CONSUMED;
    }

    /**
     * A second Hello would change what an authenticated connection may do: refused, and the connection closed.
     */
    private Outcome secondHello(final ChannelHandlerContext ctx)
    {
        metrics.badFrame(ServerMetrics.BadFrame.FORBIDDEN);
        metrics.connectionClosed(ServerMetrics.Close.SECOND_HELLO);
        ctx.write(helloResult(ctx, correlationId, ResultCode.FORBIDDEN, connection.role));
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
        final Runnable answer = () ->
        {
            failedHelloAnswer = null;
            if (ctx.channel().isActive())
            {
                final ByteBuf out = kind == ServerMetrics.BadFrame.MALFORMED ?
                    ResultPublisher.error(ctx.alloc(), helloCorrelationId, Op.HELLO, ResultCode.MALFORMED) :
                    helloResult(ctx, helloCorrelationId, ResultCode.UNAUTHENTICATED, Role.NONE);
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

    private static ByteBuf helloResult(
        final ChannelHandlerContext ctx, final long correlationId, final ResultCode code, final Role role)
    {
        final ByteBuf out = ctx.alloc().directBuffer(HELLO_RESULT_FRAME);
        final UnsafeBuffer buffer = new UnsafeBuffer(out.memoryAddress(), HELLO_RESULT_FRAME);
        buffer.putInt(0, HELLO_RESULT_FRAME - LENGTH_PREFIX, ByteOrder.LITTLE_ENDIAN);
        new HelloResultEncoder().wrapAndApplyHeader(buffer, LENGTH_PREFIX, new MessageHeaderEncoder())
            .correlationId(correlationId)
            .code(code)
            .role(role)
            .serverVersion(HelloResultEncoder.SCHEMA_VERSION);
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
        if (taken == null)
        {
            ctx.write(snapshotResult(ctx, requestCorrelationId, null));
            return;
        }
        taken.whenComplete((snapshot, failure) ->
        {
            if (failure != null)
            {
                LOG.error("snapshot requested over the protocol failed", failure);
            }
            ctx.executor().execute(() ->
                ctx.writeAndFlush(snapshotResult(ctx, requestCorrelationId, failure == null ? snapshot : null)));
        });
    }

    private static ByteBuf snapshotResult(
        final ChannelHandlerContext ctx, final long correlationId, final Snapshotter.Snapshot snapshot)
    {
        final int length = HEADER + SnapshotResultEncoder.BLOCK_LENGTH;
        final ByteBuf out = ctx.alloc().directBuffer(LENGTH_PREFIX + length);
        final UnsafeBuffer buffer = new UnsafeBuffer(out.memoryAddress(), LENGTH_PREFIX + length);
        buffer.putInt(0, length, ByteOrder.LITTLE_ENDIAN);
        new SnapshotResultEncoder().wrapAndApplyHeader(buffer, LENGTH_PREFIX, new MessageHeaderEncoder())
            .correlationId(correlationId)
            .code(snapshot == null ? ResultCode.UNAVAILABLE : ResultCode.OK)
            .sequence(snapshot == null ? 0 : snapshot.sequence())
            .bytes(snapshot == null ? 0 : snapshot.bytes())
            .pauseMicros(snapshot == null ? 0 : TimeUnit.NANOSECONDS.toMicros(snapshot.pauseNanos()));
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
        ResultPublisher.encodeError(errors, correlationId, op, code);
        errorsInBatch++;
        unsentErrors++;
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
     */
    public void translateTo(final Command command, final RequestAdapter self)
    {
        final int version = header.version();
        switch (templateId)
        {
            case DeductDecoder.TEMPLATE_ID ->
            {
                deduct.wrap(frame, HEADER, DeductDecoder.BLOCK_LENGTH, version);
                deduct.correlationId();
                command.op(io.quotaledger.core.Op.DEDUCT)
                    .requestId(deduct.requestId().hi(), deduct.requestId().lo())
                    .userId(deduct.userId())
                    .serviceId(deduct.serviceId())
                    .amount(deduct.amount());
            }
            case ReserveDecoder.TEMPLATE_ID ->
            {
                reserve.wrap(frame, HEADER, ReserveDecoder.BLOCK_LENGTH, version);
                reserve.correlationId();
                command.op(io.quotaledger.core.Op.RESERVE)
                    .requestId(reserve.requestId().hi(), reserve.requestId().lo())
                    .userId(reserve.userId())
                    .serviceId(reserve.serviceId())
                    .amount(reserve.amount())
                    .ttlMillis(reserve.ttlMillis());
            }
            case SettleDecoder.TEMPLATE_ID ->
            {
                settle.wrap(frame, HEADER, SettleDecoder.BLOCK_LENGTH, version);
                settle.correlationId();
                command.op(io.quotaledger.core.Op.SETTLE)
                    .requestId(settle.requestId().hi(), settle.requestId().lo())
                    .holdId(settle.holdId().hi(), settle.holdId().lo())
                    .amount(settle.actual());
            }
            case ReleaseDecoder.TEMPLATE_ID ->
            {
                release.wrap(frame, HEADER, ReleaseDecoder.BLOCK_LENGTH, version);
                release.correlationId();
                command.op(io.quotaledger.core.Op.RELEASE)
                    .requestId(release.requestId().hi(), release.requestId().lo())
                    .holdId(release.holdId().hi(), release.holdId().lo());
            }
            case CreditDecoder.TEMPLATE_ID ->
            {
                credit.wrap(frame, HEADER, CreditDecoder.BLOCK_LENGTH, version);
                credit.correlationId();
                command.op(io.quotaledger.core.Op.CREDIT)
                    .requestId(credit.requestId().hi(), credit.requestId().lo())
                    .userId(credit.userId())
                    .amount(credit.amount());
            }
            case GrantDecoder.TEMPLATE_ID ->
            {
                grant.wrap(frame, HEADER, GrantDecoder.BLOCK_LENGTH, version);
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
                setLimit.wrap(frame, HEADER, SetLimitDecoder.BLOCK_LENGTH, version);
                setLimit.correlationId();
                command.op(io.quotaledger.core.Op.SET_LIMIT)
                    .requestId(setLimit.requestId().hi(), setLimit.requestId().lo())
                    .userId(setLimit.userId())
                    .amount(setLimit.creditLimit());
            }
            case FreezeDecoder.TEMPLATE_ID ->
            {
                freeze.wrap(frame, HEADER, FreezeDecoder.BLOCK_LENGTH, version);
                freeze.correlationId();
                command.op(io.quotaledger.core.Op.FREEZE)
                    .requestId(freeze.requestId().hi(), freeze.requestId().lo())
                    .userId(freeze.userId());
            }
            case UnfreezeDecoder.TEMPLATE_ID ->
            {
                unfreeze.wrap(frame, HEADER, UnfreezeDecoder.BLOCK_LENGTH, version);
                unfreeze.correlationId();
                command.op(io.quotaledger.core.Op.UNFREEZE)
                    .requestId(unfreeze.requestId().hi(), unfreeze.requestId().lo())
                    .userId(unfreeze.userId());
            }
            default ->
            {
                query.wrap(frame, HEADER, QueryDecoder.BLOCK_LENGTH, version);
                query.correlationId();
                command.op(io.quotaledger.core.Op.QUERY)
                    .userId(query.userId())
                    .serviceId(query.serviceId());
            }
        }
        connection.published();
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
            default -> Op.NULL_VAL;
        };
    }

    private static int blockLengthOf(final int templateId)
    {
        return switch (templateId)
        {
            case DeductDecoder.TEMPLATE_ID -> DeductDecoder.BLOCK_LENGTH;
            case ReserveDecoder.TEMPLATE_ID -> ReserveDecoder.BLOCK_LENGTH;
            case SettleDecoder.TEMPLATE_ID -> SettleDecoder.BLOCK_LENGTH;
            case ReleaseDecoder.TEMPLATE_ID -> ReleaseDecoder.BLOCK_LENGTH;
            case CreditDecoder.TEMPLATE_ID -> CreditDecoder.BLOCK_LENGTH;
            case GrantDecoder.TEMPLATE_ID -> GrantDecoder.BLOCK_LENGTH;
            case SetLimitDecoder.TEMPLATE_ID -> SetLimitDecoder.BLOCK_LENGTH;
            case FreezeDecoder.TEMPLATE_ID -> FreezeDecoder.BLOCK_LENGTH;
            case UnfreezeDecoder.TEMPLATE_ID -> UnfreezeDecoder.BLOCK_LENGTH;
            case TakeSnapshotDecoder.TEMPLATE_ID -> TakeSnapshotDecoder.BLOCK_LENGTH;
            default -> QueryDecoder.BLOCK_LENGTH;
        };
    }

    private static boolean gatewayMay(final Op op)
    {
        return op == Op.DEDUCT || op == Op.RESERVE || op == Op.SETTLE || op == Op.RELEASE || op == Op.QUERY;
    }
}
