package io.quotaledger.core;

import org.junit.jupiter.api.Test;

import java.time.DayOfWeek;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.time.temporal.TemporalAdjusters;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * {@link Period#periodId} against java.time, over 1900..2200.
 */
class PeriodTest
{
    private static final long FROM = Instant.parse("1900-01-01T00:00:00Z").toEpochMilli();
    private static final long TO = Instant.parse("2200-12-31T23:59:59.999Z").toEpochMilli();

    private static long expected(final Period period, final long epochMillis)
    {
        final LocalDate date = Instant.ofEpochMilli(epochMillis).atZone(ZoneOffset.UTC).toLocalDate();
        switch (period)
        {
            case DAY:
                return date.toEpochDay();
            case WEEK:
                return date.with(TemporalAdjusters.previousOrSame(DayOfWeek.MONDAY)).toEpochDay();
            default:
                return date.getYear() * 12L + date.getMonthValue() - 1;
        }
    }

    @Test
    void shouldMatchJavaTimeForRandomInstants()
    {
        final long seed = LedgerRandomizedTest.seed();
        final SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < 2_000_000; i++)
        {
            final long t = rnd.nextLong(FROM, TO + 1);
            for (final Period period : Period.values())
            {
                assertEquals(expected(period, t), period.periodId(t), "seed " + seed + ", " + period + " at " +
                    Instant.ofEpochMilli(t));
            }
        }
    }

    @Test
    void shouldMatchJavaTimeAroundEveryMidnight()
    {
        for (LocalDate day = LocalDate.of(1900, 1, 1); day.getYear() <= 2200; day = day.plusDays(1))
        {
            final long midnight = day.atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
            for (final long t : new long[] { midnight - 1, midnight })
            {
                for (final Period period : Period.values())
                {
                    assertEquals(expected(period, t), period.periodId(t), period + " at " + Instant.ofEpochMilli(t));
                }
            }
        }
    }

    @Test
    void shouldChangeExactlyAtPeriodBoundaries()
    {
        // a Sunday to Monday night, a month end, a year end, leap and common Februaries
        assertRolls(Period.WEEK, "2024-03-18T00:00:00Z");
        assertRolls(Period.WEEK, "2024-12-30T00:00:00Z");
        assertRolls(Period.MONTH, "2024-01-01T00:00:00Z");
        assertRolls(Period.MONTH, "2024-03-01T00:00:00Z");
        assertRolls(Period.MONTH, "2023-03-01T00:00:00Z");
        assertRolls(Period.MONTH, "1900-03-01T00:00:00Z");
        assertRolls(Period.MONTH, "2000-03-01T00:00:00Z");
        assertRolls(Period.DAY, "2024-02-29T00:00:00Z");
        assertRolls(Period.DAY, "1970-01-01T00:00:00Z");
        final long leapDay = Instant.parse("2024-02-29T12:00:00Z").toEpochMilli();
        assertEquals(Period.MONTH.periodId(Instant.parse("2024-02-01T00:00:00Z").toEpochMilli()),
            Period.MONTH.periodId(leapDay));
        final ZonedDateTime monday = ZonedDateTime.parse("2024-03-11T00:00:00Z");
        for (int h = 0; h < 7 * 24; h++)
        {
            assertEquals(Period.WEEK.periodId(monday.toInstant().toEpochMilli()),
                Period.WEEK.periodId(monday.plus(h, ChronoUnit.HOURS).toInstant().toEpochMilli()));
        }
    }

    private static void assertRolls(final Period period, final String boundary)
    {
        final long t = Instant.parse(boundary).toEpochMilli();
        assertNotEquals(period.periodId(t - 1), period.periodId(t), period + " must roll at " + boundary);
        assertEquals(period.periodId(t), period.periodId(t + 1));
    }
}
