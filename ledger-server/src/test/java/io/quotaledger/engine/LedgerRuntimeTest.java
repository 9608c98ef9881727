package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalCorruptedException;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.SnapshotStore;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

    private LedgerRuntime start(final long snapshotEvery, final boolean acceptJournalLoss) throws Exception
    {
        return LedgerRuntime.start(new LedgerRuntime.Settings(new DataDir(dir), Durability.PROCESS,
            Journals.rollCycle("daily"), snapshotEvery, 0, 2, 0, acceptJournalLoss),
            new EngineConfig().ledger(ledgerConfig));
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

    // up to commit f01836a periodic snapshots counted from 0 after a restart, so a ledger whose journal held more
    // than --snapshot-every outcomes took a snapshot about a second after every restart, however few were replayed
    @Test
    void shouldCountPeriodicSnapshotsFromTheSnapshotRecoveryStartedFrom() throws Exception
    {
        final LedgerRuntime first = start(Durability.PROCESS);
        randomWorkload(first.engine(), 5, 10_000);
        final long snapshot = first.snapshotter().snapshot().get(30, TimeUnit.SECONDS).sequence();
        randomWorkload(first.engine(), 6, 3_000);
        first.close();
        final long journaled = first.journal().lastSequence();
        final long every = journaled - snapshot + 2_000; // more than was replayed, less than the whole journal
        assertTrue(every < journaled);

        final LedgerRuntime second = start(every, false);
        try
        {
            assertEquals(snapshot, second.recovery().snapshot().sequence());
            assertEquals(snapshot, second.snapshotter().lastSnapshotSequence());
            assertFalse(second.snapshotter().due(second.journal().lastSequence(), every, 0, System.nanoTime()),
                "the replayed outcomes are fewer than --snapshot-every");
            assertTrue(second.snapshotter().due(snapshot + every, every, 0, System.nanoTime()));

            // and once that many have come, the periodic snapshot follows
            randomWorkload(second.engine(), 7, 3_000);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (second.snapshotter().lastSnapshotSequence() == snapshot && System.nanoTime() < deadline)
            {
                Thread.sleep(50);
            }
            assertTrue(second.snapshotter().lastSnapshotSequence() >= snapshot + every,
                "periodic snapshot at " + second.snapshotter().lastSnapshotSequence());
        }
        finally
        {
            second.close();
        }
    }

    @Test
    void shouldNotWriteOverTheSnapshotItStartedFromWhenNothingChanged() throws Exception
    {
        final LedgerRuntime first = start(Durability.PROCESS);
        randomWorkload(first.engine(), 16, 3_000);
        final Snapshotter.Snapshot taken = first.snapshotter().snapshot().get(30, TimeUnit.SECONDS);
        first.close();
        final byte[] before = Files.readAllBytes(taken.file());
        Files.setLastModifiedTime(taken.file(), FileTime.fromMillis(1_000_000));

        final LedgerRuntime second = start(Durability.PROCESS);
        try
        {
            final Snapshotter.Snapshot again = second.snapshotter().snapshot().get(30, TimeUnit.SECONDS);
            assertEquals(taken.file(), again.file());
            assertEquals(taken.sequence(), again.sequence());
            assertEquals(1_000_000, Files.getLastModifiedTime(taken.file()).toMillis(), "not written again");
            assertArrayEquals(before, Files.readAllBytes(taken.file()));
        }
        finally
        {
            second.close();
        }
    }

    // the snapshotter no longer loads each snapshot it writes (that took a second ledger's heap): a snapshot that does
    // not load back into its checksum is found at recovery, which must then find the one it started from before
    @Test
    void shouldFallBackToTheSnapshotItStartedFromWhenNewerOnesDoNotLoad() throws Exception
    {
        final LedgerRuntime first = start(Durability.PROCESS);
        randomWorkload(first.engine(), 11, 5_000);
        final long started = first.snapshotter().snapshot().get(30, TimeUnit.SECONDS).sequence();
        first.close();

        final LedgerRuntime second = start(Durability.PROCESS);
        assertEquals(started, second.recovery().snapshot().sequence());
        for (int i = 0; i < 3; i++)
        {
            randomWorkload(second.engine(), 12 + i, 2_000);
            assertNotNull(second.snapshotter().snapshot().get(30, TimeUnit.SECONDS));
        }
        final long before = checksumAfterClose(second);
        final SnapshotStore store = new SnapshotStore(new DataDir(dir));
        final List<SnapshotStore.Info> kept = store.list();
        assertEquals(3, kept.size(), "the 2 newest and the one it started from: " + kept);
        assertEquals(started, kept.get(2).sequence());

        // the newer two are intact files whose state does not match their checksum, as a snapshot bug would write
        for (final SnapshotStore.Info info : kept.subList(0, 2))
        {
            final byte[] file = Files.readAllBytes(info.path());
            final byte[] payload = Arrays.copyOfRange(file, file.length - (int)info.payloadLength(), file.length);
            store.write(info.sequence(), info.timestamp(), info.checksum() + 1, new UnsafeBuffer(payload),
                payload.length);
        }
        final LedgerRuntime third = start(Durability.PROCESS);
        assertEquals(started, third.recovery().snapshot().sequence());
        assertEquals(2, third.recovery().rejectedSnapshots().size(), third.recovery().rejectedSnapshots().toString());
        assertTrue(third.recovery().rejectedSnapshots().get(0).contains("state checksum"),
            third.recovery().rejectedSnapshots().toString());
        assertEquals(before, checksumAfterClose(third));
    }

    @Test
    void shouldStartFromWhatIsReadableOnlyWhenTheJournalLossIsAccepted() throws Exception
    {
        final LedgerRuntime first = start(Durability.PROCESS);
        randomWorkload(first.engine(), 8, 4_000);
        first.close();
        final long journaled = first.journal().lastSequence();
        final long checksum = first.engine().ledgerAfterClose().checksum();
        final Path copy = dir.resolve("journal-copy"); // inside the temporary folder, outside the journal
        copyTree(new DataDir(dir).journal(), copy);

        final LedgerRuntime second = start(Durability.PROCESS);
        randomWorkload(second.engine(), 9, 2_000);
        assertNotNull(second.snapshotter().snapshot().get(30, TimeUnit.SECONDS));
        second.close();
        // the journal is restored from the older copy: the snapshot proves it once reached further
        deleteTree(new DataDir(dir).journal());
        copyTree(copy, new DataDir(dir).journal());

        assertThrows(JournalCorruptedException.class, () -> start(0, false));
        final LedgerRuntime accepted = start(0, true);
        try
        {
            assertEquals(journaled, accepted.recovery().lastSequence());
            assertEquals(1, accepted.recovery().acceptedLoss().size());
            assertTrue(accepted.recovery().acceptedLoss().get(0).contains("beyond") ||
                accepted.recovery().acceptedLoss().get(0).contains("once reached further"),
                accepted.recovery().acceptedLoss().toString());
            assertEquals(ResultCode.OK, accepted.engine().execute(new Command().op(Op.CREDIT).requestId(10, 1)
                .userId(5).amount(10), 5, TimeUnit.SECONDS).code());
        }
        finally
        {
            accepted.close();
        }
        final long after = accepted.engine().ledgerAfterClose().checksum();
        assertTrue(after != checksum);
        final LedgerRuntime restarted = start(0, false); // the accepted loss needs no word again
        assertTrue(restarted.recovery().acceptedLoss().isEmpty());
        assertEquals(journaled + 1, restarted.recovery().lastSequence());
        assertEquals(after, checksumAfterClose(restarted));
    }

    private static void copyTree(final Path from, final Path to) throws IOException
    {
        try (Stream<Path> files = Files.walk(from))
        {
            for (final Path file : (Iterable<Path>)files::iterator)
            {
                Files.copy(file, to.resolve(from.relativize(file).toString()));
            }
        }
    }

    private static void deleteTree(final Path root) throws IOException
    {
        try (Stream<Path> files = Files.walk(root))
        {
            for (final Path file : (Iterable<Path>)files.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.delete(file);
            }
        }
    }
}
