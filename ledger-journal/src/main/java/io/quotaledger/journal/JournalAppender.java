package io.quotaledger.journal;

import io.quotaledger.core.Outcome;
import net.openhft.chronicle.bytes.SyncMode;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.RollCycle;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueueBuilder;
import net.openhft.chronicle.wire.DocumentContext;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.util.zip.CRC32C;

/**
 * Appends outcomes to the journal: staged as they come, written as one document per {@link #flush()} (the runtime
 * flushes at the end of each ring batch), and in {@link Durability#FSYNC} mode msync'ed before flush returns.
 * Outcomes are numbered from the sequence recovery ended at, with no gaps; a gap is a bug and fails loudly.
 *
 * <p>Single-threaded: {@link #append}, {@link #flush()} and {@link #close()} must come from one thread (the
 * journal stage). {@link #lastSequence()} may be read from any thread.
 */
public final class JournalAppender implements AutoCloseable
{
    /** Outcomes in one document at most; a bigger batch is split over several documents. */
    public static final int MAX_OUTCOMES_PER_DOCUMENT = 512;

    private final SingleChronicleQueue queue;
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

    private JournalAppender(final SingleChronicleQueue queue, final Durability durability, final long lastSequence)
    {
        this.queue = queue;
        this.durability = durability;
        this.nextSequence = lastSequence + 1;
        this.lastSequence = lastSequence;
    }

    /**
     * Opens (creating if needed) the journal of a data directory for appending.
     *
     * @param lastSequence the sequence of the last outcome already in the journal (0 for a new one), from recovery.
     */
    public static JournalAppender open(
        final DataDir dir, final Durability durability, final RollCycle rollCycle, final long lastSequence)
        throws IOException
    {
        dir.create();
        final SingleChronicleQueue queue = Journals.builder(dir, rollCycle)
            .syncMode(durability == Durability.FSYNC ? SyncMode.SYNC : SyncMode.NONE)
            .build();
        return new JournalAppender(queue, durability, lastSequence);
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
        try (DocumentContext document = appender.writingDocument())
        {
            document.wire().bytes().write(staging, 0, length);
        }
        documents++;
        stagedCount = 0;
        dirty = true;
    }
}
