package io.quotaledger.core;

import org.agrona.collections.Long2LongHashMap;

import java.util.Arrays;

/**
 * Free allowances per (account, service): allowance, units used and the period those units belong to. Keyed by
 * {@code accountIndex << 32 | serviceId} in a primitive map; the period is stored as a key
 * {@code periodId << 8 | periodType} so that a period of another type never compares equal.
 */
final class FreeQuotas
{
    static final int MISSING = -1;

    private static final int STRIDE = 3;
    private static final int ALLOWANCE = 0;
    private static final int USED = 1;
    private static final int PERIOD_KEY = 2;

    private final Long2LongHashMap indexByKey;
    private long[] data;
    private int count;

    FreeQuotas(final int expectedQuotas)
    {
        indexByKey = new Long2LongHashMap(expectedQuotas, 0.65f, MISSING);
        data = new long[expectedQuotas * STRIDE];
    }

    static long key(final int account, final int serviceId)
    {
        return ((long)account << 32) | (serviceId & 0xFFFF_FFFFL);
    }

    static long periodKey(final Period type, final long periodId)
    {
        return (periodId << 8) | type.code();
    }

    static Period periodType(final long periodKey)
    {
        return Period.fromCode((int)(periodKey & 0xFF));
    }

    static int periodId(final long periodKey)
    {
        return (int)(periodKey >> 8);
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
     * @return the period key current at {@code now} for this quota's period type.
     */
    long currentPeriodKey(final int quota, final long now)
    {
        final Period type = periodType(periodKey(quota));
        return periodKey(type, type.periodId(now));
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

    void set(final int quota, final long allowance, final long used, final long periodKey)
    {
        final int base = quota * STRIDE;
        data[base + ALLOWANCE] = allowance;
        data[base + USED] = used;
        data[base + PERIOD_KEY] = periodKey;
    }

    void used(final int quota, final long used, final long periodKey)
    {
        final int base = quota * STRIDE;
        data[base + USED] = used;
        data[base + PERIOD_KEY] = periodKey;
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
}
