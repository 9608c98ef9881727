package io.quotaledger.server;

import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.RequestIds;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.client.ResultView;
import io.quotaledger.engine.Threading;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the client allocates per request, measured with the JVM's per-thread allocation counter around many
 * pipelined DEDUCTs after a warm-up: nothing on the callback path (on the caller's thread, and on the I/O thread that
 * decodes the results), the future alone on the future path. The slack allowed is a few bytes per request on
 * average, for what is allocated per batch rather than per request (the I/O thread takes a pooled buffer for each
 * write, and Netty's recycler does not keep every one), never an object per request.
 */
class ClientAllocationTest
{
    private static final long USER = 1;
    private static final int SERVICE = 1;
    private static final long KEY = 77;
    private static final int WINDOW = 64;
    private static final int WARM_UP = 30_000;
    private static final int MEASURED = 30_000;
    /** Half the smallest object: an object per request could not hide under it. */
    private static final double SLACK_BYTES = 8;

    private static final com.sun.management.ThreadMXBean THREADS =
        (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();

    @TempDir
    Path dir;

    /**
     * Counts answers; written by the client's I/O thread only.
     */
    static final class CountingHandler implements ResultHandler
    {
        volatile long answered;
        volatile long ok;
        volatile long failed;
        volatile Thread ioThread;

        public void onResult(final ResultView result)
        {
            if (ioThread == null)
            {
                ioThread = Thread.currentThread();
            }
            if (result.ok() && result.requestIdHi() != 0)
            {
                ok++;
            }
            answered++;
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            failed++;
            answered++;
        }
    }

    @Test
    void shouldAllocateNothingPerRequestOnTheCallbackPath() throws Exception
    {
        try (TestServer ledger = new TestServer(Threading.SHARED, dir);
            LedgerClient client = ledger.client(ledger.adminKey))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1L << 40);
            final CountingHandler handler = new CountingHandler();
            final RequestIds ids = client.requestIds();

            assertNothingAllocated(client, ids, handler, 0);
        }
    }

    @Test
    void shouldAllocateNothingPerRequestOnTheCallbackPathThroughAVirtualKey() throws Exception
    {
        try (TestServer ledger = new TestServer(Threading.SHARED, dir);
            LedgerClient client = ledger.client(ledger.adminKey))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1L << 40);
            client.blocking().setVirtualKey(UUID.randomUUID(), USER, KEY, 0, true, null, 0, 0, null);
            assertNothingAllocated(client, client.requestIds(), new CountingHandler(), KEY);
        }
    }

    private static void assertNothingAllocated(
        final LedgerClient client, final RequestIds ids, final CountingHandler handler, final long virtualKeyId)
    {
        deduct(client, ids, handler, WARM_UP, virtualKeyId);
        final long ioThread = handler.ioThread.getId();
        final long callerBefore = allocated(Thread.currentThread().getId());
        final long ioBefore = allocated(ioThread);
        deduct(client, ids, handler, MEASURED, virtualKeyId);
        final long ioAfter = allocated(ioThread);
        final long callerAfter = allocated(Thread.currentThread().getId());

        assertEquals(WARM_UP + MEASURED, handler.ok, "every deduct answered OK, none failed");
        final double perCall = (callerAfter - callerBefore) / (double)MEASURED;
        final double perResult = (ioAfter - ioBefore) / (double)MEASURED;
        assertTrue(perCall <= SLACK_BYTES, "caller's thread allocated " + perCall + " bytes per request");
        assertTrue(perResult <= SLACK_BYTES, "I/O thread allocated " + perResult + " bytes per result");
    }

    @Test
    void shouldAllocateNoMoreThanTheFutureOnTheFuturePath() throws Exception
    {
        try (TestServer ledger = new TestServer(Threading.SHARED, dir);
            LedgerClient client = ledger.client(ledger.adminKey))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1L << 40);
            final CompletableFuture<?>[] window = new CompletableFuture<?>[WINDOW];

            deduct(client, window, WARM_UP);
            final long before = allocated(Thread.currentThread().getId());
            deduct(client, window, MEASURED);
            final long after = allocated(Thread.currentThread().getId());

            // a CompletableFuture is 24 bytes with compressed pointers, 32 without
            final double perCall = (after - before) / (double)MEASURED;
            assertTrue(perCall <= 32 + SLACK_BYTES, "caller's thread allocated " + perCall + " bytes per request");
            assertEquals((1L << 40) - WARM_UP - MEASURED, client.blocking().query(USER, 0).balance(),
                "every deduct charged once");
        }
    }

    /**
     * Sends {@code count} deducts in the callback form (through a virtual key unless 0), at most {@link #WINDOW} in
     * flight, and waits for every answer; allocates nothing itself.
     */
    private static void deduct(final LedgerClient client, final RequestIds ids, final CountingHandler handler,
        final int count, final long virtualKeyId)
    {
        final long first = handler.answered;
        for (long sent = 0; sent < count; sent++)
        {
            while (sent - (handler.answered - first) >= WINDOW)
            {
                Thread.yield();
            }
            client.deduct(ids.hi(), ids.nextLo(), USER, SERVICE, 1, virtualKeyId, 0, handler);
        }
        while (handler.answered - first < count)
        {
            Thread.yield();
        }
        assertEquals(0, handler.failed);
    }

    /**
     * Sends {@code count} deducts in the future form, at most {@link #WINDOW} in flight; allocates nothing itself but
     * the futures the client returns.
     */
    private static void deduct(final LedgerClient client, final CompletableFuture<?>[] window, final int count)
    {
        for (int sent = 0; sent < count; sent++)
        {
            final int i = sent % WINDOW;
            while (window[i] != null && !window[i].isDone())
            {
                Thread.yield();
            }
            window[i] = client.deduct(USER, SERVICE, 1);
        }
        for (final CompletableFuture<?> future : window)
        {
            while (!future.isDone())
            {
                Thread.yield();
            }
            assertTrue(((LedgerResult)future.join()).ok());
        }
    }

    private static long allocated(final long threadId)
    {
        return THREADS.getThreadAllocatedBytes(threadId);
    }
}
