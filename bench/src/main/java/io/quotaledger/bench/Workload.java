package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;

import java.util.Random;

/**
 * The population and request streams the benchmarks share: user ids, how the accounts are funded, and precomputed
 * sequences of user indices so that choosing a user costs one array read inside the measured code.
 */
public final class Workload
{
    /** Accounts in the benchmark ledgers. */
    public static final int ACCOUNTS = 1_000_000;

    /** The one service every account has a free allowance for. */
    public static final int SERVICE_ID = 1;

    /** Large enough that no run drains an account: a charge is never refused for funds. */
    public static final long OPENING_BALANCE = 1L << 50;

    /** Free units per month; the hot users of a skewed stream use theirs up and go on paying from the balance. */
    public static final long FREE_ALLOWANCE = 1_000;

    public static final Period PERIOD = Period.MONTH;

    /** 2025-01-15T00:00:00Z: mid-month, so no benchmark run sees the period roll. */
    public static final long START_MILLIS = 1_736_899_200_000L;

    /** Length of a precomputed user sequence, a power of two so that it is walked with a mask. */
    public static final int SEQUENCE_LENGTH = 1 << 22;

    /** Skew of the zipfian stream: the classic YCSB constant. */
    public static final double ZIPF_EXPONENT = 0.99;

    /** High half of the request ids of the set-up commands; benchmarks use other values. */
    private static final long SETUP_ID_HI = 0x5E70_0000_0000_0000L;

    /** High half of the request ids of the policy set-up commands, plus the operation's code. */
    private static final long POLICY_SETUP_ID_HI = 0x5E71_0000_0000_0000L;

    /** Virtual keys have ids of their own, apart from the user ids. */
    private static final long KEY_ID_BASE = 1L << 40;

    /** Units a policy DEDUCT asks to be priced. */
    public static final long UNITS = 100;

    /** The price group every user of a policy benchmark is in. */
    public static final int PRICE_GROUP = 1;

    /** The group's multiplier for {@link #SERVICE_ID}, 1.5 in fixed point: {@link #UNITS} cost 150. */
    public static final long MULTIPLIER = 1_500_000;

    /** A virtual key's budget per {@link #PERIOD}: no run spends it. */
    public static final long KEY_BUDGET = 1L << 50;

    /**
     * The rate limits' period: a minute, as RPM and TPM limits count. Their requests and units are high enough that
     * no run is refused (a hot key of the zipfian stream gets ~70 requests per ms of the benchmarks' clock), and
     * divide the minute into whole microseconds (1 per request, 1 per {@link #UNITS}); every request is checked all
     * the same.
     */
    public static final long RATE_MILLIS = 60_000;

    /** Requests a key admits per {@link #RATE_MILLIS}. */
    public static final long RATE_REQUESTS = 60_000_000;

    /** Units a key admits per {@link #RATE_MILLIS}. */
    public static final long RATE_UNITS = 6_000_000_000L;

    /** A spend window of 5 hours, as gateways' "window cost" limits. */
    public static final long WINDOW_MILLIS = 5 * 3_600_000L;

    /** The window's maximum: no run reaches it. */
    public static final long WINDOW_MAX = 1L << 50;

    private Workload()
    {
    }

    /**
     * @param index an account index in {@code [0, ACCOUNTS)}.
     * @return its user id (ids start at 1; 0 is invalid).
     */
    public static long userId(final int index)
    {
        return index + 1L;
    }

    /**
     * Writes the CREDIT that opens account {@code index} with {@link #OPENING_BALANCE}. The request id is unique per
     * account; the timestamp is left as it is.
     */
    public static Command credit(final Command command, final int index)
    {
        return command
            .op(Op.CREDIT)
            .requestId(SETUP_ID_HI, 2L * index + 1)
            .userId(userId(index))
            .amount(OPENING_BALANCE);
    }

    /**
     * Writes the GRANT of {@link #FREE_ALLOWANCE} per {@link #PERIOD} for {@link #SERVICE_ID} to account {@code index}.
     */
    public static Command grant(final Command command, final int index)
    {
        return command
            .op(Op.GRANT)
            .requestId(SETUP_ID_HI, 2L * index + 2)
            .userId(userId(index))
            .serviceId(SERVICE_ID)
            .amount(FREE_ALLOWANCE)
            .period(PERIOD);
    }

    /**
     * @param index an account index.
     * @param key   which of the account's keys, from 0.
     * @return the id of that virtual key.
     */
    public static long virtualKeyId(final int index, final int key)
    {
        return KEY_ID_BASE + 2L * index + key;
    }

    /**
     * Writes the SET_VIRTUAL_KEY of key {@code key} (0 or 1) of account {@code index}: a budget of
     * {@link #KEY_BUDGET} per {@link #PERIOD}, no expiry, every service allowed.
     */
    public static Command virtualKey(final Command command, final int index, final int key)
    {
        return policy(command, Op.SET_VIRTUAL_KEY, index, key)
            .virtualKeyId(virtualKeyId(index, key))
            .amount(KEY_BUDGET)
            .resetPeriod(PERIOD);
    }

