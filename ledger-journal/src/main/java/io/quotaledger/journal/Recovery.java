package io.quotaledger.journal;

import io.quotaledger.core.Ledger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Rebuilds a ledger from its data directory: the newest snapshot that checks out (and that the journal has reached),
 * then the journal after it. Damaged snapshots are reported and passed over; a torn journal tail is reported and
 * skipped; a corrupted journal stops recovery ({@link JournalCorruptedException}).
 */
public final class Recovery
{
    private static final Logger LOG = LoggerFactory.getLogger(Recovery.class);

    /**
     * Progress of a replay, called every so many outcomes from the replaying thread.
     */
    @FunctionalInterface
    public interface Progress
    {
        Progress NONE = (replayed, sequence) -> {};

        void onProgress(long replayed, long sequence);
    }

    /**
     * Where to stop: the default, {@link #END}, replays everything.
     *
     * @param sequence  last outcome sequence to apply.
     * @param timestamp last outcome time to apply (epoch ms).
     */
    public record Limit(long sequence, long timestamp)
    {
        public static final Limit END = new Limit(Long.MAX_VALUE, Long.MAX_VALUE);
    }

    /**
     * What recovery did.
     *
     * @param ledger           the rebuilt ledger.
     * @param lastSequence     sequence of the last outcome applied (0 for an empty journal).
     * @param lastTimestamp    time of the last outcome applied (0 when none).
     * @param snapshot         the snapshot started from, or null for the journal alone.
     * @param replayed         outcomes applied from the journal.
     * @param journalEnd       the journal's last good sequence (may be past lastSequence under a limit).
     * @param tornTail         what a skipped bad journal document looked like, or null.
     * @param rejectedSnapshots snapshots passed over, with why.
     * @param nanos            how long it took.
     */
    public record Result(
        Ledger ledger,
        long lastSequence,
        long lastTimestamp,
        SnapshotStore.Info snapshot,
        long replayed,
        long journalEnd,
        String tornTail,
        List<String> rejectedSnapshots,
        long nanos)
    {
    }

    private Recovery()
    {
    }

    /**
     * Recovers everything: the newest good snapshot, then the whole journal after it.
     */
    public static Result recover(final DataDir dir, final Supplier<Ledger> newLedger) throws IOException
    {
        return recover(dir, newLedger, true, Limit.END, Progress.NONE);
    }

    /**
     * @param useSnapshots false to rebuild from the journal alone.
     * @param limit        where to stop replaying; a snapshot past the limit is not used.
     */
    public static Result recover(
        final DataDir dir,
        final Supplier<Ledger> newLedger,
        final boolean useSnapshots,
        final Limit limit,
        final Progress progress) throws IOException
    {
        final long start = System.nanoTime();
        final List<String> rejected = new ArrayList<>();
        try (JournalReader reader = JournalReader.open(dir))
        {
            final long journalEnd = reader.lastSequence();
            Ledger ledger = newLedger.get();
            SnapshotStore.Info used = null;
            if (useSnapshots)
            {
                final SnapshotStore store = new SnapshotStore(dir);
                for (final java.nio.file.Path damaged : store.damaged())
                {
                    rejected.add(damaged.getFileName() + ": damaged header");
                }
                for (final SnapshotStore.Info info : store.list())
                {
                    if (info.sequence() > journalEnd || info.sequence() > limit.sequence() ||
                        info.timestamp() > limit.timestamp())
                    {
                        rejected.add(info.path().getFileName() + ": beyond " +
                            (info.sequence() > journalEnd ? "the journal's end " + journalEnd : "the limit"));
                        continue;
                    }
                    try
                    {
                        store.load(info, ledger);
                        used = info;
                        break;
                    }
                    catch (final IOException | RuntimeException ex)
                    {
                        rejected.add(info.path().getFileName() + ": " + ex.getMessage());
                        ledger = newLedger.get(); // a failed load may have half-filled it
                    }
                }
            }
            for (final String why : rejected)
            {
                LOG.warn("snapshot not used: {}", why);
            }

            final Ledger target = ledger;
            final long after = used == null ? 0 : used.sequence();
            final long[] lastTimestamp = { used == null ? 0 : used.timestamp() };
            final long[] replayed = { 0 };
            final JournalReader.ReadResult read = reader.read(after, (sequence, outcome) ->
            {
                if (replayed[0] == 0 && sequence != after + 1)
                {
                    // the journal does not go on where the state stands: cycles archived or lost
                    throw new JournalCorruptedException("the journal continues at sequence " + sequence +
                        " but the state ends at " + after + ": restore the missing (archived?) journal cycles");
                }
                if (sequence > limit.sequence() || outcome.timestamp() > limit.timestamp())
                {
                    return false;
                }
                target.apply(outcome);
                lastTimestamp[0] = outcome.timestamp();
                if ((++replayed[0] & 0xFFFF) == 0)
                {
                    progress.onProgress(replayed[0], sequence);
                }
                return true;
            });
            progress.onProgress(replayed[0], read.lastSequence());
            if (!read.stopped() && read.lastSequence() < journalEnd)
            {
                throw new JournalCorruptedException("the journal ends at sequence " + journalEnd + " but reading it " +
                    "stopped at " + read.lastSequence() + ": its file listing may be stale (Journals.refreshListing)");
            }
            if (read.tornTail() != null)
            {
                LOG.warn("journal: skipped {} bad document(s) that lost nothing acknowledged; last: {}",
                    read.skipped(), read.tornTail());
            }
            final long lastSequence = read.stopped() ? read.lastSequence() - 1 : read.lastSequence();
            return new Result(target, lastSequence, lastTimestamp[0], used, replayed[0],
                journalEnd, read.tornTail(), List.copyOf(rejected), System.nanoTime() - start);
        }
    }
}
