package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Records of a fixed number of longs, back to back in one array that grows by half when full: the storage of the
 * policy tables (keys, service budgets, limits), one array and no object per record. Records are never removed, so a
 * record's index is stable and its owner's map can hold it. The snapshot form is the count, then every long in index
 * order: loading it gives every record its old index.
 */
final class LongRecords
{
    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private final int stride;
    private long[] data;
    private int count;

    /**
     * @param stride   longs per record.
     * @param expected records to make room for at once.
     */
    LongRecords(final int stride, final int expected)
    {
        this.stride = stride;
        this.data = new long[Math.max(expected, 1) * stride];
    }

    int count()
    {
        return count;
    }

    /**
     * @return the index of a new record, every field 0.
     */
    int add()
    {
        if (count * stride == data.length)
        {
            data = Arrays.copyOf(data, (count + (count >> 1) + 16) * stride);
        }
        final int record = count++;
        Arrays.fill(data, record * stride, (record + 1) * stride, 0);
        return record;
    }

    long get(final int record, final int field)
    {
        return data[record * stride + field];
    }

    void set(final int record, final int field, final long value)
    {
        data[record * stride + field] = value;
    }

    /**
     * Order-independent digest of the first {@code fields} fields of every record (fields after them, such as indexes
     * into other tables, are left to their owners).
     */
    long digest(final int fields)
    {
        long sum = Hashing.mix(count);
        for (int r = 0; r < count; r++)
        {
            final int base = r * stride;
            long h = Hashing.mix(data[base]);
            for (int f = 1; f < fields; f++)
            {
                h = Hashing.combine(h, data[base + f]);
            }
            sum += h;
        }
        return sum;
    }

    int snapshotLength()
    {
        return Integer.BYTES + count * stride * Long.BYTES;
    }

    /**
     * @return where {@link #writeSnapshot} puts a record's field, in bytes from where the snapshot starts.
     */
    int snapshotOffset(final int record, final int field)
    {
        return Integer.BYTES + (record * stride + field) * Long.BYTES;
    }

    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, count, ORDER);
        p += Integer.BYTES;
        for (int i = 0, n = count * stride; i < n; i++)
        {
            buffer.putLong(p, data[i], ORDER);
            p += Long.BYTES;
        }
        return p - offset;
    }

    /**
     * Replaces every record with those of a snapshot; the owner then rebuilds its index from them.
     *
     * @return the bytes read.
     */
    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        int p = offset;
        final int n = buffer.getInt(p, ORDER);
        p += Integer.BYTES;
        if (n * stride > data.length)
        {
            data = new long[n * stride];
        }
        count = n;
        for (int i = 0, length = n * stride; i < length; i++)
        {
            data[i] = buffer.getLong(p, ORDER);
            p += Long.BYTES;
        }
        return p - offset;
    }
}
