package io.quotaledger.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.Snapshotter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import javax.net.ssl.SSLException;

/**
 * The binary protocol server (docs/protocol.md): Netty, epoll where available. Build it first, start the engine with
 * its batch flush ({@link #replyBatchEnd()}), then {@link #start} it on that engine. In shared threading mode its
 * channels live on the engine's own event loop ({@link LedgerEngine#eventLoop()}): a request is read, decided,
 * journaled and answered on that one thread. In dedicated mode it runs its own I/O threads. While it runs it reads
 * the keys file again every second: keys added take effect for new connections, and connections that authenticated
 * with a key since revoked are closed.
 */
public final class LedgerServer implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(LedgerServer.class);
    private static final long KEYS_RELOAD_SECONDS = 1;

    private final ServerConfig config;
    private final SslContext tls;
    private final ApiKeys keys;
    private final ServerMetrics metrics;
    private final ConnectionRegistry registry;
    private final ResultPublisher publisher;
    private final FailedHelloLog failedHellos = new FailedHelloLog();
    // shutting the event loops down does not close accepted connections: clients must see the server go
    private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private EventLoopGroup group;
    private boolean ownGroup;
    private Channel serverChannel;
    private ScheduledExecutorService keysReloader;
    private volatile String keysFailure; // why the keys file cannot be used now; null when it can

    /**
     * @throws IllegalArgumentException when a setting is out of range or the TLS certificate or key cannot be used:
     *                                  before anything is bound.
     */
    public LedgerServer(final ServerConfig config, final ApiKeys keys, final ServerMetrics metrics)
    {
        config.validate();
        this.tls = tlsContext(config);
        this.config = config;
        this.keys = keys;
        this.metrics = metrics;
        this.publisher = new ResultPublisher(metrics, PooledByteBufAllocator.DEFAULT, config.maxConnections());
        this.registry = new ConnectionRegistry(
            config.maxConnections(), config.maxUnauthenticated(), config.maxInFlight(), publisher, metrics);
        metrics.gauge("ledger_connections", "Open client connections", registry::size);
        metrics.gauge("ledger_connections_unauthenticated", "Open client connections that have not said Hello yet",
            registry::unauthenticated);
        metrics.gauge("ledger_unsent_bytes", "Bytes of answers written but not yet taken by the clients' sockets",
            this::unsentBytes);
        metrics.gauge("ledger_keys", "API keys in force", keys::size);
        metrics.gauge("ledger_keys_file_failed", "1 while the keys file cannot be read or parsed (old keys kept)",
            () -> keysFailure == null ? 0 : 1);
    }

    /**
     * Reads the TLS certificate and key of a config, to use them or only to check them before anything starts.
     *
     * @return the server's TLS context, or null when the config has no TLS.
     * @throws IllegalArgumentException when the files cannot be read or do not hold a certificate and its key.
     */
    public static SslContext tlsContext(final ServerConfig config)
    {
        if (config.tlsCertificate() == null)
        {
            return null;
        }
        try
        {
            return SslContextBuilder.forServer(config.tlsCertificate().toFile(), config.tlsKey().toFile()).build();
        }
        catch (final SSLException | IllegalArgumentException ex)
        {
            throw new IllegalArgumentException("cannot use the TLS certificate " + config.tlsCertificate() +
                " with the key " + config.tlsKey() + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * @return what the engine calls at the end of each reply batch (EngineConfig.replyBatchEnd).
     */
    public Runnable replyBatchEnd()
    {
        return publisher;
    }

    /**
     * Binds and starts accepting connections for the given engine; TakeSnapshot is refused (UNAVAILABLE).
     */
    public LedgerServer start(final LedgerEngine engine) throws Exception
    {
        return start(engine, null);
    }

    /**
     * Binds and starts accepting connections for the given engine.
     *
     * @param snapshots takes a snapshot for an admin's TakeSnapshot (a {@link Snapshotter}); null refuses them.
     */
    public LedgerServer start(
        final LedgerEngine engine, final Supplier<CompletableFuture<Snapshotter.Snapshot>> snapshots) throws Exception
    {
        final boolean epoll = Epoll.isAvailable(); // as the engine decides for its event loop in shared mode
        ownGroup = engine.eventLoop() == null;
        group = ownGroup ? new MultiThreadIoEventLoopGroup(config.ioThreads(),
            epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory()) : engine.eventLoop();
        final Class<? extends ServerSocketChannel> channelType =
            epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        final ServerBootstrap bootstrap = new ServerBootstrap()
            .group(group)
            .channel(channelType)
            .option(ChannelOption.SO_BACKLOG, 1024)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
            .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 * 1024, 1024 * 1024))
            .childHandler(new ChannelInitializer<SocketChannel>()
            {
                protected void initChannel(final SocketChannel channel)
                {
                    channels.add(channel);
                    if (tls != null)
                    {
                        channel.pipeline().addLast(tls.newHandler(channel.alloc()));
                    }
                    channel.pipeline()
                        .addLast(new IdleStateHandler(config.idleTimeoutSeconds(), 0, 0, TimeUnit.SECONDS))
                        .addLast(new RequestAdapter(config, registry, keys, metrics, engine, snapshots, failedHellos));
                }
            });
        serverChannel = bootstrap.bind(config.bind(), config.port()).sync().channel();
        keysReloader = Executors.newSingleThreadScheduledExecutor(task ->
        {
            final Thread thread = new Thread(task, "ledger-keys");
            thread.setDaemon(true);
            return thread;
        });
        keysReloader.scheduleWithFixedDelay(
            this::reloadKeys, KEYS_RELOAD_SECONDS, KEYS_RELOAD_SECONDS, TimeUnit.SECONDS);
        LOG.info("listening on {}:{} ({}{}, {})", config.bind(), port(), epoll ? "epoll" : "nio",
            tls != null ? ", TLS" : "", ownGroup ? config.ioThreads() + " I/O threads" : "on the ledger's own thread");
        return this;
    }

    /**
     * Puts a changed keys file in force and closes the connections of keys it no longer holds. The check runs on each
     * connection's event loop, where its Hello runs too: a Hello either ran before it (and is checked) or runs after
     * it (and sees the new keys).
     */
    private void reloadKeys()
    {
        try
        {
            final boolean changed = keys.reload();
            if (keysFailure != null)
            {
                LOG.info("keys file {} can be used again", keys.file());
                keysFailure = null;
            }
            if (!changed)
            {
                return;
            }
            LOG.info("keys file {} changed: {} keys in force", keys.file(), keys.size());
            for (final Channel channel : channels)
            {
                try
                {
                    channel.eventLoop().execute(() ->
                    {
                        if (keys.revoked(channel) && channel.isActive())
                        {
                            LOG.warn("closing the connection from {}: its key was revoked", channel.remoteAddress());
                            channel.close();
                        }
                    });
                }
                catch (final RejectedExecutionException ex)
                {
                    // the server is closing, and the connection with it
                }
            }
        }
        catch (final IOException | RuntimeException ex)
        {
            final String failure = ex instanceof IllegalArgumentException ? ex.getMessage() : ex.toString();
            if (!failure.equals(keysFailure))
            {
                LOG.error("keys file {} cannot be used, the {} keys loaded before stay in force: {}", keys.file(),
                    keys.size(), failure);
                keysFailure = failure;
            }
        }
    }

    /**
     * @return the port listened on (useful with port 0).
     */
    public int port()
    {
        return ((InetSocketAddress)serverChannel.localAddress()).getPort();
    }

    public int connections()
    {
        return registry.size();
    }

    /**
     * @return bytes of answers queued in the server for clients whose sockets do not take them yet.
     */
    long unsentBytes()
    {
        long bytes = 0;
        for (final Channel channel : channels)
        {
            final ChannelOutboundBuffer unsent = channel.unsafe().outboundBuffer();
            bytes += unsent == null ? 0 : unsent.totalPendingWriteBytes();
        }
        return bytes;
    }

    /**
     * @return true once {@link #close()} has begun: no more results are sent.
     */
    boolean closing()
    {
        return publisher.stopped();
    }

    /**
     * Stops accepting and closes every connection; results the engine still produces for them are dropped (the
     * clients resend them, and a resent change is answered as a duplicate).
     */
    public void close()
    {
        publisher.stop();
        if (keysReloader != null)
        {
            keysReloader.shutdownNow();
            keysReloader = null;
        }
        if (serverChannel != null)
        {
            // not sync(): in shared mode the loop may have stopped with the engine, and its channels with it
            serverChannel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
            serverChannel = null;
        }
        channels.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        if (group != null && ownGroup)
        {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
        group = null; // in shared mode the engine's event loop: it stops with the engine
    }
}
