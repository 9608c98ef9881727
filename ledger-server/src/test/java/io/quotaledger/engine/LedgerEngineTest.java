package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import org.agrona.concurrent.CachedEpochClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ParameterizedClass
@EnumSource(Threading.class)
class LedgerEngineTest
{
    private static final long USER = 42;
    private static final int SERVICE = 7;
    private static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z

    @Parameter
    Threading threading;

    private final CachedEpochClock clock = new CachedEpochClock();
    private final AtomicLong ids = new AtomicLong(1);
    private LedgerEngine engine;

    @AfterEach
    void close()
    {
        if (engine != null)
        {
            engine.close();
        }
    }

    private LedgerEngine start(final EngineConfig config)
    {
        clock.update(T0);
        engine = LedgerEngine.start(config.clock(clock).threading(threading));
        return engine;
    }

    private Result execute(final Command command) throws Exception
    {
        return engine.execute(command, 10, TimeUnit.SECONDS);
    }

    private Command credit(final long user, final long amount)
    {
        return new Command().op(Op.CREDIT).requestId(1, ids.getAndIncrement()).userId(user).amount(amount);
    }

    private static Command deduct(final long requestId, final long user, final long amount)
    {
        return new Command().op(Op.DEDUCT).requestId(2, requestId).userId(user).serviceId(SERVICE).amount(amount);
    }

    private Result query(final long user) throws Exception
    {
        return execute(new Command().op(Op.QUERY).userId(user).serviceId(SERVICE));
    }

    @Test
    void shouldNeverOverdrawAHotUserUnderConcurrentProducers() throws Exception
    {
        start(new EngineConfig().ringSize(1024));
        assertEquals(ResultCode.OK, execute(credit(USER, 10_000)).code());

        final int threads = 8;
        final int perThread = 5_000;
        final AtomicInteger accepted = new AtomicInteger();
        final AtomicInteger refused = new AtomicInteger();
        final CountDownLatch done = new CountDownLatch(threads * perThread);
        final ResultListener listener = (correlationId, arrivalNanos, command, result) ->
        {
            if (result.code() == ResultCode.OK)
            {
                accepted.incrementAndGet();
            }
            else if (result.code() == ResultCode.INSUFFICIENT_FUNDS)
            {
                refused.incrementAndGet();
            }
            done.countDown();
        };
        final List<Thread> producers = new ArrayList<>();
        for (int t = 0; t < threads; t++)
        {
            final int thread = t;
            producers.add(new Thread(() ->
            {
                final Command command = new Command();
                for (int i = 0; i < perThread; i++)
                {
                    command.reset().op(Op.DEDUCT).requestId(100 + thread, i + 1).userId(USER).serviceId(SERVICE)
                        .amount(1);
                    engine.submit(command, listener, i);
                }
            }));
        }
        producers.forEach(Thread::start);
        assertTrue(done.await(30, TimeUnit.SECONDS), "all results arrive");

        assertEquals(10_000, accepted.get());
        assertEquals(threads * perThread - 10_000, refused.get());
        assertEquals(0, query(USER).balance(), "drained to zero, never below");
        assertEquals(0, engine.internalErrors());
    }

    @Test
    void shouldApplyEachRequestIdOnceWhenRetriedFromManyThreads() throws Exception
    {
        start(new EngineConfig());
        assertEquals(ResultCode.OK, execute(credit(USER, 1_000_000)).code());

        final int requests = 10_000;
        final int threads = 4;
        final ConcurrentHashMap<Long, Integer> applied = new ConcurrentHashMap<>();
        final AtomicInteger duplicates = new AtomicInteger();
        final AtomicInteger wrongCorrelation = new AtomicInteger();
        final CountDownLatch done = new CountDownLatch(requests * threads);
        final ResultListener listener = (correlationId, arrivalNanos, command, result) ->
        {
            if (correlationId != command.requestIdLo())
            {
                wrongCorrelation.incrementAndGet();
            }
            if (result.code() == ResultCode.OK)
            {
                if (result.duplicate())
                {
                    duplicates.incrementAndGet();
                }
                else
                {
                    applied.merge(command.requestIdLo(), 1, Integer::sum);
                }
            }
            done.countDown();
        };
        final List<Thread> producers = new ArrayList<>();
        for (int t = 0; t < threads; t++)
        {
            producers.add(new Thread(() ->
            {
                final Command command = new Command();
                for (int i = 1; i <= requests; i++)
                {
                    command.reset().op(Op.DEDUCT).requestId(77, i).userId(USER).serviceId(SERVICE).amount(3);
                    engine.submit(command, listener, i);
                }
            }));
        }
        producers.forEach(Thread::start);
        assertTrue(done.await(30, TimeUnit.SECONDS));

        assertEquals(0, wrongCorrelation.get(), "each result carries its own correlation id");
        assertEquals(requests, applied.size());
        assertTrue(applied.values().stream().allMatch(n -> n == 1), "each id applied exactly once");
        assertEquals(requests * (threads - 1), duplicates.get());
        assertEquals(1_000_000 - 3L * requests, query(USER).balance());
    }

