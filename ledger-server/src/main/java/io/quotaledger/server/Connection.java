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
 * FIFO instead of a map: the I/O thread pushes when it publishes, the reply thread pops when it answers. Its capacity
 * is the in-flight cap.
 */
final class Connection
{
    final int slot;
    final long generation;
    final Channel channel;
    Role role = Role.NONE;

    // FIFO of (client correlation id, receive time): producer is the I/O thread, consumer the reply thread
    private final long[] fifo;
    private final int mask;
    private long head;
    private final AtomicLong tail = new AtomicLong();

    // reply thread only
    ByteBuf pendingReplies;
    boolean dirty;

    // why reading is paused; set by the I/O thread, pausedForInFlight also read by the reply thread
    boolean pausedForRing;
    volatile boolean pausedForInFlight;
    boolean pausedForWrite;
    volatile boolean resumeScheduled;
    Runnable resumeTask;

    Connection(final int slot, final long generation, final Channel channel, final int maxInFlight)
    {
        this.slot = slot;
        this.generation = generation;
        this.channel = channel;
        this.fifo = new long[maxInFlight * 2];
        this.mask = maxInFlight - 1;
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

    int capacity()
    {
        return mask + 1;
    }

    /**
     * I/O thread: remembers a request about to enter the ring. The caller has checked {@link #inFlight()}.
     */
    void push(final long clientCorrelationId, final long receivedNanos)
    {
        final int i = (int)(head & mask) * 2;
        fifo[i] = clientCorrelationId;
        fifo[i + 1] = receivedNanos;
        head++; // published to the reply thread by the ring's own publication, which follows
    }

    /**
     * Reply thread: the correlation id of the oldest request; {@link #pop()} after reading it.
     */
    long peekCorrelationId()
    {
        return fifo[(int)(tail.get() & mask) * 2];
    }

    long peekReceivedNanos()
    {
        return fifo[(int)(tail.get() & mask) * 2 + 1];
    }

    void pop()
    {
        tail.lazySet(tail.get() + 1);
    }
}
