package io.quotaledger.journal;

import io.quotaledger.core.Ledger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Rebuilds a ledger from its data directory: the newest snapshot that checks out, then the journal after it. Damaged
 * snapshots are reported and passed over, and a torn tail (a last write that never completed) is skipped. Anything
 * that may have lost acknowledged changes stops recovery with {@link JournalCorruptedException}: journal files cut
 * short or with zeroed headers ({@link JournalFiles}), complete documents at the journal's end that fail their check,
 * a snapshot beyond the journal's end (the journal once reached further), a gap. Told to accept a loss at the
 * journal's end, recovery instead starts from what is readable and sets the rest aside under
 * {@link DataDir#damaged()}, so that nothing of it is used later either and the next start needs no word; each loss
 * is logged as an error and listed in {@link Result#acceptedLoss()}.
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
     * @param tornTail         what was skipped that lost nothing now: an incomplete last document, or bad documents
     *                         the journal continues after; null when none.
     * @param acceptedLoss     losses accepted on the operator's word, one line each; empty unless told to accept.
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
        List<String> acceptedLoss,
        List<String> rejectedSnapshots,
        long nanos)
    {
    }

    private Recovery()
    {
    }

    /**
     * Recovers everything: the newest good snapshot, then the whole journal after it; refuses a journal that lost
     * acknowledged changes.
     */
    public static Result recover(final DataDir dir, final Supplier<Ledger> newLedger) throws IOException
    {
        return recover(dir, newLedger, true, Limit.END, Progress.NONE, false);
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
        return recover(dir, newLedger, useSnapshots, limit, progress, false);
    }

    /**
     * Checks what recovery checks before it replays anything, without replaying.
     *
     * @throws JournalCorruptedException for anything recovery would refuse.
     */
    public static void check(final DataDir dir) throws IOException
    {
        acceptOrRefuseDamage(dir, false, new ArrayList<>());
        try (JournalReader reader = JournalReader.openUnchecked(dir))
        {
            checkSnapshots(dir, reader.end(), false, new ArrayList<>());
        }
    }

    /**
     * @param acceptJournalLoss true to start from what is readable when the journal lost acknowledged changes
     *                          instead of refusing: the newest journal file is cut back to its last good document
     *                          (the file as it was is kept under {@link DataDir#damaged()}) and snapshots beyond the
     *                          journal's end are moved there.
     */
    public static Result recover(
        final DataDir dir,
        final Supplier<Ledger> newLedger,
        final boolean useSnapshots,
        final Limit limit,
        final Progress progress,
        final boolean acceptJournalLoss) throws IOException
    {
        final long start = System.nanoTime();
        final List<String> accepted = new ArrayList<>();
        final List<String> rejected = new ArrayList<>();
        final JournalFiles.Check files = acceptOrRefuseDamage(dir, acceptJournalLoss, accepted);
        try (JournalReader reader = JournalReader.openUnchecked(dir))
        {
            final JournalReader.End end = reader.end();
            checkSnapshots(dir, end, acceptJournalLoss, accepted);
            for (final String loss : accepted)
            {
                LOG.error("ACCEPTED JOURNAL LOSS (--accept-journal-loss): {}", loss);
            }
            final long journalEnd = end.lastSequence();
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
                    if (info.sequence() > limit.sequence() || info.timestamp() > limit.timestamp())
                    {
                        rejected.add(info.path().getFileName() + ": beyond the limit");
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
                        // a failed load may have half-filled it: let go of it before a fresh one is built, so
                        // that falling back needs no more heap than the load did
                        ledger = null;
                        ledger = newLedger.get();
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
            String tornTail = files.tornTail();
            if (tornTail != null)
            {
                LOG.warn("journal: skipped a torn tail, which lost nothing acknowledged: {}", tornTail);
            }
            if (read.tornTail() != null)
            {
                LOG.warn("journal: passed over {} bad document(s) that the journal continues after (an earlier " +
                    "start went on without them: nothing is lost now); last: {}", read.skipped(), read.tornTail());
                tornTail = (tornTail == null ? "" : tornTail + "; ") + read.skipped() + " bad document(s) the " +
                    "journal continues after, last: " + read.tornTail();
            }
            final long lastSequence = read.stopped() ? read.lastSequence() - 1 : read.lastSequence();
            return new Result(target, lastSequence, lastTimestamp[0], used, replayed[0], journalEnd, tornTail,
                List.copyOf(accepted), List.copyOf(rejected), System.nanoTime() - start);
        }
    }

    /**
     * Refuses, or on the operator's word accepts, a journal that lost complete documents at its end: damaged files
     * ({@link JournalFiles}) and complete documents after the last good one. Accepting cuts the newest cycle file
     * back to its last good document (again, while the end of what is left is bad), so that what recovery starts
     * from is also what the next start finds.
     *
     * @return the files' check once the journal's end is sound.
     */
    private static JournalFiles.Check acceptOrRefuseDamage(
        final DataDir dir, final boolean accept, final List<String> accepted) throws IOException
    {
        JournalFiles.Check files = JournalFiles.check(dir);
        while (true)
        {
            if (!files.damage().isEmpty())
            {
                if (!accept || !files.damage().get(0).newest())
                {
                    throw JournalFiles.refusal(files.damage());
                }
                accepted.add(JournalFiles.cutBack(dir, files.damage().get(0).problem()));
                files = JournalFiles.check(dir);
                continue;
            }
            final JournalReader.End end;
            try (JournalReader reader = JournalReader.openUnchecked(dir))
            {
                end = reader.end();
            }
            if (end.problem() == null)
            {
                return files;
            }
            if (!accept)
            {
                throw new JournalCorruptedException(end.problem() + ": " + JournalCorruptedException.REMEDY);
            }
            accepted.add(JournalFiles.cutBack(dir, end.problem()));
            files = JournalFiles.check(dir);
        }
    }

    /**
     * Refuses, or on the operator's word sets aside, snapshots beyond the journal's last good outcome: they prove the
     * journal once reached further. Set aside, none is used once the journal has grown past it with other outcomes.
     */
    private static void checkSnapshots(
        final DataDir dir, final JournalReader.End end, final boolean accept, final List<String> accepted)
        throws IOException
    {
        for (final SnapshotStore.Info info : new SnapshotStore(dir).list())
        {
            if (info.sequence() <= end.lastSequence())
            {
                continue;
            }
            final String beyond = "snapshot " + info.path().getFileName() + " holds the state at outcome " +
                info.sequence() + " but the journal's last good outcome is " + end.lastSequence() + ": the journal " +
                "once reached further and lost outcomes after " + end.lastSequence();
            if (!accept)
            {
                throw new JournalCorruptedException(beyond + ": " + JournalCorruptedException.REMEDY);
            }
            accepted.add(beyond + "; the snapshot is moved to " + JournalFiles.keepAside(dir, info.path(), false));
        }
    }
}
