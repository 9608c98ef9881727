package io.quotaledger.journal;

import net.openhft.chronicle.queue.RollCycle;
import net.openhft.chronicle.queue.RollCycles;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueueBuilder;

import java.util.Locale;

/**
 * How every part of the ledger opens the journal's Chronicle Queue, so that writer and readers agree.
 */
public final class Journals
{
    /** A crashed writer leaves a document header claimed; the next writer takes it over after this long. */
    static final long WRITE_LOCK_TIMEOUT_MS = 2_000;

    static
    {
        // Chronicle's libraries would otherwise try to send usage statistics from a ledger: never.
        System.setProperty("chronicle.analytics.disable", "true");
    }

    private Journals()
    {
    }

    static SingleChronicleQueueBuilder builder(final DataDir dir, final RollCycle rollCycle)
    {
        return SingleChronicleQueueBuilder.single(dir.journal().toFile())
            .rollCycle(rollCycle)
            .timeoutMS(WRITE_LOCK_TIMEOUT_MS);
    }

    /**
     * Chronicle Queue keeps the lowest and highest cycle in metadata.cq4t, and a read-only queue trusts it: once cycle
     * files were moved away, readers would find nothing at all. Opening the queue for writing (no file is created
     * until something is appended) lists the folder again and records what is there.
     */
    public static void refreshListing(final DataDir dir)
    {
        final RollCycle rollCycle;
        try (SingleChronicleQueue queue = builder(dir, RollCycles.FAST_DAILY).readOnly(true).build())
        {
            rollCycle = queue.rollCycle();
        }
        try (SingleChronicleQueue queue = builder(dir, rollCycle).build())
        {
            queue.refreshDirectoryListing();
        }
    }

    /**
     * @param name "daily" or "hourly".
     * @return the roll cycle of that name.
     * @throws IllegalArgumentException for any other name.
     */
    public static RollCycle rollCycle(final String name)
    {
        switch (name.toLowerCase(Locale.ROOT))
        {
            case "daily":
                return RollCycles.FAST_DAILY;
            case "hourly":
                return RollCycles.FAST_HOURLY;
            default:
                throw new IllegalArgumentException("roll cycle must be daily or hourly, not " + name);
        }
    }
}