    @Test
    void shouldExpireHoldsWhenNoTrafficArrives() throws Exception
    {
        final OutcomeRecorder recorder = new OutcomeRecorder();
        start(new EngineConfig().tickIntervalMillis(1).addStage(recorder));
        execute(credit(USER, 1_000));
        final int holds = 500; // more than one tick expires, so the backlog path runs too
        for (int i = 1; i <= holds; i++)
        {
            final Result reserved = execute(new Command().op(Op.RESERVE).requestId(5, i).userId(USER)
                .serviceId(SERVICE).amount(2).ttlMillis(1_000));
            assertEquals(ResultCode.OK, reserved.code());
        }
        assertEquals(holds * 2L, query(USER).held());

        clock.advance(1_000);
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Result state = query(USER);
        while (state.held() != 0 && System.nanoTime() < deadline)
        {
            Thread.sleep(5);
            state = query(USER);
        }
        assertEquals(0, state.held(), "every hold expired without any client traffic");
        assertEquals(1_000, state.balance());

        engine.close();
        final AtomicInteger expired = new AtomicInteger();
        recorder.forEach(o -> expired.addAndGet(o.type() == OutcomeType.HOLD_EXPIRED ? 1 : 0));
        assertEquals(holds, expired.get());
    }

    @Test
    void shouldRebuildTheSameStateFromRecordedOutcomes() throws Exception
    {
        final OutcomeRecorder recorder = new OutcomeRecorder();
        final LedgerConfig ledgerConfig = new LedgerConfig().dedupeWindowCount(50_000);
        start(new EngineConfig().ledger(ledgerConfig).addStage(recorder));
        final Random random = new Random(7);
        final CountDownLatch done = new CountDownLatch(20_000);
        final ResultListener listener = (correlationId, arrivalNanos, command, result) -> done.countDown();
        final Command command = new Command();
        for (int i = 1; i <= 20_000; i++)
        {
            final long user = 1 + random.nextInt(50);
            switch (random.nextInt(6))
            {
                case 0 -> command.reset().op(Op.CREDIT).userId(user).amount(1 + random.nextInt(500));
                case 1 -> command.reset().op(Op.GRANT).userId(user).serviceId(SERVICE).amount(random.nextInt(100))
                    .period(Period.DAY);
                case 2 -> command.reset().op(Op.RESERVE).userId(user).serviceId(SERVICE)
                    .amount(1 + random.nextInt(50)).ttlMillis(1 + random.nextInt(50));
                case 3 -> command.reset().op(Op.SETTLE).holdId(3, i - 1 - random.nextInt(20))
                    .amount(random.nextInt(60));
                default -> command.reset().op(Op.DEDUCT).userId(user).serviceId(SERVICE).amount(1 + random.nextInt(80));
            }
            command.requestId(3, i);
            engine.submit(command, listener, i);
            if (i % 100 == 0)
            {
                clock.advance(random.nextInt(20));
            }
        }
        assertTrue(done.await(30, TimeUnit.SECONDS));
        engine.close();

        final Ledger replayed = new Ledger(ledgerConfig, OutcomeSink.NONE);
        recorder.forEach(replayed::apply);
        final Ledger live = engine.ledgerAfterClose();
        assertEquals(live.checksum(), replayed.checksum());
        assertEquals(live.accountCount(), replayed.accountCount());
        assertEquals(live.openHoldCount(), replayed.openHoldCount());
    }

    @Test
    void shouldKeepGoingWhenAStageFails() throws Exception
    {
        final AtomicInteger seen = new AtomicInteger();
        start(new EngineConfig().addStage((event, sequence, endOfBatch) ->
        {
            if (seen.incrementAndGet() == 2)
            {
                throw new IllegalStateException("test: stage failure");
            }
        }));
        for (int i = 0; i < 5; i++)
        {
            assertEquals(ResultCode.OK, execute(credit(USER, 10)).code());
        }
        assertEquals(50, query(USER).balance());
        assertEquals(1, engine.stageErrors());
    }

    @Test
    void shouldRefuseToSubmitWhenTheRingIsFullAndDrainAfterwards() throws Exception
    {
        final CountDownLatch gate = new CountDownLatch(1);
        start(new EngineConfig().ringSize(4).addStage((event, sequence, endOfBatch) -> gate.await()));
        final AtomicInteger results = new AtomicInteger();
        final ResultListener listener = (correlationId, arrivalNanos, command, result) -> results.incrementAndGet();
        int submitted = 0;
        while (engine.trySubmit(credit(USER, 1), listener, submitted))
        {
            submitted++;
            assertTrue(submitted <= 4, "never more in flight than the ring holds");
        }
        assertEquals(4, submitted);
        assertFalse(engine.trySubmit(credit(USER, 1), listener, 99));

        gate.countDown();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (results.get() < submitted && System.nanoTime() < deadline)
        {
            Thread.sleep(1);
        }
        assertEquals(submitted, results.get());
        assertTrue(engine.trySubmit(credit(USER, 1), listener, 100));
    }

    @Test
    void shouldRejectSubmissionsAfterClose()
    {
        start(new EngineConfig());
        engine.close();
        assertThrows(IllegalStateException.class, () -> engine.submit(credit(USER, 1), (c, a, cmd, r) -> {}, 0));
    }

    @Test
    void shouldStampCommandsWithMonotonicTime() throws Exception
    {
        final List<Long> stamps = new ArrayList<>();
        start(new EngineConfig().addStage((event, sequence, endOfBatch) ->
            stamps.add(event.command().timestamp())));
        execute(credit(USER, 1));
        clock.update(T0 - 60_000); // the wall clock steps back
        execute(credit(USER, 1));
        clock.update(T0 + 5);
        execute(credit(USER, 1));
        engine.close();
        assertEquals(List.of(T0, T0, T0 + 5), stamps);
    }
}
