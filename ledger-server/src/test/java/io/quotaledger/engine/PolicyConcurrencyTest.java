package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Many gateway threads on one virtual key at once, the race that LiteLLM's and new-api's separate check-then-spend
 * steps lose: never more charged than the key's budget, never more holds open than its cap. The order of what
 * happened is read back from the journal, not guessed from the threads' own view.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class PolicyConcurrencyTest
{
    private static final int THREADS = 8;
    private static final long USER = 7;
    private static final long KEY = 70;
    private static final int SERVICE = 1;

    @Parameter
    Threading threading;

    @TempDir
    Path temp;

    private final AtomicLong ids = new AtomicLong();
    private DataDir dir;
    private JournalStage journal;
    private LedgerEngine engine;

    @BeforeEach
    void start() throws Exception
    {
        dir = new DataDir(temp.resolve("data"));
        journal = new JournalStage(JournalAppender.open(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0));
        engine = LedgerEngine.start(new EngineConfig()
            .ledger(new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(16))
            .threading(threading)
            .addStage(journal)
            .acceptingChanges(journal::acceptingChanges));
        assertOk(execute(newRequest(Op.CREDIT).userId(USER).amount(1_000_000_000L)));
    }

    @AfterEach
    void stop()
    {
        engine.close();
        journal.close();
    }

    @Test
    void shouldNeverChargeABudgetTwiceOver() throws Exception
    {
        final long budget = 10_000;
        final long amount = 7;
        assertOk(execute(newRequest(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(budget)));

        final ConcurrentHashMap<ResultCode, AtomicLong> codes = race(400, (thread, counts) ->
            newRequest(Op.DEDUCT).userId(USER).serviceId(SERVICE).virtualKeyId(KEY).amount(amount));

        final long accepted = count(codes, ResultCode.OK);
        assertEquals(budget / amount, accepted, codes.toString());
        assertEquals(THREADS * 400L - accepted, count(codes, ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED), codes.toString());
        final Result key = execute(new Command().op(Op.QUERY).userId(USER).virtualKeyId(KEY));
        assertEquals(accepted * amount, key.keySpent());
        assertEquals(budget - accepted * amount, key.keyBudgetRemaining());
        assertEquals(1_000_000_000L - accepted * amount, key.balance());
    }

    @Test
    void shouldNeverHoldMoreThanTheCap() throws Exception
    {
        final int cap = 5;
        assertOk(execute(newRequest(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).unlimited(true)));
        assertOk(execute(newRequest(Op.SET_CONCURRENCY).userId(USER).virtualKeyId(KEY).amount(cap)));

        // each thread reserves and, when it got a hold, settles it: holds open and close all the time
        final ConcurrentHashMap<ResultCode, AtomicLong> codes = race(300, (thread, counts) ->
        {
            final Command reserve = newRequest(Op.RESERVE).userId(USER).serviceId(SERVICE).virtualKeyId(KEY)
                .amount(10).ttlMillis(60_000);
            final Result result = execute(reserve);
            counts.computeIfAbsent(result.code(), c -> new AtomicLong()).incrementAndGet();
            if (result.code() == ResultCode.OK)
            {
                assertOk(execute(newRequest(Op.SETTLE).holdId(reserve.requestIdHi(), reserve.requestIdLo()).amount(3)));
            }
            return null; // answered here already
        });

        assertTrue(count(codes, ResultCode.OK) > 0, codes.toString());
        assertTrue(count(codes, ResultCode.CONCURRENCY_LIMITED) > 0, "the cap was never reached: " + codes);
        final int[] state = new int[3]; // open now, most open at once, opened in all
        try (JournalReader reader = JournalReader.open(dir))
        {
            reader.read(0, (sequence, outcome) ->
            {
                if (outcome.type() == OutcomeType.HOLD_OPENED)
                {
                    state[0]++;
                    state[1] = Math.max(state[1], state[0]);
                    state[2]++;
                }
                else if (outcome.type() == OutcomeType.HOLD_SETTLED)
                {
                    state[0]--;
                }
                return true;
            });
        }
        assertEquals(0, state[0], "every hold was settled");
        assertTrue(state[1] <= cap, "holds open at once: " + state[1] + ", cap " + cap);
        assertEquals(count(codes, ResultCode.OK), state[2]);
        assertEquals(0, execute(new Command().op(Op.QUERY).userId(USER)).held());
    }

    /**
     * Every thread sends {@code perThread} requests from {@code request}, each waiting for its answer (a gateway
     * thread per API call), all starting at once.
     *
     * @param request makes a thread's next request, or sends it itself and returns null.
     */
    private ConcurrentHashMap<ResultCode, AtomicLong> race(final int perThread, final RequestSource request)
        throws Exception
    {
        final ConcurrentHashMap<ResultCode, AtomicLong> codes = new ConcurrentHashMap<>();
        final CyclicBarrier start = new CyclicBarrier(THREADS);
        final Thread[] threads = new Thread[THREADS];
        final Throwable[] failure = new Throwable[1];
        for (int t = 0; t < THREADS; t++)
        {
            final int thread = t;
            threads[t] = new Thread(() ->
            {
                try
                {
                    start.await();
                    for (int i = 0; i < perThread; i++)
                    {
                        final Command command = request.next(thread, codes);
                        if (command != null)
                        {
                            codes.computeIfAbsent(execute(command).code(), c -> new AtomicLong()).incrementAndGet();
                        }
                    }
                }
                catch (final Throwable ex)
                {
                    synchronized (failure)
                    {
                        failure[0] = ex;
                    }
                }
            }, "gateway-" + t);
            threads[t].start();
        }
        for (final Thread thread : threads)
        {
            thread.join(60_000);
        }
        synchronized (failure)
        {
            if (failure[0] != null)
            {
                throw new AssertionError("a gateway thread failed", failure[0]);
            }
        }
        return codes;
    }

    @FunctionalInterface
    private interface RequestSource
    {
        Command next(int thread, ConcurrentHashMap<ResultCode, AtomicLong> codes) throws Exception;
    }

    private Command newRequest(final Op op)
    {
        return new Command().op(op).requestId(0x5043L, ids.incrementAndGet());
    }

    private Result execute(final Command command) throws Exception
    {
        return engine.execute(command, 10, TimeUnit.SECONDS);
    }

    private static long count(final ConcurrentHashMap<ResultCode, AtomicLong> codes, final ResultCode code)
    {
        final AtomicLong n = codes.get(code);
        return n == null ? 0 : n.get();
    }

    private static void assertOk(final Result result)
    {
        assertEquals(ResultCode.OK, result.code(), result.toString());
    }
}
