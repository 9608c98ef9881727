package io.quotaledger.bench.compare;

import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * One timed run against one system: a warm-up, then the measured window. Requests are numbered from 0 (the number
 * picks the user from the scenario's sequence); answers are told to {@link #answered}, which keeps the tally for every
 * answer and the latency and counts for those whose request started inside the window.
 *
 * <p>Closed loop: {@code concurrency} requests are always in flight; each latency runs from send to answer, and the
 * answers that arrive in the window count.
 * Open loop: request {@code k} is due at {@code start + k / rate} whether or not earlier ones were answered, and its
 * latency runs from that due time, so a stall is charged to every request it delayed (coordinated omission
 * corrected).
 */
final class Phase
{
    /** Latencies above this are recorded as this (one minute). */
    static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(60);
    /** After the window, how long stragglers may take before they count as errors. */
    static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(15);

    final Scenario scenario;
    final Tally tally;
    final int concurrency;
    /** Requests per second offered, 0 for the closed loop. */
    final double rate;
    final long start;
    final long measureFrom;
    final long end;

    private final AtomicLong next = new AtomicLong();
    private final ConcurrentHistogram latency = new ConcurrentHistogram(HIGHEST_NANOS, 3);
    private final LongAdder ok = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder late = new LongAdder();
    private final LongAdder arrived = new LongAdder();

    Phase(final Scenario scenario, final Tally tally, final int concurrency, final double rate,
        final long warmupNanos, final long durationNanos)
    {
        this.scenario = scenario;
        this.tally = tally;
        this.concurrency = concurrency;
        this.rate = rate;
        this.start = System.nanoTime();
        this.measureFrom = start + warmupNanos;
        this.end = measureFrom + durationNanos;
    }

    boolean openLoop()
    {
        return rate > 0;
    }

    /**
     * @return the number of the next request to send.
     */
    long nextRequest()
    {
        return next.getAndIncrement();
    }

    /**
     * @return when request {@code k} is due in the open loop.
     */
    long dueTime(final long k)
    {
        return start + (long)(k * 1e9 / rate);
    }

    /**
     * The target (user or virtual key) a request goes to; counts it as sent.
     */
    int send(final long k)
    {
        final int target = scenario.targetOf(k);
        tally.sent(target);
        return target;
    }

    /**
     * @param started when the request was sent (closed loop) or due (open loop).
     */
    void answered(final int target, final int outcome, final long started, final long now)
    {
        tally.answered(target, outcome);
        // the closed loop counts answers that arrive in the window (a queue of requests stuck on one row lock may
        // take longer than the window to come through); the open loop counts requests due in it
        if (now >= measureFrom && now < end)
        {
            arrived.increment(); // by arrival: an open loop that keeps up answers as fast as it is asked
        }
        final long at = openLoop() ? started : now;
        if (at < measureFrom || at >= end)
        {
            return;
        }
        latency.recordValue(Math.min(now - started, HIGHEST_NANOS));
        if (outcome == Tally.OK)
        {
            ok.increment();
        }
        else if (Tally.refusal(outcome))
        {
            rejected.increment();
        }
        else
        {
            errors.increment();
        }
    }

    /**
     * An open-loop request that was due but never sent because the run was over (the system was far behind).
     */
    void dropped(final long due)
    {
        if (due >= measureFrom && due < end)
        {
            late.increment();
        }
    }

    Measurement result(final String mode)
    {
        final double seconds = (end - measureFrom) / 1e9;
        final Histogram copy = latency.copy();
        return new Measurement(mode, rate, concurrency, seconds, ok.sum(), rejected.sum(), errors.sum(), late.sum(),
            arrived.sum(), copy);
    }
}
