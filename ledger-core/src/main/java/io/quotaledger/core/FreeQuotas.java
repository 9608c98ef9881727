package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Free allowances per (account, service): allowance, units used and the period those units belong to. Keyed by
 * {@code accountIndex << 32 | serviceId} in a primitive map.
 *
 * <p>The period is stored as one <em>period key</em>: type (bits 0-7), period id (bits 8-39) and a generation
 * (bits 40-63) that a GRANT changing the period type advances. Units taken by a hold go back only to the very period
 * and generation they came from, so DAY, then WEEK, then DAY again never revives a revoked period's units. (The
 * generation wraps after 2^24 type changes, far beyond any hold's lifetime.)
 */
final class FreeQuotas
{
    static final int MISSING = -1;

    private static final float LOAD_FACTOR = 0.65f;

    private static final int STRIDE = 3;
    private static final int ALLOWANCE = 0;
    private static final int USED = 1;
    private static final int PERIOD_KEY = 2;

    private final Long2LongHashMap indexByKey;
    private long[] data;
    private int count;
    private final PeriodMemo periods = new PeriodMemo();

    FreeQuotas(final int expectedQuotas)
    {
        indexByKey = new Long2LongHashMap(Hashing.mapCapacity(expectedQuotas, LOAD_FACTOR), LOAD_FACTOR, MISSING);
        data = new long[expectedQuotas * STRIDE];
    }

    static long key(final int account, final int serviceId)
    {
        return ((long)account << 32) | (serviceId & 0xFFFF_FFFFL);
    }

    private static final long TYPE_AND_ID_MASK = (1L << 40) - 1;
    private static final long GENERATION_MASK = ~TYPE_AND_ID_MASK;

    static long periodKey(final Period type, final long periodId, final long generation)
    {
        return (generation << 40) | ((periodId & 0xFFFF_FFFFL) << 8) | type.code();
    }

    static Period periodType(final long periodKey)
    {
        return Period.fromCode((int)(periodKey & 0xFF));
    }

    static int periodId(final long periodKey)
    {
        return (int)(periodKey >>> 8);
    }

    private static long generation(final long periodKey)
    {
        return periodKey >>> 40;
    }

    int count()
    {
        return count;
    }

    int find(final int account, final int serviceId)
    {
        return (int)indexByKey.get(key(account, serviceId));
    }

    int open(final int account, final int serviceId)
    {
        if ((count + 1) * STRIDE > data.length)
        {
            data = Arrays.copyOf(data, (count + (count >> 1) + 16) * STRIDE);
        }
        final int quota = count++;
        indexByKey.put(key(account, serviceId), quota);
        return quota;
    }

    long allowance(final int quota)
    {
        return data[quota * STRIDE + ALLOWANCE];
    }

    long used(final int quota)
    {
        return data[quota * STRIDE + USED];
    }

    long periodKey(final int quota)
    {
        return data[quota * STRIDE + PERIOD_KEY];
    }

    /**
     * @return the period key current at {@code now} for this quota's period type and generation.
     */
    long currentPeriodKey(final int quota, final long now)
    {
        final long stored = periodKey(quota);
        final Period type = periodType(stored);
        return periodKey(type, periods.periodId(type, now), 0) | (stored & GENERATION_MASK);
    }

    /**
     * @return units used in the period current at {@code now}: zero once the stored period has rolled.
     */
    long usedAt(final int quota, final long now)
    {
        return periodKey(quota) == currentPeriodKey(quota, now) ? used(quota) : 0;
    }

    long remainingAt(final int quota, final long now)
    {
        return Math.max(0, allowance(quota) - usedAt(quota, now));
    }

    /**
     * Sets an allowance, opening the quota when new; a change of period type starts a new generation.
     */
    void grant(
        final int account,
        final int serviceId,
        final long allowance,
        final long used,
        final Period type,
        final int periodId)
    {
        int quota = find(account, serviceId);
        long generation = 0;
        if (quota == MISSING)
        {
            quota = open(account, serviceId);
        }
        else
        {
            final long stored = periodKey(quota);
            generation = periodType(stored) == type ? generation(stored) : (generation(stored) + 1) & 0xFF_FFFF;
        }
        final int base = quota * STRIDE;
        data[base + ALLOWANCE] = allowance;
        data[base + USED] = used;
        data[base + PERIOD_KEY] = periodKey(type, periodId, generation);
    }

    /**
     * Records the units used in a period of this quota's type and generation.
     *
     * @return the period key the units belong to.
     */
    long use(final int quota, final long used, final int periodId)
    {
        final int base = quota * STRIDE;
        final long periodKey = (data[base + PERIOD_KEY] & ~(TYPE_AND_ID_MASK ^ 0xFF)) | ((periodId & 0xFFFF_FFFFL) << 8);
        data[base + USED] = used;
        data[base + PERIOD_KEY] = periodKey;
        return periodKey;
    }

    /**
     * Order-independent digest; accounts are named by user id, not by index.
     */
    long checksum(final Accounts accounts)
    {
        final long[] sum = { Hashing.mix(count) };
        indexByKey.forEachLong((key, quota) ->
        {
            long h = Hashing.mix(accounts.userId((int)(key >>> 32)));
            h = Hashing.combine(h, (int)key);
            final int base = (int)quota * STRIDE;
            h = Hashing.combine(h, data[base + ALLOWANCE]);
            h = Hashing.combine(h, data[base + USED]);
            sum[0] += Hashing.combine(h, data[base + PERIOD_KEY]);
        });
        return sum[0];
    }

    int snapshotLength()
    {
        return Integer.BYTES + count * 4 * Long.BYTES;
    }

    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        buffer.putInt(offset, count, ByteOrder.LITTLE_ENDIAN);
        final int[] p = { offset + Integer.BYTES };
        indexByKey.forEachLong((key, quota) ->
        {
            buffer.putLong(p[0], key, ByteOrder.LITTLE_ENDIAN);
            for (int f = 0; f < STRIDE; f++)
            {
                buffer.putLong(p[0] + (f + 1) * Long.BYTES, data[(int)quota * STRIDE + f], ByteOrder.LITTLE_ENDIAN);
            }
            p[0] += 4 * Long.BYTES;
        });
        return p[0] - offset;
    }

    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0; i < n; i++)
        {
            final long key = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
            final int quota = open((int)(key >>> 32), (int)key);
            for (int f = 0; f < STRIDE; f++)
            {
                data[quota * STRIDE + f] = buffer.getLong(p + (f + 1) * Long.BYTES, ByteOrder.LITTLE_ENDIAN);
            }
            p += 4 * Long.BYTES;
        }
        return p - offset;
    }
}
