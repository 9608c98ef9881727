package io.quotaledger.journal;

import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.ResultCode;
import net.openhft.chronicle.bytes.Bytes;
import net.openhft.chronicle.queue.ExcerptTailer;
import net.openhft.chronicle.queue.TailerDirection;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Reads the journal in order, checking every document. Opening it first checks its files ({@link JournalFiles}): a
 * file cut short or headers zeroed refuse with {@link JournalCorruptedException} before Chronicle maps anything.
 *
 * <p>A bad document (a complete one that fails its check) is passed over when the next good document continues the
 * sequence exactly where the last good one ended: the ledger restarted after it and went on from the last good
 * outcome, so nothing is lost now. A bad document followed by a gap, or any other gap, is corruption: reading stops
 * with {@link JournalCorruptedException}, because going on would silently lose acknowledged changes. Bad documents at
 * the very end are passed over by {@link #read} and reported by {@link #end()}: whether to refuse them is the
 * caller's decision ({@link Recovery} refuses unless told to accept the loss).
 */
public final class JournalReader implements AutoCloseable
{
    /**
     * Receives outcomes in journal order. The outcome object is reused.
     */
    @FunctionalInterface
    public interface OutcomeHandler
    {
        /**
         * @return false to stop reading after this outcome.
         */
        boolean onOutcome(long sequence, Outcome outcome);
    }

    /**
     * What a read found.
     *
     * @param outcomes      outcomes handed to the handler.
     * @param lastSequence  sequence of the last outcome read (or of the last one before the start, if none).
     * @param documents     documents read, including skipped ones.
     * @param skipped       bad documents passed over: those the journal continues after exactly, and those at its
     *                      end ({@link #end()} tells them apart).
     * @param tornTail      what was wrong with the last bad document passed over, or null when there was none.
     * @param stopped       true when the handler asked to stop.
     */
    public record ReadResult(
        long outcomes, long lastSequence, long documents, long skipped, String tornTail, boolean stopped)
    {
    }

    /**
     * What one cycle file holds. Sequences are those of its well-formed documents, -1 when it has none.
     */
    public record CycleInfo(
        int cycle, java.io.File file, long documents, long badDocuments, long firstSequence, long lastSequence)
    {
    }

    /**
     * Where the journal ends.
     *
     * @param lastSequence  sequence of the last good outcome, 0 when there is none.
     * @param badDocuments  complete documents after the last good one that fail their check (0 normally): their
     *                      outcomes were written whole, so they may have been acknowledged.
     * @param problem       what is wrong with the newest of them, where it is and what it follows; null when none.
     */
    public record End(long lastSequence, long badDocuments, String problem)
    {
    }

    /**
     * A scan of the journal's cycle files from the oldest.
     *
     * @param cycles        the files seen, oldest first.
     * @param reachedStop   true when the scan stopped at a document ending after the stop sequence (the last cycle
     *                      listed was then not read to its end).
     * @param lastCycle     the newest cycle number the queue knows.
     */
    public record CycleScan(List<CycleInfo> cycles, boolean reachedStop, int lastCycle)
    {
    }

    private final SingleChronicleQueue queue;
    private final CRC32C crc = new CRC32C();
    private final Outcome outcome = new Outcome();
    private byte[] bytes = new byte[JournalFormat.documentLength(JournalAppender.MAX_OUTCOMES_PER_DOCUMENT)];
    private final UnsafeBuffer buffer = new UnsafeBuffer(bytes);
    private ExcerptTailer followTailer;
    private long followSequence;
    private long followExpected;
    private long lastExpected;

    private JournalReader(final SingleChronicleQueue queue)
    {
        this.queue = queue;
    }

    /**
     * Opens the journal of a data directory for reading, once its files check out; an absent journal reads as empty.
     *
     * @throws JournalCorruptedException when a file lost complete documents or is cut short ({@link JournalFiles}).
     */
    public static JournalReader open(final DataDir dir)
    {
        final JournalFiles.Check check;
        try
        {
            check = JournalFiles.check(dir);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException("checking the journal files in " + dir.journal(), ex);
        }
        if (!check.damage().isEmpty())
        {
            throw JournalFiles.refusal(check.damage());
        }
        return openUnchecked(dir);
    }

    /**
     * Opens without checking the files: for a caller that just checked them.
     */
    static JournalReader openUnchecked(final DataDir dir)
    {
        return new JournalReader(JournalFiles.openForReading(dir));
    }

    /**
     * Reads every outcome with a sequence above {@code afterSequence}, in order, until the end of the journal.
     */
    public ReadResult read(final long afterSequence, final OutcomeHandler handler)
    {
        return read(queue.createTailer(), 0, afterSequence, handler);
    }

    /**
     * Like {@link #read}, for a reader that follows a growing journal: when {@code afterSequence} is where the previous
     * call ended, reading goes on from there instead of passing over every older document again. Any other start
     * (or a previous call that stopped early or failed) reads from the oldest document as {@link #read} does.
     */
    public ReadResult follow(final long afterSequence, final OutcomeHandler handler)
    {
        final boolean resume = followTailer != null && followSequence == afterSequence;
        final ExcerptTailer tailer = resume ? followTailer : queue.createTailer();
        final long expected = resume ? followExpected : 0;
        if (!resume && followTailer != null)
        {
            followTailer.close();
        }
        followTailer = null; // set again only when this read ends at the journal's end
        final ReadResult result = read(tailer, expected, afterSequence, handler);
        if (result.stopped())
        {
            tailer.close();
        }
        else
        {
            followTailer = tailer;
            followSequence = result.lastSequence();
            followExpected = lastExpected;
        }
        return result;
    }

    private ReadResult read(
        final ExcerptTailer tailer, final long expectedFirst, final long afterSequence, final OutcomeHandler handler)
    {
        long expected = expectedFirst; // where the next document must start, once a good one has been seen
        long last = afterSequence;
        long outcomes = 0;
        long documents = 0;
        long skipped = 0;
        String torn = null;
        while (true)
        {
            final int length;
            final long index;
            try (DocumentContext document = tailer.readingDocument())
            {
                if (!document.isPresent())
                {
                    lastExpected = expected;
                    return new ReadResult(outcomes, last, documents, skipped, torn, false);
                }
                index = document.index();
                final Bytes<?> source = document.wire().bytes();
                final long coveredEnd = coveredEnd(source, afterSequence, expected);
                if (coveredEnd > 0)
                {
                    // wholly before the start (a snapshot covers it): its header suffices, no copy, no checksum
                    documents++;
                    expected = coveredEnd;
                    continue;
                }
                length = copy(source);
            }
            documents++;
            final String problem = JournalFormat.check(buffer, bytes, length, crc);
            if (problem != null)
            {
                skipped++;
                torn = problem + " at index " + Long.toHexString(index);
                continue; // whether anything was lost shows at the next good document
            }
            final long first = JournalFormat.firstSequence(buffer);
            final int count = JournalFormat.count(buffer);
            if (expected != 0 && first != expected)
            {
                throw new JournalCorruptedException("journal gap at index " + Long.toHexString(index) +
                    ": expected sequence " + expected + ", found " + first +
                    (torn == null ? "" : " after a bad document (" + torn + ")"));
            }
            expected = first + count;
            for (int i = 0; i < count; i++)
            {
                final long sequence = first + i;
                if (sequence <= afterSequence)
                {
                    continue;
                }
                if (!outcome.decode(buffer, JournalFormat.outcomeOffset(i)))
                {
                    throw new JournalCorruptedException(undecodable(sequence, JournalFormat.outcomeOffset(i)));
                }
                outcomes++;
                last = sequence;
                if (!handler.onOutcome(sequence, outcome))
                {
                    return new ReadResult(outcomes, last, documents, skipped, torn, true);
                }
            }
        }
    }

    /**
     * @return why an outcome with a good checksum does not decode: most likely codes (type, operation, result) this
     * version does not know, written by a newer version of the ledger.
     */
    private String undecodable(final long sequence, final int offset)
    {
        final int type = buffer.getByte(offset) & 0xFF;
        final int op = buffer.getByte(offset + 1) & 0xFF;
        final int code = buffer.getByte(offset + 2) & 0xFF;
        final boolean unknown = OutcomeType.fromCode(type) == null || Op.fromCode(op) == null ||
            ResultCode.fromCode(code) == null;
        return "undecodable outcome " + sequence + " with a good checksum (type " + type + ", op " + op +
            ", result code " + code + ")" + (unknown ? ": a code this version does not know; was the journal " +
            "written by a newer version of the ledger?" : "");
    }

    /**
     * @return the sequence of the last good outcome in the journal, 0 when it has none. Reads backwards from the end,
     * past bad documents, so it costs one or two documents, not a scan.
     */
    public long lastSequence()
    {
        return end().lastSequence();
    }

    /**
     * @return the journal's end: its last good outcome and any bad documents after it. Reads backwards from the end.
     */
    public End end()
    {
        final ExcerptTailer tailer = queue.createTailer().direction(TailerDirection.BACKWARD).toEnd();
        long bad = 0;
        String problem = null;
        while (true)
        {
            try (DocumentContext document = tailer.readingDocument())
            {
                if (!document.isPresent())
                {
                    return new End(0, bad, problem == null ? null : problem + ", and the journal has no good one");
                }
                final long index = document.index();
                final int length = copy(document.wire().bytes());
                final String wrong = JournalFormat.check(buffer, bytes, length, crc);
                if (wrong == null)
                {
                    final long last = JournalFormat.firstSequence(buffer) + JournalFormat.count(buffer) - 1;
                    return new End(last, bad, problem == null ? null : problem + "; it follows outcome " + last);
                }
                if (bad++ == 0)
                {
                    problem = "the newest journal document (index " + Long.toHexString(index) + " in " +
                        tailer.currentFile().getName() + JournalFormat.claims(buffer, length) + ") is complete but " +
                        "fails its check: " + wrong;
                }
            }
        }
    }

    /**
     * Reads the journal from its oldest document, noting what each cycle file holds, until a document ends after
     * {@code stopAfterSequence} (Long.MAX_VALUE: to the end). For archiving: which files recovery still needs.
     */
    public CycleScan cycles(final long stopAfterSequence)
    {
        final List<CycleInfo> cycles = new ArrayList<>();
        final ExcerptTailer tailer = queue.createTailer();
        int current = Integer.MIN_VALUE;
        java.io.File file = null;
        long documents = 0;
        long bad = 0;
        long first = -1;
        long last = -1;
        boolean reachedStop = false;
        while (!reachedStop)
        {
            try (DocumentContext document = tailer.readingDocument())
            {
                if (!document.isPresent())
                {
                    break;
                }
                final int cycle = queue.rollCycle().toCycle(document.index());
                if (cycle != current)
                {
                    if (file != null)
                    {
                        cycles.add(new CycleInfo(current, file, documents, bad, first, last));
                    }
                    current = cycle;
                    file = tailer.currentFile();
                    documents = 0;
                    bad = 0;
                    first = -1;
                    last = -1;
                }
                documents++;
                final int length = copy(document.wire().bytes());
                if (JournalFormat.check(buffer, bytes, length, crc) != null)
                {
                    bad++;
                    continue;
                }
                first = first < 0 ? JournalFormat.firstSequence(buffer) : first;
                last = JournalFormat.firstSequence(buffer) + JournalFormat.count(buffer) - 1;
                reachedStop = last > stopAfterSequence;
            }
        }
        if (file != null)
        {
            cycles.add(new CycleInfo(current, file, documents, bad, first, last));
        }
        return new CycleScan(List.copyOf(cycles), reachedStop, queue.lastCycle());
    }

    public void close()
    {
        if (followTailer != null)
        {
            followTailer.close();
            followTailer = null;
        }
        queue.close();
    }

    /**
     * @return the sequence after the document when its header says it lies wholly at or before {@code afterSequence}
     * and continues the sequence as expected; 0 when it must be read in full.
     */
    private static long coveredEnd(final Bytes<?> source, final long afterSequence, final long expected)
    {
        final long position = source.readPosition();
        if (source.readRemaining() < JournalFormat.HEADER_LENGTH || source.readInt(position) != JournalFormat.MAGIC)
        {
            return 0;
        }
        final long first = source.readLong(position + 8);
        final int count = source.readInt(position + 16);
        final boolean continues = expected == 0 || first == expected;
        return continues && count > 0 && first + count - 1 <= afterSequence ? first + count : 0;
    }

    private int copy(final Bytes<?> source)
    {
        final int length = (int)source.readRemaining();
        if (length > bytes.length)
        {
            bytes = new byte[length];
            buffer.wrap(bytes);
        }
        source.read(bytes, 0, length);
        return length;
    }
}
