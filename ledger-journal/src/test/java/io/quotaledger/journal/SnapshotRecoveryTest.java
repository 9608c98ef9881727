package io.quotaledger.journal;

import io.quotaledger.core.Ledger;
import net.openhft.chronicle.queue.RollCycles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SnapshotRecoveryTest
{
    @TempDir
    Path temp;

    private DataDir dir;
    private SnapshotStore store;
    private final OutcomeSource source = new OutcomeSource(7);

    /**
     * Ways a snapshot file goes bad on disk.
     */
    enum Damage
    {
        FLIPPED_PAYLOAD_BYTE, TRUNCATED, DAMAGED_HEADER
    }

    private void setUp()
    {
        dir = new DataDir(temp.resolve("data"));
        store = new SnapshotStore(dir);
    }

    /**
     * A journal of {@code 1..end} with snapshots of the state at each of {@code at} (ascending).
     *
     * @return the sequences the snapshots were actually taken at (a command may emit two outcomes).
     */
    private long[] journalWithSnapshots(final int end, final int... at) throws Exception
    {
        setUp();
        final long[] taken = new long[at.length];
        long journaled = 0;
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            for (int i = 0; i < at.length; i++)
            {
                taken[i] = source.produceUntil(at[i]);
                source.snapshot(store, taken[i]);
                source.append(appender, journaled + 1, taken[i]);
                journaled = taken[i];
            }
            final long last = source.produceUntil(end);
            source.append(appender, journaled + 1, last);
        }
        return taken;
    }

    private static void damage(final Path file, final Damage damage) throws IOException
    {
        switch (damage)
        {
            case FLIPPED_PAYLOAD_BYTE -> flip(file, SnapshotStore.HEADER_LENGTH + 100);
            case TRUNCATED ->
            {
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE))
                {
                    channel.truncate(channel.size() - 10);
                }
            }
            case DAMAGED_HEADER -> flip(file, 20); // in the timestamp: covered by the header checksum only
        }
    }

    private static void flip(final Path file, final long position) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, position);
            one.put(0, (byte)(one.get(0) ^ 0x01)).position(0);
            channel.write(one, position);
        }
    }

    private Recovery.Result journalOnly() throws IOException
    {
        return Recovery.recover(dir, source::newLedger, false, Recovery.Limit.END, Recovery.Progress.NONE);
    }

    @Test
    void shouldWriteListAndLoadASnapshot() throws Exception
    {
        setUp();
        final long sequence = source.produceUntil(2_000);
        final Path file = source.snapshot(store, sequence);
        assertEquals(SnapshotStore.name(sequence), file.getFileName().toString());
        try (var files = Files.list(store.folder()))
        {
            assertEquals(List.of(file), files.toList(), "no temporary file is left behind");
        }

        final List<SnapshotStore.Info> infos = store.list();
        assertEquals(1, infos.size());
        final SnapshotStore.Info info = infos.get(0);
        assertEquals(file, info.path());
        assertEquals(sequence, info.sequence());
        assertEquals(source.timestamp(sequence), info.timestamp());
        assertEquals(source.ledger.checksum(), info.checksum());
        assertEquals(Files.size(file) - SnapshotStore.HEADER_LENGTH, info.payloadLength());
        assertTrue(store.damaged().isEmpty());

        final Ledger loaded = source.newLedger();
        store.load(info, loaded);
        assertEquals(source.ledger.checksum(), loaded.checksum());
        assertEquals(source.checksumAfter(sequence), loaded.checksum(), "the snapshot equals the outcomes replayed");
    }

    @Test
    void shouldListNewestFirstAndPruneTheOldest() throws Exception
    {
        setUp();
        for (final int at : new int[] { 100, 300, 200 })
        {
            source.snapshot(store, at); // the label, not the state, orders them here
        }
        Files.writeString(store.folder().resolve(SnapshotStore.name(400) + ".tmp"), "left by a crash");
        assertEquals(List.of(300L, 200L, 100L), store.list().stream().map(SnapshotStore.Info::sequence).toList());
        store.prune(2);
        assertEquals(List.of(300L, 200L), store.list().stream().map(SnapshotStore.Info::sequence).toList());
        try (var files = Files.list(store.folder()))
        {
            assertEquals(2, files.count(), "old snapshots and temporary files are gone");
        }
    }

    @Test
    void shouldKeepTheSnapshotRecoveryStartedFromWhenPruning() throws Exception
    {
        setUp();
        for (final int at : new int[] { 100, 200, 300, 400 })
        {
            source.snapshot(store, at);
        }
        store.prune(2, 100);
        assertEquals(List.of(400L, 300L, 100L), store.list().stream().map(SnapshotStore.Info::sequence).toList());
        store.prune(1, 0);
        assertEquals(List.of(400L), store.list().stream().map(SnapshotStore.Info::sequence).toList());
    }

    @ParameterizedTest
    @EnumSource(Damage.class)
    void shouldRejectADamagedSnapshot(final Damage kind) throws Exception
    {
        setUp();
        final long sequence = source.produceUntil(2_000);
        final Path file = source.snapshot(store, sequence);
        damage(file, kind);

        if (kind == Damage.DAMAGED_HEADER)
        {
            assertTrue(store.list().isEmpty(), "a snapshot whose header does not check out is not offered");
            assertEquals(List.of(file), store.damaged());
        }
        else
        {
            final SnapshotStore.Info info = store.list().get(0);
            final IOException ex = assertThrows(IOException.class, () -> store.load(info, source.newLedger()));
            assertTrue(ex.getMessage().contains(kind == Damage.TRUNCATED ? "truncated" : "checksum mismatch"),
                ex.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(Damage.class)
    void shouldFallBackToThePreviousSnapshotWhenTheNewestIsDamaged(final Damage kind) throws Exception
    {
        final long[] snapshots = journalWithSnapshots(5_000, 1_000, 3_000);
        final Path newest = dir.snapshots().resolve(SnapshotStore.name(snapshots[1]));
        damage(newest, kind);

        final Recovery.Result recovered = Recovery.recover(dir, source::newLedger);
        assertNotNull(recovered.snapshot());
        assertEquals(snapshots[0], recovered.snapshot().sequence(), "the older snapshot");
        assertEquals(1, recovered.rejectedSnapshots().size(), recovered.rejectedSnapshots().toString());
        assertTrue(recovered.rejectedSnapshots().get(0).startsWith(newest.getFileName().toString()),
            recovered.rejectedSnapshots().toString());
        assertEquals(source.count(), recovered.lastSequence());
        assertEquals(source.count() - snapshots[0], recovered.replayed());
        assertEquals(journalOnly().ledger().checksum(), recovered.ledger().checksum());
        assertEquals(source.ledger.checksum(), recovered.ledger().checksum());
    }

    @Test
    void shouldRecoverFromTheJournalAloneWhenEverySnapshotIsDamaged() throws Exception
    {
        final long[] snapshots = journalWithSnapshots(3_000, 1_000, 2_000);
        damage(dir.snapshots().resolve(SnapshotStore.name(snapshots[0])), Damage.FLIPPED_PAYLOAD_BYTE);
        damage(dir.snapshots().resolve(SnapshotStore.name(snapshots[1])), Damage.TRUNCATED);

        final Recovery.Result recovered = Recovery.recover(dir, source::newLedger);
        assertNull(recovered.snapshot());
        assertEquals(2, recovered.rejectedSnapshots().size());
        assertEquals(source.count(), recovered.replayed());
        assertEquals(source.ledger.checksum(), recovered.ledger().checksum());
    }

    // the snapshot proves the journal once reached further: up to commit f01836a recovery passed it over and
    // started short without a word
    @Test
    void shouldRefuseASnapshotBeyondTheJournalsEndUnlessTheLossIsAccepted() throws Exception
    {
        final long[] snapshots = journalWithSnapshots(3_000, 1_000);
        // the journal lost its tail (restored from an older copy) but a newer snapshot survived
        final long end = source.count();
        source.produceUntil(source.count() + 500);
        final Path ahead = source.snapshot(store, source.count());

        final JournalCorruptedException refused = assertThrows(JournalCorruptedException.class,
            () -> Recovery.recover(dir, source::newLedger));
        assertTrue(refused.getMessage().contains(ahead.getFileName().toString()) &&
            refused.getMessage().contains("the journal's last good outcome is " + end) &&
            refused.getMessage().contains("--accept-journal-loss"), refused.getMessage());
        assertThrows(JournalCorruptedException.class, () -> Recovery.check(dir));
        assertThrows(JournalCorruptedException.class, () -> Recovery.recover(
            dir, source::newLedger, false, Recovery.Limit.END, Recovery.Progress.NONE), "with or without snapshots");

        final Recovery.Result recovered = Recovery.recover(
            dir, source::newLedger, true, Recovery.Limit.END, Recovery.Progress.NONE, true);
        assertEquals(snapshots[0], recovered.snapshot().sequence());
        assertEquals(1, recovered.acceptedLoss().size());
        assertTrue(Files.exists(dir.damaged().resolve(ahead.getFileName())), "set aside, not deleted");
        assertEquals(List.of(snapshots[0]), store.list().stream().map(SnapshotStore.Info::sequence).toList());
        assertEquals(source.checksumAfter(end), recovered.ledger().checksum());
        assertEquals(end, recovered.lastSequence());

        // once the journal has grown past the set-aside snapshot's sequence, nothing of it is used
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, end))
        {
            source.append(appender, end + 1, source.count());
        }
        final Recovery.Result later = Recovery.recover(dir, source::newLedger);
        assertEquals(snapshots[0], later.snapshot().sequence());
        assertEquals(source.count(), later.lastSequence());
        assertEquals(source.checksumAfter(source.count()), later.ledger().checksum());
    }

    @Test
    void shouldStopAtASequenceLimit() throws Exception
    {
        final long[] snapshots = journalWithSnapshots(5_000, 1_000, 3_000);
        final long limit = 2_222;

        final Recovery.Result recovered = Recovery.recover(
            dir, source::newLedger, true, new Recovery.Limit(limit, Long.MAX_VALUE), Recovery.Progress.NONE);
        assertEquals(limit, recovered.lastSequence());
        assertEquals(source.timestamp(limit), recovered.lastTimestamp());
        assertEquals(snapshots[0], recovered.snapshot().sequence(), "the snapshot past the limit is not used");
        assertTrue(recovered.rejectedSnapshots().get(0).contains("beyond the limit"),
            recovered.rejectedSnapshots().toString());
        assertEquals(limit - snapshots[0], recovered.replayed());
        assertEquals(source.count(), recovered.journalEnd());
        assertEquals(source.checksumAfter(limit), recovered.ledger().checksum());

        final Recovery.Result alone = Recovery.recover(
            dir, source::newLedger, false, new Recovery.Limit(limit, Long.MAX_VALUE), Recovery.Progress.NONE);
        assertEquals(limit, alone.lastSequence());
        assertEquals(recovered.ledger().checksum(), alone.ledger().checksum());

        final Recovery.Result atSnapshot = Recovery.recover(
            dir, source::newLedger, true, new Recovery.Limit(snapshots[1], Long.MAX_VALUE), Recovery.Progress.NONE);
        assertEquals(snapshots[1], atSnapshot.snapshot().sequence(), "a snapshot exactly at the limit is used");
        assertEquals(0, atSnapshot.replayed());
        assertEquals(snapshots[1], atSnapshot.lastSequence());
        assertEquals(source.checksumAfter(snapshots[1]), atSnapshot.ledger().checksum());
    }

    @Test
    void shouldStopAtATimeLimit() throws Exception
    {
        final long[] snapshots = journalWithSnapshots(5_000, 1_000, 3_000);
        final long time = source.timestamp(2_000);
        long last = 2_000;
        while (source.timestamp(last + 1) <= time)
        {
            last++; // outcomes of one command share its time
        }

        final Recovery.Result recovered = Recovery.recover(
            dir, source::newLedger, true, new Recovery.Limit(Long.MAX_VALUE, time), Recovery.Progress.NONE);
        assertEquals(last, recovered.lastSequence());
        assertEquals(time, recovered.lastTimestamp());
        assertEquals(snapshots[0], recovered.snapshot().sequence(), "the snapshot past the time is not used");
        assertEquals(source.checksumAfter(last), recovered.ledger().checksum());

        final Recovery.Result beforeEverything = Recovery.recover(dir, source::newLedger, true,
            new Recovery.Limit(Long.MAX_VALUE, OutcomeSource.START_TIME - 1), Recovery.Progress.NONE);
        assertEquals(0, beforeEverything.lastSequence());
        assertNull(beforeEverything.snapshot());
        assertEquals(source.newLedger().checksum(), beforeEverything.ledger().checksum());
    }
}
