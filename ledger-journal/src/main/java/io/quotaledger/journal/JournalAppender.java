package io.quotaledger.journal;

import io.quotaledger.core.Outcome;
import net.openhft.chronicle.bytes.Bytes;
import net.openhft.chronicle.bytes.SyncMode;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.RollCycle;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.EpochClock;
import org.agrona.concurrent.SystemEpochClock;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.util.zip.CRC32C;

/**
 * Appends outcomes to the journal: staged as they come, written as one document per {@link #flush()} (the runtime
 * flushes at the end of each ring batch), and in {@link Durability#FSYNC} mode msync'ed before flush returns.
 * Outcomes are numbered from the sequence recovery ended at, with no gaps; a gap is a bug and fails loudly.
 *
 * <p>The disk space behind every byte Chronicle writes is allocated before the write ({@link JournalSpace}), with a
 * reserve ahead of the journal's end. When the reserve can no longer be kept the journal is {@link #lowOnSpace() low
 * on space}: it still writes what fits in the space it holds, and the owner must stop taking changes until the space
 * comes back (checked again at most once a second from {@link #flush()}). A document that would not fit is refused
 * with an exception before anything is written.
 *
 * <p>Single-threaded: {@link #append}, {@link #flush()} and {@link #close()} must come from one thread (the
 * journal stage). {@link #lastSequence()}, {@link #lowOnSpace()} and {@link #spaceAhead()} may be read from any
 * thread.
 */
public final class JournalAppender implements AutoCloseable
{
    /** Outcomes in one document at most; a bigger batch is split over several documents. */
    public static final int MAX_OUTCOMES_PER_DOCUMENT = 512;
    /** Bytes kept allocated ahead of the journal's end unless told otherwise. */
    public static final long DEFAULT_RESERVE = JournalSpace.DEFAULT_RESERVE;

    private final SingleChronicleQueue queue;
    private final JournalSpace space;
    private final Durability durability;
    private final byte[] staging = new byte[JournalFormat.documentLength(MAX_OUTCOMES_PER_DOCUMENT)];
    private final UnsafeBuffer stagingBuffer = new UnsafeBuffer(staging);
    private final CRC32C crc = new CRC32C();
    private ExcerptAppender appender;
    private long nextSequence;
    private long stagedFirst;
    private int stagedCount;
    private long documents;
    private boolean dirty;
    private volatile long lastSequence;

    private JournalAppender(
        final SingleChronicleQueue queue,
        final JournalSpace space,
        final Durability durability,
        final long lastSequence)
    {
        this.queue = queue;
        this.space = space;
        this.durability = durability;
        this.nextSequence = lastSequence + 1;
        this.lastSequence = lastSequence;
    }

    /**
     * Opens (creating if needed) the journal of a data directory for appending, with the default reserve, rolling
     * by the system clock.
     *
     * @param lastSequence the sequence of the last outcome already in the journal (0 for a new one), from recovery.
     */
    public static JournalAppender open(
        final DataDir dir, final Durability durability, final RollCycle rollCycle, final long lastSequence)
        throws IOException
    {
        return open(dir, durability, rollCycle, lastSequence, DEFAULT_RESERVE, SystemEpochClock.INSTANCE);
    }

    /**
     * Opens (creating if needed) the journal of a data directory for appending.
     *
     * @param lastSequence the sequence of the last outcome already in the journal (0 for a new one), from recovery.
     * @param reserve      bytes to keep allocated ahead of the journal's end: at least what can be in flight when
     *                     the journal reports {@link #lowOnSpace()}; raised to {@link #minimumReserve} if below.
     * @param clock        the wall clock deciding when a new cycle file begins.
     * @throws IOException when the journal's files cannot be opened or not even one more document's space allocated.
     */
    public static JournalAppender open(
        final DataDir dir,
        final Durability durability,
        final RollCycle rollCycle,
        final long lastSequence,
        final long reserve,
        final EpochClock clock)
        throws IOException
    {
        dir.create();
        final JournalSpace space = new JournalSpace(rollCycle, clock, reserve);
        final SingleChronicleQueue queue = Journals.writable(dir, rollCycle)
            .syncMode(durability == Durability.FSYNC ? SyncMode.SYNC : SyncMode.NONE)
            .timeProvider(space) // the queue starts a new cycle only once the space made its file ready
            .build();
        try
        {
            space.open(queue);
        }
        catch (final IOException | RuntimeException ex)
        {
            queue.close();
            throw ex;
        }
        return new JournalAppender(queue, space, durability, lastSequence);
    }

