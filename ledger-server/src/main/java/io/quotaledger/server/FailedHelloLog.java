package io.quotaledger.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Warns of failed Hellos with the client's address, at most once a second with a count of those not shown since:
 * someone guessing keys must not flood the log, and an operator must still hear of it.
 */
final class FailedHelloLog
{
    private static final Logger LOG = LoggerFactory.getLogger(FailedHelloLog.class);
    private static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final AtomicLong nextNanos = new AtomicLong(System.nanoTime());
    private final AtomicLong unreported = new AtomicLong();

    /**
     * Any I/O thread.
     */
    void failed(final SocketAddress remote, final String why)
    {
        final long now = System.nanoTime();
        final long next = nextNanos.get();
        if (now - next >= 0 && nextNanos.compareAndSet(next, now + INTERVAL_NANOS))
        {
            final long more = unreported.getAndSet(0);
            LOG.warn("failed Hello from {}: {}{}", remote, why,
                more == 0 ? "" : " (and " + more + " more failed Hellos since the last report)");
        }
        else
        {
            unreported.incrementAndGet();
        }
    }
}
