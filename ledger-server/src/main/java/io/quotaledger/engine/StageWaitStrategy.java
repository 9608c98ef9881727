package io.quotaledger.engine;

import com.lmax.disruptor.AlertException;
import com.lmax.disruptor.Sequence;
import com.lmax.disruptor.SequenceBarrier;
import com.lmax.disruptor.WaitStrategy;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * The engine's default wait strategy, made for a pipeline of stages on fewer cores than threads. Each stage spins a
 * little, then yields, then sleeps: waiting for new events on a lock the producers signal (as Disruptor's
 * LiteBlockingWaitStrategy does), waiting for the stage before it with short parks.
 *
 * <p>Disruptor's blocking strategies wake every stage when an event is published and then let the later stages
 * spin, without yielding, until the stages before them are done. On two cores the spinning journal and reply
 * stages take the CPU from the business stage they wait for, and an idle ledger answered in 3-20 ms. Here a waiting
 * stage gives its core away within microseconds. It yields for up to a millisecond before it sleeps: at a few
 * thousand requests per second a stage then never needs a wake-up from the kernel (the tail of the latency), and a
 * yielding thread costs nothing when another thread wants the core.
 */
public final class StageWaitStrategy implements WaitStrategy
{
    private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(10);
    private static final long YIELD_NANOS = TimeUnit.MICROSECONDS.toNanos(1000);
    /** Asked of the kernel when waiting for an earlier stage; Linux makes it ~50-60 µs. */
    private static final long PARK_NANOS = TimeUnit.MICROSECONDS.toNanos(20);

    private final Object mutex = new Object();
    private final AtomicBoolean signalNeeded = new AtomicBoolean();

    public long waitFor(
        final long sequence, final Sequence cursor, final Sequence dependentSequence, final SequenceBarrier barrier)
        throws AlertException, InterruptedException
    {
        long available = dependentSequence.get();
        if (available >= sequence)
        {
            return available;
        }
        long start = System.nanoTime();
        while ((available = dependentSequence.get()) < sequence)
        {
            barrier.checkAlert();
            final long waited = System.nanoTime() - start;
            if (waited < SPIN_NANOS)
            {
                Thread.onSpinWait();
            }
            else if (waited < SPIN_NANOS + YIELD_NANOS)
            {
                Thread.yield();
            }
            else if (cursor.get() < sequence)
            {
                awaitPublication(sequence, cursor, barrier);
                start = System.nanoTime(); // woken by a publication: spin and yield for the earlier stages again
            }
            else
            {
                LockSupport.parkNanos(PARK_NANOS); // published, an earlier stage still at it: let it have the core
            }
        }
        return available;
    }

    public void signalAllWhenBlocking()
    {
        if (signalNeeded.getAndSet(false))
        {
            synchronized (mutex)
            {
                mutex.notifyAll();
            }
        }
    }

    private void awaitPublication(final long sequence, final Sequence cursor, final SequenceBarrier barrier)
        throws AlertException, InterruptedException
    {
        synchronized (mutex)
        {
            do
            {
                signalNeeded.set(true);
                if (cursor.get() >= sequence)
                {
                    break;
                }
                barrier.checkAlert();
                mutex.wait();
            }
            while (cursor.get() < sequence);
        }
    }
}
