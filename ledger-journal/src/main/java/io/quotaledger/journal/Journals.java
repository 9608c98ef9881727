package io.quotaledger.journal;

import net.openhft.chronicle.queue.RollCycle;
import net.openhft.chronicle.queue.RollCycles;
import net.openhft.chronicle.queue.impl.RollingResourcesCache;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueueBuilder;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * How every part of the ledger opens the journal's Chronicle Queue, so that writer and readers agree.
 */
public final class Journals
{
    /** A crashed writer leaves a document header claimed; the next writer takes it over after this long. */
    static final long WRITE_LOCK_TIMEOUT_MS = 2_000;
    /** Chronicle maps its table store (metadata.cq4t) as one 64 KiB chunk plus 64 KiB of overlap. */
    static final long METADATA_BYTES = 128 << 10;

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
     * A builder for a queue that will be written (Chronicle also writes to its table store when opening for writing):
     * metadata.cq4t is created if missing and its blocks allocated first, as Chronicle writes it through a mapping of
     * a sparse file, where a full disk is a SIGBUS rather than an error (see {@link FileSpace}).
     *
     * @throws IOException when the space cannot be had.
     */
    static SingleChronicleQueueBuilder writable(final DataDir dir, final RollCycle rollCycle) throws IOException
    {
        Files.createDirectories(dir.journal());
        final Path metadata = dir.journal().resolve(SingleChronicleQueue.QUEUE_METADATA_FILE);
        Files.newByteChannel(metadata, StandardOpenOption.CREATE, StandardOpenOption.WRITE).close();
        FileSpace.allocate(metadata, 0, Math.max(METADATA_BYTES, Files.size(metadata)));
        return builder(dir, rollCycle);
    }

    /**
     * @return the file Chronicle keeps a cycle in, named as Chronicle names it.
     */
    static Path cycleFile(final SingleChronicleQueue queue, final int cycle)
    {
        final File folder = queue.file();
        final RollingResourcesCache names = new RollingResourcesCache(queue.rollCycle(), queue.epoch(),
            name -> new File(folder, name + SingleChronicleQueue.SUFFIX),
            file -> file.getName().substring(0, file.getName().length() - SingleChronicleQueue.SUFFIX.length()));
        return names.resourceFor(cycle).path.toPath();
    }

    /**
     * Chronicle Queue keeps the lowest and highest cycle in metadata.cq4t, and a read-only queue trusts it: once cycle
     * files were moved away, readers would find nothing at all. Opening the queue for writing (no file is created
     * until something is appended) lists the folder again and records what is there.
     */
    public static void refreshListing(final DataDir dir) throws IOException
    {
        final RollCycle rollCycle;
        try (SingleChronicleQueue queue = builder(dir, RollCycles.FAST_DAILY).readOnly(true).build())
        {
            rollCycle = queue.rollCycle();
        }
        try (SingleChronicleQueue queue = writable(dir, rollCycle).build())
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
