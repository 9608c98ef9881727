package io.quotaledger.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * {@code GET /metrics} (Prometheus text) and {@code GET /health} on their own port, served by the JDK's small HTTP
 * server on one thread: scrapes are rare and must never share a thread with the ledger.
 */
public final class MetricsHttpServer implements AutoCloseable
{
    /**
     * Health as reported: ok, or why not.
     *
     * @param healthy true when the ledger accepts changes.
     * @param json    the body, a JSON object.
     */
    public record Health(boolean healthy, String json)
    {
    }

    private final HttpServer server;

    public MetricsHttpServer(
        final String bind, final int port, final ServerMetrics metrics, final Supplier<Health> health)
        throws IOException
    {
        server = HttpServer.create(new InetSocketAddress(bind, port), 16);
        server.createContext("/metrics", exchange ->
        {
            final ByteArrayOutputStream body = new ByteArrayOutputStream(16 * 1024);
            metrics.write(body);
            respond(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", body.toByteArray());
        });
        server.createContext("/health", exchange ->
        {
            final Health state = health.get();
            respond(exchange, state.healthy() ? 200 : 503, "application/json",
                state.json().getBytes(StandardCharsets.UTF_8));
        });
        server.setExecutor(Executors.newSingleThreadExecutor(runnable ->
        {
            final Thread thread = new Thread(runnable, "ledger-metrics-http");
            thread.setDaemon(true);
            return thread;
        }));
        server.start();
    }

    public int port()
    {
        return server.getAddress().getPort();
    }

    public void close()
    {
        server.stop(0);
    }

    private static void respond(final HttpExchange exchange, final int status, final String type, final byte[] body)
        throws IOException
    {
        if (!"GET".equals(exchange.getRequestMethod()))
        {
            exchange.sendResponseHeaders(405, -1);
            exchange.close();
            return;
        }
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody())
        {
            out.write(body);
        }
    }
}
