package io.quotaledger.client;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
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
import io.quotaledger.protocol.BooleanType;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ReleaseEncoder;
import io.quotaledger.protocol.ReserveEncoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.RevokeVirtualKeyEncoder;
import io.quotaledger.protocol.SetConcurrencyEncoder;
import io.quotaledger.protocol.SetGroupEncoder;
import io.quotaledger.protocol.SetLimitEncoder;
import io.quotaledger.protocol.SetPriceEncoder;
import io.quotaledger.protocol.SetRateLimitEncoder;
import io.quotaledger.protocol.SetSpendWindowEncoder;
import io.quotaledger.protocol.SetVirtualKeyEncoder;
import io.quotaledger.protocol.SetVirtualKeyServiceBudgetEncoder;
import io.quotaledger.protocol.SettleEncoder;
import io.quotaledger.protocol.SnapshotResultDecoder;
import io.quotaledger.protocol.TakeSnapshotEncoder;
import io.quotaledger.protocol.UnfreezeEncoder;
import org.agrona.concurrent.UnsafeBuffer;

import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The Java client: one TCP connection, many requests in flight (pipelined), writes from any number of threads
 * coalesced into few flushes. It makes each request's id unless you give one ({@link RequestIds}: a random prefix per
 * client and a counter) and resends the very same request after a timeout or a reconnect, so a retry can never charge
 * twice: the ledger answers a repeated id with the original result, marked duplicate.
 *
 * <pre>
 * try (LedgerClient client = LedgerClient.connect(new ClientConfig().port(7070).apiKey(key)))
 * {
 *     client.deduct(userId, serviceId, 120).thenAccept(result -&gt; ...);   // asynchronous
 *     LedgerResult r = client.blocking().deduct(userId, serviceId, 120); // or blocking
 *     client.deduct(ids.hi(), ids.nextLo(), userId, serviceId, 120, handler); // callback: allocates nothing
 * }
 * </pre>
 *
 * Requests come as futures (a call allocates the future it returns; the I/O thread the {@link LedgerResult} that
 * completes it) and blocking; every request with a request id also in a callback form, the id as two longs and a
 * {@link ResultHandler}, which allocates nothing: the frame is encoded with the SBE encoders straight into the pooled
 * direct buffer of the next write, a copy kept for resends in a preallocated slot, and the result handed over in a
 * reused {@link ResultView}. One task on the I/O thread writes and flushes what every caller encoded since it last
 * ran.
 *
 * Gateway policy (protocol version 2): DEDUCT and RESERVE may go through a virtual key and carry units to be priced
 * instead of an amount, QUERY may name a key, and an admin key may set keys, prices, groups, rate limits, spend
 * windows and concurrency caps. The client speaks version 2; a server that speaks only version 1 refuses its Hello
 * ({@link #connect} says so).
 *
 * Thread-safe. Results arrive on the client's I/O thread: hand heavy work to your own executor.
 */
public final class LedgerClient implements AutoCloseable
{
    /** The most services a virtual key's list of allowed services may name (the ledger's limit). */
    public static final int MAX_SERVICES = 12;

    private static final int LENGTH_PREFIX = Integer.BYTES;
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final long SWEEP_MILLIS = 10;
    private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final int INITIAL_SLOTS = 1024;
    private static final int MIN_BATCH = 4096;
    private static final int MAX_BATCH = 1 << 20;

    // what sending a request came to, decided under the lock and acted on after it
    private static final int QUEUED = 0;
    private static final int FLUSH = 1;
    private static final int CLOSED = -1;
    private static final int FULL = -2;

    /**
     * A failure to report once the lock is released.
     */
    private record Failure(ResultHandler handler, long requestIdHi, long requestIdLo, Throwable cause)
    {
    }

    /**
     * The future form: the future is its own handler, so a request allocates this one object.
     */
    private static final class ResultFuture extends CompletableFuture<LedgerResult> implements ResultHandler
    {
        public void onResult(final ResultView result)
        {
            complete(result.toResult());
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            completeExceptionally(cause);
        }
    }

    /**
     * A snapshot's future: completed by a SnapshotResult, or by a Result when the request is refused.
     */
    private static final class SnapshotFuture extends CompletableFuture<SnapshotReport> implements ResultHandler
    {
        public void onResult(final ResultView result)
        {
            complete(new SnapshotReport(result.code(), 0, 0, 0)); // e.g. FORBIDDEN
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            completeExceptionally(cause);
        }
    }

    private final ClientConfig config;
    private final EventLoopGroup group;
    private final boolean ownsGroup;
    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final ScheduledFuture<?> sweeping;
    private final RequestIds requestIds = new RequestIds();
    private final CompletableFuture<Void> firstHello = new CompletableFuture<>();
    private final Blocking blocking = new Blocking();
    private final Runnable flushTask = this::flushBatch;
    private volatile Channel channel;
    private volatile boolean ready;
    private volatile boolean closed;
    private long backoffNanos;
    private int endpointIndex;
    private int batchCapacity = MIN_BATCH; // I/O thread only

    // guarded by the lock: the pending requests, the batch being filled, the encoders and the request being encoded
    private final Object lock = new Object();
    private final PendingRequests pending = new PendingRequests(INITIAL_SLOTS);
    private final UnsafeBuffer batchView = new UnsafeBuffer(0, 0);
    private final MessageHeaderEncoder header = new MessageHeaderEncoder();
    private final DeductEncoder deduct = new DeductEncoder();
    private final ReserveEncoder reserve = new ReserveEncoder();
    private final SettleEncoder settle = new SettleEncoder();
    private final ReleaseEncoder release = new ReleaseEncoder();
    private final CreditEncoder credit = new CreditEncoder();
    private final GrantEncoder grant = new GrantEncoder();
    private final SetLimitEncoder setLimit = new SetLimitEncoder();
    private final FreezeEncoder freeze = new FreezeEncoder();
    private final UnfreezeEncoder unfreeze = new UnfreezeEncoder();
    private final QueryEncoder query = new QueryEncoder();
    private final TakeSnapshotEncoder takeSnapshot = new TakeSnapshotEncoder();
    private final SetVirtualKeyEncoder setVirtualKey = new SetVirtualKeyEncoder();
    private final SetVirtualKeyServiceBudgetEncoder setServiceBudget = new SetVirtualKeyServiceBudgetEncoder();
    private final RevokeVirtualKeyEncoder revokeVirtualKey = new RevokeVirtualKeyEncoder();
    private final SetPriceEncoder setPrice = new SetPriceEncoder();
    private final SetGroupEncoder setGroup = new SetGroupEncoder();
    private final SetRateLimitEncoder setRateLimit = new SetRateLimitEncoder();
    private final SetSpendWindowEncoder setSpendWindow = new SetSpendWindowEncoder();
    private final SetConcurrencyEncoder setConcurrency = new SetConcurrencyEncoder();
    private ByteBuf batch;
    private boolean flushScheduled;
    private UnsafeBuffer target;
    private int frameStart;
    private int frameLength;
    private int slot;
    private long correlationId;

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
        ownsGroup = config.eventLoopGroup() == null;
        group = ownsGroup ? new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory()) : config.eventLoopGroup();
        loop = group.next();
        bootstrap = new Bootstrap()
            .group(loop)
            .channel(NioSocketChannel.class)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int)config.connectTimeout().toMillis())
            .handler(new ChannelInitializer<SocketChannel>()
            {
                protected void initChannel(final SocketChannel ch)
                {
                    if (tls != null)
                    {
                        ch.pipeline().addLast(tls.newHandler(ch.alloc(), endpoint().getHostString(), endpoint().getPort()));
                    }
                    ch.pipeline().addLast(new ResponseHandler());
                }
            });
        useBatch(PooledByteBufAllocator.DEFAULT.directBuffer(MIN_BATCH));
        sweeping = loop.scheduleAtFixedRate(this::sweep, SWEEP_MILLIS, SWEEP_MILLIS, TimeUnit.MILLISECONDS);
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
            client.openFirst();
            client.firstHello.get(config.connectTimeout().toMillis() + config.timeout().toMillis(),
                TimeUnit.MILLISECONDS);
            return client;
        }
        catch (final Exception ex)
        {
            client.close();
            final Throwable cause = ex instanceof ExecutionException ? ex.getCause() : ex;
            throw cause instanceof LedgerClientException ? (LedgerClientException)cause :
                new LedgerClientException("cannot connect to " + client.endpointName() + ": " +
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

    /**
     * @return the generator of this client's request ids, for callers of the callback forms.
     */
    public RequestIds requestIds()
    {
        return requestIds;
    }

    public CompletableFuture<LedgerResult> deduct(final long userId, final int serviceId, final long amount)
    {
        return deduct(userId, serviceId, amount, 0, 0);
    }

    public CompletableFuture<LedgerResult> deduct(
        final UUID requestId, final long userId, final int serviceId, final long amount)
    {
        return deduct(requestId, userId, serviceId, amount, 0, 0);
    }

    /**
     * DEDUCT through a virtual key and/or of units the ledger prices: exactly one of {@code amount} and {@code units}
     * is positive.
     *
     * @param amount       what to charge, 0 when units are given.
     * @param virtualKeyId the virtual key the charge goes through (counted against its budget), 0 for none.
     * @param units        raw units (e.g. tokens) the ledger prices with the user's price group, 0 for none.
     */
    public CompletableFuture<LedgerResult> deduct(final long userId, final int serviceId, final long amount,
        final long virtualKeyId, final long units)
    {
        final ResultFuture future = new ResultFuture();
        deduct(requestIds.hi(), requestIds.nextLo(), userId, serviceId, amount, virtualKeyId, units, future);
        return future;
    }

    /**
     * DEDUCT through a virtual key and/or of units, with a request id of your own (see
     * {@link #deduct(long, int, long, long, long)}).
     */
    public CompletableFuture<LedgerResult> deduct(final UUID requestId, final long userId, final int serviceId,
        final long amount, final long virtualKeyId, final long units)
    {
        final ResultFuture future = new ResultFuture();
        deduct(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, serviceId, amount,
            virtualKeyId, units, future);
        return future;
    }

    /**
     * DEDUCT, callback form: allocates nothing. The answer goes to {@code handler} on the I/O thread.
     *
     * @param requestIdHi the request id's high half, e.g. {@link RequestIds#hi()}.
     * @param requestIdLo the request id's low half, e.g. {@link RequestIds#nextLo()}.
     */
    public void deduct(final long requestIdHi, final long requestIdLo, final long userId, final int serviceId,
        final long amount, final ResultHandler handler)
    {
        deduct(requestIdHi, requestIdLo, userId, serviceId, amount, 0, 0, handler);
    }

    /**
     * DEDUCT through a virtual key and/or of units, callback form: allocates nothing (see
     * {@link #deduct(long, int, long, long, long)}).
     */
    public void deduct(final long requestIdHi, final long requestIdLo, final long userId, final int serviceId,
        final long amount, final long virtualKeyId, final long units, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.DEDUCT, requestIdHi, requestIdLo, DeductEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                deduct.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                deduct.userId(userId).serviceId(serviceId).amount(amount).virtualKeyId(virtualKeyId).units(units);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> reserve(
        final long userId, final int serviceId, final long amount, final Duration ttl)
    {
        return reserve(userId, serviceId, amount, ttl, 0, 0);
    }

    /**
     * @param holdId the request id of the RESERVE, which names the hold for SETTLE and RELEASE.
     */
    public CompletableFuture<LedgerResult> reserve(
        final UUID holdId, final long userId, final int serviceId, final long amount, final Duration ttl)
    {
        return reserve(holdId, userId, serviceId, amount, ttl, 0, 0);
    }

    /**
     * RESERVE through a virtual key and/or of units the ledger prices: exactly one of {@code amount} and
     * {@code units} is positive.
     *
     * @param amount       what to hold, 0 when units are given.
     * @param virtualKeyId the virtual key the hold goes through (counted against its budget and cap), 0 for none.
     * @param units        raw units (e.g. tokens) the ledger prices with the user's price group, 0 for none.
     */
    public CompletableFuture<LedgerResult> reserve(final long userId, final int serviceId, final long amount,
        final Duration ttl, final long virtualKeyId, final long units)
    {
        final long ttlMillis = ttl.toMillis(); // before a slot is taken for the request
        final ResultFuture future = new ResultFuture();
        reserve(requestIds.hi(), requestIds.nextLo(), userId, serviceId, amount, ttlMillis, virtualKeyId, units,
            future);
        return future;
    }

    /**
     * RESERVE through a virtual key and/or of units, with a hold id of your own (see
     * {@link #reserve(long, int, long, Duration, long, long)}).
     *
     * @param holdId the request id of the RESERVE, which names the hold for SETTLE and RELEASE.
     */
    public CompletableFuture<LedgerResult> reserve(final UUID holdId, final long userId, final int serviceId,
        final long amount, final Duration ttl, final long virtualKeyId, final long units)
    {
        final long ttlMillis = ttl.toMillis();
        final ResultFuture future = new ResultFuture();
        reserve(holdId.getMostSignificantBits(), holdId.getLeastSignificantBits(), userId, serviceId, amount,
            ttlMillis, virtualKeyId, units, future);
        return future;
    }

    /**
     * RESERVE, callback form: allocates nothing.
     *
     * @param holdIdHi the request id of the RESERVE, high half: it names the hold for SETTLE and RELEASE.
     * @param holdIdLo its low half.
     */
    public void reserve(final long holdIdHi, final long holdIdLo, final long userId, final int serviceId,
        final long amount, final long ttlMillis, final ResultHandler handler)
    {
        reserve(holdIdHi, holdIdLo, userId, serviceId, amount, ttlMillis, 0, 0, handler);
    }

    /**
     * RESERVE through a virtual key and/or of units, callback form: allocates nothing (see
     * {@link #reserve(long, int, long, Duration, long, long)}).
     */
    public void reserve(final long holdIdHi, final long holdIdLo, final long userId, final int serviceId,
        final long amount, final long ttlMillis, final long virtualKeyId, final long units,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.RESERVE, holdIdHi, holdIdLo, ReserveEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                reserve.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(holdIdHi).lo(holdIdLo);
                reserve.userId(userId).serviceId(serviceId).amount(amount).ttlMillis(ttlMillis)
                    .virtualKeyId(virtualKeyId).units(units);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, holdIdHi, holdIdLo, handler);
    }

    public CompletableFuture<LedgerResult> settle(final UUID holdId, final long actual)
    {
        final ResultFuture future = new ResultFuture();
        settle(requestIds.hi(), requestIds.nextLo(), holdId.getMostSignificantBits(),
            holdId.getLeastSignificantBits(), actual, future);
        return future;
    }

    public CompletableFuture<LedgerResult> settle(final UUID requestId, final UUID holdId, final long actual)
    {
        final ResultFuture future = new ResultFuture();
        settle(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(),
            holdId.getMostSignificantBits(), holdId.getLeastSignificantBits(), actual, future);
        return future;
    }

    /**
     * SETTLE, callback form: allocates nothing.
     */
    public void settle(final long requestIdHi, final long requestIdLo, final long holdIdHi, final long holdIdLo,
        final long actual, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SETTLE, requestIdHi, requestIdLo, SettleEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                settle.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                settle.holdId().hi(holdIdHi).lo(holdIdLo);
                settle.actual(actual);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> release(final UUID holdId)
    {
        final ResultFuture future = new ResultFuture();
        release(requestIds.hi(), requestIds.nextLo(), holdId.getMostSignificantBits(),
            holdId.getLeastSignificantBits(), future);
        return future;
    }

    public CompletableFuture<LedgerResult> release(final UUID requestId, final UUID holdId)
    {
        final ResultFuture future = new ResultFuture();
        release(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(),
            holdId.getMostSignificantBits(), holdId.getLeastSignificantBits(), future);
        return future;
    }

    /**
     * RELEASE, callback form: allocates nothing.
     */
    public void release(final long requestIdHi, final long requestIdLo, final long holdIdHi, final long holdIdLo,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.RELEASE, requestIdHi, requestIdLo, ReleaseEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                release.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                release.holdId().hi(holdIdHi).lo(holdIdLo);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> credit(final long userId, final long amount)
    {
        final ResultFuture future = new ResultFuture();
        credit(requestIds.hi(), requestIds.nextLo(), userId, amount, future);
        return future;
    }

    public CompletableFuture<LedgerResult> credit(final UUID requestId, final long userId, final long amount)
    {
        final ResultFuture future = new ResultFuture();
        credit(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, amount, future);
        return future;
    }

    /**
     * CREDIT, callback form: allocates nothing.
     */
    public void credit(final long requestIdHi, final long requestIdLo, final long userId, final long amount,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.CREDIT, requestIdHi, requestIdLo, CreditEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                credit.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                credit.userId(userId).amount(amount);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> grant(
        final long userId, final int serviceId, final long allowance, final Period period)
    {
        final ResultFuture future = new ResultFuture();
        grant(requestIds.hi(), requestIds.nextLo(), userId, serviceId, allowance, period, future);
        return future;
    }

    public CompletableFuture<LedgerResult> grant(
        final UUID requestId, final long userId, final int serviceId, final long allowance, final Period period)
    {
        final ResultFuture future = new ResultFuture();
        grant(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, serviceId, allowance,
            period, future);
        return future;
    }

    /**
     * GRANT, callback form: allocates nothing.
     */
    public void grant(final long requestIdHi, final long requestIdLo, final long userId, final int serviceId,
        final long allowance, final Period period, final ResultHandler handler)
    {
        Objects.requireNonNull(period, "period"); // checked before a slot is taken for the request
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.GRANT, requestIdHi, requestIdLo, GrantEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                grant.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                grant.userId(userId).serviceId(serviceId).allowance(allowance).period(period);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> setLimit(final long userId, final long creditLimit)
    {
        final ResultFuture future = new ResultFuture();
        setLimit(requestIds.hi(), requestIds.nextLo(), userId, creditLimit, future);
        return future;
    }

    public CompletableFuture<LedgerResult> setLimit(final UUID requestId, final long userId, final long creditLimit)
    {
        final ResultFuture future = new ResultFuture();
        setLimit(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, creditLimit,
            future);
        return future;
    }

    /**
     * SET_LIMIT, callback form: allocates nothing.
     */
    public void setLimit(final long requestIdHi, final long requestIdLo, final long userId, final long creditLimit,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_LIMIT, requestIdHi, requestIdLo, SetLimitEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                setLimit.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setLimit.userId(userId).creditLimit(creditLimit);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> freeze(final long userId)
    {
        final ResultFuture future = new ResultFuture();
        freeze(requestIds.hi(), requestIds.nextLo(), userId, future);
        return future;
    }

    public CompletableFuture<LedgerResult> freeze(final UUID requestId, final long userId)
    {
        final ResultFuture future = new ResultFuture();
        freeze(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, future);
        return future;
    }

    /**
     * FREEZE, callback form: allocates nothing.
     */
    public void freeze(final long requestIdHi, final long requestIdLo, final long userId, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.FREEZE, requestIdHi, requestIdLo, FreezeEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                freeze.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                freeze.userId(userId);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    public CompletableFuture<LedgerResult> unfreeze(final long userId)
    {
        final ResultFuture future = new ResultFuture();
        unfreeze(requestIds.hi(), requestIds.nextLo(), userId, future);
        return future;
    }

    public CompletableFuture<LedgerResult> unfreeze(final UUID requestId, final long userId)
    {
        final ResultFuture future = new ResultFuture();
        unfreeze(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, future);
        return future;
    }

    /**
     * UNFREEZE, callback form: allocates nothing.
     */
    public void unfreeze(final long requestIdHi, final long requestIdLo, final long userId,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.UNFREEZE, requestIdHi, requestIdLo, UnfreezeEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                unfreeze.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                unfreeze.userId(userId);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * @param serviceId the service whose free quota to report, 0 for none.
     */
    public CompletableFuture<LedgerResult> query(final long userId, final int serviceId)
    {
        return query(userId, serviceId, 0);
    }

    /**
     * QUERY of a user and, with a virtual key, of the key too: its budget ({@link LedgerResult#amount()}, -1
     * unlimited), spend and what is left in its current period, and whether it is revoked or expired.
     *
     * @param serviceId    the service whose free quota (and the key's budget for it) to report, 0 for none.
     * @param virtualKeyId a virtual key of the user, 0 for none.
     */
    public CompletableFuture<LedgerResult> query(final long userId, final int serviceId, final long virtualKeyId)
    {
        final ResultFuture future = new ResultFuture();
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.QUERY, 0, 0, QueryEncoder.BLOCK_LENGTH, future);
            if (at >= 0)
            {
                query.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .userId(userId).serviceId(serviceId).virtualKeyId(virtualKeyId);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, 0, 0, future);
        return future;
    }

    /**
     * Admin: creates or updates a virtual key of a user (an end user's API key: a sub-account whose charges count
     * against its own budget as well as the user's funds). Updating keeps the key's spend in the current period when
     * its reset stays the same; a revoked key cannot be set again.
     *
     * @param virtualKeyId the key's id (&gt; 0), global: it belongs to the user that first set it.
     * @param budget       what the key may spend per period; ignored when unlimited.
     * @param unlimited    no budget (spend is still counted).
     * @param resetPeriod  DAY, WEEK or MONTH (UTC); NONE or null for a duration ({@code resetMillis}) or no reset.
     * @param resetMillis  with resetPeriod NONE: the budget's period in ms, counted from this request; 0 never resets.
     * @param expiresAt    epoch ms from which the key charges nothing, 0 never.
     * @param services     the services the key may charge, at most {@link #MAX_SERVICES}; null or empty: all.
     */
    public CompletableFuture<LedgerResult> setVirtualKey(final long userId, final long virtualKeyId,
        final long budget, final boolean unlimited, final Period resetPeriod, final long resetMillis,
        final long expiresAt, final int[] services)
    {
        final ResultFuture future = new ResultFuture();
        setVirtualKey(requestIds.hi(), requestIds.nextLo(), userId, virtualKeyId, budget, unlimited, resetPeriod,
            resetMillis, expiresAt, services, future);
        return future;
    }

    /**
     * Admin: SET_VIRTUAL_KEY with a request id of your own (see
     * {@link #setVirtualKey(long, long, long, boolean, Period, long, long, int[])}).
     */
    public CompletableFuture<LedgerResult> setVirtualKey(final UUID requestId, final long userId,
        final long virtualKeyId, final long budget, final boolean unlimited, final Period resetPeriod,
        final long resetMillis, final long expiresAt, final int[] services)
    {
        final ResultFuture future = new ResultFuture();
        setVirtualKey(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, virtualKeyId,
            budget, unlimited, resetPeriod, resetMillis, expiresAt, services, future);
        return future;
    }

    /**
     * Admin: SET_VIRTUAL_KEY, callback form: allocates nothing (see
     * {@link #setVirtualKey(long, long, long, boolean, Period, long, long, int[])}).
     *
     * @throws IllegalArgumentException with more than {@link #MAX_SERVICES} services, before anything is sent.
     */
    public void setVirtualKey(final long requestIdHi, final long requestIdLo, final long userId,
        final long virtualKeyId, final long budget, final boolean unlimited, final Period resetPeriod,
        final long resetMillis, final long expiresAt, final int[] services, final ResultHandler handler)
    {
        final int serviceCount = services == null ? 0 : services.length;
        if (serviceCount > MAX_SERVICES)
        {
            throw new IllegalArgumentException(serviceCount + " services: a virtual key names at most " + MAX_SERVICES);
        }
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_VIRTUAL_KEY, requestIdHi, requestIdLo, SetVirtualKeyEncoder.BLOCK_LENGTH +
                SetVirtualKeyEncoder.ServicesEncoder.HEADER_SIZE +
                serviceCount * SetVirtualKeyEncoder.ServicesEncoder.sbeBlockLength(), handler);
            if (at >= 0)
            {
                setVirtualKey.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setVirtualKey.userId(userId).virtualKeyId(virtualKeyId).budget(budget)
                    .unlimited(unlimited ? BooleanType.TRUE : BooleanType.FALSE)
                    .resetPeriod(resetPeriod == null ? Period.NONE : resetPeriod)
                    .resetMillis(resetMillis)
                    .expiresAt(expiresAt);
                final SetVirtualKeyEncoder.ServicesEncoder list = setVirtualKey.servicesCount(serviceCount);
                for (int i = 0; i < serviceCount; i++)
                {
                    list.next().serviceId(services[i]);
                }
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: sets a virtual key's budget for one service, per period of the key; -1 removes it.
     */
    public CompletableFuture<LedgerResult> setVirtualKeyServiceBudget(final long userId, final long virtualKeyId,
        final int serviceId, final long budget)
    {
        final ResultFuture future = new ResultFuture();
        setVirtualKeyServiceBudget(requestIds.hi(), requestIds.nextLo(), userId, virtualKeyId, serviceId, budget,
            future);
        return future;
    }

    public CompletableFuture<LedgerResult> setVirtualKeyServiceBudget(final UUID requestId, final long userId,
        final long virtualKeyId, final int serviceId, final long budget)
    {
        final ResultFuture future = new ResultFuture();
        setVirtualKeyServiceBudget(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId,
            virtualKeyId, serviceId, budget, future);
        return future;
    }

    /**
     * Admin: SET_VIRTUAL_KEY_SERVICE_BUDGET, callback form: allocates nothing.
     */
    public void setVirtualKeyServiceBudget(final long requestIdHi, final long requestIdLo, final long userId,
        final long virtualKeyId, final int serviceId, final long budget, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, requestIdHi, requestIdLo,
                SetVirtualKeyServiceBudgetEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                setServiceBudget.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setServiceBudget.userId(userId).virtualKeyId(virtualKeyId).serviceId(serviceId).budget(budget);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: revokes a virtual key for good: it charges nothing from then on.
     */
    public CompletableFuture<LedgerResult> revokeVirtualKey(final long userId, final long virtualKeyId)
    {
        final ResultFuture future = new ResultFuture();
        revokeVirtualKey(requestIds.hi(), requestIds.nextLo(), userId, virtualKeyId, future);
        return future;
    }

    public CompletableFuture<LedgerResult> revokeVirtualKey(final UUID requestId, final long userId,
        final long virtualKeyId)
    {
        final ResultFuture future = new ResultFuture();
        revokeVirtualKey(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId,
            virtualKeyId, future);
        return future;
    }

    /**
     * Admin: REVOKE_VIRTUAL_KEY, callback form: allocates nothing.
     */
    public void revokeVirtualKey(final long requestIdHi, final long requestIdLo, final long userId,
        final long virtualKeyId, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.REVOKE_VIRTUAL_KEY, requestIdHi, requestIdLo,
                RevokeVirtualKeyEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                revokeVirtualKey.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                revokeVirtualKey.userId(userId).virtualKeyId(virtualKeyId);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: sets a price group's multiplier for a service (serviceId 0: the group's default), fixed point with six
     * decimals: 1,000,000 is 1.0, 1,500,000 is 1.5. Units are priced as ceil(units * multiplier / 1,000,000).
     */
    public CompletableFuture<LedgerResult> setPrice(final int groupId, final int serviceId, final long multiplier)
    {
        final ResultFuture future = new ResultFuture();
        setPrice(requestIds.hi(), requestIds.nextLo(), groupId, serviceId, multiplier, future);
        return future;
    }

    public CompletableFuture<LedgerResult> setPrice(final UUID requestId, final int groupId, final int serviceId,
        final long multiplier)
    {
        final ResultFuture future = new ResultFuture();
        setPrice(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), groupId, serviceId,
            multiplier, future);
        return future;
    }

    /**
     * Admin: SET_PRICE, callback form: allocates nothing.
     */
    public void setPrice(final long requestIdHi, final long requestIdLo, final int groupId, final int serviceId,
        final long multiplier, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_PRICE, requestIdHi, requestIdLo, SetPriceEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                setPrice.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setPrice.groupId(groupId).serviceId(serviceId).multiplier(multiplier);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: puts a user in a price group (0: the default group).
     */
    public CompletableFuture<LedgerResult> setGroup(final long userId, final int groupId)
    {
        final ResultFuture future = new ResultFuture();
        setGroup(requestIds.hi(), requestIds.nextLo(), userId, groupId, future);
        return future;
    }

    public CompletableFuture<LedgerResult> setGroup(final UUID requestId, final long userId, final int groupId)
    {
        final ResultFuture future = new ResultFuture();
        setGroup(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, groupId, future);
        return future;
    }

    /**
     * Admin: SET_GROUP, callback form: allocates nothing.
     */
    public void setGroup(final long requestIdHi, final long requestIdLo, final long userId, final int groupId,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_GROUP, requestIdHi, requestIdLo, SetGroupEncoder.BLOCK_LENGTH, handler);
            if (at >= 0)
            {
                setGroup.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setGroup.userId(userId).groupId(groupId);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: sets the rate limit of a user (virtualKeyId 0) or of one of its keys: at most {@code requests} requests
     * and {@code units} units per period (0: no limit of that kind; both 0 remove the limit).
     */
    public CompletableFuture<LedgerResult> setRateLimit(final long userId, final long virtualKeyId,
        final long requests, final long units, final Duration per)
    {
        final ResultFuture future = new ResultFuture();
        setRateLimit(requestIds.hi(), requestIds.nextLo(), userId, virtualKeyId, requests, units, per.toMillis(),
            future);
        return future;
    }

    public CompletableFuture<LedgerResult> setRateLimit(final UUID requestId, final long userId,
        final long virtualKeyId, final long requests, final long units, final Duration per)
    {
        final ResultFuture future = new ResultFuture();
        setRateLimit(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, virtualKeyId,
            requests, units, per.toMillis(), future);
        return future;
    }

    /**
     * Admin: SET_RATE_LIMIT, callback form: allocates nothing.
     */
    public void setRateLimit(final long requestIdHi, final long requestIdLo, final long userId,
        final long virtualKeyId, final long requests, final long units, final long perMillis,
        final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_RATE_LIMIT, requestIdHi, requestIdLo, SetRateLimitEncoder.BLOCK_LENGTH,
                handler);
            if (at >= 0)
            {
                setRateLimit.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setRateLimit.userId(userId).virtualKeyId(virtualKeyId).requests(requests).units(units)
                    .perMillis(perMillis);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: sets a rolling spend window of a user (virtualKeyId 0) or of one of its keys: at most {@code max}
     * charged in any window of that length (the length names the window; max 0 removes it).
     */
    public CompletableFuture<LedgerResult> setSpendWindow(final long userId, final long virtualKeyId, final long max,
        final Duration per)
    {
        final ResultFuture future = new ResultFuture();
        setSpendWindow(requestIds.hi(), requestIds.nextLo(), userId, virtualKeyId, max, per.toMillis(), future);
        return future;
    }

    public CompletableFuture<LedgerResult> setSpendWindow(final UUID requestId, final long userId,
        final long virtualKeyId, final long max, final Duration per)
    {
        final ResultFuture future = new ResultFuture();
        setSpendWindow(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, virtualKeyId,
            max, per.toMillis(), future);
        return future;
    }

    /**
     * Admin: SET_SPEND_WINDOW, callback form: allocates nothing.
     */
    public void setSpendWindow(final long requestIdHi, final long requestIdLo, final long userId,
        final long virtualKeyId, final long max, final long perMillis, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_SPEND_WINDOW, requestIdHi, requestIdLo, SetSpendWindowEncoder.BLOCK_LENGTH,
                handler);
            if (at >= 0)
            {
                setSpendWindow.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setSpendWindow.userId(userId).virtualKeyId(virtualKeyId).max(max).perMillis(perMillis);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin: caps the open holds of a user (virtualKeyId 0) or of one of its keys at {@code max} (0 removes the cap).
     */
    public CompletableFuture<LedgerResult> setConcurrency(final long userId, final long virtualKeyId, final long max)
    {
        final ResultFuture future = new ResultFuture();
        setConcurrency(requestIds.hi(), requestIds.nextLo(), userId, virtualKeyId, max, future);
        return future;
    }

    public CompletableFuture<LedgerResult> setConcurrency(final UUID requestId, final long userId,
        final long virtualKeyId, final long max)
    {
        final ResultFuture future = new ResultFuture();
        setConcurrency(requestId.getMostSignificantBits(), requestId.getLeastSignificantBits(), userId, virtualKeyId,
            max, future);
        return future;
    }

    /**
     * Admin: SET_CONCURRENCY, callback form: allocates nothing.
     */
    public void setConcurrency(final long requestIdHi, final long requestIdLo, final long userId,
        final long virtualKeyId, final long max, final ResultHandler handler)
    {
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SET_CONCURRENCY, requestIdHi, requestIdLo, SetConcurrencyEncoder.BLOCK_LENGTH,
                handler);
            if (at >= 0)
            {
                setConcurrency.wrapAndApplyHeader(target, at, header).correlationId(correlationId)
                    .requestId().hi(requestIdHi).lo(requestIdLo);
                setConcurrency.userId(userId).virtualKeyId(virtualKeyId).max(max);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, requestIdHi, requestIdLo, handler);
    }

    /**
     * Admin only: asks the running ledger for a snapshot; completes once the file is durable. Not retried on a
     * timeout (a second request would only be refused while the first runs).
     */
    public CompletableFuture<SnapshotReport> snapshot()
    {
        final SnapshotFuture future = new SnapshotFuture();
        final int outcome;
        synchronized (lock)
        {
            final int at = claim(Op.SNAPSHOT, 0, 0, TakeSnapshotEncoder.BLOCK_LENGTH, future);
            if (at >= 0)
            {
                takeSnapshot.wrapAndApplyHeader(target, at, header).correlationId(correlationId);
            }
            outcome = commit(at);
        }
        afterCommit(outcome, 0, 0, future);
        return future;
    }

    /**
     * @return requests sent and not yet answered.
     */
    public int inFlight()
    {
        synchronized (lock)
        {
            return pending.size();
        }
    }

    /**
     * Closes the connection; requests still waiting fail with {@link LedgerClientException}.
     */
    public void close()
    {
        synchronized (lock)
        {
            closed = true;
            ready = false;
        }
        sweeping.cancel(false);
        final Channel current = channel;
        if (current != null)
        {
            current.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
        }
        if (ownsGroup)
        {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        failAll(new LedgerClientException("client closed"));
        synchronized (lock)
        {
            if (batch != null)
            {
                batch.release();
                batch = null;
            }
        }
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

        public LedgerResult deduct(final UUID requestId, final long userId, final int serviceId, final long amount,
            final long virtualKeyId, final long units)
        {
            return await(LedgerClient.this.deduct(requestId, userId, serviceId, amount, virtualKeyId, units));
        }

        public LedgerResult reserve(final UUID holdId, final long userId, final int serviceId, final long amount,
            final Duration ttl, final long virtualKeyId, final long units)
        {
            return await(LedgerClient.this.reserve(holdId, userId, serviceId, amount, ttl, virtualKeyId, units));
        }

        public LedgerResult query(final long userId, final int serviceId, final long virtualKeyId)
        {
            return await(LedgerClient.this.query(userId, serviceId, virtualKeyId));
        }

        public LedgerResult setVirtualKey(final UUID requestId, final long userId, final long virtualKeyId,
            final long budget, final boolean unlimited, final Period resetPeriod, final long resetMillis,
            final long expiresAt, final int[] services)
        {
            return await(LedgerClient.this.setVirtualKey(requestId, userId, virtualKeyId, budget, unlimited,
                resetPeriod, resetMillis, expiresAt, services));
        }

        public LedgerResult setVirtualKeyServiceBudget(final UUID requestId, final long userId,
            final long virtualKeyId, final int serviceId, final long budget)
        {
            return await(LedgerClient.this.setVirtualKeyServiceBudget(requestId, userId, virtualKeyId, serviceId,
                budget));
        }

        public LedgerResult revokeVirtualKey(final UUID requestId, final long userId, final long virtualKeyId)
        {
            return await(LedgerClient.this.revokeVirtualKey(requestId, userId, virtualKeyId));
        }

        public LedgerResult setPrice(final UUID requestId, final int groupId, final int serviceId,
            final long multiplier)
        {
            return await(LedgerClient.this.setPrice(requestId, groupId, serviceId, multiplier));
        }

        public LedgerResult setGroup(final UUID requestId, final long userId, final int groupId)
        {
            return await(LedgerClient.this.setGroup(requestId, userId, groupId));
        }

        public LedgerResult setRateLimit(final UUID requestId, final long userId, final long virtualKeyId,
            final long requests, final long units, final Duration per)
        {
            return await(LedgerClient.this.setRateLimit(requestId, userId, virtualKeyId, requests, units, per));
        }

        public LedgerResult setSpendWindow(final UUID requestId, final long userId, final long virtualKeyId,
            final long max, final Duration per)
        {
            return await(LedgerClient.this.setSpendWindow(requestId, userId, virtualKeyId, max, per));
        }

        public LedgerResult setConcurrency(final UUID requestId, final long userId, final long virtualKeyId,
            final long max)
        {
            return await(LedgerClient.this.setConcurrency(requestId, userId, virtualKeyId, max));
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

    /**
     * Takes a slot for a request and points {@link #target} at where its frame goes: straight into the batch of the
     * next write when connected, else into its slot only (sent once the connection is back). Under the lock.
     *
     * @return the offset the message is encoded at in {@link #target}, or {@link #CLOSED} or {@link #FULL}.
     */
    private int claim(
        final Op op, final long requestIdHi, final long requestIdLo, final int blockLength, final ResultHandler handler)
    {
        Objects.requireNonNull(handler, "handler");
        if (closed)
        {
            return CLOSED;
        }
        // a snapshot may take long and must not be resent: it gets its whole budget in one attempt
        final boolean snapshot = op == Op.SNAPSHOT;
        final long timeout = snapshot ? config.timeout().toNanos() * config.attempts() * 10 :
            config.timeout().toNanos();
        slot = pending.claim(op, requestIdHi, requestIdLo, handler, System.nanoTime() + timeout,
            snapshot ? config.attempts() : 1);
        if (slot == PendingRequests.NO_SLOT)
        {
            return FULL;
        }
        correlationId = pending.correlationId(slot);
        frameLength = LENGTH_PREFIX + HEADER + blockLength;
        if (ready && batch.hasMemoryAddress())
        {
            batch.ensureWritable(frameLength);
            if (batchView.addressOffset() != batch.memoryAddress() || batchView.capacity() != batch.capacity())
            {
                batchView.wrap(batch.memoryAddress(), batch.capacity()); // it grew
            }
            target = batchView;
            frameStart = batch.writerIndex();
        }
        else
        {
            target = pending.frames();
            frameStart = PendingRequests.frameOffset(slot);
        }
        target.putInt(frameStart, frameLength - LENGTH_PREFIX, ByteOrder.LITTLE_ENDIAN);
        return frameStart + LENGTH_PREFIX;
    }

    /**
     * Completes the request {@link #claim} began once its message is encoded: a copy of the frame stays in its slot
     * for resends, and a write of the batch is scheduled unless one is already. Under the lock.
     *
     * @return what to do after the lock: {@link #FLUSH}, nothing ({@link #QUEUED}), or report the refusal.
     */
    private int commit(final int at)
    {
        if (at < 0)
        {
            return at;
        }
        if (target == batchView)
        {
            pending.frames().putBytes(PendingRequests.frameOffset(slot), batchView, frameStart, frameLength);
            batch.writerIndex(frameStart + frameLength);
        }
        else if (ready)
        {
            batch.writeBytes(pending.frames().byteArray(), frameStart, frameLength); // a batch without an address
        }
        pending.frameLength(slot, frameLength);
        return ready ? scheduleFlush() : QUEUED;
    }

    private int scheduleFlush()
    {
        if (flushScheduled)
        {
            return QUEUED;
        }
        flushScheduled = true;
        return FLUSH;
    }

    private void afterCommit(
        final int outcome, final long requestIdHi, final long requestIdLo, final ResultHandler handler)
    {
        switch (outcome)
        {
            case FLUSH -> scheduleFlushTask();
            case CLOSED -> fail(handler, requestIdHi, requestIdLo, new LedgerClientException("client closed"));
            case FULL -> fail(handler, requestIdHi, requestIdLo,
                new LedgerClientException(PendingRequests.MAX_SLOTS + " requests in flight already"));
            default ->
            {
            }
        }
    }

    /**
     * One task on the event loop writes everything encoded until it runs and flushes once. Writing on the caller's
     * thread instead would let a frame land after the flush that was meant to carry it, where it waits for the next
     * request's flush (or the retry after the timeout).
     */
    private void scheduleFlushTask()
    {
        try
        {
            loop.execute(flushTask);
        }
        catch (final RejectedExecutionException ex)
        {
            // the client is closing: what was pending fails with it
        }
    }

    /**
     * On the event loop: hands the batch to the channel with one flush and starts the next one, allocated here so
     * that its buffer returns to this thread's pool once written.
     */
    private void flushBatch()
    {
        final ByteBuf next = PooledByteBufAllocator.DEFAULT.directBuffer(batchCapacity);
        final ByteBuf full;
        final Channel out;
        synchronized (lock)
        {
            flushScheduled = false;
            full = batch;
            if (closed || full == null)
            {
                next.release();
                return;
            }
            useBatch(next);
            out = ready ? channel : null; // else sent again from the pending requests once the connection is back
        }
        final int written = full.readableBytes();
        batchCapacity = Math.max(MIN_BATCH, Math.min(MAX_BATCH, Integer.highestOneBit(Math.max(1, written)) << 1));
        if (out != null && written > 0)
        {
            out.writeAndFlush(full, out.voidPromise());
        }
        else
        {
            full.release();
        }
    }

    private void useBatch(final ByteBuf buffer)
    {
        batch = buffer;
        if (buffer.hasMemoryAddress())
        {
            batchView.wrap(buffer.memoryAddress(), buffer.capacity());
        }
    }

    /**
     * Copies a pending request's frame, as first encoded, into the batch. Under the lock.
     */
    private int resend(final int slot)
    {
        if (!ready)
        {
            return QUEUED;
        }
        batch.writeBytes(pending.frames().byteArray(), PendingRequests.frameOffset(slot), pending.frameLength(slot));
        return scheduleFlush();
    }

    /**
     * Connects to the first endpoint that takes the connection.
     */
    private void openFirst() throws InterruptedException
    {
        final int endpoints = config.endpoints().size();
        for (int i = 1; ; i++)
        {
            final ChannelFuture connecting = open().await();
            if (connecting.isSuccess())
            {
                return;
            }
            if (i == endpoints)
            {
                throw new LedgerClientException("cannot connect to " + (endpoints == 1 ? endpointName() :
                    "any of " + endpoints + " endpoints, last " + endpointName()) + ": " + connecting.cause(),
                    connecting.cause());
            }
            endpointIndex++;
        }
    }

    private ChannelFuture open()
    {
        final InetSocketAddress endpoint = endpoint();
        final ChannelFuture connecting = bootstrap.connect(endpoint.getHostString(), endpoint.getPort());
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

    /**
     * @return the ledger to connect to now: the endpoints in turn, one further after each failed or lost connection.
     */
    private InetSocketAddress endpoint()
    {
        final List<InetSocketAddress> endpoints = config.endpoints();
        return endpoints.get(endpointIndex % endpoints.size());
    }

    private String endpointName()
    {
        final InetSocketAddress endpoint = endpoint();
        return endpoint.getHostString() + ":" + endpoint.getPort();
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
        endpointIndex++; // a cluster: the next member; one ledger: the same one again
        final boolean wrapped = endpointIndex % config.endpoints().size() == 0;
        final long delay = config.endpoints().size() > 1 && !wrapped ? 0 : backoffNanos;
        if (wrapped)
        {
            backoffNanos = Math.min(MAX_BACKOFF_NANOS, backoffNanos * 2);
        }
        group.schedule(this::open, delay, TimeUnit.NANOSECONDS);
    }

    /**
     * Every few milliseconds: resends what timed out (same request, same id), fails what ran out of attempts.
     */
    private void sweep()
    {
        final long now = System.nanoTime();
        List<Failure> failures = null;
        int outcome = QUEUED;
        synchronized (lock)
        {
            if (closed)
            {
                return;
            }
            for (int slot = 0, end = pending.highWater(); slot < end; slot++)
            {
                if (!pending.inUse(slot) || now - pending.deadline(slot) < 0)
                {
                    continue;
                }
                final int attempts = pending.attempts(slot);
                if (attempts >= config.attempts())
                {
                    failures = failures != null ? failures : new ArrayList<>();
                    final long hi = pending.requestIdHi(slot);
                    final long lo = pending.requestIdLo(slot);
                    final String id = hi == 0 && lo == 0 ? "" : " " + new UUID(hi, lo);
                    failures.add(new Failure(pending.handler(slot), hi, lo, new TimeoutException(
                        "no result for " + pending.op(slot) + id + " after " + attempts + " attempts")));
                    pending.release(slot);
                    continue;
                }
                pending.attempts(slot, attempts + 1);
                pending.deadline(slot, now + config.timeout().toNanos());
                outcome = Math.max(outcome, resend(slot));
            }
        }
        if (outcome == FLUSH)
        {
            flushBatch();
        }
        fail(failures);
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
        // after a reconnect: send again whatever was not answered (same ids: no double charge), oldest first. Frames
        // left in the batch from the old connection go: every one of them is pending and listed here
        int outcome = QUEUED;
        synchronized (lock)
        {
            if (closed)
            {
                return;
            }
            ready = true;
            batch.clear();
            for (final long correlationId : pending.correlationIdsInOrder())
            {
                outcome = Math.max(outcome, resend(pending.slotOf(correlationId)));
            }
        }
        if (outcome == FLUSH)
        {
            flushBatch();
        }
        firstHello.complete(null);
    }

    private void failAll(final Throwable cause)
    {
        final List<Failure> failures = new ArrayList<>();
        synchronized (lock)
        {
            for (int slot = 0, end = pending.highWater(); slot < end; slot++)
            {
                if (pending.inUse(slot))
                {
                    failures.add(new Failure(pending.handler(slot), pending.requestIdHi(slot),
                        pending.requestIdLo(slot), cause));
                    pending.release(slot);
                }
            }
        }
        fail(failures);
    }

    private static void fail(final List<Failure> failures)
    {
        if (failures != null)
        {
            for (final Failure failure : failures)
            {
                fail(failure.handler(), failure.requestIdHi(), failure.requestIdLo(), failure.cause());
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

    private static void fail(
        final ResultHandler handler, final long requestIdHi, final long requestIdLo, final Throwable cause)
    {
        try
        {
            handler.onFailure(requestIdHi, requestIdLo, cause);
        }
        catch (final Throwable ex)
        {
            reportHandlerFailure(ex);
        }
    }

    /**
     * A handler threw: the client carries on, the thread's uncaught-exception handler hears of it.
     */
    private static void reportHandlerFailure(final Throwable ex)
    {
        final Thread thread = Thread.currentThread();
        thread.getUncaughtExceptionHandler().uncaughtException(thread, ex);
    }

    /**
     * Splits the stream into frames and hands each answer to its request's handler. The bytes of each read are
     * copied into one reused array (a frame split across reads waits there for its rest): nothing is allocated per
     * frame, as a frame decoder's slice would be.
     */
    private final class ResponseHandler extends ChannelInboundHandlerAdapter
    {
        private byte[] inbound = new byte[MIN_BATCH];
        private int inboundLength;
        private final UnsafeBuffer buffer = new UnsafeBuffer(inbound);
        private final MessageHeaderDecoder header = new MessageHeaderDecoder();
        private final ResultDecoder result = new ResultDecoder();
        private final HelloResultDecoder helloResult = new HelloResultDecoder();
        private final SnapshotResultDecoder snapshotResult = new SnapshotResultDecoder();
        private final ResultView view = new ResultView();
        private long takenHi;
        private long takenLo;

        public void channelRead(final ChannelHandlerContext ctx, final Object msg)
        {
            final ByteBuf in = (ByteBuf)msg;
            try
            {
                final int readable = in.readableBytes();
                if (inbound.length - inboundLength < readable)
                {
                    inbound = Arrays.copyOf(inbound, Math.max(inbound.length * 2, inboundLength + readable));
                    buffer.wrap(inbound);
                }
                in.readBytes(inbound, inboundLength, readable);
                inboundLength += readable;
            }
            finally
            {
                in.release();
            }
            int offset = 0;
            while (inboundLength - offset >= LENGTH_PREFIX)
            {
                final int length = buffer.getInt(offset, ByteOrder.LITTLE_ENDIAN);
                if (length < 0 || length > config.maxFrameLength())
                {
                    inboundLength = 0;
                    ctx.close(); // not this protocol: a new connection starts from a clean stream
                    return;
                }
                if (inboundLength - offset - LENGTH_PREFIX < length)
                {
                    break;
                }
                onFrame(offset + LENGTH_PREFIX, length);
                offset += LENGTH_PREFIX + length;
            }
            System.arraycopy(inbound, offset, inbound, 0, inboundLength - offset); // the start of the next frame
            inboundLength -= offset;
        }

        private void onFrame(final int offset, final int length)
        {
            if (length < HEADER)
            {
                return;
            }
            header.wrap(buffer, offset);
            if (header.templateId() == HelloResultDecoder.TEMPLATE_ID)
            {
                helloResult.wrap(buffer, offset + HEADER, header.blockLength(), header.version());
                helloResult.correlationId();
                onHelloResult(ResultView.resultCode(helloResult.codeRaw()));
                return;
            }
            if (header.templateId() == SnapshotResultDecoder.TEMPLATE_ID)
            {
                snapshotResult.wrap(buffer, offset + HEADER, header.blockLength(), header.version());
                if (take(snapshotResult.correlationId()) instanceof SnapshotFuture future)
                {
                    future.complete(new SnapshotReport(ResultView.resultCode(snapshotResult.codeRaw()),
                        snapshotResult.sequence(), snapshotResult.bytes(), snapshotResult.pauseMicros()));
                }
                return;
            }
            if (header.templateId() != ResultDecoder.TEMPLATE_ID)
            {
                return;
            }
            result.wrap(buffer, offset + HEADER, header.blockLength(), header.version());
            if (!firstHello.isDone() && result.correlationId() == 0 &&
                ResultView.resultCode(result.codeRaw()) == ResultCode.UNSUPPORTED_VERSION)
            {
                // the Hello's answer from a server older than this client: it closes the connection next
                firstHello.completeExceptionally(new LedgerClientException(endpointName() +
                    " does not speak protocol version " + HelloEncoder.SCHEMA_VERSION + " (an older ledger)"));
                return;
            }
            final ResultHandler handler = take(result.correlationId());
            if (handler == null)
            {
                return; // answered already (a resend's second answer) or a protocol error for a dead frame
            }
            try
            {
                handler.onResult(view.set(takenHi, takenLo, result));
            }
            catch (final Throwable ex)
            {
                reportHandlerFailure(ex);
            }
        }

        /**
         * Frees the slot of the request answered, keeping its request id in {@link #takenHi} and {@link #takenLo}.
         *
         * @return its handler, or null when the request is not pending.
         */
        private ResultHandler take(final long correlationId)
        {
            synchronized (lock)
            {
                final int slot = pending.slotOf(correlationId);
                if (slot == PendingRequests.NO_SLOT)
                {
                    return null;
                }
                final ResultHandler handler = pending.handler(slot);
                takenHi = pending.requestIdHi(slot);
                takenLo = pending.requestIdLo(slot);
                pending.release(slot);
                return handler;
            }
        }

        public void userEventTriggered(final ChannelHandlerContext ctx, final Object event)
        {
            if (event instanceof SslHandshakeCompletionEvent handshake && !handshake.isSuccess() &&
                !firstHello.isDone())
            {
                // the real reason (an untrusted certificate, a name it does not carry, not TLS at all), not the close
                final String why = handshake.cause() instanceof NotSslRecordException ?
                    "the server does not speak TLS" : rootMessage(handshake.cause());
                firstHello.completeExceptionally(new LedgerClientException("TLS handshake with " + endpointName() +
                    " failed: " + why, handshake.cause()));
            }
            ctx.fireUserEventTriggered(event);
        }

        public void channelInactive(final ChannelHandlerContext ctx)
        {
            ready = false;
            if (!firstHello.isDone())
            {
                firstHello.completeExceptionally(new LedgerClientException("connection closed by " + endpointName() +
                    " before Hello (is it full, or does it expect TLS?)"));
            }
            reconnectLater();
        }

        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            ctx.close();
        }
    }
}
