package io.quotaledger.server;

import java.nio.file.Path;

/**
 * Network settings of a {@link LedgerServer}, in one place. Fluent accessors.
 */
public final class ServerConfig
{
    private String bind = "127.0.0.1";
    private int port = 7070;
    private int maxFrameLength = 4096;
    private int maxInFlight = 16_384;
    private int maxConnections = 1_000;
    private int maxUnauthenticated = 100;
    private int idleTimeoutSeconds = 300;
    private int helloTimeoutSeconds = 3;
    private int failedHelloDelayMillis = 1_000;
    private int ioThreads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
    private Path tlsCertificate;
    private Path tlsKey;

    /** Address to listen on; 127.0.0.1 unless told otherwise. */
    public String bind()
    {
        return bind;
    }

    public ServerConfig bind(final String bind)
    {
        this.bind = bind;
        return this;
    }

    /** TCP port; 0 picks a free one. */
    public int port()
    {
        return port;
    }

    public ServerConfig port(final int port)
    {
        this.port = port;
        return this;
    }

    /** Largest frame accepted (length prefix excluded); a longer one closes the connection. */
    public int maxFrameLength()
    {
        return maxFrameLength;
    }

    public ServerConfig maxFrameLength(final int maxFrameLength)
    {
        this.maxFrameLength = maxFrameLength;
        return this;
    }

    /** Requests one connection may have waiting for results; beyond it the server stops reading that connection. */
    public int maxInFlight()
    {
        return maxInFlight;
    }

    public ServerConfig maxInFlight(final int maxInFlight)
    {
        this.maxInFlight = maxInFlight;
        return this;
    }

    /**
     * Connections at once, authenticated or not; more are closed on arrival while every slot is authenticated. An
     * authenticated connection holds at most 71 bytes per answer it has not read, bounded by {@link #maxInFlight()}.
     */
    public int maxConnections()
    {
        return maxConnections;
    }

    public ServerConfig maxConnections(final int maxConnections)
    {
        this.maxConnections = maxConnections;
        return this;
    }

    /**
     * Connections at once that have not authenticated yet, within {@link #maxConnections()}. When they are all
     * taken, a new connection closes the oldest of them instead of being refused, so that sockets that never say
     * Hello cannot keep a gateway out.
     */
    public int maxUnauthenticated()
    {
        return maxUnauthenticated;
    }

    public ServerConfig maxUnauthenticated(final int maxUnauthenticated)
    {
        this.maxUnauthenticated = maxUnauthenticated;
        return this;
    }

    /** A connection that sends nothing for this long is closed. */
    public int idleTimeoutSeconds()
    {
        return idleTimeoutSeconds;
    }

    public ServerConfig idleTimeoutSeconds(final int idleTimeoutSeconds)
    {
        this.idleTimeoutSeconds = idleTimeoutSeconds;
        return this;
    }

    /** A connection must authenticate (Hello) within this long; Hello is the first thing a client sends. */
    public int helloTimeoutSeconds()
    {
        return helloTimeoutSeconds;
    }

    public ServerConfig helloTimeoutSeconds(final int helloTimeoutSeconds)
    {
        this.helloTimeoutSeconds = helloTimeoutSeconds;
        return this;
    }

    /**
     * How long a failed Hello waits before its answer and the close, with reading stopped: guessing keys is slow,
     * and the event loop is not blocked meanwhile. 0 answers at once.
     */
    public int failedHelloDelayMillis()
    {
        return failedHelloDelayMillis;
    }

    public ServerConfig failedHelloDelayMillis(final int failedHelloDelayMillis)
    {
        this.failedHelloDelayMillis = failedHelloDelayMillis;
        return this;
    }

    /** Netty I/O threads in dedicated threading mode; in shared mode the engine's one event loop serves all. */
    public int ioThreads()
    {
        return ioThreads;
    }

    public ServerConfig ioThreads(final int ioThreads)
    {
        this.ioThreads = ioThreads;
        return this;
    }

    /** PEM certificate chain for TLS; TLS is on when both it and {@link #tlsKey()} are set. */
    public Path tlsCertificate()
    {
        return tlsCertificate;
    }

    public ServerConfig tlsCertificate(final Path tlsCertificate)
    {
        this.tlsCertificate = tlsCertificate;
        return this;
    }

    /** PEM PKCS#8 private key for TLS. */
    public Path tlsKey()
    {
        return tlsKey;
    }

    public ServerConfig tlsKey(final Path tlsKey)
    {
        this.tlsKey = tlsKey;
        return this;
    }

    /**
     * @throws IllegalArgumentException naming the first setting out of range.
     */
    public void validate()
    {
        if (port < 0 || port > 65_535)
        {
            throw new IllegalArgumentException("port must be 0..65535: " + port);
        }
        if (maxFrameLength < 64 || maxFrameLength > 1 << 20)
        {
            throw new IllegalArgumentException("maxFrameLength must be 64..1048576: " + maxFrameLength);
        }
        if (maxInFlight < 1)
        {
            throw new IllegalArgumentException("maxInFlight must be positive: " + maxInFlight);
        }
        if (maxConnections < 1 || idleTimeoutSeconds < 1 || helloTimeoutSeconds < 1 || ioThreads < 1)
        {
            throw new IllegalArgumentException("maxConnections, timeouts and ioThreads must be positive");
        }
        if (maxUnauthenticated < 1)
        {
            throw new IllegalArgumentException("maxUnauthenticated must be positive: " + maxUnauthenticated);
        }
        if (failedHelloDelayMillis < 0 || failedHelloDelayMillis > 60_000)
        {
            throw new IllegalArgumentException("failedHelloDelayMillis must be 0..60000: " + failedHelloDelayMillis);
        }
        if ((tlsCertificate == null) != (tlsKey == null))
        {
            throw new IllegalArgumentException("TLS needs both a certificate and a key");
        }
    }
}
