package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Virtual keys (the end users' API keys) in flat arrays, found by key id through a primitive map. A key is never
 * removed (a revoked key keeps its record), so its index is a stable handle. The map's value holds the key's index
 * (low 32 bits) and its {@link Limits} record + 1 (high 32 bits, 0: none), so that one probe tells a charge where
 * both records are and it can fetch them at the same time. A record is 11 longs:
 *
 * <pre>
 * KEY_ID, USER_ID
 * BUDGET       per period, -1 unlimited
 * SPENT        spend in period PERIOD (free and paid alike)
 * PERIOD       the period SPENT belongs to
 * RESET        0 never, -1/-2/-3 Period DAY/WEEK/MONTH (minus its code), &gt; 0 a duration in ms from ANCHOR
 * ANCHOR       when the duration was set (epoch ms)
 * EXPIRES_AT   0 never
 * SINCE        the policy sequence number when SPENT started counting (creation or a change of RESET): a hold
 *              opened before that never gives back to it
 * STATE        revoked (bit 63) | open holds (bits 0-31); snapshots and the checksum also carry the limits
 *              record + 1 in bits 32-62, as this word held it before it moved to the map
 * EXTRA        service list + 1 (bits 0-31, 0: every service allowed) | per-service budgets (bits 32-63)
 * </pre>
 *
 * Allowed services are kept apart, in rows of 13 ints (count, then up to 12 sorted ids), only for keys that have
 * a list.
 */
final class VirtualKeys
{
    static final int MISSING = -1;

    /** What {@link #locate} returns for an unknown key: index {@link #MISSING}, no limits. */
    static final long NOT_FOUND = 0xFFFF_FFFFL;

    private static final float LOAD_FACTOR = 0.65f;

    private static final int STRIDE = 11;
    private static final int KEY_ID = 0;
    private static final int USER_ID = 1;
    private static final int BUDGET = 2;
    private static final int SPENT = 3;
    private static final int PERIOD = 4;
    private static final int RESET = 5;
    private static final int ANCHOR = 6;
    private static final int EXPIRES_AT = 7;
    private static final int SINCE = 8;
    private static final int STATE = 9;
    private static final int EXTRA = 10;

    private static final long REVOKED_BIT = Long.MIN_VALUE;
    private static final long OPEN_HOLDS_MASK = 0xFFFF_FFFFL;
    private static final long LIMITS_MASK = ~(REVOKED_BIT | OPEN_HOLDS_MASK);
    private static final int LIST_STRIDE = Command.MAX_SERVICES + 1;

    private final PeriodMemo periods = new PeriodMemo();
    private final Long2LongHashMap indexById;
    private final LongRecords records;
    private int[] lists;
    private int listCount;

    VirtualKeys(final int expectedKeys)
    {
        indexById = new Long2LongHashMap(Hashing.mapCapacity(expectedKeys, LOAD_FACTOR), LOAD_FACTOR, NOT_FOUND);
        records = new LongRecords(STRIDE, expectedKeys);
        lists = new int[16 * LIST_STRIDE];
    }

    /**
     * @return the RESET code of a calendar period or a duration (0 for neither).
     */
    static long resetCode(final Period period, final long resetMillis)
    {
        return period != null ? -period.code() : resetMillis;
    }

    static Period resetPeriod(final long resetCode)
    {
        return resetCode < 0 ? Period.fromCode((int)-resetCode) : null;
    }

    static long resetMillis(final long resetCode)
    {
        return Math.max(resetCode, 0);
    }

    /**
     * @return the number of the key's budget period holding {@code now}: 0 for a key that never resets.
     */
    static long periodId(final long resetCode, final long anchor, final long now)
    {
        if (resetCode == 0)
        {
            return 0;
        }
        if (resetCode < 0)
        {
            return Period.fromCode((int)-resetCode).periodId(now);
        }
        return Math.floorDiv(now - anchor, resetCode);
    }

    int count()
    {
        return records.count();
    }

    int find(final long keyId)
    {
        return keyOf(indexById.get(keyId));
    }

    /**
     * @return where the key and its limits are, for {@link #keyOf} and {@link #limitsOf}; {@link #NOT_FOUND} when
     * there is no such key.
     */
    long locate(final long keyId)
    {
        return indexById.get(keyId);
    }

    /**
     * @return the key's index in a {@link #locate} result, {@link #MISSING} for {@link #NOT_FOUND}.
     */
    static int keyOf(final long location)
    {
        return (int)location;
    }

    /**
     * @return the key's limits record in a {@link #locate} result, {@link Limits#MISSING} when it has none.
     */
    static int limitsOf(final long location)
    {
        return (int)(location >>> 32) - 1;
    }

    private static long location(final int key, final int limits)
    {
        return ((long)(limits + 1) << 32) | key;
    }

    int create(final long keyId, final long userId)
    {
        final int key = records.add();
        records.set(key, KEY_ID, keyId);
        records.set(key, USER_ID, userId);
        indexById.put(keyId, location(key, Limits.MISSING));
        return key;
    }

    long keyId(final int key)
    {
        return records.get(key, KEY_ID);
    }

    long userId(final int key)
    {
        return records.get(key, USER_ID);
    }

    long budget(final int key)
    {
        return records.get(key, BUDGET);
    }

    boolean unlimited(final int key)
    {
        return budget(key) < 0;
    }

    long resetCode(final int key)
    {
        return records.get(key, RESET);
    }

    long anchor(final int key)
    {
        return records.get(key, ANCHOR);
    }

    long expiresAt(final int key)
    {
        return records.get(key, EXPIRES_AT);
    }

    boolean expired(final int key, final long now)
    {
        final long expiresAt = expiresAt(key);
        return expiresAt != 0 && now >= expiresAt;
    }

    long since(final int key)
    {
        return records.get(key, SINCE);
    }

    /**
     * Sets the configuration; a changed reset starts the spend over from {@code now} (anchor and period).
     */
    void configure(
        final int key,
        final long budget,
        final long resetCode,
        final long expiresAt,
        final boolean restart,
        final long since,
        final long now)
    {
        records.set(key, BUDGET, budget);
        records.set(key, EXPIRES_AT, expiresAt);
        if (restart)
        {
            records.set(key, RESET, resetCode);
            records.set(key, ANCHOR, now);
            records.set(key, SINCE, since);
            records.set(key, SPENT, 0);
            records.set(key, PERIOD, periodId(resetCode, now, now));
        }
    }

    long currentPeriod(final int key, final long now)
    {
        final long resetCode = records.get(key, RESET);
        return resetCode < 0 ? periods.periodId(Period.fromCode((int)-resetCode), now) :
            periodId(resetCode, records.get(key, ANCHOR), now);
    }

    long period(final int key)
    {
        return records.get(key, PERIOD);
    }

    long spent(final int key)
    {
        return records.get(key, SPENT);
    }

    /**
     * @return spend in the period holding {@code now}.
     */
    long spentAt(final int key, final long now)
    {
        return spentIn(key, currentPeriod(key, now));
    }

    /**
     * @return spend in period {@code period} (the key's current one, worked out once by the caller).
     */
    long spentIn(final int key, final long period)
    {
        return records.get(key, PERIOD) == period ? records.get(key, SPENT) : 0;
    }

    void spend(final int key, final long period, final long spent)
    {
        records.set(key, PERIOD, period);
        records.set(key, SPENT, spent);
    }

    /**
     * @return what the key may still spend in period {@code period}, -1 when unlimited.
     */
    long remainingIn(final int key, final long period)
    {
        final long budget = budget(key);
        return budget < 0 ? -1 : Math.max(0, budget - spentIn(key, period));
    }

    boolean revoked(final int key)
    {
        return records.get(key, STATE) < 0;
    }

    void revoke(final int key)
    {
        records.set(key, STATE, records.get(key, STATE) | REVOKED_BIT);
    }

    /**
     * @return the key's limits record, {@link Limits#MISSING} when it has none.
     */
    int limits(final int key)
    {
        return limitsOf(indexById.get(records.get(key, KEY_ID)));
    }

    void limits(final int key, final int limits)
    {
        indexById.put(records.get(key, KEY_ID), location(key, limits));
    }

    /**
     * @return the STATE word as snapshots and the checksum have it: with the limits record + 1 in bits 32-62.
     */
    private long storedState(final int key)
    {
        return records.get(key, STATE) | ((long)(limits(key) + 1) << 32);
    }

    int openHolds(final int key)
    {
        return (int)(records.get(key, STATE) & OPEN_HOLDS_MASK);
    }

    void openHolds(final int key, final int openHolds)
    {
        assert openHolds >= 0;
        records.set(key, STATE, (records.get(key, STATE) & ~OPEN_HOLDS_MASK) | openHolds);
    }

    int serviceBudgetCount(final int key)
    {
        return (int)(records.get(key, EXTRA) >>> 32);
    }

    void serviceBudgetCount(final int key, final int serviceBudgets)
    {
        records.set(key, EXTRA, (records.get(key, EXTRA) & 0xFFFF_FFFFL) | ((long)serviceBudgets << 32));
    }

    private int list(final int key)
    {
        return (int)(records.get(key, EXTRA) & 0xFFFF_FFFFL) - 1;
    }

    int serviceCount(final int key)
    {
        final int list = list(key);
        return list < 0 ? 0 : lists[list * LIST_STRIDE];
    }

    int service(final int key, final int index)
    {
        return lists[list(key) * LIST_STRIDE + 1 + index];
    }

    /**
     * @return true when the key has no list of services or its list holds {@code serviceId}.
     */
    boolean allows(final int key, final int serviceId)
    {
        final int list = list(key);
        if (list < 0)
        {
            return true;
        }
        final int base = list * LIST_STRIDE;
        final int n = lists[base];
        for (int i = 1; i <= n; i++)
        {
            if (lists[base + i] == serviceId)
            {
                return true;
            }
        }
        return n == 0; // a list emptied by an update allows every service again
    }

    /**
     * Replaces the key's list of allowed services with the first {@code n} of {@code services}, sorted and without
     * repeats (0: every service allowed). A key keeps its row once it had a list.
     */
    void services(final int key, final int[] services, final int n)
    {
        int list = list(key);
        if (list < 0)
        {
            if (n == 0)
            {
                return;
            }
            if ((listCount + 1) * LIST_STRIDE > lists.length)
            {
                lists = Arrays.copyOf(lists, (listCount + (listCount >> 1) + 16) * LIST_STRIDE);
            }
            list = listCount++;
            records.set(key, EXTRA, (records.get(key, EXTRA) & ~0xFFFF_FFFFL) | (list + 1));
        }
        final int base = list * LIST_STRIDE;
        Arrays.fill(lists, base, base + LIST_STRIDE, 0);
        lists[base] = n;
        System.arraycopy(services, 0, lists, base + 1, n);
    }

    /**
     * Sorts the first {@code n} services in place and drops repeats.
     *
     * @return how many distinct services remain.
     */
    static int normalise(final int[] services, final int n)
    {
        Arrays.sort(services, 0, n);
        int distinct = 0;
        for (int i = 0; i < n; i++)
        {
            if (distinct == 0 || services[distinct - 1] != services[i])
            {
                services[distinct++] = services[i];
            }
        }
        return distinct;
    }

    /**
     * Order-independent digest.
     */
    long checksum()
    {
        final int count = records.count();
        long sum = Hashing.mix(count);
        for (int k = 0; k < count; k++)
        {
            long h = Hashing.mix(records.get(k, 0));
            for (int f = 1; f < STRIDE; f++)
            {
                final long field = f == STATE ? storedState(k) : records.get(k, f);
                h = Hashing.combine(h, f == EXTRA ? field >>> 32 : field); // not the list index
            }
            for (int i = 0, n = serviceCount(k); i < n; i++)
            {
                h = Hashing.combine(h, service(k, i));
            }
            sum += h;
        }
        return sum;
    }

    int snapshotLength()
    {
        return records.snapshotLength() + Integer.BYTES + listCount * LIST_STRIDE * Integer.BYTES;
    }

    /**
     * Writes keys and service lists in index order, so a restore gives every key its old index.
     */
    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset + records.writeSnapshot(buffer, offset);
        for (int key = 0, count = records.count(); key < count; key++)
        {
            buffer.putLong(offset + records.snapshotOffset(key, STATE), storedState(key), ByteOrder.LITTLE_ENDIAN);
        }
        buffer.putInt(p, listCount, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0, n = listCount * LIST_STRIDE; i < n; i++)
        {
            buffer.putInt(p, lists[i], ByteOrder.LITTLE_ENDIAN);
            p += Integer.BYTES;
        }
        return p - offset;
    }

    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        int p = offset + records.readSnapshot(buffer, offset);
        final int count = records.count();
        indexById.clear();
        for (int key = 0; key < count; key++)
        {
            final long state = records.get(key, STATE);
            records.set(key, STATE, state & ~LIMITS_MASK);
            indexById.put(records.get(key, KEY_ID), location(key, (int)((state & LIMITS_MASK) >>> 32) - 1));
        }
        final int rows = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        if (rows < 0 || rows > count)
        {
            throw new IllegalArgumentException("service lists " + rows + " for " + count + " keys");
        }
        lists = Arrays.copyOf(lists, Math.max(lists.length, rows * LIST_STRIDE));
        for (int i = 0; i < rows * LIST_STRIDE; i++)
        {
            lists[i] = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
            p += Integer.BYTES;
        }
        listCount = rows;
        return p - offset;
    }
}
