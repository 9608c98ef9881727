package io.quotaledger.core;

import java.util.Arrays;

/**
 * Open-addressing hash index from a 128-bit request id to an int. The whole id is the key, compared in full: two
 * different ids are never confused. Id {@code 0:0} marks an empty slot and is refused by the ledger. Linear probing
 * with backward-shift deletion, so there are no tombstones and lookups stay short under churn.
 *
 * <p>A slot is three longs (id high, id low, then the id's hash in the upper half and the value in the lower), so a
 * lookup costs one cache miss and a deletion finds the home slot of the entries it shifts without rehashing them.
 * Callers that look an id up and then insert it pass the {@link #hash} once.
 */
final class RequestIdIndex
{
    static final int MISSING = -1;

    private static final int MIN_CAPACITY = 16;
    private static final int STRIDE = 3;

    private long[] table;
    private int mask;
    private int size;
    private int resizeThreshold;
    private final boolean growable;

    /**
     * @param expectedSize entries to hold without resizing (kept at most half full).
     * @param growable     whether to grow past expectedSize; a fixed index must never be asked to hold more.
     */
    RequestIdIndex(final int expectedSize, final boolean growable)
    {
        this.growable = growable;
        allocate(capacityFor(expectedSize));
    }

    private static int capacityFor(final int expectedSize)
    {
        final long wanted = Math.max(MIN_CAPACITY, 2L * expectedSize);
        return (int)Math.min(1L << 30, Long.highestOneBit(wanted - 1) << 1);
    }

    private void allocate(final int capacity)
    {
        table = new long[capacity * STRIDE];
        mask = capacity - 1;
        resizeThreshold = capacity / 2;
        size = 0;
    }

    static int hash(final long hi, final long lo)
    {
        return (int)Hashing.mix(hi, lo);
    }

    int size()
    {
        return size;
    }

    int get(final long hi, final long lo)
    {
        return get(hi, lo, hash(hi, lo));
    }

    int get(final long hi, final long lo, final int hash)
    {
        int slot = hash & mask;
        while (true)
        {
            final int base = slot * STRIDE;
            final long kHi = table[base];
            final long kLo = table[base + 1];
            if (kHi == hi && kLo == lo)
            {
                return (int)table[base + 2];
            }
            if (kHi == 0 && kLo == 0)
            {
                return MISSING;
            }
            slot = (slot + 1) & mask;
        }
    }

    void put(final long hi, final long lo, final int value)
    {
        put(hi, lo, hash(hi, lo), value);
    }

    /**
     * Inserts or replaces.
     */
    void put(final long hi, final long lo, final int hash, final int value)
    {
        final long hashAndValue = ((long)hash << 32) | (value & 0xFFFF_FFFFL);
        int slot = hash & mask;
        while (true)
        {
            final int base = slot * STRIDE;
            final long kHi = table[base];
            final long kLo = table[base + 1];
            if (kHi == hi && kLo == lo)
            {
                table[base + 2] = hashAndValue;
                return;
            }
            if (kHi == 0 && kLo == 0)
            {
                table[base] = hi;
                table[base + 1] = lo;
                table[base + 2] = hashAndValue;
                if (++size > resizeThreshold)
                {
                    grow();
                }
                return;
            }
            slot = (slot + 1) & mask;
        }
    }

    /**
     * Removes the id only while it maps to {@code value}: an id re-inserted for a newer entry is left alone.
     */
    boolean remove(final long hi, final long lo, final int value)
    {
        int slot = hash(hi, lo) & mask;
        while (true)
        {
            final int base = slot * STRIDE;
            final long kHi = table[base];
            final long kLo = table[base + 1];
            if (kHi == hi && kLo == lo)
            {
                if ((int)table[base + 2] != value)
                {
                    return false;
                }
                deleteAt(slot);
                return true;
            }
            if (kHi == 0 && kLo == 0)
            {
                return false;
            }
            slot = (slot + 1) & mask;
        }
    }

    void clear()
    {
        Arrays.fill(table, 0);
        size = 0;
    }

    private void deleteAt(final int deleted)
    {
        int hole = deleted;
        int slot = (hole + 1) & mask;
        while (true)
        {
            final int base = slot * STRIDE;
            if (table[base] == 0 && table[base + 1] == 0)
            {
                break;
            }
            final int home = (int)(table[base + 2] >>> 32) & mask;
            // move the entry back into the hole unless its home lies cyclically in (hole, slot]
            if (((slot - home) & mask) >= ((slot - hole) & mask))
            {
                final int holeBase = hole * STRIDE;
                table[holeBase] = table[base];
                table[holeBase + 1] = table[base + 1];
                table[holeBase + 2] = table[base + 2];
                hole = slot;
            }
            slot = (slot + 1) & mask;
        }
        table[hole * STRIDE] = 0;
        table[hole * STRIDE + 1] = 0;
        size--;
    }

    private void grow()
    {
        if (!growable)
        {
            throw new IllegalStateException("fixed request id index over capacity: " + size);
        }
        final long[] old = table;
        allocate((mask + 1) * 2);
        for (int base = 0; base < old.length; base += STRIDE)
        {
            if (old[base] != 0 || old[base + 1] != 0)
            {
                put(old[base], old[base + 1], (int)(old[base + 2] >>> 32), (int)old[base + 2]);
            }
        }
    }
}
