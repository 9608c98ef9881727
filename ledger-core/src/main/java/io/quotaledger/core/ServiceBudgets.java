package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2LongHashMap;


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
    private final LongRecords records;

    ServiceBudgets(final int expected)
    {
        indexByKey = new Long2LongHashMap(Hashing.mapCapacity(expected, LOAD_FACTOR), LOAD_FACTOR, MISSING);
        records = new LongRecords(STRIDE, expected);
    }

    static long key(final int virtualKey, final int serviceId)
    {
        return ((long)virtualKey << 32) | (serviceId & 0xFFFF_FFFFL);
    }

    int count()
    {
        return records.count();
    }

    int find(final int virtualKey, final int serviceId)
    {
        return (int)indexByKey.get(key(virtualKey, serviceId));
    }

    int create(final int virtualKey, final int serviceId)
    {
        final int entry = records.add();
        records.set(entry, KEY, key(virtualKey, serviceId));
        records.set(entry, BUDGET, -1);
        indexByKey.put(records.get(entry, KEY), entry);
        return entry;
    }

    /**
     * @return the budget per period, -1 when removed.
     */
    long budget(final int entry)
    {
        return records.get(entry, BUDGET);
    }

    boolean active(final int entry)
    {
        return budget(entry) >= 0;
    }

    long since(final int entry)
    {
        return records.get(entry, SINCE);
    }

    long period(final int entry)
    {
        return records.get(entry, PERIOD);
    }

    long spent(final int entry)
    {
        return records.get(entry, SPENT);
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
        if (records.get(entry, BUDGET) < 0 && budget >= 0)
        {
            records.set(entry, SPENT, 0);
            records.set(entry, PERIOD, currentPeriod);
            records.set(entry, SINCE, since);
        }
        records.set(entry, BUDGET, budget);
    }

    void spend(final int entry, final long period, final long spent, final long keySince)
    {
        records.set(entry, PERIOD, period);
        records.set(entry, SPENT, spent);
        records.set(entry, SINCE, Math.max(records.get(entry, SINCE), keySince));
    }

    /**
     * Order-independent digest.
     */
    long checksum()
    {
        return records.digest(STRIDE);
    }

    int snapshotLength()
    {
        return records.snapshotLength();
    }

    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        return records.writeSnapshot(buffer, offset);
    }

    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        final int length = records.readSnapshot(buffer, offset);
        indexByKey.clear();
        for (int entry = 0, n = records.count(); entry < n; entry++)
        {
            indexByKey.put(records.get(entry, KEY), entry);
        }
        return length;
    }
}
