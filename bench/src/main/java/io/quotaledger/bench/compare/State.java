package io.quotaledger.bench.compare;

/**
 * What a system holds for the users of a scenario after a run, read back for the correctness check.
 *
 * @param balance  per user index; {@link #MISSING} when the system has no such user.
 * @param freeUsed free units used per user index.
 * @param billed   the sum of the amounts in the system's own billing records, or -1 when it keeps none.
 */
record State(long[] balance, long[] freeUsed, long billed)
{
    static final long MISSING = Long.MIN_VALUE;

    static State of(final int users)
    {
        final long[] balance = new long[users];
        java.util.Arrays.fill(balance, MISSING);
        return new State(balance, new long[users], -1);
    }

    State withBilled(final long sum)
    {
        return new State(balance, freeUsed, sum);
    }
}
