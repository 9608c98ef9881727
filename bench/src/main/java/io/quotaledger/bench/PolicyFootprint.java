package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Result;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jol.info.GraphLayout;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Heap bytes of gateway policy (issue 12): per virtual key, per rate-limit entry and per spend-window entry, measured
 * as {@link MemoryFootprint} measures accounts, and whether a ledger of {@link Workload#ACCOUNTS} users with
 * {@link #KEYS_PER_USER} keys each and a rate limit on every key fits in the launcher's default heap. Run with
 * {@code scripts/bench footprint --policy [--json]}.
 *
 * <p>One ledger (presized for the accounts, a dedupe window of one entry so that set-up request ids are not counted)
 * is grown in stages, its retained size (JOL) and the heap used after {@link System#gc()} taken after each: the
 * accounts (each funded, with one free quota), then two keys per user (a budget per month), then a rate limit on
 * requests and units on every key, then one 5-hour spend window on each user's first key. Each stage's growth over
 * its entries is the figure per entry, hash-table slack included (what the ledger preallocates for policy before any
 * is set, a few thousand entries of each kind, counts in the accounts' stage: a fraction of a byte per entry at 1M).
 *
 * <p>Whether it fits: the ledger's state, plus the full default dedupe window (preallocated: an empty ledger with the
 * default window minus one with a window of one), plus the snapshot's copy buffer (its length and an eighth to grow),
 * which the snapshotter holds while a snapshot is taken, against the 2 GiB the launcher gives the server by default.
 * And what a snapshot of the final state holds the business-logic thread: the copy into that buffer and the state
 * checksum the snapshotter takes with it, each timed on the same thread (the best of a few, after one to warm up).
 */
final class PolicyFootprint
{
    /** Virtual keys per user. */
    static final int KEYS_PER_USER = 2;
    /** The launcher's default heap (scripts/ledger: -Xmx2g). */
    static final long DEFAULT_HEAP_BYTES = 2L << 30;
    /** Snapshot pauses timed at the end, the first one to warm up. */
    private static final int PAUSE_RUNS = 4;
    /** Where the timed checksums go, so that none is optimised away. */
    private static volatile long consumed;

    private PolicyFootprint()
    {
    }

    /**
     * The state after one stage of the build-up.
     *
     * @param name          what the stage added.
     * @param entries       how many of it.
     * @param retainedBytes the ledger's retained size after it (JOL).
     * @param heapBytes     heap used after a full collection after it.
     */
    record Stage(String name, long entries, long retainedBytes, long heapBytes)
    {
    }

    /**
     * @param users          users in the ledger.
     * @param stages         the accounts, then keys, rate limits and spend windows, each after the one before.
     * @param dedupeBytes    the default dedupe window, preallocated.
     * @param snapshotBytes  the ledger's snapshot length at the end.
     * @param copyNanos      the snapshot's copy of the final state into its buffer.
     * @param checksumNanos  the state checksum of the final state.
     * @param footprint      JOL's table of the final ledger by class.
     */
    record Figures(
        int users,
        List<Stage> stages,
        long dedupeBytes,
        long snapshotBytes,
        long copyNanos,
        long checksumNanos,
        String footprint)
    {
        /**
         * @param stage 1 (keys), 2 (rate limits) or 3 (spend windows).
         * @return retained bytes per entry the stage added.
         */
        double bytesPerEntry(final int stage)
        {
            return (double)(stages.get(stage).retainedBytes() - stages.get(stage - 1).retainedBytes()) /
                stages.get(stage).entries();
        }

        /**
         * @return heap bytes per entry the stage added, from the heap used after a full collection.
         */
        double heapBytesPerEntry(final int stage)
        {
            return (double)(stages.get(stage).heapBytes() - stages.get(stage - 1).heapBytes()) /
                stages.get(stage).entries();
        }

        /**
         * @return the state at the end with the full dedupe window.
         */
        long stateBytes()
        {
            return stages.get(stages.size() - 1).retainedBytes() + dedupeBytes;
        }

        /**
         * @return the heap a snapshot needs at its peak: the state and the copy buffer.
         */
        long peakBytes()
        {
            return stateBytes() + snapshotBytes + snapshotBytes / 8;
        }

        boolean fits()
        {
            return peakBytes() <= DEFAULT_HEAP_BYTES;
        }

        void print(final PrintStream out)
        {
            out.printf(Locale.ROOT, "%,d users, %d virtual keys each, a rate limit (requests and units) on every key, " +
                "a spend window on each user's first key%n", users, KEYS_PER_USER);
            final String[] names = { "", "per virtual key", "per rate-limit entry", "per spend-window entry" };
            for (int stage = 1; stage < stages.size(); stage++)
            {
                out.printf(Locale.ROOT, "  %-24s %7.1f bytes (JOL, %,d entries)   heap after gc: %7.1f bytes%n",
                    names[stage], bytesPerEntry(stage), stages.get(stage).entries(), heapBytesPerEntry(stage));
            }
            for (final Stage stage : stages)
            {
                out.printf(Locale.ROOT, "  after %-28s %,15d bytes retained (JOL)%n", stage.name(),
                    stage.retainedBytes());
            }
            out.printf(Locale.ROOT, "  state with the full default dedupe window (%,d bytes): %,d bytes; while a " +
                "snapshot is taken (and a %,d-byte buffer): %,d bytes of the %,d-byte default heap: %s%n",
                dedupeBytes, stateBytes(), snapshotBytes + snapshotBytes / 8, peakBytes(), DEFAULT_HEAP_BYTES,
                fits() ? "fits" : "DOES NOT FIT");
            out.printf(Locale.ROOT, "  snapshot pause of the final state (business-logic thread): %.1f ms = copy " +
                "%.1f ms + state checksum %.1f ms%n", (copyNanos + checksumNanos) / 1e6, copyNanos / 1e6,
                checksumNanos / 1e6);
        }

        String json()
        {
            final StringBuilder json = new StringBuilder(512).append("{\"users\":").append(users)
                .append(",\"keysPerUser\":").append(KEYS_PER_USER);
            final String[] names = { "", "perVirtualKey", "perRateLimit", "perSpendWindow" };
            for (int stage = 1; stage < stages.size(); stage++)
            {
                json.append(String.format(Locale.ROOT, ",\"%s\":{\"entries\":%d,\"bytes\":%.1f,\"heapBytes\":%.1f}",
                    names[stage], stages.get(stage).entries(), bytesPerEntry(stage), heapBytesPerEntry(stage)));
            }
            json.append(",\"stages\":[");
            for (int i = 0; i < stages.size(); i++)
            {
                final Stage stage = stages.get(i);
                json.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT,
                    "{\"stage\":\"%s\",\"entries\":%d,\"retainedBytes\":%d,\"heapBytes\":%d}", stage.name(),
                    stage.entries(), stage.retainedBytes(), stage.heapBytes()));
            }
            return json.append(String.format(Locale.ROOT, "],\"dedupeWindowBytes\":%d,\"stateBytes\":%d," +
                "\"snapshotBytes\":%d,\"snapshotPeakBytes\":%d,\"defaultHeapBytes\":%d,\"fits\":%b," +
                "\"snapshotCopyNanos\":%d,\"snapshotChecksumNanos\":%d}", dedupeBytes, stateBytes(), snapshotBytes,
                peakBytes(), DEFAULT_HEAP_BYTES, fits(), copyNanos, checksumNanos)).toString();
        }
    }

    /**
     * Builds the ledger stage by stage and measures it.
     *
     * @throws IllegalStateException when the ledger refuses a set-up command.
     */
    static Figures measure(final int users)
    {
        final LedgerConfig config = config(users).dedupeWindowCount(1);
        final long dedupeBytes = retained(new Ledger(config(16), OutcomeSink.NONE)) -
            retained(new Ledger(config(16).dedupeWindowCount(1), OutcomeSink.NONE));
        final Command command = new Command();
        final Result result = new Result();
        final List<Stage> stages = new ArrayList<>();

        final Ledger ledger = new Ledger(config, OutcomeSink.NONE);
        for (int i = 0; i < users; i++)
        {
            process(ledger, Workload.credit(command.reset().timestamp(Workload.START_MILLIS), i), result);
            process(ledger, Workload.grant(command.reset().timestamp(Workload.START_MILLIS), i), result);
        }
        stages.add(stage("the accounts", users, ledger));
        for (int i = 0; i < users; i++)
        {
            for (int key = 0; key < KEYS_PER_USER; key++)
            {
                process(ledger, Workload.virtualKey(command.reset().timestamp(Workload.START_MILLIS), i, key), result);
            }
        }
        stages.add(stage("the virtual keys", (long)users * KEYS_PER_USER, ledger));
        for (int i = 0; i < users; i++)
        {
            for (int key = 0; key < KEYS_PER_USER; key++)
            {
                process(ledger, Workload.rateLimit(command.reset().timestamp(Workload.START_MILLIS), i, key), result);
            }
        }
        stages.add(stage("their rate limits", (long)users * KEYS_PER_USER, ledger));
        for (int i = 0; i < users; i++)
        {
            process(ledger, Workload.spendWindow(command.reset().timestamp(Workload.START_MILLIS), i, 0), result);
        }
        stages.add(stage("the spend windows", users, ledger));
        final String footprint = GraphLayout.parseInstance(ledger).toFootprint();

        final int length = ledger.snapshotLength();
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[length + length / 8]);
        long copyNanos = Long.MAX_VALUE;
        long checksumNanos = Long.MAX_VALUE;
        for (int i = 0; i < PAUSE_RUNS; i++)
        {
            final long start = System.nanoTime();
            ledger.writeSnapshot(buffer, 0);
            final long copied = System.nanoTime();
            consumed = ledger.checksum();
            final long end = System.nanoTime();
            if (i > 0)
            {
                copyNanos = Math.min(copyNanos, copied - start);
                checksumNanos = Math.min(checksumNanos, end - copied);
            }
        }
        return new Figures(users, stages, dedupeBytes, length, copyNanos, checksumNanos, footprint);
    }

    /**
     * The server's defaults, presized for the accounts, with room for every key, rate limit and window.
     */
    private static LedgerConfig config(final int users)
    {
        final int keys = users * KEYS_PER_USER;
        return new LedgerConfig()
            .expectedAccounts(users)
            .maxVirtualKeys(Math.max(LedgerConfig.DEFAULT_MAX_VIRTUAL_KEYS, keys))
            .maxRateLimits(Math.max(LedgerConfig.DEFAULT_MAX_RATE_LIMITS, keys))
            .maxSpendWindows(Math.max(LedgerConfig.DEFAULT_MAX_SPEND_WINDOWS, users));
    }

    private static Stage stage(final String name, final long entries, final Ledger ledger)
    {
        return new Stage(name, entries, retained(ledger), MemoryFootprint.usedHeapAfterGc());
    }

    private static long retained(final Ledger ledger)
    {
        return GraphLayout.parseInstance(ledger).totalSize();
    }

    private static void process(final Ledger ledger, final Command command, final Result result)
    {
        ledger.process(command, result);
        if (!result.accepted())
        {
            throw new IllegalStateException("set-up command refused: " + command + " -> " + result);
        }
    }
}