    /**
     * Writes the SET_RATE_LIMIT of key {@code key} of account {@code index}: {@link #RATE_REQUESTS} requests and
     * {@link #RATE_UNITS} units per {@link #RATE_MILLIS}.
     */
    public static Command rateLimit(final Command command, final int index, final int key)
    {
        return policy(command, Op.SET_RATE_LIMIT, index, key)
            .virtualKeyId(virtualKeyId(index, key))
            .requests(RATE_REQUESTS)
            .units(RATE_UNITS)
            .perMillis(RATE_MILLIS);
    }

    /**
     * Writes the SET_SPEND_WINDOW of key {@code key} of account {@code index}: at most {@link #WINDOW_MAX} per
     * {@link #WINDOW_MILLIS}.
     */
    public static Command spendWindow(final Command command, final int index, final int key)
    {
        return policy(command, Op.SET_SPEND_WINDOW, index, key)
            .virtualKeyId(virtualKeyId(index, key))
            .amount(WINDOW_MAX)
            .perMillis(WINDOW_MILLIS);
    }

    /**
     * Writes the SET_PRICE of {@link #MULTIPLIER} for {@link #SERVICE_ID} in {@link #PRICE_GROUP}.
     */
    public static Command price(final Command command)
    {
        return policy(command, Op.SET_PRICE, 0, 0)
            .userId(0)
            .groupId(PRICE_GROUP)
            .serviceId(SERVICE_ID)
            .multiplier(MULTIPLIER);
    }

    /**
     * Writes the SET_GROUP that puts account {@code index} in {@link #PRICE_GROUP}.
     */
    public static Command group(final Command command, final int index)
    {
        return policy(command, Op.SET_GROUP, index, 0).groupId(PRICE_GROUP);
    }

    private static Command policy(final Command command, final Op op, final int index, final int key)
    {
        return command
            .op(op)
            .requestId(POLICY_SETUP_ID_HI + op.code(), 2L * index + key + 1)
            .userId(userId(index));
    }

    /**
     * Shape of a stream of user indices.
     */
    public enum Distribution
    {
        /** Every account equally likely. */
        UNIFORM,
        /** Rank r drawn with probability proportional to 1/r^s; ranks are shuffled onto accounts. */
        ZIPFIAN;

        /**
         * @param name "uniform" or "zipfian", any case.
         * @return the distribution.
         */
        public static Distribution of(final String name)
        {
            return valueOf(name.toUpperCase(java.util.Locale.ROOT));
        }

        /**
         * Draws a sequence of account indices; the same seed gives the same sequence.
         *
         * @param accounts how many accounts there are.
         * @param length   how many indices to draw.
         * @param seed     for the random source.
         * @return indices in {@code [0, accounts)}.
         */
        public int[] sequence(final int accounts, final int length, final long seed)
        {
            final Random random = new Random(seed);
            final int[] sequence = new int[length];
            if (this == UNIFORM)
            {
                for (int i = 0; i < length; i++)
                {
                    sequence[i] = random.nextInt(accounts);
                }
                return sequence;
            }

            final double[] cdf = zipfCdf(accounts, ZIPF_EXPONENT);
            // hot ranks land on accounts spread over the arrays, not on the first ones opened
            final int[] accountOfRank = shuffledIdentity(accounts, random);
            for (int i = 0; i < length; i++)
            {
                sequence[i] = accountOfRank[rankOf(cdf, random.nextDouble())];
            }
            return sequence;
        }

        private static double[] zipfCdf(final int n, final double s)
        {
            final double[] cdf = new double[n];
            double sum = 0;
            for (int rank = 0; rank < n; rank++)
            {
                sum += 1.0 / Math.pow(rank + 1, s);
                cdf[rank] = sum;
            }
            for (int rank = 0; rank < n; rank++)
            {
                cdf[rank] /= sum;
            }
            return cdf;
        }

        /**
         * @return the first rank whose cumulative probability exceeds {@code u}.
         */
        private static int rankOf(final double[] cdf, final double u)
        {
            int low = 0;
            int high = cdf.length - 1;
            while (low < high)
            {
                final int mid = (low + high) >>> 1;
                if (cdf[mid] > u)
                {
                    high = mid;
                }
                else
                {
                    low = mid + 1;
                }
            }
            return low;
        }

        private static int[] shuffledIdentity(final int n, final Random random)
        {
            final int[] values = new int[n];
            for (int i = 0; i < n; i++)
            {
                values[i] = i;
            }
            for (int i = n - 1; i > 0; i--)
            {
                final int j = random.nextInt(i + 1);
                final int swap = values[i];
                values[i] = values[j];
                values[j] = swap;
            }
            return values;
        }
    }
}
