package io.quotaledger.bench.compare;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every pipelined system (the ledger, Redis) is loaded alike: the closed loop keeps exactly the requests in flight
 * per connection it says it does, the open loop spreads its requests over the connections, and a failing system
 * ends the run instead of spinning.
 */
class PipelinedContenderTest
{
    private static final long MILLIS = 1_000_000L;

    @Test
    void shouldKeepTheSameRequestsInFlightOnEveryConnection() throws Exception
    {
        final FakeSystem system = new FakeSystem(2, 10); // answers nothing before all 10 chains have sent
        final Phase phase = phase(10, 0);

        final Measurement m = system.closedLoop(phase);
        system.stop();

        assertEquals(5, system.maxInFlight.get(0), "chains 0, 2, 4, 6, 8");
        assertEquals(5, system.maxInFlight.get(1), "chains 1, 3, 5, 7, 9");
        assertTrue(system.sent.get(0) > 5 && system.sent.get(1) > 5, "each answer sends its chain's next request");
        assertEquals(0, m.errors());
        final Driving driving = system.driving(10);
        assertEquals(2, driving.connections());
        assertEquals("5", driving.perConnection());
        assertTrue(driving.pipelined());
        assertEquals("33-34", new Driving("x", 3, 100, true, "").perConnection());
    }

    @Test
    void shouldSpreadTheOpenLoopOverTheConnectionsInTurn() throws Exception
    {
        final FakeSystem system = new FakeSystem(3, 0);
        final Phase phase = phase(10, 2_000);

        system.openLoop(phase);
        system.stop();

        final long total = system.sent.get(0) + system.sent.get(1) + system.sent.get(2);
        assertTrue(total > 0);
        for (int c = 0; c < 3; c++)
        {
            assertTrue(Math.abs(system.sent.get(c) - total / 3.0) <= 1, "round robin: " + system.sent);
        }
    }

    @Test
    void shouldEndAChainAtItsFirstErrorRatherThanSpin() throws Exception
    {
        final FakeSystem system = new FakeSystem(2, 0);
        system.failing = true; // answers at once, on the caller's stack, with an error
        final Phase phase = phase(4, 0);

        system.closedLoop(phase);
        system.stop();

        assertEquals(4, system.sent.get(0) + system.sent.get(1), "one request per chain, then the chain ends");
        assertEquals(4, phase.tally.errors(), "every error counted");
    }

    /** A measured window from now for 300 ms: the loops' own timing, no assertion on it. */
    private static Phase phase(final int concurrency, final double rate)
    {
        final Scenario scenario = Scenario.thousandUsers(1);
        return new Phase(scenario, new Tally(scenario.users()), concurrency, rate, 0, 300 * MILLIS);
    }

    /** Answers on a thread of its own, as a client's I/O thread would, once {@code holdUntil} requests were sent. */
    private static final class FakeSystem extends PipelinedContender
    {
        final AtomicIntegerArray inFlight;
        final AtomicIntegerArray maxInFlight;
        final AtomicLongArray sent;
        final LinkedBlockingQueue<Runnable> answers = new LinkedBlockingQueue<>();
        final CountDownLatch held;
        final Thread responder;
        volatile boolean failing;

        FakeSystem(final int connections, final int holdUntil)
        {
            super(connections);
            inFlight = new AtomicIntegerArray(connections);
            maxInFlight = new AtomicIntegerArray(connections);
            sent = new AtomicLongArray(connections);
            held = new CountDownLatch(holdUntil);
            responder = new Thread(() ->
            {
                try
                {
                    held.await();
                    while (true)
                    {
                        answers.take().run();
                    }
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
            }, "fake-io");
            responder.setDaemon(true);
            responder.start();
        }

        @Override
        protected void deduct(final int connection, final long userId, final long virtualKeyId, final Answer answer)
        {
            sent.incrementAndGet(connection);
            if (failing)
            {
                answer.answered(Tally.ERROR, System.nanoTime());
                return;
            }
            final int now = inFlight.incrementAndGet(connection);
            maxInFlight.accumulateAndGet(connection, now, Math::max);
            answers.add(() ->
            {
                inFlight.decrementAndGet(connection);
                answer.answered(Tally.OK, System.nanoTime());
            });
            held.countDown();
        }

        void stop() throws InterruptedException
        {
            responder.interrupt();
            responder.join(TimeUnit.SECONDS.toMillis(10));
        }

        @Override
        protected String client()
        {
            return "fake";
        }

        @Override
        public String name()
        {
            return "fake";
        }

        @Override
        public List<String> settings()
        {
            return List.of();
        }

        @Override
        public void start()
        {
        }

        @Override
        public void populate(final Scenario scenario)
        {
        }

        @Override
        public State read(final Scenario scenario)
        {
            return State.of(scenario);
        }

        @Override
        public void close()
        {
        }
    }
}
