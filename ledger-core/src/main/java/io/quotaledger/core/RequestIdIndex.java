package io.quotaledger.core;

import java.util.Arrays;

/**
 * Open-addressing hash index from a 128-bit request id to an int. The whole id is the key, compared in full: two
 * different ids are never confused. Id {@code 0:0} marks an empty slot and is refused by the ledger. Linear probing
 * with backward-shift deletion, so there are no tombstones and lookups stay short under churn.
 */
final class RequestIdIndex
{
    static final int MISSING = -1;

    private static final int MIN_CAPACITY = 16;

    private long[] keys; // hi, lo pairs
    private int[] values;
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
        keys = new long[capacity * 2];
        values = new int[capacity];
        mask = capacity - 1;
        resizeThreshold = capacity / 2;
        size = 0;
    }

    int size()
    {
        return size;
    }

    int get(final long hi, final long lo)
    {
        int slot = slotFor(hi, lo);
        while (true)
        {
            final long kHi = keys[slot * 2];
            final long kLo = keys[slot * 2 + 1];
            if (kHi == hi && kLo == lo)
            {
                return values[slot];
            }
            if (kHi == 0 && kLo == 0)
            {
                return MISSING;
            }
            slot = (slot + 1) & mask;
        }
    }

    /**
     * Inserts or replaces.
     */
    void put(final long hi, final long lo, final int value)
    {
        int slot = slotFor(hi, lo);
        while (true)
        {
            final long kHi = keys[slot * 2];
            final long kLo = keys[slot * 2 + 1];
            if (kHi == hi && kLo == lo)
            {
                values[slot] = value;
                return;
            }
            if (kHi == 0 && kLo == 0)
            {
                keys[slot * 2] = hi;
                keys[slot * 2 + 1] = lo;
                values[slot] = value;
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
        int slot = slotFor(hi, lo);
        while (true)
        {
            final long kHi = keys[slot * 2];
            final long kLo = keys[slot * 2 + 1];
            if (kHi == hi && kLo == lo)
            {
                if (values[slot] != value)
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
        Arrays.fill(keys, 0);
        size = 0;
    }

    private void deleteAt(final int deleted)
    {
        int hole = deleted;
        int slot = (hole + 1) & mask;
        while (keys[slot * 2] != 0 || keys[slot * 2 + 1] != 0)
        {
            final int home = slotFor(keys[slot * 2], keys[slot * 2 + 1]);
            // move the entry back into the hole unless its home lies cyclically in (hole, slot]
            if (((slot - home) & mask) >= ((slot - hole) & mask))
            {
                keys[hole * 2] = keys[slot * 2];
                keys[hole * 2 + 1] = keys[slot * 2 + 1];
                values[hole] = values[slot];
                hole = slot;
            }
            slot = (slot + 1) & mask;
        }
        keys[hole * 2] = 0;
        keys[hole * 2 + 1] = 0;
        size--;
    }

    private void grow()
    {
        if (!growable)
        {
            throw new IllegalStateException("fixed request id index over capacity: " + size);
        }
        final long[] oldKeys = keys;
        final int[] oldValues = values;
        allocate(values.length * 2);
        for (int i = 0; i < oldValues.length; i++)
        {
            if (oldKeys[i * 2] != 0 || oldKeys[i * 2 + 1] != 0)
            {
                put(oldKeys[i * 2], oldKeys[i * 2 + 1], oldValues[i]);
            }
        }
    }

    private int slotFor(final long hi, final long lo)
    {
        return (int)Hashing.mix(hi, lo) & mask;
    }
}
