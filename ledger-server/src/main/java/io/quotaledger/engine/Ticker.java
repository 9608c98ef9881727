package io.quotaledger.engine;

import org.agrona.concurrent.EpochClock;

import java.util.concurrent.locks.LockSupport;

/**
 * In {@link Threading#DEDICATED} mode, sends a TICK into the ring when a hold is due, so holds expire even when no
 * traffic arrives. It reads the earliest expiry that the business-logic thread publishes, so an idle ledger with no
 * due holds sees no ticks at all.
 */
final class Ticker implements AutoCloseable
{
    private static final long BACKLOG_PAUSE_NANOS = 20_000;

    private final RingEngine engine;
    private final BusinessLogicHandler businessLogic;
    private final EpochClock clock;
    private final long intervalNanos;
    private final Thread thread;
    private volatile boolean running = true;

    Ticker(
        final RingEngine engine,
        final BusinessLogicHandler businessLogic,
        final EpochClock clock,
        final long intervalMillis)
    {
        this.engine = engine;
        this.businessLogic = businessLogic;
        this.clock = clock;
        this.intervalNanos = intervalMillis * 1_000_000L;
        this.thread = new Thread(this::run, "ledger-ticker");
        this.thread.setDaemon(true);
    }

    void start()
    {
        thread.start();
    }

    private void run()
    {
        long ticksSent = 0;
        while (running)
        {
            final boolean due = clock.time() >= businessLogic.nextExpiry();
            // one tick in the ring at a time; while holds stay due (a backlog), the next follows right away
            if (due && businessLogic.ticksProcessed() == ticksSent && engine.tryTick())
            {
                ticksSent++;
            }
            LockSupport.parkNanos(due ? BACKLOG_PAUSE_NANOS : intervalNanos);
        }
    }

    public void close()
    {
        running = false;
        LockSupport.unpark(thread);
        try
        {
            thread.join(1000);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }
}
