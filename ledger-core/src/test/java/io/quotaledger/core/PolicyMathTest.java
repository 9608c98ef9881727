package io.quotaledger.core;

import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The 128-bit multiply-divide against BigInteger, on edges and random operands of every size.
 */
class PolicyMathTest
{
    private static final BigInteger MAX = BigInteger.valueOf(Long.MAX_VALUE);

    private static long expected(final long a, final long b, final long d)
    {
        final BigInteger[] qr = BigInteger.valueOf(a).multiply(BigInteger.valueOf(b))
            .divideAndRemainder(BigInteger.valueOf(d));
        final BigInteger ceil = qr[1].signum() == 0 ? qr[0] : qr[0].add(BigInteger.ONE);
        return ceil.compareTo(MAX) > 0 ? PolicyMath.OVERFLOW : ceil.longValueExact();
    }

    private static void check(final long a, final long b, final long d)
    {
        assertEquals(expected(a, b, d), PolicyMath.mulDivCeil(a, b, d), a + " * " + b + " / " + d);
    }

    @Test
    void shouldMatchBigIntegerOnEdges()
    {
        final long[] values = { 0, 1, 2, 999_999, 1_000_000, 1_000_001, Integer.MAX_VALUE, 1L << 32, 1L << 62,
            Long.MAX_VALUE / 1_000_000, Long.MAX_VALUE / 2, Long.MAX_VALUE - 1, Long.MAX_VALUE };
        for (final long a : values)
        {
            for (final long b : values)
            {
                for (final long d : values)
                {
                    if (d > 0)
                    {
                        check(a, b, d);
                    }
                }
            }
        }
    }

    @Test
    void shouldMatchBigIntegerOnRandomOperands()
    {
        final SplittableRandom rnd = new SplittableRandom(12);
        for (int i = 0; i < 200_000; i++)
        {
            final long a = rnd.nextLong(Long.MAX_VALUE) >>> rnd.nextInt(63);
            final long b = rnd.nextLong(Long.MAX_VALUE) >>> rnd.nextInt(63);
            final long d = 1 + (rnd.nextLong(Long.MAX_VALUE - 1) >>> rnd.nextInt(63));
            check(a, b, d);
        }
    }
}
