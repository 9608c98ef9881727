package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;


/**
 * Per-subject limits of users and virtual keys, in flat arrays: price group (users), concurrency cap, the rate
 * limit with its two GCRA limiters, and the subject's spend windows. A subject gets a record the first time it is
 * given any of these; the owner (the account or the key) keeps the record's index, so a charge reaches its limits
 * without a lookup, and records are never removed (a removed limit is zeroed). Ten longs each:
 *
 * <pre>
 * SUBJECT          userId (&gt; 0), or -virtualKeyId for a key
 * GROUP            the user's price group (0: the default group); a user without a record keeps it in its
 *                  account record
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

    private final LongRecords records;
    private int rateLimitCount;

    Limits(final int expected)
    {
        records = new LongRecords(STRIDE, expected);
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
        return records.count();
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
        final int record = records.add();
        records.set(record, SUBJECT, subject);
        return record;
    }

    long subject(final int record)
    {
        return records.get(record, SUBJECT);
    }

    int group(final int record)
    {
        return (int)records.get(record, GROUP);
    }

    void group(final int record, final int groupId)
    {
        records.set(record, GROUP, groupId);
    }

    long cap(final int record)
    {
        return records.get(record, CAP);
    }

    void cap(final int record, final long cap)
    {
        records.set(record, CAP, cap);
    }

    boolean hasRateLimit(final int record)
    {
        return records.get(record, RATE_REQUESTS) != 0 || records.get(record, RATE_UNITS) != 0;
    }

    long rateRequests(final int record)
    {
        return records.get(record, RATE_REQUESTS);
    }

    long rateUnits(final int record)
    {
        return records.get(record, RATE_UNITS);
    }

    long ratePerMicros(final int record)
    {
        return records.get(record, RATE_PER_MICROS);
    }

    long tatRequests(final int record)
    {
        return records.get(record, TAT_REQUESTS);
    }

    long tatUnits(final int record)
    {
        return records.get(record, TAT_UNITS);
    }

    void tats(final int record, final long tatRequests, final long tatUnits)
    {
        records.set(record, TAT_REQUESTS, tatRequests);
        records.set(record, TAT_UNITS, tatUnits);
    }

    /**
     * Sets (or with requests = units = 0 removes) the rate limit. A limiter that stays on keeps its state, capped so
     * that it never owes more than one new period at {@code nowMicros}; one turned off forgets it.
     */
    void rateLimit(
        final int record, final long requests, final long units, final long perMicros, final long nowMicros)
    {
        final boolean had = hasRateLimit(record);
        records.set(record, RATE_REQUESTS, requests);
        records.set(record, RATE_UNITS, units);
        records.set(record, RATE_PER_MICROS, requests == 0 && units == 0 ? 0 : perMicros);
        records.set(record, TAT_REQUESTS,
            requests == 0 ? 0 : capTat(records.get(record, TAT_REQUESTS), perMicros, nowMicros));
        records.set(record, TAT_UNITS, units == 0 ? 0 : capTat(records.get(record, TAT_UNITS), perMicros, nowMicros));
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
        final long word = records.get(record, WINDOWS + (slot >> 1));
        return (int)((slot & 1) == 0 ? word & 0xFFFF_FFFFL : word >>> 32) - 1;
    }

    void window(final int record, final int slot, final int window)
    {
        final int field = WINDOWS + (slot >> 1);
        final long word = records.get(record, field);
        final long value = (window + 1) & 0xFFFF_FFFFL;
        records.set(record, field,
            (slot & 1) == 0 ? (word & ~0xFFFF_FFFFL) | value : (word & 0xFFFF_FFFFL) | (value << 32));
    }

    boolean hasWindows(final int record)
    {
        return (records.get(record, WINDOWS) | records.get(record, WINDOWS + 1)) != 0;
    }

    /**
     * Order-independent digest (window indexes excluded: the windows are digested by their owner's subject).
     */
    long checksum()
    {
        return records.digest(WINDOWS);
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
        rateLimitCount = 0;
        for (int record = 0, n = records.count(); record < n; record++)
        {
            rateLimitCount += hasRateLimit(record) ? 1 : 0;
        }
        return length;
    }
}
