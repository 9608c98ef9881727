package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ParameterizedClass
@EnumSource(Threading.class)
class LedgerRuntimeTest
{
    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    private final LedgerConfig ledgerConfig = new LedgerConfig().dedupeWindowCount(100_000);

    private LedgerRuntime start(final Durability durability) throws Exception
    {
        return LedgerRuntime.start(
            new LedgerRuntime.Settings(new DataDir(dir), durability, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig).threading(threading));
    }

    private static void randomWorkload(final LedgerEngine engine, final long seed, final int count) throws Exception
    {
        final Random random = new Random(seed);
        final CountDownLatch done = new CountDownLatch(count);
        final ResultListener listener = (correlationId, arrivalNanos, command, result) -> done.countDown();
        final Command command = new Command();
        for (int i = 1; i <= count; i++)
        {
            final long user = 1 + random.nextInt(100);
            switch (random.nextInt(6))
            {
                case 0 -> command.reset().op(Op.CREDIT).userId(user).amount(1 + random.nextInt(1_000));
                case 1 -> command.reset().op(Op.GRANT).userId(user).serviceId(1).amount(random.nextInt(50))
                    .period(Period.DAY);
                case 2 -> command.reset().op(Op.RESERVE).userId(user).serviceId(1).amount(1 + random.nextInt(40))
                    .ttlMillis(60_000);
                case 3 -> command.reset().op(Op.SETTLE).holdId(seed, i - 1 - random.nextInt(10))
                    .amount(random.nextInt(50));
                default -> command.reset().op(Op.DEDUCT).userId(user).serviceId(1).amount(1 + random.nextInt(30));
            }
            engine.submit(command.requestId(seed, i), listener, i);
        }
        assertTrue(done.await(30, TimeUnit.SECONDS));
    }

    private static long checksumAfterClose(final LedgerRuntime runtime)
    {
        runtime.close();
        return runtime.engine().ledgerAfterClose().checksum();
    }

    @Test
    void shouldRecoverTheSameStateFromTheJournalAfterARestart() throws Exception
    {
        final LedgerRuntime first = start(Durability.PROCESS);
        randomWorkload(first.engine(), 1, 20_000);
        final long before = checksumAfterClose(first);

        final LedgerRuntime second = start(Durability.PROCESS);
        assertNull(second.recovery().snapshot());
        assertTrue(second.recovery().replayed() > 20_000 / 2);
        // a retry after the restart is still a duplicate
        final Result retried = second.engine().execute(new Command().op(Op.CREDIT).requestId(9, 9).userId(5)
            .amount(10), 5, TimeUnit.SECONDS);
        assertEquals(ResultCode.OK, retried.code());
        assertTrue(second.engine().execute(new Command().op(Op.CREDIT).requestId(9, 9).userId(5).amount(10), 5,
            TimeUnit.SECONDS).duplicate());
        second.close();

        final LedgerRuntime third = start(Durability.FSYNC);
        final long after = checksumAfterClose(third);
        assertTrue(after != before, "the credit of the second run is in the journal too");
        final LedgerRuntime fourth = start(Durability.FSYNC);
        assertEquals(after, checksumAfterClose(fourth));
    }

    @Test
    void shouldStartFromTheNewestSnapshotAndReplayOnlyWhatFollows() throws Exception
    {
        final LedgerRuntime first = start(Durability.PROCESS);
        randomWorkload(first.engine(), 2, 10_000);
        final Snapshotter.Snapshot snapshot = first.snapshotter().snapshot().get(30, TimeUnit.SECONDS);
        assertNotNull(snapshot);
        randomWorkload(first.engine(), 3, 5_000);
        final long before = checksumAfterClose(first);

        final LedgerRuntime second = start(Durability.PROCESS);
        assertNotNull(second.recovery().snapshot());
        assertEquals(snapshot.sequence(), second.recovery().snapshot().sequence());
        assertEquals(second.recovery().lastSequence() - snapshot.sequence(), second.recovery().replayed());
        assertEquals(before, checksumAfterClose(second));
    }
}
