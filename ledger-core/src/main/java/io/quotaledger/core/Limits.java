package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Per-subject limits of users and virtual keys, in flat arrays: price group (users), concurrency cap, the rate
 * limit with its two GCRA limiters, and the subject's spend windows. A subject gets a record the first time it is
 * given any of these; the owner (the account or the key) keeps the record's index, so a charge reaches its limits
 * without a lookup, and records are never removed (a removed limit is zeroed). Ten longs each:
 *
 * <pre>
 * SUBJECT          userId (&gt; 0), or -virtualKeyId for a key
 * GROUP            the user's price group (0: the default group)
 * CAP              most open holds (0: no cap)
 * RATE_REQUESTS    requests per period (0: no request limiter)
 * RATE_UNITS       units per period (0: no unit limiter)
 * RATE_PER_MICROS  the rate limit's period, in microseconds
 * TAT_REQUESTS     theoretical arrival time of the request limiter, epoch microseconds
 * TAT_UNITS        same, of the unit limiter
 * WINDOWS (2)      up to four spend window indexes + 1, 32 bits each (0: empty slot)
 * </pre>
 */
final class Limits
{
    static final int MISSING = -1;

    private static final int STRIDE = 10;
    private static final int SUBJECT = 0;
    private static final int GROUP = 1;
    private static final int CAP = 2;
    private static final int RATE_REQUESTS = 3;
    private static final int RATE_UNITS = 4;
    private static final int RATE_PER_MICROS = 5;
    private static final int TAT_REQUESTS = 6;
    private static final int TAT_UNITS = 7;
    private static final int WINDOWS = 8;

    private long[] data;
    private int count;
    private int rateLimitCount;

    Limits(final int expected)
    {
        data = new long[expected * STRIDE];
    }

    static long userSubject(final long userId)
    {
        return userId;
    }

    static long keySubject(final long virtualKeyId)
    {
        return -virtualKeyId;
    }

    int count()
    {
        return count;
    }

    /**
     * @return subjects with a rate limit (requests or units).
     */
    int rateLimitCount()
    {
        return rateLimitCount;
    }

    int create(final long subject)
    {
        if (count * STRIDE == data.length)
        {
            data = Arrays.copyOf(data, (count + (count >> 1) + 16) * STRIDE);
        }
        final int record = count++;
        final int base = record * STRIDE;
        Arrays.fill(data, base, base + STRIDE, 0);
        data[base + SUBJECT] = subject;
        return record;
    }

    long subject(final int record)
    {
        return data[record * STRIDE + SUBJECT];
    }

    int group(final int record)
    {
        return (int)data[record * STRIDE + GROUP];
    }

    void group(final int record, final int groupId)
    {
        data[record * STRIDE + GROUP] = groupId;
    }

    long cap(final int record)
    {
        return data[record * STRIDE + CAP];
    }

    void cap(final int record, final long cap)
    {
        data[record * STRIDE + CAP] = cap;
    }

    boolean hasRateLimit(final int record)
    {
        final int base = record * STRIDE;
        return data[base + RATE_REQUESTS] != 0 || data[base + RATE_UNITS] != 0;
    }

    long rateRequests(final int record)
    {
        return data[record * STRIDE + RATE_REQUESTS];
    }

    long rateUnits(final int record)
    {
        return data[record * STRIDE + RATE_UNITS];
    }

    long ratePerMicros(final int record)
    {
        return data[record * STRIDE + RATE_PER_MICROS];
    }

    long tatRequests(final int record)
    {
        return data[record * STRIDE + TAT_REQUESTS];
    }

    long tatUnits(final int record)
    {
        return data[record * STRIDE + TAT_UNITS];
    }

    void tats(final int record, final long tatRequests, final long tatUnits)
    {
        final int base = record * STRIDE;
        data[base + TAT_REQUESTS] = tatRequests;
        data[base + TAT_UNITS] = tatUnits;
    }

    /**
     * Sets (or with requests = units = 0 removes) the rate limit. A limiter that stays on keeps its state, capped so
     * that it never owes more than one new period at {@code nowMicros}; one turned off forgets it.
     */
    void rateLimit(
        final int record, final long requests, final long units, final long perMicros, final long nowMicros)
    {
        final int base = record * STRIDE;
        final boolean had = hasRateLimit(record);
        data[base + RATE_REQUESTS] = requests;
        data[base + RATE_UNITS] = units;
        data[base + RATE_PER_MICROS] = requests == 0 && units == 0 ? 0 : perMicros;
        data[base + TAT_REQUESTS] = requests == 0 ? 0 : capTat(data[base + TAT_REQUESTS], perMicros, nowMicros);
        data[base + TAT_UNITS] = units == 0 ? 0 : capTat(data[base + TAT_UNITS], perMicros, nowMicros);
        rateLimitCount += (hasRateLimit(record) ? 1 : 0) - (had ? 1 : 0);
    }

    static long capTat(final long tat, final long perMicros, final long nowMicros)
    {
        return PolicyMath.overflows(nowMicros, perMicros) ? tat : Math.min(tat, nowMicros + perMicros);
    }

    /**
     * @return the index of spend window slot {@code slot} (0..3), or {@link SpendWindows#MISSING}.
     */
    int window(final int record, final int slot)
    {
        final long word = data[record * STRIDE + WINDOWS + (slot >> 1)];
        return (int)((slot & 1) == 0 ? word & 0xFFFF_FFFFL : word >>> 32) - 1;
    }

    void window(final int record, final int slot, final int window)
    {
        final int i = record * STRIDE + WINDOWS + (slot >> 1);
        final long value = (window + 1) & 0xFFFF_FFFFL;
        data[i] = (slot & 1) == 0 ? (data[i] & ~0xFFFF_FFFFL) | value : (data[i] & 0xFFFF_FFFFL) | (value << 32);
    }

    boolean hasWindows(final int record)
    {
        final int base = record * STRIDE + WINDOWS;
        return (data[base] | data[base + 1]) != 0;
    }

    /**
     * Order-independent digest (window indexes excluded: the windows are digested by their owner's subject).
     */
    long checksum()
    {
        long sum = Hashing.mix(count);
        for (int r = 0; r < count; r++)
        {
            final int base = r * STRIDE;
            long h = Hashing.mix(data[base]);
            for (int f = 1; f < WINDOWS; f++)
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
        for (int r = 0; r < n; r++)
        {
            final int record = create(buffer.getLong(p, ByteOrder.LITTLE_ENDIAN));
            for (int f = 0; f < STRIDE; f++)
            {
                data[record * STRIDE + f] = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
                p += Long.BYTES;
            }
            rateLimitCount += hasRateLimit(record) ? 1 : 0;
        }
        return p - offset;
    }
}
