package io.quotaledger.bench.compare;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * A system reached the way gateways reach a database or Redis: a pool of connections, each carrying one request at a
 * time, used by as many worker threads as the concurrency. In the open loop the workers take the due requests in
 * order, so a request waits for a free connection as it would in the gateway's pool, and that wait is part of its
 * latency.
 */
abstract class PooledContender implements Contender
{
    /** One connection, used by one thread at a time. */
    interface Session extends AutoCloseable
    {
        /**
         * Charges {@code amount} to the user, through its virtual key {@code virtualKeyId} unless that is 0.
         *
         * @return {@link Tally#OK}, or the refusal ({@link Tally#REJECTED}, {@link Tally#KEY_BUDGET},
         * {@link Tally#RATE_LIMITED}); throws on errors.
         */
        int deduct(long userId, long virtualKeyId, long amount) throws Exception;

        @Override
        void close() throws Exception;
    }

    protected abstract Session session() throws Exception;

    /** The client library, its version and how it is used, for the report. */
    protected abstract String client();

    @Override
    public Driving driving(final int concurrency)
    {
        return new Driving(client() + ", a worker thread per connection", concurrency, concurrency, false,
            "the worker threads take the requests in order, each at its due time, on their own connection: waiting " +
            "for a free one counts in the latency");
    }

    private final List<Session> prepared = new ArrayList<>();

    /** Opens the connections of the next phase, so that their set-up is not timed. */
    @Override
    public void prepare(final int concurrency) throws Exception
    {
        closeAll(prepared);
        for (int i = 0; i < concurrency; i++)
        {
            prepared.add(session());
        }
    }

    @Override
    public Measurement closedLoop(final Phase phase) throws Exception
    {
        run(phase, session -> closedWorker(phase, session));
        return phase.result("closed");
    }

    @Override
    public Measurement openLoop(final Phase phase) throws Exception
    {
        run(phase, session -> openWorker(phase, session));
        return phase.result("open");
    }

    private interface Worker
    {
        void work(Session session);
    }

    private void run(final Phase phase, final Worker worker) throws Exception
    {
        final List<Session> sessions = new ArrayList<>(prepared);
        prepared.clear();
        final List<Thread> threads = new ArrayList<>();
        try
        {
            while (sessions.size() < phase.concurrency)
            {
                sessions.add(session());
            }
            for (final Session session : sessions)
            {
                final Thread thread = new Thread(() -> worker.work(session), name() + "-worker");
                thread.setDaemon(true);
                threads.add(thread);
                thread.start();
            }
            for (final Thread thread : threads)
            {
                thread.join();
            }
        }
        finally
        {
            closeAll(sessions);
        }
    }

    private static void closeAll(final List<Session> sessions) throws Exception
    {
        for (final Session session : sessions)
        {
            session.close();
        }
        sessions.clear();
    }

    private static void closedWorker(final Phase phase, final Session session)
    {
        while (System.nanoTime() < phase.end)
        {
            final long k = phase.nextRequest();
            final int target = phase.send(k);
            final long started = System.nanoTime();
            final int outcome = call(phase, session, target);
            phase.answered(target, outcome, started, System.nanoTime());
        }
    }

    private static void openWorker(final Phase phase, final Session session)
    {
        while (true)
        {
            final long k = phase.nextRequest();
            final long due = phase.dueTime(k);
            if (due >= phase.end)
            {
                return;
            }
            long now = System.nanoTime();
            if (now > phase.end + Phase.DRAIN_NANOS)
            {
                phase.dropped(due); // hopelessly behind: stop, counting what was never sent
                continue;
            }
            while (now < due)
            {
                LockSupport.parkNanos(due - now);
                now = System.nanoTime();
            }
            final int target = phase.send(k);
            final int outcome = call(phase, session, target);
            phase.answered(target, outcome, due, System.nanoTime());
        }
    }

    private static int call(final Phase phase, final Session session, final int target)
    {
        final Scenario scenario = phase.scenario;
        try
        {
            return session.deduct(scenario.userIdOfTarget(target), scenario.keyIdOfTarget(target), Scenario.AMOUNT);
        }
        catch (final Exception ex)
        {
            return Tally.ERROR;
        }
    }
}
