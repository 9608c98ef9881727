package io.quotaledger.core;

/**
 * 64-bit mixing for hash tables, fingerprints and state checksums.
 */
final class Hashing
{
    /** An odd 64-bit multiplier (the golden ratio) for multiply-add chains. */
    static final long PRIME = 0x9e3779b97f4a7c15L;

    private Hashing()
    {
    }

    /**
     * The murmur3 64-bit finaliser: every input bit affects every output bit.
     */
    static long mix(final long value)
    {
        long h = value;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h;
    }

    /**
     * @return the slot count to give an Agrona map so that {@code expected} entries fit without a resize: its
     * constructor takes slots, not entries.
     */
    static int mapCapacity(final int expected, final float loadFactor)
    {
        return (int)Math.min(1 << 30, (long)(expected / loadFactor) + 1);
    }

    static long combine(final long hash, final long value)
    {
        return mix(hash * 31 + value);
    }

    static long mix(final long hi, final long lo)
    {
        return mix(hi * PRIME ^ lo);
    }
}
