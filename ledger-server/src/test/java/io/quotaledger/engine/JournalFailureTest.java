package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * When the journal fails, nothing more is acknowledged: every later result is UNAVAILABLE, and a restart recovers
 * exactly what was journaled before the failure.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class JournalFailureTest
{
    private static final int USERS = 20;
    private static final long CREDIT = 1_000_000;

    @Parameter
    Threading threading;

    @TempDir
    Path temp;

    private final LedgerConfig ledgerConfig = new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(256);

    private LedgerRuntime start(final DataDir dir) throws Exception
    {
        return LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig).threading(threading));
    }

    /**
     * Requests with id (batch, i): one CREDIT per user in batch 1, DEDUCTs after.
     */
    private static List<Command> requests(final int batch, final int count)
    {
        final List<Command> requests = new ArrayList<>();
        for (int i = 0; i < count; i++)
        {
            final Command command = new Command().requestId(batch, i);
            if (batch == 1 && i < USERS)
            {
                requests.add(command.op(Op.CREDIT).userId(i + 1).amount(CREDIT));
            }
            else
            {
                requests.add(command.op(Op.DEDUCT).userId(1 + i % USERS).serviceId(1).amount(1 + i % 7));
            }
        }
        return requests;
    }

    /**
     * Sends every request from two threads and waits for all results.
     */
    private static Result[] submitAll(final LedgerEngine engine, final List<Command> requests) throws Exception
    {
        final Result[] results = new Result[requests.size()];
        final CountDownLatch done = new CountDownLatch(requests.size());
        final ResultListener listener = (correlationId, arrivalNanos, command, result) ->
        {
            results[(int)correlationId] = new Result().copyFrom(result);
            done.countDown();
        };
        final Thread[] producers = new Thread[2];
        for (int p = 0; p < producers.length; p++)
        {
            final int first = p;
            producers[p] = new Thread(() ->
            {
                for (int i = first; i < requests.size(); i += producers.length)
                {
                    engine.submit(requests.get(i), listener, i);
                }
            });
            producers[p].start();
        }
        for (final Thread producer : producers)
        {
            producer.join();
        }
        assertTrue(done.await(30, TimeUnit.SECONDS), "results missing");
        return results;
    }

    private static long balance(final LedgerEngine engine, final long user) throws Exception
    {
        return engine.execute(new Command().op(Op.QUERY).userId(user), 5, TimeUnit.SECONDS).balance();
    }

    @Test
    void shouldAnswerUnavailableOnceTheJournalFailsAndRecoverOnlyWhatWasJournaled() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("data"));
        final List<Command> before = requests(1, 5_000);
        final List<Command> after = requests(2, 5_000);
        final long journaled;

        final LedgerRuntime runtime = start(dir);
        try
        {
            for (final Result result : submitAll(runtime.engine(), before))
            {
                assertEquals(ResultCode.OK, result.code());
            }
            journaled = runtime.journal().lastSequence();
            assertEquals(before.size(), journaled, "one outcome per accepted request");
            assertNull(runtime.journal().failure());

            // the journal goes away underneath the running engine (idle now, so no write is cut in half)
            runtime.journal().appender().close();

            final List<Command> mixed = new ArrayList<>(after);
            mixed.addAll(before.subList(0, 100)); // retries of acknowledged requests are not acknowledged either
            for (final Result result : submitAll(runtime.engine(), mixed))
            {
                assertEquals(ResultCode.UNAVAILABLE, result.code(), "acknowledged without a journal: " + result);
            }
            assertNotNull(runtime.journal().failure());
            assertEquals(journaled, runtime.journal().lastSequence());
            assertEquals(ResultCode.UNAVAILABLE, runtime.engine().execute(
                new Command().op(Op.CREDIT).requestId(3, 1).userId(1).amount(1), 5, TimeUnit.SECONDS).code(),
                "the failure is for good, not for one batch");
            assertEquals(0, runtime.engine().internalErrors());
            assertEquals(0, runtime.engine().stageErrors(), "the journal stage handles its own failure");
        }
        finally
        {
            runtime.close();
        }

        try (JournalReader reader = JournalReader.open(dir))
        {
            assertEquals(journaled, reader.lastSequence());
        }
        try (LedgerRuntime restarted = start(dir))
        {
            assertEquals(journaled, restarted.recovery().lastSequence());
            assertNull(restarted.recovery().tornTail());
            for (final Result result : submitAll(restarted.engine(), before))
            {
                assertEquals(ResultCode.OK, result.code());
                assertTrue(result.duplicate(), "acknowledged before the failure, so journaled");
            }
            for (final Result result : submitAll(restarted.engine(), after))
            {
                assertEquals(ResultCode.OK, result.code());
                assertFalse(result.duplicate(), "answered UNAVAILABLE, so never journaled: applied now, once");
            }
            final long[] expected = new long[USERS + 1];
            for (final List<Command> requests : List.of(before, after))
            {
                for (final Command command : requests)
                {
                    expected[(int)command.userId()] += command.op() == Op.CREDIT ? command.amount() : -command.amount();
                }
            }
            for (int user = 1; user <= USERS; user++)
            {
                assertEquals(expected[user], balance(restarted.engine(), user), "user " + user);
            }
        }
    }

    @Test
    void shouldAnswerUnavailableWhenTheJournalRefusesAnAppend() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("gap"));
        // the engine numbers outcomes from 11, the journal expects 1: the first append throws
        final JournalStage journal = new JournalStage(
            JournalAppender.open(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0));
        final LedgerEngine engine = LedgerEngine.start(new EngineConfig().ledger(ledgerConfig).threading(threading)
            .lastSequence(10).addStage(journal));
        try
        {
            for (final Result result : submitAll(engine, requests(1, 1_000)))
            {
                assertEquals(ResultCode.UNAVAILABLE, result.code());
            }
            assertNotNull(journal.failure());
            assertTrue(journal.failure().contains("expected sequence 1"), journal.failure());
            assertEquals(0, journal.lastSequence());
        }
        finally
        {
            engine.close();
            journal.close();
        }
        try (JournalReader reader = JournalReader.open(dir))
        {
            assertEquals(0, reader.read(0, (sequence, outcome) -> true).outcomes(), "nothing was journaled");
        }
    }
}
