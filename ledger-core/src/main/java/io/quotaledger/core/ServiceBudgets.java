package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Budgets of a virtual key per service, keyed by {@code keyIndex << 32 | serviceId} in a primitive map. Their
 * periods are the key's. An entry is never removed: a removed budget keeps its entry with BUDGET = -1 (and counts
 * nothing), so the capacity counts (key, service) pairs ever given a budget, as free quotas do. Five longs each:
 * KEY, BUDGET, SPENT, PERIOD, SINCE (as in {@link VirtualKeys}).
 */
final class ServiceBudgets
{
    static final int MISSING = -1;

    private static final float LOAD_FACTOR = 0.65f;

    private static final int STRIDE = 5;
    private static final int KEY = 0;
    private static final int BUDGET = 1;
    private static final int SPENT = 2;
    private static final int PERIOD = 3;
    private static final int SINCE = 4;

    private final Long2LongHashMap indexByKey;
    private long[] data;
    private int count;

    ServiceBudgets(final int expected)
    {
        indexByKey = new Long2LongHashMap(Hashing.mapCapacity(expected, LOAD_FACTOR), LOAD_FACTOR, MISSING);
        data = new long[expected * STRIDE];
    }

    static long key(final int virtualKey, final int serviceId)
    {
        return ((long)virtualKey << 32) | (serviceId & 0xFFFF_FFFFL);
    }

    int count()
    {
        return count;
    }

    int find(final int virtualKey, final int serviceId)
    {
        return (int)indexByKey.get(key(virtualKey, serviceId));
    }

    int create(final int virtualKey, final int serviceId)
    {
        if (count * STRIDE == data.length)
        {
            data = Arrays.copyOf(data, (count + (count >> 1) + 16) * STRIDE);
        }
        final int entry = count++;
        final int base = entry * STRIDE;
        Arrays.fill(data, base, base + STRIDE, 0);
        data[base + KEY] = key(virtualKey, serviceId);
        data[base + BUDGET] = -1;
        indexByKey.put(data[base + KEY], entry);
        return entry;
    }

    /**
     * @return the budget per period, -1 when removed.
     */
    long budget(final int entry)
    {
        return data[entry * STRIDE + BUDGET];
    }

    boolean active(final int entry)
    {
        return budget(entry) >= 0;
    }

    long since(final int entry)
    {
        return data[entry * STRIDE + SINCE];
    }

    long period(final int entry)
    {
        return data[entry * STRIDE + PERIOD];
    }

    long spent(final int entry)
    {
        return data[entry * STRIDE + SPENT];
    }

    /**
     * @return spend in the key's current period; nothing counts from before the key's spend last started over
     * ({@code keySince}: a changed reset of the key starts its service budgets over too).
     */
    long spentIn(final int entry, final long currentPeriod, final long keySince)
    {
        return period(entry) == currentPeriod && since(entry) >= keySince ? spent(entry) : 0;
    }

    /**
     * Sets the budget; an entry that had none starts counting from 0 at {@code since}.
     */
    void budget(final int entry, final long budget, final long since, final long currentPeriod)
    {
        final int base = entry * STRIDE;
        if (data[base + BUDGET] < 0 && budget >= 0)
        {
            data[base + SPENT] = 0;
            data[base + PERIOD] = currentPeriod;
            data[base + SINCE] = since;
        }
        data[base + BUDGET] = budget;
    }

    void spend(final int entry, final long period, final long spent, final long keySince)
    {
        final int base = entry * STRIDE;
        data[base + PERIOD] = period;
        data[base + SPENT] = spent;
        data[base + SINCE] = Math.max(data[base + SINCE], keySince);
    }

    /**
     * Order-independent digest.
     */
    long checksum()
    {
        long sum = Hashing.mix(count);
        for (int e = 0; e < count; e++)
        {
            final int base = e * STRIDE;
            long h = Hashing.mix(data[base]);
            for (int f = 1; f < STRIDE; f++)
            {
                h = Hashing.combine(h, data[base + f]);
            }
            sum += h;
        }
        return sum;
    }

    int snapshotLength()
    {
        return Integer.BYTES + count * STRIDE * Long.BYTES;
    }

    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, count, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0, n = count * STRIDE; i < n; i++)
        {
            buffer.putLong(p, data[i], ByteOrder.LITTLE_ENDIAN);
            p += Long.BYTES;
        }
        return p - offset;
    }

    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int e = 0; e < n; e++)
        {
            final long key = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
            final int entry = create((int)(key >>> 32), (int)key);
            for (int f = 0; f < STRIDE; f++)
            {
                data[entry * STRIDE + f] = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
                p += Long.BYTES;
            }
        }
        return p - offset;
    }
}
