package io.quotaledger.server;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.engine.LedgerEvent;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * An engine stage for tests, after the journal: it can hold client results back, so a request is applied and
 * journaled but not yet answered. {@link #hold()} stops every client command here until {@link #release()};
 * {@link #delayNext} slows the next few. Ticks and state requests (no listener) pass untouched.
 */
final class StallStage implements EventHandler<LedgerEvent>
{
    private volatile boolean holding;
    private final AtomicInteger toDelay = new AtomicInteger();
    private volatile long delayNanos;
    private final AtomicInteger waiting = new AtomicInteger();

    /**
     * From now on, client commands wait here (applied and journaled, not answered) until {@link #release()}.
     */
    void hold()
    {
        holding = true;
    }

    void release()
    {
        holding = false;
    }

    /**
     * The next {@code count} client commands each wait {@code millis} here before being answered.
     */
    void delayNext(final int count, final long millis)
    {
        delayNanos = TimeUnit.MILLISECONDS.toNanos(millis);
        toDelay.set(count);
    }

    /**
     * @return client commands waiting here now.
     */
    int waiting()
    {
        return waiting.get();
    }

    /**
     * Waits until {@code count} commands wait here.
     */
    void awaitWaiting(final int count, final long timeoutMillis) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (waiting.get() < count)
        {
            if (System.nanoTime() - deadline > 0)
            {
                throw new AssertionError("only " + waiting.get() + " of " + count + " commands reached the stage");
            }
            Thread.sleep(5);
        }
    }

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        if (event.listener() == null)
        {
            return;
        }
        waiting.incrementAndGet();
        try
        {
            if (toDelay.getAndUpdate(n -> Math.max(0, n - 1)) > 0)
            {
                final long until = System.nanoTime() + delayNanos;
                for (long left = delayNanos; left > 0; left = until - System.nanoTime())
                {
                    LockSupport.parkNanos(left);
                }
            }
            while (holding)
            {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
        }
        finally
        {
            waiting.decrementAndGet();
        }
    }
}
