package io.quotaledger.server;

import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The correlation FIFO: small until a connection pipelines, and in order across its growth while the reply thread
 * reads it.
 */
class ConnectionTest
{
    @Test
    void shouldStaySmallWhileFewRequestsWait()
    {
        final Connection connection = new Connection(0, 1, new EmbeddedChannel(), 16_384);
        for (int i = 0; i < 100_000; i++)
        {
            connection.push(i, -i);
            if (connection.inFlight() == 10)
            {
                while (connection.inFlight() > 0)
                {
                    connection.pop();
                }
            }
        }
        assertEquals(Connection.INITIAL_FIFO_ENTRIES, connection.fifoEntries());
    }

    @Test
    void shouldKeepEveryEntryInOrderWhileGrowingUnderAConcurrentReader() throws Exception
    {
        final int capacity = 1 << 12;
        final long total = 3_000_000;
        final Connection connection = new Connection(0, 1, new EmbeddedChannel(), capacity);
        final AtomicLong published = new AtomicLong(); // stands in for the ring's publication
        final CompletableFuture<Void> reader = CompletableFuture.runAsync(() ->
        {
            for (long expected = 0; expected < total; expected++)
            {
                while (published.get() <= expected)
                {
                    Thread.onSpinWait();
                }
                assertEquals(expected, connection.peekCorrelationId());
                assertEquals(-expected, connection.peekReceivedNanos());
                connection.pop();
            }
        });
        final SplittableRandom random = new SplittableRandom(7);
        long next = 0;
        while (next < total)
        {
            // bursts of random size: the FIFO fills now and then, and grows while the reader is busy
            final int burst = 1 + random.nextInt(capacity);
            for (int i = 0; i < burst && next < total; i++)
            {
                while (connection.inFlight() >= capacity)
                {
                    Thread.onSpinWait();
                }
                connection.push(next, -next);
                published.lazySet(++next);
            }
        }
        reader.get(60, TimeUnit.SECONDS);
        assertEquals(0, connection.inFlight());
        assertEquals(capacity, connection.fifoEntries());
    }
}
