package io.quotaledger.client;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.quotaledger.protocol.CreditEncoder;
import io.quotaledger.protocol.DeductEncoder;
import io.quotaledger.protocol.FreezeEncoder;
import io.quotaledger.protocol.GrantEncoder;
import io.quotaledger.protocol.HelloEncoder;
import io.quotaledger.protocol.HelloResultDecoder;
import io.quotaledger.protocol.MessageHeaderDecoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ReleaseEncoder;
import io.quotaledger.protocol.ReserveEncoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.SetLimitEncoder;
import io.quotaledger.protocol.SettleEncoder;
import io.quotaledger.protocol.SnapshotResultDecoder;
import io.quotaledger.protocol.TakeSnapshotEncoder;
import io.quotaledger.protocol.UnfreezeEncoder;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Java client: one TCP connection, many requests in flight (pipelined), writes from any number of threads
 * coalesced into few flushes. It makes each request's id (a random UUID unless you give one) and resends the very
 * same request after a timeout or a reconnect, so a retry can never charge twice: the ledger answers a repeated id
 * with the original result, marked duplicate.
 *
 * <pre>
 * try (LedgerClient client = LedgerClient.connect(new ClientConfig().port(7070).apiKey(key)))
 * {
 *     client.deduct(userId, serviceId, 120).thenAccept(result -&gt; ...);   // asynchronous
 *     LedgerResult r = client.blocking().deduct(userId, serviceId, 120); // or blocking
 * }
 * </pre>
 *
 * Thread-safe. Futures complete on the client's I/O thread: hand heavy work to your own executor.
 */
