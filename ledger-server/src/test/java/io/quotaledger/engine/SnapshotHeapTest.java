package io.quotaledger.engine;

import io.quotaledger.core.Ledger;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.SnapshotStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A snapshot needs the heap of the state and of its copy, not of a second ledger: a ledger of users with keys and
 * rate limits that fills 45% of a small heap (the state alone; a second ledger and the copy would take it past 100%)
 * is snapshotted in a child JVM ({@link SnapshotHeapChild}), and the snapshot loads back into the state it was taken
 * of. Up to the commit that added this test the snapshotter loaded every snapshot into a second ledger to check it,
 * and ran out of memory here, as it did with 1M users and 2 keys each in the launcher's 2 GiB.
 */
class SnapshotHeapTest
{
    @TempDir
    Path dir;

    @Test
    void shouldSnapshotAStateTooLargeToBeHeldTwice() throws Exception
    {
        final String line;
        try (ChildJvm child = ChildJvm.start(List.of("-Xmx160m", "-XX:+UseG1GC"), SnapshotHeapChild.class,
            List.of(dir.toString(), "45")))
        {
            line = child.awaitLine("", 120_000);
            assertEquals(0, child.await(60_000), child.output());
        }
        assertTrue(line.startsWith("SNAPSHOT "), line);
        final String[] fields = line.split(" ");
        final long sequence = Long.parseLong(fields[1]);
        final long checksum = Long.parseUnsignedLong(fields[2], 16);
        final long used = Long.parseLong(fields[4]);
        final long max = Long.parseLong(fields[5]);
        assertTrue(used >= 0.45 * max, line);

        final SnapshotStore store = new SnapshotStore(new DataDir(dir));
        final SnapshotStore.Info info = store.list().get(0);
        assertEquals(sequence, info.sequence());
        assertEquals(checksum, info.checksum(), "the header holds the checksum of the state the copy was taken of");
        final Ledger loaded = new Ledger(SnapshotHeapChild.CONFIG, OutcomeSink.NONE);
        store.load(info, loaded);
        assertEquals(checksum, loaded.checksum());
        assertTrue(loaded.virtualKeyCount() > 100_000, line);
    }
}
