package io.quotaledger.bench.compare;

/**
 * What a system holds for the users of a scenario after a run, read back for the correctness check.
 *
 * @param balance  per user index; {@link #MISSING} when the system has no such user.
 * @param freeUsed free units used per user index.
 * @param keySpent per key index of a keyed scenario: what the key spent in its current period; {@link #MISSING}
 *                 when the system has no such key. Empty without keys.
 * @param billed   the sum of the amounts in the system's own billing records, or -1 when it keeps none.
 */
record State(long[] balance, long[] freeUsed, long[] keySpent, long billed)
{
    static final long MISSING = Long.MIN_VALUE;

    static State of(final Scenario scenario)
    {
        final long[] balance = new long[scenario.users()];
        final long[] keySpent = new long[scenario.keys()];
        java.util.Arrays.fill(balance, MISSING);
        java.util.Arrays.fill(keySpent, MISSING);
        return new State(balance, new long[scenario.users()], keySpent, -1);
    }

    State withBilled(final long sum)
    {
        return new State(balance, freeUsed, keySpent, sum);
    }
}
