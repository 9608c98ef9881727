package io.quotaledger.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.quotaledger.protocol.Role;

import java.util.concurrent.atomic.AtomicLong;

/**
 * One client connection's state, shared by its I/O thread and the engine's reply thread.
 *
 * <p>Results of one connection come back in the order its requests entered the ring (one I/O thread publishes them,
 * one reply thread answers in ring order), so the client's correlation ids wait in a single-producer single-consumer
 * FIFO instead of a map: the I/O thread pushes when it publishes, the reply thread pops when it answers. The in-flight
 * cap bounds it, but it starts small and doubles only when a connection really has that many requests waiting: a
 * connection costs a few hundred bytes until it pipelines.
 */
final class Connection
{
    static final int INITIAL_FIFO_ENTRIES = 16;

    final int slot;
    final long generation;
    final Channel channel;
    Role role = Role.NONE;

    // the registry's list of connections waiting for Hello, oldest first; guarded by the registry's lock
    boolean awaitingHello;
    Connection older;
    Connection newer;

    // FIFO of (client correlation id, receive time) pairs: producer is the I/O thread, consumer the reply thread.
    // Replaced by a larger copy when full; volatile so that the reply thread sees a copy's entries with the copy.
    private volatile long[] fifo = new long[INITIAL_FIFO_ENTRIES * 2];
    private final int capacity;
    private long head;
    private final AtomicLong tail = new AtomicLong();

    // reply thread only
    ByteBuf pendingReplies;
    boolean dirty;

    // why reading is paused; set by the I/O thread, pausedForInFlight also read by the reply thread
    boolean pausedForRing;
    volatile boolean pausedForInFlight;
    boolean pausedForWrite;
    boolean pausedForErrors;
    volatile boolean resumeScheduled;
    Runnable resumeTask;

    Connection(final int slot, final long generation, final Channel channel, final int maxInFlight)
    {
        this.slot = slot;
        this.generation = generation;
        this.channel = channel;
        this.capacity = maxInFlight;
    }

    /**
     * @return the id under which the engine reports this connection's results.
     */
    long engineCorrelationId()
    {
        return (generation << 32) | slot;
    }

    int inFlight()
    {
        return (int)(head - tail.get());
    }

    /**
     * @return the most requests that may be in flight (the configured cap, not the FIFO's current size).
     */
    int capacity()
    {
        return capacity;
    }

    /**
     * I/O thread: remembers a request about to enter the ring. The caller has checked {@link #inFlight()} against
     * {@link #capacity()}.
     */
    void push(final long clientCorrelationId, final long receivedNanos)
    {
        long[] entries = fifo;
        if (head - tail.get() == entries.length >> 1)
        {
            entries = grow(entries);
        }
        final int i = index(entries, head);
        entries[i] = clientCorrelationId;
        entries[i + 1] = receivedNanos;
        head++; // published to the reply thread by the ring's own publication, which follows
    }

    /**
     * Reply thread: the correlation id of the oldest request; {@link #pop()} after reading it.
     */
    long peekCorrelationId()
    {
        final long[] entries = fifo;
        return entries[index(entries, tail.get())];
    }

    long peekReceivedNanos()
    {
        final long[] entries = fifo;
        return entries[index(entries, tail.get()) + 1];
    }

    void pop()
    {
        tail.lazySet(tail.get() + 1);
    }

    /**
     * @return how many requests the FIFO holds before it grows again (for tests).
     */
    int fifoEntries()
    {
        return fifo.length >> 1;
    }

    /**
     * I/O thread, FIFO full: copies the waiting entries into one twice the size. The reply thread may go on reading
     * the old array meanwhile: entries that wait are in both, and the old array is never written again.
     */
    private long[] grow(final long[] entries)
    {
        final long[] larger = new long[entries.length * 2];
        for (long sequence = tail.get(); sequence < head; sequence++)
        {
            final int from = index(entries, sequence);
            final int to = index(larger, sequence);
            larger[to] = entries[from];
            larger[to + 1] = entries[from + 1];
        }
        fifo = larger;
        return larger;
    }

    private static int index(final long[] entries, final long sequence)
    {
        return (int)(sequence & ((entries.length >> 1) - 1)) * 2;
    }
}
