package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Rolling spend windows: at most MAX charged within LENGTH ms, counted in {@link #BUCKETS} buckets of width
 * {@code w = ceil(LENGTH / 12)} ms. Bucket {@code b} holds the charges with {@code floor(t / w) = b}; at time
 * {@code t} the window sums the buckets {@code floor(t / w) - 12} to {@code floor(t / w)}, which cover between 12w
 * (at least LENGTH) and 13w of history: a window never under-counts. Seventeen longs each, in slots reused through
 * a free list:
 *
 * <pre>
 * LENGTH   ms (0: a free slot)
 * MAX      most charged within the window
 * NEWEST   the newest bucket number the ring holds
 * SINCE    the policy sequence number when the window was created: a hold opened before never gives back to it
 * 13 buckets, bucket b in slot b mod 13
 * </pre>
 */
final class SpendWindows
{
    static final int MISSING = -1;
    /** Buckets summed at any time: the current one and the twelve before it. */
    static final int BUCKETS = 13;

    private static final int STRIDE = 4 + BUCKETS;
    private static final int LENGTH = 0;
    private static final int MAX = 1;
    private static final int NEWEST = 2;
    private static final int SINCE = 3;
    private static final int RING = 4;

    private long[] data;
    private int highWater;
    private int[] freeSlots;
    private int freeCount;

    SpendWindows(final int expected)
    {
        data = new long[expected * STRIDE];
        freeSlots = new int[expected];
    }

    static long width(final long length)
    {
        return (length + BUCKETS - 2) / (BUCKETS - 1);
    }

    /**
     * @return windows in use.
     */
    int count()
    {
        return highWater - freeCount;
    }

    int allocate(final long length, final long max, final long since, final long now)
    {
        assert length > 0;
        final int window;
        if (freeCount > 0)
        {
            window = freeSlots[--freeCount];
        }
        else
        {
            if (highWater * STRIDE == data.length)
            {
                final int capacity = highWater + (highWater >> 1) + 16;
                data = Arrays.copyOf(data, capacity * STRIDE);
                freeSlots = Arrays.copyOf(freeSlots, capacity);
            }
            window = highWater++;
        }
        final int base = window * STRIDE;
        Arrays.fill(data, base, base + STRIDE, 0);
        data[base + LENGTH] = length;
        data[base + MAX] = max;
        data[base + NEWEST] = Math.floorDiv(now, width(length));
        data[base + SINCE] = since;
        return window;
    }

    void free(final int window)
    {
        final int base = window * STRIDE;
        Arrays.fill(data, base, base + STRIDE, 0);
        if (freeCount == freeSlots.length)
        {
            freeSlots = Arrays.copyOf(freeSlots, freeSlots.length + (freeSlots.length >> 1) + 16);
        }
        freeSlots[freeCount++] = window;
    }

    long length(final int window)
    {
        return data[window * STRIDE + LENGTH];
    }

    long max(final int window)
    {
        return data[window * STRIDE + MAX];
    }

    void max(final int window, final long max)
    {
        data[window * STRIDE + MAX] = max;
    }

    long since(final int window)
    {
        return data[window * STRIDE + SINCE];
    }

    /**
     * @return what the window holds at {@code now}: the buckets not older than 12 behind the current one. A read.
     */
    long sum(final int window, final long now)
    {
        final int base = window * STRIDE;
        final long current = Math.floorDiv(now, width(data[base + LENGTH]));
        final long newest = data[base + NEWEST];
        final long first = Math.max(newest, current) - (BUCKETS - 1);
        long sum = 0;
        int slot = (int)Math.floorMod(first, BUCKETS);
        for (long b = first; b <= newest; b++)
        {
            sum = PolicyMath.saturatingAdd(sum, data[base + RING + slot]);
            slot = slot == BUCKETS - 1 ? 0 : slot + 1; // no division per bucket
        }
        return sum;
    }

    /**
     * @return ms from {@code now} until enough of the oldest buckets have left the window for {@code amount} to fit
     * under its maximum; 0 when it fits now, -1 when it never can ({@code amount > MAX}).
     */
    long retryAfter(final int window, final long now, final long amount)
    {
        final int base = window * STRIDE;
        final long max = data[base + MAX];
        if (amount > max)
        {
            return -1;
        }
        final long width = width(data[base + LENGTH]);
        final long current = Math.floorDiv(now, width);
        final long newest = data[base + NEWEST];
        long sum = sum(window, now);
        for (long b = Math.max(newest - (BUCKETS - 1), current - (BUCKETS - 1)); b <= newest; b++)
        {
            if (amount <= max - sum)
            {
                break;
            }
            sum -= data[base + RING + (int)Math.floorMod(b, BUCKETS)];
            if (amount <= max - sum)
            {
                // bucket b leaves the window when bucket b + 13 begins
                final long leaves = saturatingMultiply(b + BUCKETS, width);
                return leaves - now;
            }
        }
        return amount <= max - sum ? 0 : saturatingMultiply(newest + BUCKETS, width) - now;
    }

    private static long saturatingMultiply(final long a, final long b)
    {
        final long hi = Math.multiplyHigh(a, b);
        final long lo = a * b;
        return (hi == 0 && lo >= 0) || (hi == -1 && lo < 0) ? lo : (hi < 0 ? Long.MIN_VALUE : Long.MAX_VALUE);
    }

    /**
     * Adds a charge at {@code now} to the current bucket (after dropping the buckets that left the window).
     */
    void add(final int window, final long now, final long amount)
    {
        final int base = window * STRIDE;
        final long current = rotate(base, now);
        final int slot = base + RING + (int)Math.floorMod(current, BUCKETS);
        assert !PolicyMath.overflows(data[slot], amount);
        data[slot] += amount;
    }

    /**
     * Takes back {@code amount} charged at {@code chargedAt} from its bucket, if the bucket is still in the window at
     * {@code now}.
     */
    void giveBack(final int window, final long now, final long chargedAt, final long amount)
    {
        final int base = window * STRIDE;
        final long current = rotate(base, now);
        final long bucket = Math.floorDiv(chargedAt, width(data[base + LENGTH]));
        if (bucket > current - BUCKETS)
        {
            final int slot = base + RING + (int)Math.floorMod(bucket, BUCKETS);
            assert data[slot] >= amount : "window bucket " + data[slot] + " smaller than the " + amount + " it gives back";
            data[slot] -= amount;
        }
    }

    private long rotate(final int base, final long now)
    {
        final long current = Math.floorDiv(now, width(data[base + LENGTH]));
        final long newest = data[base + NEWEST];
        if (current > newest)
        {
            for (long b = Math.max(newest + 1, current - (BUCKETS - 1)); b <= current; b++)
            {
                data[base + RING + (int)Math.floorMod(b, BUCKETS)] = 0;
            }
            data[base + NEWEST] = current;
        }
        return Math.max(current, newest);
    }

    /**
     * Digest of one window (its slot is not part of it: the owner digests its windows).
     */
    long checksum(final int window)
    {
        final int base = window * STRIDE;
        long h = Hashing.mix(data[base + LENGTH]);
        h = Hashing.combine(h, data[base + MAX]);
        h = Hashing.combine(h, data[base + SINCE]);
        final long newest = data[base + NEWEST];
        h = Hashing.combine(h, newest);
        for (long b = newest - (BUCKETS - 1); b <= newest; b++)
        {
            h = Hashing.combine(h, data[base + RING + (int)Math.floorMod(b, BUCKETS)]);
        }
        return h;
    }

    int snapshotLength()
    {
        return 2 * Integer.BYTES + highWater * STRIDE * Long.BYTES + freeCount * Integer.BYTES;
    }

    /**
     * Writes every slot and the free list as they are, so that owners' indexes stay valid.
     */
    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, highWater, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0, n = highWater * STRIDE; i < n; i++)
        {
            buffer.putLong(p, data[i], ByteOrder.LITTLE_ENDIAN);
            p += Long.BYTES;
        }
        buffer.putInt(p, freeCount, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0; i < freeCount; i++)
        {
            buffer.putInt(p, freeSlots[i], ByteOrder.LITTLE_ENDIAN);
            p += Integer.BYTES;
        }
        return p - offset;
    }

    int readSnapshot(final DirectBuffer buffer, final int offset)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        data = new long[Math.max(n, 16) * STRIDE];
        for (int i = 0; i < n * STRIDE; i++)
        {
            data[i] = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
            p += Long.BYTES;
        }
        highWater = n;
        final int free = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        if (free < 0 || free > n)
        {
            throw new IllegalArgumentException("free window slots " + free + " of " + n);
        }
        freeSlots = new int[Math.max(n, 16)];
        for (int i = 0; i < free; i++)
        {
            freeSlots[i] = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
            p += Integer.BYTES;
        }
        freeCount = free;
        return p - offset;
    }
}