public final class LedgerClient implements AutoCloseable
{
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final long SWEEP_MILLIS = 10;
    private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);

    private static final class Pending
    {
        final long correlationId;
        final UUID requestId;
        final Op op;
        final byte[] frame;
        final CompletableFuture<LedgerResult> future = new CompletableFuture<>();
        final CompletableFuture<SnapshotReport> snapshot = new CompletableFuture<>();
        volatile long deadlineNanos;
        int attempts;

        Pending(final long correlationId, final UUID requestId, final Op op, final byte[] frame)
        {
            this.correlationId = correlationId;
            this.requestId = requestId;
            this.op = op;
            this.frame = frame;
        }
    }

    private final ClientConfig config;
    private final EventLoopGroup group;
    private final Bootstrap bootstrap;
    private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong correlations = new AtomicLong();
    private final AtomicBoolean flushScheduled = new AtomicBoolean();
    private final ConcurrentLinkedQueue<Pending> outbound = new ConcurrentLinkedQueue<>();
    private final CompletableFuture<Void> firstHello = new CompletableFuture<>();
    private final Blocking blocking = new Blocking();
    private volatile Channel channel;
    private volatile boolean ready;
    private volatile boolean closed;
    private long backoffNanos;

    private LedgerClient(final ClientConfig config) throws Exception
    {
        if (config.apiKey() == null || config.apiKey().isEmpty())
        {
            throw new IllegalArgumentException("an API key is required");
        }
        this.config = config;
        this.backoffNanos = config.reconnectBackoff().toNanos();
        final SslContext tls = !config.tls() ? null : config.trustAnyCertificate() ?
            SslContextBuilder.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE).build() :
            config.trustCertificates() != null ?
            SslContextBuilder.forClient().trustManager(config.trustCertificates().toFile()).build() :
            SslContextBuilder.forClient().build();
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        bootstrap = new Bootstrap()
            .group(group)
            .channel(NioSocketChannel.class)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int)config.connectTimeout().toMillis())
            .handler(new ChannelInitializer<SocketChannel>()
            {
                protected void initChannel(final SocketChannel ch)
                {
                    if (tls != null)
                    {
                        ch.pipeline().addLast(tls.newHandler(ch.alloc(), config.host(), config.port()));
                    }
                    ch.pipeline()
                        .addLast(new LengthFieldBasedFrameDecoder(ByteOrder.LITTLE_ENDIAN, config.maxFrameLength(),
                            0, Integer.BYTES, 0, Integer.BYTES, true))
                        .addLast(new ResponseHandler());
                }
            });
        group.scheduleAtFixedRate(this::sweep, SWEEP_MILLIS, SWEEP_MILLIS, TimeUnit.MILLISECONDS);
    }

    /**
     * Connects and authenticates, waiting for the server's answer.
     *
     * @throws LedgerClientException when the server cannot be reached or refuses the key.
     */
    public static LedgerClient connect(final ClientConfig config)
    {
        final LedgerClient client;
        try
        {
            client = new LedgerClient(config);
        }
        catch (final Exception ex)
        {
            throw new LedgerClientException("cannot create client: " + ex.getMessage(), ex);
        }
        try
        {
            client.open().sync();
            client.firstHello.get(config.connectTimeout().toMillis() + config.timeout().toMillis(),
                TimeUnit.MILLISECONDS);
            return client;
        }
        catch (final Exception ex)
        {
            client.close();
            final Throwable cause = ex instanceof ExecutionException ? ex.getCause() : ex;
            throw cause instanceof LedgerClientException ? (LedgerClientException)cause :
                new LedgerClientException("cannot connect to " + config.host() + ":" + config.port() + ": " +
                cause, cause);
        }
    }

    /**
     * @return blocking versions of every call.
     */
    public Blocking blocking()
    {
        return blocking;
    }

    public CompletableFuture<LedgerResult> deduct(final long userId, final int serviceId, final long amount)
    {
        return deduct(UUID.randomUUID(), userId, serviceId, amount);
    }

    public CompletableFuture<LedgerResult> deduct(
        final UUID requestId, final long userId, final int serviceId, final long amount)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + DeductEncoder.BLOCK_LENGTH);
        final DeductEncoder encoder = new DeductEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.userId(userId).serviceId(serviceId).amount(amount);
        return send(new Pending(correlationId, requestId, Op.DEDUCT, frame));
    }

    public CompletableFuture<LedgerResult> reserve(
        final long userId, final int serviceId, final long amount, final Duration ttl)
    {
        return reserve(UUID.randomUUID(), userId, serviceId, amount, ttl);
    }

    /**
     * @param holdId the request id of the RESERVE, which names the hold for SETTLE and RELEASE.
     */
    public CompletableFuture<LedgerResult> reserve(
        final UUID holdId, final long userId, final int serviceId, final long amount, final Duration ttl)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + ReserveEncoder.BLOCK_LENGTH);
        final ReserveEncoder encoder = new ReserveEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(holdId.getMostSignificantBits()).lo(holdId.getLeastSignificantBits());
        encoder.userId(userId).serviceId(serviceId).amount(amount).ttlMillis(ttl.toMillis());
        return send(new Pending(correlationId, holdId, Op.RESERVE, frame));
    }

    public CompletableFuture<LedgerResult> settle(final UUID holdId, final long actual)
    {
        return settle(UUID.randomUUID(), holdId, actual);
    }

    public CompletableFuture<LedgerResult> settle(final UUID requestId, final UUID holdId, final long actual)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + SettleEncoder.BLOCK_LENGTH);
        final SettleEncoder encoder = new SettleEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.holdId().hi(holdId.getMostSignificantBits()).lo(holdId.getLeastSignificantBits());
        encoder.actual(actual);
        return send(new Pending(correlationId, requestId, Op.SETTLE, frame));
    }

    public CompletableFuture<LedgerResult> release(final UUID holdId)
    {
        return release(UUID.randomUUID(), holdId);
    }

    public CompletableFuture<LedgerResult> release(final UUID requestId, final UUID holdId)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + ReleaseEncoder.BLOCK_LENGTH);
        final ReleaseEncoder encoder = new ReleaseEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.holdId().hi(holdId.getMostSignificantBits()).lo(holdId.getLeastSignificantBits());
        return send(new Pending(correlationId, requestId, Op.RELEASE, frame));
    }

    public CompletableFuture<LedgerResult> credit(final long userId, final long amount)
    {
        return credit(UUID.randomUUID(), userId, amount);
    }

    public CompletableFuture<LedgerResult> credit(final UUID requestId, final long userId, final long amount)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + CreditEncoder.BLOCK_LENGTH);
        final CreditEncoder encoder = new CreditEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.userId(userId).amount(amount);
        return send(new Pending(correlationId, requestId, Op.CREDIT, frame));
    }

    public CompletableFuture<LedgerResult> grant(
        final long userId, final int serviceId, final long allowance, final Period period)
    {
        return grant(UUID.randomUUID(), userId, serviceId, allowance, period);
    }

    public CompletableFuture<LedgerResult> grant(
        final UUID requestId, final long userId, final int serviceId, final long allowance, final Period period)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + GrantEncoder.BLOCK_LENGTH);
        final GrantEncoder encoder = new GrantEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.userId(userId).serviceId(serviceId).allowance(allowance).period(period);
        return send(new Pending(correlationId, requestId, Op.GRANT, frame));
    }

    public CompletableFuture<LedgerResult> setLimit(final long userId, final long creditLimit)
    {
        return setLimit(UUID.randomUUID(), userId, creditLimit);
    }

    public CompletableFuture<LedgerResult> setLimit(final UUID requestId, final long userId, final long creditLimit)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + SetLimitEncoder.BLOCK_LENGTH);
        final SetLimitEncoder encoder = new SetLimitEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.userId(userId).creditLimit(creditLimit);
        return send(new Pending(correlationId, requestId, Op.SET_LIMIT, frame));
    }

    public CompletableFuture<LedgerResult> freeze(final long userId)
    {
        return freeze(UUID.randomUUID(), userId);
    }

    public CompletableFuture<LedgerResult> freeze(final UUID requestId, final long userId)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + FreezeEncoder.BLOCK_LENGTH);
        final FreezeEncoder encoder = new FreezeEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.userId(userId);
        return send(new Pending(correlationId, requestId, Op.FREEZE, frame));
    }

    public CompletableFuture<LedgerResult> unfreeze(final long userId)
    {
        return unfreeze(UUID.randomUUID(), userId);
    }

    public CompletableFuture<LedgerResult> unfreeze(final UUID requestId, final long userId)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + UnfreezeEncoder.BLOCK_LENGTH);
        final UnfreezeEncoder encoder = new UnfreezeEncoder().wrapAndApplyHeader(buffer(frame), 4,
            new MessageHeaderEncoder()).correlationId(correlationId);
        encoder.requestId().hi(requestId.getMostSignificantBits()).lo(requestId.getLeastSignificantBits());
        encoder.userId(userId);
        return send(new Pending(correlationId, requestId, Op.UNFREEZE, frame));
    }

    /**
     * @param serviceId the service whose free quota to report, 0 for none.
     */
    public CompletableFuture<LedgerResult> query(final long userId, final int serviceId)
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + QueryEncoder.BLOCK_LENGTH);
        new QueryEncoder().wrapAndApplyHeader(buffer(frame), 4, new MessageHeaderEncoder())
            .correlationId(correlationId).userId(userId).serviceId(serviceId);
        return send(new Pending(correlationId, null, Op.QUERY, frame));
    }

    /**
     * Admin only: asks the running ledger for a snapshot; completes once the file is durable. Not retried on a
     * timeout (a second request would only be refused while the first runs).
     */
    public CompletableFuture<SnapshotReport> snapshot()
    {
        final long correlationId = correlations.incrementAndGet();
        final byte[] frame = frame(HEADER + TakeSnapshotEncoder.BLOCK_LENGTH);
        new TakeSnapshotEncoder().wrapAndApplyHeader(buffer(frame), 4, new MessageHeaderEncoder())
            .correlationId(correlationId);
        final Pending request = new Pending(correlationId, null, Op.SNAPSHOT, frame);
        send(request);
        request.future.whenComplete((refused, failure) ->
        {
            if (failure != null)
            {
                request.snapshot.completeExceptionally(failure);
            }
            else
            {
                request.snapshot.complete(new SnapshotReport(refused.code(), 0, 0, 0)); // e.g. FORBIDDEN
            }
        });
        return request.snapshot;
    }

    /**
     * @return requests sent and not yet answered.
     */
    public int inFlight()
    {
        return pending.size();
    }

    /**
     * Closes the connection; requests still waiting fail with {@link LedgerClientException}.
     */
    public void close()
    {
        closed = true;
        ready = false;
        final Channel current = channel;
        if (current != null)
        {
            current.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(2, TimeUnit.SECONDS);
        failAll(new LedgerClientException("client closed"));
    }

    /**
     * Blocking calls: each waits for its result, retries included.
     */
    public final class Blocking
    {
        private LedgerResult await(final CompletableFuture<LedgerResult> future)
        {
            final long waitMillis = config.timeout().toMillis() * (config.attempts() + 1) +
                config.connectTimeout().toMillis();
            try
            {
                return future.get(waitMillis, TimeUnit.MILLISECONDS);
            }
            catch (final ExecutionException ex)
            {
                throw ex.getCause() instanceof LedgerClientException ? (LedgerClientException)ex.getCause() :
                    new LedgerClientException(ex.getCause().toString(), ex.getCause());
            }
            catch (final TimeoutException ex)
            {
                throw new LedgerClientException("no answer within " + waitMillis + " ms", ex);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                throw new LedgerClientException("interrupted", ex);
            }
        }

        public LedgerResult deduct(final long userId, final int serviceId, final long amount)
        {
            return await(LedgerClient.this.deduct(userId, serviceId, amount));
        }

        public LedgerResult deduct(final UUID requestId, final long userId, final int serviceId, final long amount)
        {
            return await(LedgerClient.this.deduct(requestId, userId, serviceId, amount));
        }

        public LedgerResult reserve(
            final UUID holdId, final long userId, final int serviceId, final long amount, final Duration ttl)
        {
            return await(LedgerClient.this.reserve(holdId, userId, serviceId, amount, ttl));
        }

        public LedgerResult settle(final UUID requestId, final UUID holdId, final long actual)
        {
            return await(LedgerClient.this.settle(requestId, holdId, actual));
        }

        public LedgerResult release(final UUID requestId, final UUID holdId)
        {
            return await(LedgerClient.this.release(requestId, holdId));
        }

        public LedgerResult credit(final UUID requestId, final long userId, final long amount)
        {
            return await(LedgerClient.this.credit(requestId, userId, amount));
        }

        public LedgerResult grant(
            final UUID requestId, final long userId, final int serviceId, final long allowance, final Period period)
        {
            return await(LedgerClient.this.grant(requestId, userId, serviceId, allowance, period));
        }

        public LedgerResult setLimit(final UUID requestId, final long userId, final long creditLimit)
        {
            return await(LedgerClient.this.setLimit(requestId, userId, creditLimit));
        }

        public LedgerResult freeze(final UUID requestId, final long userId)
        {
            return await(LedgerClient.this.freeze(requestId, userId));
        }

        public LedgerResult unfreeze(final UUID requestId, final long userId)
        {
            return await(LedgerClient.this.unfreeze(requestId, userId));
        }

        public LedgerResult query(final long userId, final int serviceId)
        {
            return await(LedgerClient.this.query(userId, serviceId));
        }
    }

    private static byte[] frame(final int messageLength)
    {
        final byte[] frame = new byte[Integer.BYTES + messageLength];
        buffer(frame).putInt(0, messageLength, ByteOrder.LITTLE_ENDIAN);
        return frame;
    }

    private static UnsafeBuffer buffer(final byte[] frame)
    {
        return new UnsafeBuffer(frame);
    }

    private CompletableFuture<LedgerResult> send(final Pending request)
    {
        if (closed)
        {
            request.future.completeExceptionally(new LedgerClientException("client closed"));
            return request.future;
        }
        // a snapshot may take long and must not be resent: it gets its whole budget in one attempt
        final long timeout = request.op == Op.SNAPSHOT ? config.timeout().toNanos() * config.attempts() * 10 :
            config.timeout().toNanos();
        request.deadlineNanos = System.nanoTime() + timeout;
        request.attempts = request.op == Op.SNAPSHOT ? config.attempts() : 1;
        pending.put(request.correlationId, request);
        if (ready)
        {
            write(request);
        }
        return request.future;
    }

    /**
     * Queues the frame and makes sure one task on the event loop writes everything queued and flushes once. Writing
     * on the caller's thread instead would let a frame land after the flush that was meant to carry it, where it
     * waits for the next request's flush (or the retry after the timeout).
     */
    private void write(final Pending request)
    {
        final Channel current = channel;
        if (current == null || !ready)
        {
            return; // sent again once the connection is back
        }
        outbound.offer(request);
        if (flushScheduled.compareAndSet(false, true))
        {
            current.eventLoop().execute(this::writeQueued);
        }
    }

    private void writeQueued()
    {
        flushScheduled.set(false); // before polling: a frame queued from now on schedules another run
        final Channel current = channel;
        final boolean open = current != null && ready;
        Pending request;
        while ((request = outbound.poll()) != null)
        {
            if (open) // otherwise sent again from the pending requests once the connection is back
            {
                current.write(Unpooled.wrappedBuffer(request.frame), current.voidPromise());
            }
        }
        if (open)
        {
            current.flush();
        }
    }

    private ChannelFuture open()
    {
        final ChannelFuture connecting = bootstrap.connect(config.host(), config.port());
        connecting.addListener(f ->
        {
            if (f.isSuccess())
            {
                channel = connecting.channel();
                backoffNanos = config.reconnectBackoff().toNanos();
                sendHello(channel);
            }
            else if (firstHello.isDone())
            {
                reconnectLater();
            }
        });
        return connecting;
    }

    private void sendHello(final Channel ch)
    {
        final byte[] key = config.apiKey().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        final byte[] frame = frame(HEADER + HelloEncoder.BLOCK_LENGTH + 2 + key.length);
        new HelloEncoder().wrapAndApplyHeader(buffer(frame), 4, new MessageHeaderEncoder())
            .correlationId(0)
            .clientVersion(HelloEncoder.SCHEMA_VERSION)
            .putApiKey(key, 0, key.length);
        ch.writeAndFlush(Unpooled.wrappedBuffer(frame));
    }

    private void reconnectLater()
    {
        if (closed)
        {
            return;
        }
        final long delay = backoffNanos;
        backoffNanos = Math.min(MAX_BACKOFF_NANOS, backoffNanos * 2);
        group.schedule(this::open, delay, TimeUnit.NANOSECONDS);
    }

    /**
     * Every few milliseconds: resends what timed out (same request, same id), fails what ran out of attempts.
     */
    private void sweep()
    {
        final long now = System.nanoTime();
        for (final Pending request : pending.values())
        {
            if (now - request.deadlineNanos < 0)
            {
                continue;
            }
            if (request.attempts >= config.attempts())
            {
                if (pending.remove(request.correlationId, request))
                {
                    request.future.completeExceptionally(new TimeoutException("no result for " + request.op +
                        " " + request.requestId + " after " + request.attempts + " attempts"));
                }
                continue;
            }
            request.attempts++;
            request.deadlineNanos = now + config.timeout().toNanos();
            write(request);
        }
    }

    private void onHelloResult(final ResultCode code)
    {
        if (code != ResultCode.OK)
        {
            final LedgerClientException refused = new LedgerClientException("server refused the API key: " + code);
            closed = true; // a refused key does not get better by retrying
            firstHello.completeExceptionally(refused);
            failAll(refused);
            channel.close();
            return;
        }
        // after a reconnect: send again whatever was not answered (same ids: no double charge), oldest first. Ready
        // is set before the listing, so a request sent meanwhile is written by send() or listed here (or both: a
        // second copy of the same id is answered as a duplicate), never neither; newer requests may overtake
        ready = true;
        final List<Pending> waiting = new ArrayList<>(pending.values());
        waiting.sort(Comparator.comparingLong(p -> p.correlationId));
        for (final Pending request : waiting)
        {
            write(request);
        }
        firstHello.complete(null);
    }

    private void failAll(final Throwable cause)
    {
        for (final Pending request : pending.values())
        {
            if (pending.remove(request.correlationId, request))
            {
                request.future.completeExceptionally(cause);
            }
        }
    }

    private static String rootMessage(final Throwable failure)
    {
        Throwable cause = failure;
        while (cause.getCause() != null && cause.getCause() != cause)
        {
            cause = cause.getCause();
        }
        return cause.getMessage() != null ? cause.getMessage() : cause.toString();
    }

    private final class ResponseHandler extends SimpleChannelInboundHandler<ByteBuf>
    {
        private final UnsafeBuffer buffer = new UnsafeBuffer(0, 0);
        private final MessageHeaderDecoder header = new MessageHeaderDecoder();
        private final ResultDecoder result = new ResultDecoder();
        private final HelloResultDecoder helloResult = new HelloResultDecoder();
        private final SnapshotResultDecoder snapshotResult = new SnapshotResultDecoder();
        private byte[] copy = new byte[256];

        protected void channelRead0(final ChannelHandlerContext ctx, final ByteBuf frame)
        {
            final int length = frame.readableBytes();
            if (length < HEADER)
            {
                return;
            }
            if (copy.length < length)
            {
                copy = new byte[length];
            }
            frame.readBytes(copy, 0, length);
            buffer.wrap(copy, 0, length);
            header.wrap(buffer, 0);
            if (header.templateId() == HelloResultDecoder.TEMPLATE_ID)
            {
                helloResult.wrap(buffer, HEADER, header.blockLength(), header.version());
                helloResult.correlationId();
                onHelloResult(helloResult.code());
                return;
            }
            if (header.templateId() == SnapshotResultDecoder.TEMPLATE_ID)
            {
                snapshotResult.wrap(buffer, HEADER, header.blockLength(), header.version());
                final Pending request = pending.remove(snapshotResult.correlationId());
                if (request != null)
                {
                    request.snapshot.complete(new SnapshotReport(snapshotResult.code(), snapshotResult.sequence(),
                        snapshotResult.bytes(), snapshotResult.pauseMicros()));
                }
                return;
            }
            if (header.templateId() != ResultDecoder.TEMPLATE_ID)
            {
                return;
            }
            result.wrap(buffer, HEADER, header.blockLength(), header.version());
            final long correlationId = result.correlationId();
            final Op op = result.op();
            final ResultCode code = result.code();
            final boolean duplicate = result.flags().duplicate();
            final boolean exceededHold = result.flags().exceededHold();
            final boolean frozen = result.flags().frozen();
            final Pending request = pending.remove(correlationId);
            if (request == null)
            {
                return; // answered already (a resend's second answer) or a protocol error for a dead frame
            }
            request.future.complete(new LedgerResult(request.requestId, op, code, duplicate, exceededHold, frozen,
                result.fromFree(), result.fromBalance(), result.returned(), result.balance(), result.held(),
                result.creditLimit(), result.freeRemaining()));
        }

        public void userEventTriggered(final ChannelHandlerContext ctx, final Object event)
        {
            if (event instanceof SslHandshakeCompletionEvent handshake && !handshake.isSuccess() &&
                !firstHello.isDone())
            {
                // the real reason (an untrusted certificate, a name it does not carry, not TLS at all), not the close
                final String why = handshake.cause() instanceof NotSslRecordException ?
                    "the server does not speak TLS" : rootMessage(handshake.cause());
                firstHello.completeExceptionally(new LedgerClientException("TLS handshake with " + config.host() +
                    ":" + config.port() + " failed: " + why, handshake.cause()));
            }
            ctx.fireUserEventTriggered(event);
        }

        public void channelInactive(final ChannelHandlerContext ctx)
        {
            ready = false;
            if (!firstHello.isDone())
            {
                firstHello.completeExceptionally(new LedgerClientException("connection closed by " + config.host() +
                    ":" + config.port() + " before Hello (is it full, or does it expect TLS?)"));
            }
            reconnectLater();
        }

        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            ctx.close();
        }
    }
}
