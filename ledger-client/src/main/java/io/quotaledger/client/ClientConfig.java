package io.quotaledger.client;

import io.netty.channel.EventLoopGroup;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Settings of a {@link LedgerClient}. Fluent accessors.
 */
public final class ClientConfig
{
    private String host = "127.0.0.1";
    private int port = 7070;
    private String apiKey;
    private boolean tls;
    private boolean trustAnyCertificate;
    private Path trustCertificates;
    private Duration timeout = Duration.ofSeconds(2);
    private int attempts = 3;
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration reconnectBackoff = Duration.ofMillis(100);
    private int maxFrameLength = 4096;
    private EventLoopGroup eventLoopGroup;
    private List<InetSocketAddress> endpoints = List.of();

    public String host()
    {
        return host;
    }

    public ClientConfig host(final String host)
    {
        this.host = host;
        return this;
    }

    /**
     * @return the ledgers to try in turn, {@link #host()}:{@link #port()} alone unless {@link #endpoints(String)}
     * named several (the members of a cluster).
     */
    public List<InetSocketAddress> endpoints()
    {
        return endpoints.isEmpty() ? List.of(InetSocketAddress.createUnresolved(host, port)) : endpoints;
    }

    /**
     * Several ledgers to connect to, in this order: the members of a cluster. When a connection fails or drops the
     * client goes on to the next one and resends every unanswered request there with the same request id.
     *
     * @param spec {@code host:port,host:port,...}.
     * @throws IllegalArgumentException when an entry is not host:port.
     */
    public ClientConfig endpoints(final String spec)
    {
        final List<InetSocketAddress> parsed = new ArrayList<>();
        for (final String entry : spec.split(","))
        {
            final String trimmed = entry.trim();
            final int colon = trimmed.lastIndexOf(':');
            final int endpointPort;
            try
            {
                endpointPort = colon <= 0 ? -1 : Integer.parseInt(trimmed.substring(colon + 1));
            }
            catch (final NumberFormatException ex)
            {
                throw new IllegalArgumentException("endpoint '" + trimmed + "' is not host:port");
            }
            if (endpointPort < 1 || endpointPort > 65_535)
            {
                throw new IllegalArgumentException("endpoint '" + trimmed + "' is not host:port (port 1-65535)");
            }
            parsed.add(InetSocketAddress.createUnresolved(trimmed.substring(0, colon), endpointPort));
        }
        endpoints = List.copyOf(parsed);
        host = parsed.get(0).getHostString();
        port = parsed.get(0).getPort();
        return this;
    }

    public int port()
    {
        return port;
    }

    public ClientConfig port(final int port)
    {
        this.port = port;
        return this;
    }

    public String apiKey()
    {
        return apiKey;
    }

    public ClientConfig apiKey(final String apiKey)
    {
        this.apiKey = apiKey;
        return this;
    }

    public boolean tls()
    {
        return tls;
    }

    public ClientConfig tls(final boolean tls)
    {
        this.tls = tls;
        return this;
    }

    /** For tests and self-signed certificates on trusted networks only. */
    public boolean trustAnyCertificate()
    {
        return trustAnyCertificate;
    }

    public ClientConfig trustAnyCertificate(final boolean trustAnyCertificate)
    {
        this.trustAnyCertificate = trustAnyCertificate;
        return this;
    }

    /**
     * PEM file of the certificates to trust (a private CA, or the server's own self-signed certificate) instead of
     * the JVM's default ones; the server's name is still checked against its certificate.
     */
    public Path trustCertificates()
    {
        return trustCertificates;
    }

    public ClientConfig trustCertificates(final Path trustCertificates)
    {
        this.trustCertificates = trustCertificates;
        return this;
    }

    /** How long one attempt waits for its result before the request is sent again (same request id). */
    public Duration timeout()
    {
        return timeout;
    }

    public ClientConfig timeout(final Duration timeout)
    {
        this.timeout = timeout;
        return this;
    }

    /** Attempts per request, the first included; then the future fails with a TimeoutException. */
    public int attempts()
    {
        return attempts;
    }

    public ClientConfig attempts(final int attempts)
    {
        this.attempts = attempts;
        return this;
    }

    public Duration connectTimeout()
    {
        return connectTimeout;
    }

    public ClientConfig connectTimeout(final Duration connectTimeout)
    {
        this.connectTimeout = connectTimeout;
        return this;
    }

    /** First pause before reconnecting; it doubles up to 5 s while the server stays away. */
    public Duration reconnectBackoff()
    {
        return reconnectBackoff;
    }

    public ClientConfig reconnectBackoff(final Duration reconnectBackoff)
    {
        this.reconnectBackoff = reconnectBackoff;
        return this;
    }

    public int maxFrameLength()
    {
        return maxFrameLength;
    }

    public ClientConfig maxFrameLength(final int maxFrameLength)
    {
        this.maxFrameLength = maxFrameLength;
        return this;
    }

    /**
     * I/O threads shared by several clients: a Netty NIO group (e.g. {@code MultiThreadIoEventLoopGroup} with
     * {@code NioIoHandler}). Each client runs on one of its threads and leaves the group running when closed.
     * Default: null, a thread of the client's own.
     */
    public EventLoopGroup eventLoopGroup()
    {
        return eventLoopGroup;
    }

    public ClientConfig eventLoopGroup(final EventLoopGroup eventLoopGroup)
    {
        this.eventLoopGroup = eventLoopGroup;
        return this;
    }
}
