package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import java.nio.ByteOrder;

/**
 * Price multipliers per (group, service), fixed point with six decimals, in one primitive map keyed by
 * {@code groupId << 32 | serviceId}; service 0 is the group's default. An entry is never removed.
 */
final class Prices
{
    private static final long MISSING = 0; // a multiplier is always > 0
    private static final float LOAD_FACTOR = 0.65f;

    private final Long2LongHashMap multipliers;

    Prices(final int expected)
    {
        multipliers = new Long2LongHashMap(Hashing.mapCapacity(expected, LOAD_FACTOR), LOAD_FACTOR, MISSING);
    }

    private static long key(final int groupId, final int serviceId)
    {
        return ((long)groupId << 32) | (serviceId & 0xFFFF_FFFFL);
    }

    int count()
    {
        return multipliers.size();
    }

    boolean contains(final int groupId, final int serviceId)
    {
        return multipliers.get(key(groupId, serviceId)) != MISSING;
    }

    void put(final int groupId, final int serviceId, final long multiplier)
    {
        assert multiplier > 0;
        multipliers.put(key(groupId, serviceId), multiplier);
    }

    /**
     * @return the group's multiplier for the service, else its default (service 0), else 1.0.
     */
    long multiplier(final int groupId, final int serviceId)
    {
        final long own = multipliers.get(key(groupId, serviceId));
        if (own != MISSING)
        {
            return own;
        }
        final long fallback = multipliers.get(key(groupId, 0));
        return fallback != MISSING ? fallback : Command.MULTIPLIER_ONE;
    }

    long checksum()
    {
        long sum = Hashing.mix(multipliers.size());
        final Long2LongHashMap.EntryIterator it = multipliers.entrySet().iterator();
        while (it.hasNext())
        {
            it.next();
            sum += Hashing.combine(Hashing.mix(it.getLongKey()), it.getLongValue());
        }
        return sum;
    }

    int snapshotLength()
    {
        return Integer.BYTES + multipliers.size() * 2 * Long.BYTES;
    }

    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, multipliers.size(), ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        final Long2LongHashMap.EntryIterator it = multipliers.entrySet().iterator();
        while (it.hasNext())
        {
            it.next();
            buffer.putLong(p, it.getLongKey(), ByteOrder.LITTLE_ENDIAN);
            buffer.putLong(p + Long.BYTES, it.getLongValue(), ByteOrder.LITTLE_ENDIAN);
            p += 2 * Long.BYTES;
        }
        return p - offset;
    }

    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0; i < n; i++)
        {
            final long multiplier = buffer.getLong(p + Long.BYTES, ByteOrder.LITTLE_ENDIAN);
            if (multiplier <= 0)
            {
                throw new IllegalArgumentException("price multiplier " + multiplier);
            }
            multipliers.put(buffer.getLong(p, ByteOrder.LITTLE_ENDIAN), multiplier);
            p += 2 * Long.BYTES;
        }
        return p - offset;
    }
}
