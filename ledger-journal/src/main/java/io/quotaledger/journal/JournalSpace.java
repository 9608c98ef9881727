package io.quotaledger.journal;

import net.openhft.chronicle.core.time.TimeProvider;
import net.openhft.chronicle.queue.RollCycle;
import net.openhft.chronicle.queue.impl.single.PrecreatedFiles;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueueStore;
import org.agrona.concurrent.EpochClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Keeps the disk space behind the journal allocated ahead of every byte Chronicle Queue writes, so that a write into
 * the memory-mapped journal can never meet a full file system (which the JVM reports as SIGBUS, long after the write
 * seemed to succeed). See {@link FileSpace}.
 *
 * <p>What Chronicle writes, and how it is covered (FAST_DAILY / FAST_HOURLY: 4,096 index entries, one per 256
 * documents; a cycle file is sparse, with an apparent size of a 64 MiB chunk plus overlap):
 * <pre>
 * cycle file  0        header (write position, indexing), then the index2index array and the first index array,
 *                      4,096 longs each, written as metadata documents with holes where no entry is set yet
 *             ~64 KiB  documents, 4-byte header + payload, 4-byte aligned; every 1,048,576 documents a new 32 KiB
 *                      index array right after the document that needs it; entries of earlier arrays filled later
 *             end      an EOF marker when the next cycle starts
 * metadata.cq4t        a 128 KiB table store (locks, cycle listing, normalisedEOFsTo), mapped in full
 * </pre>
 * The table store is allocated in full before the queue is opened ({@link Journals#writable}). The current
 * cycle file is allocated from 0 to its end plus {@code reserve} when the journal opens (filling the holes of earlier
 * index arrays as well), and topped up as documents go in, so that the allocated end stays {@code reserve} ahead of
 * the data. A new cycle file is created and allocated before Chronicle uses it: the queue's clock is this object,
 * which moves into the next cycle only once that cycle's file exists as Chronicle's "pre-created" file with its
 * header, index arrays and reserve allocated. Once a cycle is done, the reserve left after its end is given back.
 *
 * <p>When the space cannot be had, the journal is <em>low on space</em>: documents still go in as long as they fit
 * in what is allocated (the reserve is sized so that everything already in flight does), the owner stops accepting
 * changes ({@link #lowOnSpace()}), and the allocation is retried at most once a second ({@link #RETRY_NANOS}) until it
 * works again. A document that would not fit is refused before anything is written.
 *
 * <p>Single-threaded: used by the journal's appending thread; {@link #lowOnSpace()} and {@link #ahead()} may be read
 * from any thread.
 */
final class JournalSpace implements TimeProvider
{
    /** Bytes ahead of the journal's end kept allocated when nothing else is said. */
    static final long DEFAULT_RESERVE = 4L << 20;
    /** How often a journal that is low on space tries again to allocate. */
    static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static final Logger LOG = LoggerFactory.getLogger(JournalSpace.class);
    private static final int NONE = Integer.MIN_VALUE;
    private static final long DOCUMENT_HEADER = 8; // Chronicle's 4-byte header, and up to 3 bytes of alignment
    private static final long MIN_STEP = 256 << 10;

    private final RollCycle rollCycle;
    private final EpochClock clock;
    private final long reserve;
    private final long step;
    private final long indexArrayBytes;
    private final long cycleHeaderBytes;
    private final long lastDocumentBound;
    private SingleChronicleQueue queue;
    private int cycle = NONE;
    private Path file;
    private long dataEnd;
    private long allocatedEnd;
    private Path doneFile;
    private long doneFrom;
    private long doneTo;
    private long lastAttemptNanos;
    private volatile long queueTime;
    private volatile long ahead;
    private volatile String lowOnSpace;

    /**
     * @param clock   the wall clock, which decides when a new cycle begins.
     * @param reserve bytes to keep allocated ahead of the journal's end; raised to {@link #minimumReserve} if below.
     */
    JournalSpace(final RollCycle rollCycle, final EpochClock clock, final long reserve)
    {
        this.rollCycle = rollCycle;
        this.clock = clock;
        this.indexArrayBytes = indexArrayBytes(rollCycle);
        this.cycleHeaderBytes = 2 * indexArrayBytes + 4096;
        this.lastDocumentBound = documentBytes(JournalAppender.MAX_OUTCOMES_PER_DOCUMENT) + indexArrayBytes;
        this.reserve = Math.max(reserve, minimumReserve(rollCycle));
        this.step = Math.max(MIN_STEP, this.reserve / 4);
        this.queueTime = clock.time();
    }

    /**
     * @return the smallest reserve: a new cycle file's header, one document and the index array that may follow it.
     */
    static long minimumReserve(final RollCycle rollCycle)
    {
        return 3 * indexArrayBytes(rollCycle) + 4096 + documentBytes(JournalAppender.MAX_OUTCOMES_PER_DOCUMENT) +
            MIN_STEP;
    }

    /**
     * @return the most bytes a document of {@code outcomes} takes in a cycle file, Chronicle's header included.
     */
    static long documentBytes(final int outcomes)
    {
        return DOCUMENT_HEADER + JournalFormat.documentLength(outcomes);
    }

    /**
     * Binds to the queue opened with this as its clock: drops stale pre-created files, takes over the newest cycle
     * file (allocating up to its end and the reserve after it) and gets the current cycle's file ready.
     *
     * @throws IOException when not even the space for one more document can be had: the journal cannot be used.
     */
    void open(final SingleChronicleQueue queue) throws IOException
    {
        this.queue = queue;
        deleteStalePrecreated();
        final int last = queue.lastCycle();
        if (last >= 0)
        {
            adopt(last);
            // at least the next document and what Chronicle adds to it must be backed, or nothing can be written
            FileSpace.allocate(file, 0, dataEnd + lastDocumentBound);
            allocatedEnd = dataEnd + lastDocumentBound;
        }
        ensure();
        if (cycle == NONE)
        {
            throw new IOException("cannot create the journal's first file: " + lowOnSpace);
        }
    }

    public long currentTimeMillis()
    {
        return queueTime;
    }

    /**
     * Before a document of {@code length} bytes is written: gets the cycle file ready (rolling when a new cycle has
     * begun and its file could be allocated), tops up the allocation, and checks that the document and whatever
     * Chronicle writes with it fall in allocated space.
     *
     * @throws UncheckedIOException when it would not: nothing may be written.
     */
    void beforeDocument(final int length)
    {
        if (lowOnSpace == null || System.nanoTime() - lastAttemptNanos >= RETRY_NANOS)
        {
            ensure();
        }
        final long needed = dataEnd + DOCUMENT_HEADER + length + indexArrayBytes; // an index array may follow it
        if (needed > allocatedEnd)
        {
            throw new UncheckedIOException(new IOException("journal out of space: a document of " + length +
                " bytes needs up to byte " + needed + " of " + file + ", allocated only to " + allocatedEnd +
                "; the reserve of " + reserve + " bytes did not cover what was in flight"));
        }
    }

    /**
     * After a document was written.
     *
     * @param end the file position just after it.
     */
    void afterDocument(final long end)
    {
        dataEnd = Math.max(dataEnd, end);
        ahead = allocatedEnd - dataEnd;
        if (doneFile != null)
        {
            // Chronicle has moved on to the new file and written the old one's EOF marker: its reserve is free
            FileSpace.release(doneFile, doneFrom, doneTo);
            doneFile = null;
        }
    }

    /**
     * Retries getting the space, at most once every {@link #RETRY_NANOS}, while low on space.
     */
    void retryIfLow()
    {
        if (lowOnSpace != null && System.nanoTime() - lastAttemptNanos >= RETRY_NANOS)
        {
            ensure();
        }
    }

    /**
     * @return why the journal cannot keep its reserve, or null while it can.
     */
    String lowOnSpace()
    {
        return lowOnSpace;
    }

    /**
     * @return bytes allocated after the journal's end in the current cycle file.
     */
    long ahead()
    {
        return ahead;
    }

    long reserve()
    {
        return reserve;
    }

    /**
     * Rolls when due, then tops up; sets or clears {@link #lowOnSpace}.
     */
    private void ensure()
    {
        lastAttemptNanos = System.nanoTime();
        String problem = null;
        final long now = clock.time();
        final int target = (int)((now - queue.epoch()) / rollCycle.lengthInMillis());
        if (target > cycle)
        {
            try
            {
                startCycle(target, now);
            }
            catch (final IOException ex)
            {
                problem = "cannot start the next journal file: " + ex.getMessage();
            }
        }
        if (cycle != NONE && allocatedEnd - dataEnd < reserve)
        {
            final long to = dataEnd + reserve + step;
            try
            {
                FileSpace.allocate(file, allocatedEnd, to);
                allocatedEnd = to;
            }
            catch (final IOException ex)
            {
                problem = problem == null ? ex.getMessage() : problem + "; " + ex.getMessage();
            }
        }
        ahead = allocatedEnd - dataEnd;
        lowOnSpace(problem);
    }

    private void startCycle(final int target, final long now) throws IOException
    {
        final Path next = Journals.cycleFile(queue, target);
        final int previous = cycle;
        final Path previousFile = file;
        final long previousEnd = dataEnd;
        final long previousAllocated = allocatedEnd;
        if (Files.exists(next))
        {
            adopt(target); // created by someone else (another writer, an old version): take it as it is
            FileSpace.allocate(file, 0, dataEnd + reserve);
            allocatedEnd = dataEnd + reserve;
        }
        else
        {
            final Path precreated = PrecreatedFiles.preCreatedFile(next.toFile()).toPath();
            Files.newByteChannel(precreated, StandardOpenOption.CREATE, StandardOpenOption.WRITE).close();
            try
            {
                FileSpace.allocate(precreated, 0, cycleHeaderBytes + reserve);
            }
            catch (final IOException ex)
            {
                Files.deleteIfExists(precreated); // half allocated: give it back
                throw ex;
            }
            cycle = target;
            file = next;
            dataEnd = cycleHeaderBytes;
            allocatedEnd = cycleHeaderBytes + reserve;
        }
        queueTime = now; // Chronicle rolls at its next write, into the file just made
        if (previous != NONE && previousFile != null)
        {
            // after the previous file's EOF marker (and an index array that may precede it), nothing is written
            doneFile = previousFile;
            doneFrom = previousEnd + lastDocumentBound;
            doneTo = previousAllocated;
        }
    }

    /**
     * Takes over an existing cycle file: the data ends before its last document's header plus the largest document.
     */
    private void adopt(final int existing)
    {
        long writePosition = 0;
        final SingleChronicleQueueStore store = queue.storeForCycle(existing, queue.epoch(), false, null);
        if (store != null)
        {
            try
            {
                writePosition = store.writePosition();
            }
            finally
            {
                queue.closeStore(store);
            }
        }
        cycle = existing;
        file = Journals.cycleFile(queue, existing);
        dataEnd = Math.max(cycleHeaderBytes, writePosition + lastDocumentBound);
        allocatedEnd = 0;
        queueTime = existing * (long)rollCycle.lengthInMillis() + queue.epoch();
    }

    private static long indexArrayBytes(final RollCycle rollCycle)
    {
        return rollCycle.defaultIndexCount() * 8L + 256; // the longs, and the metadata document's header and name
    }

    private void lowOnSpace(final String problem)
    {
        final String was = lowOnSpace;
        if (problem != null && was == null)
        {
            LOG.error("journal low on space, changes are refused (UNAVAILABLE) until space is freed: {}; " +
                "{} bytes allocated ahead of the journal's end", problem, ahead);
        }
        else if (problem == null && was != null)
        {
            LOG.info("journal space available again ({} bytes allocated ahead): accepting changes", ahead);
        }
        if (problem != was)
        {
            lowOnSpace = problem;
        }
    }

    private void deleteStalePrecreated() throws IOException
    {
        try (Stream<Path> files = Files.list(queue.file().toPath()))
        {
            for (final Path stale : (Iterable<Path>)files.filter(f -> f.toString().endsWith(".precreated"))::iterator)
            {
                Files.deleteIfExists(stale);
            }
        }
    }
}
