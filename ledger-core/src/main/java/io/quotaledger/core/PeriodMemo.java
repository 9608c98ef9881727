package io.quotaledger.core;

import java.util.Arrays;

/**
 * The last period id worked out per {@link Period}: consecutive commands mostly share a timestamp, so a charge that
 * needs the current month for its free quota and its virtual key computes it once. One per table that needs it (a
 * ledger is single-threaded).
 */
final class PeriodMemo
{
    private final long[] time = new long[4];
    private final long[] periodId = new long[4];

    PeriodMemo()
    {
        Arrays.fill(time, Long.MIN_VALUE);
    }

    /**
     * @return {@code period.periodId(now)}.
     */
    long periodId(final Period period, final long now)
    {
        final int code = period.code();
        if (time[code] != now)
        {
            periodId[code] = period.periodId(now);
            time[code] = now;
        }
        return periodId[code];
    }
}
