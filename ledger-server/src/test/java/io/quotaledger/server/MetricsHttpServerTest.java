package io.quotaledger.server;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /metrics} and {@code /health}: exact paths, and no client can hold them up.
 */
class MetricsHttpServerTest
{
    private MetricsHttpServer http;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @BeforeEach
    void start() throws IOException
    {
        http = new MetricsHttpServer("127.0.0.1", 0, new ServerMetrics(),
            () -> new MetricsHttpServer.Health(true, "{\"status\":\"ok\"}"));
    }

    @AfterEach
    void stop()
    {
        http.close();
    }

    private HttpResponse<String> send(final String method, final String path) throws Exception
    {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + path))
            .method(method, HttpRequest.BodyPublishers.noBody())
            .timeout(Duration.ofSeconds(2))
            .build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldServeExactlyMetricsAndHealth() throws Exception
    {
        final HttpResponse<String> metrics = send("GET", "/metrics");
        assertEquals(200, metrics.statusCode());
        assertTrue(metrics.body().contains("ledger_bad_frames_total{kind=\"malformed\"} 0.0"), metrics.body());
        assertTrue(metrics.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
        final HttpResponse<String> health = send("GET", "/health");
        assertEquals(200, health.statusCode());
        assertEquals("{\"status\":\"ok\"}", health.body());

        for (final String path : new String[] { "/healthz", "/metricsXYZ", "/metrics/", "/metrics/x", "/", "/health/a" })
        {
            assertEquals(404, send("GET", path).statusCode(), path);
        }
        assertEquals(405, send("POST", "/metrics").statusCode());
        assertEquals(200, send("GET", "/metrics?name=x").statusCode(), "a query string is no other path");
    }

    @Test
    void shouldAnswerOthersWhileOneClientSendsHalfARequest() throws Exception
    {
        try (Socket slow = new Socket("127.0.0.1", http.port()))
        {
            // no final blank line: the request never completes
            final OutputStream out = slow.getOutputStream();
            out.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            final long started = System.nanoTime();
            for (int i = 0; i < 3; i++)
            {
                assertEquals(200, send("GET", "/health").statusCode());
                assertEquals(200, send("GET", "/metrics").statusCode());
            }
            assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(MetricsHttpServer.REQUEST_TIMEOUT_SECONDS),
                "answered while the slow request was waiting");

            // and the slow one is closed once its time is up, unanswered
            slow.setSoTimeout((MetricsHttpServer.REQUEST_TIMEOUT_SECONDS + 10) * 1000);
            final InputStream in = slow.getInputStream();
            try
            {
                assertEquals(-1, in.read(), "closed without an answer");
            }
            catch (final SocketException ex)
            {
                // reset: closed too
            }
        }
    }

    @Test
    void shouldCloseARequestWithOversizedHeaders() throws Exception
    {
        try (Socket socket = new Socket("127.0.0.1", http.port()))
        {
            socket.setSoTimeout(5_000);
            final String request = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: " + "a".repeat(16 * 1024) + "\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            final String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(answer.startsWith("HTTP/1.1 4"), answer);
        }
        assertEquals(200, send("GET", "/health").statusCode());
    }
}
