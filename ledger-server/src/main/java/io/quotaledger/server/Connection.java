package io.quotaledger.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.quotaledger.core.Command;
import io.quotaledger.core.Result;
import io.quotaledger.engine.ResultListener;
import io.quotaledger.protocol.Role;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One client connection's state, shared by its I/O thread and the engine's reply thread (one and the same thread in
 * shared threading mode). It is the listener of its own requests: the client's correlation id and the arrival time
 * travel with each request through the engine, so nothing here has to stay in step with the engine's order.
 *
 * <p>In flight: the I/O thread counts requests it publishes, the reply thread counts answers. When the connection has
 * {@code maxInFlight} requests in flight the I/O thread stops reading it ({@link #pauseIfFull()}), and the reply
 * thread schedules the resume once half of them are answered ({@link #answered()}). Neither side can miss the other:
 * each writes its own volatile, then reads the other's.
 */
final class Connection implements ResultListener
{
    final int slot;
    final Channel channel;
    private final ResultPublisher publisher;
    private final int maxInFlight;
    Role role = Role.NONE;
    /**
     * The protocol version of its Hello, 0 before: its results are encoded in it. Written by the I/O thread before it
     * publishes any request, so the reply thread sees it through the ring's publication.
     */
    int version;

    // the registry's list of connections waiting for Hello, oldest first; guarded by the registry's lock
    boolean awaitingHello;
    Connection older;
    Connection newer;

    // requests published (I/O thread) and answered (reply thread, single writer)
    private long published;
    private volatile long answered;
    /** Set when the connection closes: its results are dropped. */
    volatile boolean closed;

    // reply thread only
    ByteBuf pendingReplies;

    // why reading is paused; set by the I/O thread, pausedForInFlight also read by the reply thread
    boolean pausedForRing;
    volatile boolean pausedForInFlight;
    boolean pausedForWrite;
    boolean pausedForErrors;
    final AtomicBoolean resumeScheduled = new AtomicBoolean();
    Runnable resumeTask;

    Connection(final int slot, final Channel channel, final int maxInFlight, final ResultPublisher publisher)
    {
        this.slot = slot;
        this.channel = channel;
        this.maxInFlight = maxInFlight;
        this.publisher = publisher;
    }

    /**
     * Reply thread: the engine's answer to one of this connection's requests.
     */
    public void onResult(final long correlationId, final long arrivalNanos, final Command command, final Result result)
    {
        publisher.publish(this, correlationId, arrivalNanos, command, result);
    }

    /**
     * @return requests published and not answered yet.
     */
    int inFlight()
    {
        return (int)(published - answered);
    }

    /**
     * @return the most requests that may be in flight.
     */
    int maxInFlight()
    {
        return maxInFlight;
    }

    /**
     * I/O thread: a request is about to be handed to the engine.
     */
    void published()
    {
        published++;
    }

    /**
     * I/O thread, before publishing a request: at the cap, marks the connection paused. The flag is written before
     * the count is read again, so an answer that came in between is either seen here or sees the flag.
     *
     * @return true when reading must pause until the reply thread resumes it.
     */
    boolean pauseIfFull()
    {
        if (published - answered < maxInFlight)
        {
            return false;
        }
        pausedForInFlight = true;
        if (published - answered < maxInFlight)
        {
            pausedForInFlight = false;
            return false;
        }
        return true;
    }

    /**
     * Reply thread, after an answer: counts it (a volatile write, before the flag is read), and schedules one resume
     * on the I/O thread when reading paused for in-flight and at most half the cap is left. While paused the I/O
     * thread publishes nothing, so {@code published} is the value it wrote before the flag.
     */
    void answered()
    {
        answered = answered + 1;
        if (pausedForInFlight && published - answered <= maxInFlight >> 1 && resumeScheduled.compareAndSet(false, true))
        {
            channel.eventLoop().execute(resumeTask);
        }
    }
}
