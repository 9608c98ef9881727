package io.quotaledger.core;

/**
 * Free-quota periods, in UTC. A period is identified by a number that changes exactly when the period rolls:
 * the epoch day for DAY, the epoch day of the Monday for WEEK (ISO weeks), {@code year * 12 + month - 1} for MONTH.
 */
public enum Period
{
    DAY(1),
    WEEK(2),
    MONTH(3);

    private static final long MILLIS_PER_DAY = 86_400_000L;
    private static final Period[] BY_CODE = { null, DAY, WEEK, MONTH };

    private final byte code;

    Period(final int code)
    {
        this.code = (byte)code;
    }

    public byte code()
    {
        return code;
    }

    /**
     * @param code a stable code.
     * @return the period, or null when the code is unknown.
     */
    public static Period fromCode(final int code)
    {
        return code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    /**
     * @param epochMillis a UTC instant.
     * @return the number of the period holding that instant.
     */
    public long periodId(final long epochMillis)
    {
        final long epochDay = Math.floorDiv(epochMillis, MILLIS_PER_DAY);
        switch (this)
        {
            case DAY:
                return epochDay;
            case WEEK:
                return epochDay - Math.floorMod(epochDay + 3, 7); // 1970-01-01 was a Thursday
            default:
                return epochMonth(epochDay);
        }
    }

    /**
     * Months since year 0 for an epoch day, by the civil-from-days algorithm (H. Hinnant): no java.time objects.
     */
    static long epochMonth(final long epochDay)
    {
        final long z = epochDay + 719_468;
        final long era = Math.floorDiv(z, 146_097);
        final long doe = z - era * 146_097;
        final long yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        final long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        final long mp = (5 * doy + 2) / 153;
        final long month = mp < 10 ? mp + 3 : mp - 9;
        final long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        return year * 12 + month - 1;
    }
}
