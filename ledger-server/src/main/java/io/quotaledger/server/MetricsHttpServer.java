package io.quotaledger.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * {@code GET /metrics} (Prometheus text) and {@code GET /health} on their own port and their own Netty event loop, never
 * a thread the ledger uses. Nothing waits on a socket: a client that sends half a request holds no thread, and is
 * closed when its request is not complete within {@link #REQUEST_TIMEOUT_SECONDS}. Requests and connections are
 * small and few; any other path is 404.
 */
public final class MetricsHttpServer implements AutoCloseable
{
    /** A request must be complete this long after the connection opened or the previous answer. */
    static final int REQUEST_TIMEOUT_SECONDS = 5;
    /** Connections at once; more are closed on arrival. */
    static final int MAX_CONNECTIONS = 64;
    private static final int MAX_INITIAL_LINE = 1024;
    private static final int MAX_HEADERS = 8 * 1024;
    private static final int MAX_BODY = 1024;
    private static final Logger LOG = LoggerFactory.getLogger(MetricsHttpServer.class);

    /**
     * Health as reported: ok, or why not.
     *
     * @param healthy true when the ledger accepts changes.
     * @param json    the body, a JSON object.
     */
    public record Health(boolean healthy, String json)
    {
    }

    private final ServerMetrics metrics;
    private final Supplier<Health> health;
    private final AtomicInteger connections = new AtomicInteger();
    private final EventLoopGroup group;
    private final Channel serverChannel;

    public MetricsHttpServer(
        final String bind, final int port, final ServerMetrics metrics, final Supplier<Health> health)
        throws IOException
    {
        this.metrics = metrics;
        this.health = health;
        group = new MultiThreadIoEventLoopGroup(
            1, new DefaultThreadFactory("ledger-metrics-http", true), NioIoHandler.newFactory());
        final ServerBootstrap bootstrap = new ServerBootstrap()
            .group(group)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 64)
            .childHandler(new ChannelInitializer<SocketChannel>()
            {
                protected void initChannel(final SocketChannel channel)
                {
                    if (connections.incrementAndGet() > MAX_CONNECTIONS)
                    {
                        connections.decrementAndGet();
                        channel.close();
                        return;
                    }
                    channel.closeFuture().addListener(f -> connections.decrementAndGet());
                    channel.pipeline()
                        .addLast(new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADERS, MAX_BODY))
                        .addLast(new HttpObjectAggregator(MAX_BODY))
                        .addLast(new Responder());
                }
            });
        try
        {
            serverChannel = bootstrap.bind(bind, port).sync().channel();
        }
        catch (final Exception ex)
        {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IOException("cannot serve metrics on " + bind + ":" + port + ": " + ex.getMessage(), ex);
        }
    }

    public int port()
    {
        return ((InetSocketAddress)serverChannel.localAddress()).getPort();
    }

    public void close()
    {
        serverChannel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /**
     * Answers one connection's requests, each within the request timeout.
     */
    private final class Responder extends SimpleChannelInboundHandler<FullHttpRequest>
    {
        private ScheduledFuture<?> deadline;

        public void channelActive(final ChannelHandlerContext ctx)
        {
            armDeadline(ctx);
            ctx.fireChannelActive();
        }

        public void channelInactive(final ChannelHandlerContext ctx)
        {
            deadline.cancel(false);
            ctx.fireChannelInactive();
        }

        protected void channelRead0(final ChannelHandlerContext ctx, final FullHttpRequest request)
        {
            deadline.cancel(false);
            if (!request.decoderResult().isSuccess())
            {
                respond(ctx, request, HttpResponseStatus.BAD_REQUEST, "text/plain", bytes("bad request\n"), false);
                return;
            }
            final String path = new QueryStringDecoder(request.uri()).path();
            final boolean known = "/metrics".equals(path) || "/health".equals(path);
            if (!known)
            {
                respond(ctx, request, HttpResponseStatus.NOT_FOUND, "text/plain", bytes("not found\n"), true);
            }
            else if (!HttpMethod.GET.equals(request.method()))
            {
                respond(ctx, request, HttpResponseStatus.METHOD_NOT_ALLOWED, "text/plain", bytes("GET only\n"), true);
            }
            else if ("/metrics".equals(path))
            {
                final ByteBuf body = ctx.alloc().buffer(16 * 1024);
                try (ByteBufOutputStream out = new ByteBufOutputStream(body))
                {
                    metrics.write(out);
                }
                catch (final IOException | RuntimeException ex)
                {
                    body.release();
                    LOG.warn("cannot write metrics", ex);
                    respond(ctx, request, HttpResponseStatus.INTERNAL_SERVER_ERROR, "text/plain",
                        bytes("metrics failed\n"), false);
                    return;
                }
                respond(ctx, request, HttpResponseStatus.OK, "text/plain; version=0.0.4; charset=utf-8", body, true);
            }
            else
            {
                final Health state = health.get();
                respond(ctx, request, state.healthy() ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "application/json", bytes(state.json()), true);
            }
        }

        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            LOG.debug("metrics connection {} failed", ctx.channel().remoteAddress(), cause);
            ctx.close();
        }

        private void respond(
            final ChannelHandlerContext ctx,
            final FullHttpRequest request,
            final HttpResponseStatus status,
            final String type,
            final ByteBuf body,
            final boolean mayKeepAlive)
        {
            final FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
            response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, type)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
            final boolean keepAlive = mayKeepAlive && HttpUtil.isKeepAlive(request);
            if (!keepAlive)
            {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            ctx.writeAndFlush(response);
            armDeadline(ctx);
        }

        private void armDeadline(final ChannelHandlerContext ctx)
        {
            deadline = ctx.executor().schedule(() ->
            {
                LOG.debug("closing metrics connection {}: no complete request in time", ctx.channel().remoteAddress());
                ctx.close();
            }, REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static ByteBuf bytes(final String text)
    {
        return Unpooled.copiedBuffer(text, StandardCharsets.UTF_8);
    }
}
