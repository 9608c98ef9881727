package io.quotaledger.bench.compare;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A system reached the way the ledger's client reaches the ledger: a few connections, each carrying many requests at
 * a time (pipelined), answers handled on the client's I/O threads. One copy of the driving for every such system, so
 * that they are loaded alike.
 *
 * <p>Closed loop: {@code concurrency} chains spread evenly over the connections (chain {@code i} on connection
 * {@code i % connections}); each answer sends its chain's next request, and an error ends the chain. Open loop: each request leaves at its due
 * time on the next connection in turn, however many are still unanswered.
 */
abstract class PipelinedContender implements Contender
{
    /** The outcome of one request: {@link Tally#OK}, {@link Tally#REJECTED} or {@link Tally#ERROR}. */
    interface Answer
    {
        void answered(int outcome, long answeredAtNanos);
    }

    /** Connections the requests are spread over. */
    protected final int connections;

    PipelinedContender(final int connections)
    {
        this.connections = connections;
    }

    /**
     * Sends a DEDUCT of {@link Scenario#AMOUNT} for {@code userId}, through its virtual key {@code virtualKeyId}
     * unless that is 0, on connection {@code connection} and returns without waiting; {@code answer} is told once, on
     * whatever thread the answer (or the failure) arrives.
     */
    protected abstract void deduct(int connection, long userId, long virtualKeyId, Answer answer);

    /** The client library, its version and how it is used, for the report. */
    protected abstract String client();

    @Override
    public Driving driving(final int concurrency)
    {
        return new Driving(client(), Math.min(connections, concurrency), concurrency, true,
            "each request sent at its due time on the next connection in turn, however many are unanswered");
    }

    @Override
    public Measurement closedLoop(final Phase phase) throws Exception
    {
        final CountDownLatch done = new CountDownLatch(phase.concurrency);
        for (int i = 0; i < phase.concurrency; i++)
        {
            sendClosed(phase, i % connections, done);
        }
        if (!done.await(phase.end - System.nanoTime() + Phase.DRAIN_NANOS, TimeUnit.NANOSECONDS))
        {
            throw new IOException("requests still unanswered " + Phase.DRAIN_NANOS / 1_000_000_000 +
                " s after the run");
        }
        return phase.result("closed");
    }

    @Override
    public Measurement openLoop(final Phase phase) throws Exception
    {
        final AtomicLong outstanding = new AtomicLong();
        int next = 0;
        while (true)
        {
            final long k = phase.nextRequest();
            final long due = phase.dueTime(k);
            if (due >= phase.end)
            {
                break;
            }
            long now = System.nanoTime();
            while (now < due)
            {
                LockSupport.parkNanos(due - now);
                now = System.nanoTime();
            }
            final int target = phase.send(k);
            final Scenario scenario = phase.scenario;
            outstanding.incrementAndGet();
            deduct(next++ % connections, scenario.userIdOfTarget(target), scenario.keyIdOfTarget(target),
                (outcome, answeredAt) ->
            {
                phase.answered(target, outcome, due, answeredAt);
                outstanding.decrementAndGet();
            });
        }
        final long deadline = System.nanoTime() + Phase.DRAIN_NANOS;
        while (outstanding.get() > 0)
        {
            if (System.nanoTime() > deadline)
            {
                throw new IOException(outstanding.get() + " requests still unanswered " +
                    Phase.DRAIN_NANOS / 1_000_000_000 + " s after the run");
            }
            Thread.sleep(1);
        }
        return phase.result("open");
    }

    private void sendClosed(final Phase phase, final int connection, final CountDownLatch done)
    {
        if (System.nanoTime() >= phase.end)
        {
            done.countDown();
            return;
        }
        final int target = phase.send(phase.nextRequest());
        final Scenario scenario = phase.scenario;
        final long started = System.nanoTime();
        deduct(connection, scenario.userIdOfTarget(target), scenario.keyIdOfTarget(target), (outcome, answeredAt) ->
        {
            phase.answered(target, outcome, started, answeredAt);
            if (outcome == Tally.ERROR)
            {
                done.countDown(); // a chain ends at its first error (already a failed check), not in a tight loop
                return;
            }
            sendClosed(phase, connection, done); // on the client's I/O thread: the next request of this chain
        });
    }
}