    /**
     * @return the smallest reserve the journal keeps, whatever it is asked for: a new cycle file's header and the
     * largest document.
     */
    public static long minimumReserve(final RollCycle rollCycle)
    {
        return JournalSpace.minimumReserve(rollCycle);
    }

    /**
     * @return the most bytes a document of {@code outcomes} outcomes takes in the journal's files, to size a reserve.
     */
    public static long documentBytes(final int outcomes)
    {
        return JournalSpace.documentBytes(outcomes);
    }

    /**
     * Stages outcomes encoded back to back in {@link Outcome#LENGTH}-byte slots, writing a document whenever the
     * stage fills up.
     *
     * @param firstSequence the sequence the caller gave the first of them: must be the next one.
     */
    public void append(final long firstSequence, final DirectBuffer outcomes, final int offset, final int count)
    {
        if (firstSequence != nextSequence)
        {
            throw new IllegalStateException("journal expected sequence " + nextSequence + ", got " + firstSequence);
        }
        for (int i = 0; i < count; i++)
        {
            if (stagedCount == MAX_OUTCOMES_PER_DOCUMENT)
            {
                writeDocument();
            }
            if (stagedCount == 0)
            {
                stagedFirst = firstSequence + i;
            }
            stagingBuffer.putBytes(
                JournalFormat.outcomeOffset(stagedCount++), outcomes, offset + i * Outcome.LENGTH, Outcome.LENGTH);
        }
        nextSequence += count;
    }

    /**
     * Writes what is staged and makes it as durable as the mode promises. Results of the staged outcomes may be
     * released once this returns.
     */
    public void flush()
    {
        if (stagedCount > 0)
        {
            writeDocument();
        }
        if (dirty)
        {
            if (durability == Durability.FSYNC)
            {
                appender.sync();
            }
            dirty = false;
            lastSequence = nextSequence - 1;
        }
        space.retryIfLow();
    }

    /**
     * @return the sequence of the last outcome flushed: everything up to it is in the journal.
     */
    public long lastSequence()
    {
        return lastSequence;
    }

    public long documentsWritten()
    {
        return documents;
    }

    public Durability durability()
    {
        return durability;
    }

    /**
     * @return why the journal cannot keep its reserve of allocated space (then changes must stop), or null while it
     * can.
     */
    public String lowOnSpace()
    {
        return space.lowOnSpace();
    }

    /**
     * @return bytes allocated ahead of the journal's end in its current file.
     */
    public long spaceAhead()
    {
        return space.ahead();
    }

    /**
     * @return the reserve kept allocated ahead of the journal's end.
     */
    public long reserve()
    {
        return space.reserve();
    }

    public void close()
    {
        queue.close();
    }

    private void writeDocument()
    {
        if (appender == null)
        {
            appender = queue.createAppender(); // bound to the appending thread
        }
        stagingBuffer.putInt(0, JournalFormat.MAGIC, JournalFormat.ORDER);
        stagingBuffer.putShort(4, JournalFormat.VERSION, JournalFormat.ORDER);
        stagingBuffer.putShort(6, (short)0, JournalFormat.ORDER);
        stagingBuffer.putLong(8, stagedFirst, JournalFormat.ORDER);
        stagingBuffer.putInt(16, stagedCount, JournalFormat.ORDER);
        final int length = JournalFormat.documentLength(stagedCount);
        stagingBuffer.putInt(length - JournalFormat.TRAILER_LENGTH,
            JournalFormat.crc(staging, length - JournalFormat.TRAILER_LENGTH, crc), JournalFormat.ORDER);
        space.beforeDocument(length);
        try (DocumentContext document = appender.writingDocument())
        {
            final Bytes<?> bytes = document.wire().bytes();
            bytes.write(staging, 0, length);
            space.afterDocument(bytes.writePosition());
        }
        documents++;
        stagedCount = 0;
        dirty = true;
    }
}
