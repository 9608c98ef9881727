package io.quotaledger.journal;

import io.quotaledger.core.Outcome;
import org.agrona.DirectBuffer;

import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The layout of one journal document (one Chronicle Queue excerpt), written per ring batch:
 *
 * <pre>
 * offset  field
 *   0     magic (int)            0x4A4C4751 "QGLJ"
 *   4     version (short), reserved (short)
 *   8     first sequence (long)  sequence number of the first outcome; outcomes are numbered 1, 2, 3... with no gaps
 *  16     count (int)            outcomes in this document
 *  20     outcomes               count * Outcome.LENGTH bytes (Outcome's own fixed layout)
 *  ...    crc32c (int)           over every byte before it
 * </pre>
 *
 * Chronicle Queue never shows a reader a document whose write did not complete (that is a torn tail); the checksum
 * catches anything else (a torn page after a power loss, a damaged disk), in a document that was complete and so may
 * have been acknowledged.
 */
public final class JournalFormat
{
    public static final int MAGIC = 0x4A4C4751;
    public static final short VERSION = 1;
    public static final int HEADER_LENGTH = 20;
    public static final int TRAILER_LENGTH = 4;
    static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private JournalFormat()
    {
    }

    public static int documentLength(final int outcomeCount)
    {
        return HEADER_LENGTH + outcomeCount * Outcome.LENGTH + TRAILER_LENGTH;
    }

    static int crc(final byte[] bytes, final int length, final CRC32C crc)
    {
        crc.reset();
        crc.update(bytes, 0, length);
        return (int)crc.getValue();
    }

    /**
     * @return null when the document is well formed, else what is wrong with it.
     */
    static String check(final DirectBuffer buffer, final byte[] bytes, final int length, final CRC32C crc)
    {
        if (length < HEADER_LENGTH + TRAILER_LENGTH)
        {
            return "document of " + length + " bytes is shorter than a header";
        }
        if (buffer.getInt(0, ORDER) != MAGIC)
        {
            return "bad magic " + Integer.toHexString(buffer.getInt(0, ORDER));
        }
        if (buffer.getShort(4, ORDER) != VERSION)
        {
            return "unknown journal version " + buffer.getShort(4, ORDER);
        }
        final int count = buffer.getInt(16, ORDER);
        if (count < 0 || documentLength(count) != length)
        {
            return "count " + count + " does not fit a document of " + length + " bytes";
        }
        final int expected = buffer.getInt(length - TRAILER_LENGTH, ORDER);
        final int actual = crc(bytes, length - TRAILER_LENGTH, crc);
        return expected == actual ? null : "checksum mismatch";
    }

    /**
     * @return for messages: the outcomes a document says it holds when its header looks sound, else an empty string.
     */
    static String claims(final DirectBuffer buffer, final int length)
    {
        final long last = length < HEADER_LENGTH ? -1 : claimedLast(buffer);
        return last < 0 ? "" : ", outcomes " + firstSequence(buffer) + " to " + last + " by its header";
    }

    /**
     * @return the last outcome a document's header says it holds (its first {@link #HEADER_LENGTH} bytes), -1 when
     * the header does not look sound.
     */
    static long claimedLast(final DirectBuffer buffer)
    {
        final int count = count(buffer);
        return buffer.getInt(0, ORDER) == MAGIC && count > 0 && count <= JournalAppender.MAX_OUTCOMES_PER_DOCUMENT ?
            firstSequence(buffer) + count - 1 : -1;
    }

    static long firstSequence(final DirectBuffer buffer)
    {
        return buffer.getLong(8, ORDER);
    }

    static int count(final DirectBuffer buffer)
    {
        return buffer.getInt(16, ORDER);
    }

    static int outcomeOffset(final int i)
    {
        return HEADER_LENGTH + i * Outcome.LENGTH;
    }
}
