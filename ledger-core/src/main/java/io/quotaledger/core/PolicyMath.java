package io.quotaledger.core;

/**
 * Exact integer arithmetic for prices and rate limits: products of two longs are taken in 128 bits, so no multiply
 * can wrap, and results that do not fit a long are reported instead of truncated. No floating point anywhere.
 */
final class PolicyMath
{
    /** Returned by {@link #mulDivCeil} when the result does not fit a long. */
    static final long OVERFLOW = -1;

    private PolicyMath()
    {
    }

    /**
     * @param a       &ge; 0.
     * @param b       &ge; 0.
     * @param divisor &gt; 0.
     * @return {@code ceil(a * b / divisor)} computed exactly, or {@link #OVERFLOW} when it exceeds Long.MAX_VALUE.
     */
    static long mulDivCeil(final long a, final long b, final long divisor)
    {
        assert a >= 0 && b >= 0 && divisor > 0;
        final long hi = Math.multiplyHigh(a, b);
        final long lo = a * b;
        if (hi == 0 && lo >= 0)
        {
            final long quotient = lo / divisor;
            return lo - quotient * divisor == 0 ? quotient : quotient + 1;
        }
        if (hi >= divisor)
        {
            return OVERFLOW; // the quotient needs more than 64 bits
        }
        // 128 by 64 bit long division, one bit at a time; the remainder stays below divisor < 2^63
        long remainder = hi;
        long quotient = 0;
        for (int bit = 63; bit >= 0; bit--)
        {
            remainder = (remainder << 1) | ((lo >>> bit) & 1);
            quotient <<= 1;
            if (Long.compareUnsigned(remainder, divisor) >= 0)
            {
                remainder -= divisor;
                quotient |= 1;
            }
        }
        if (quotient < 0 || (remainder != 0 && quotient == Long.MAX_VALUE))
        {
            return OVERFLOW;
        }
        return remainder == 0 ? quotient : quotient + 1;
    }

    /**
     * @return a + b, or Long.MAX_VALUE when it would pass it (both &ge; 0).
     */
    static long saturatingAdd(final long a, final long b)
    {
        final long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * @return true when a + b passes 64 bits (signed).
     */
    static boolean overflows(final long a, final long b)
    {
        final long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0;
    }
}
