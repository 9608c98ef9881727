package io.quotaledger.bench.compare;

import io.quotaledger.bench.Workload;

import java.util.Random;

/**
 * One workload of the comparison, from the test plan of the billing service the ledger replaces (a hot user, many
 * users, the three kinds of user of the mixed scenario): who the users are, what each starts with, and the order in
 * which requests pick them. Every system gets the same users and the same sequence.
 *
 * <p>Every request is a DEDUCT of {@link #AMOUNT} units of service {@link #SERVICE}. A user's free quota is used
 * first, then the balance; a request neither can pay in full is rejected and changes nothing (docs/semantics.md). With
 * a fixed amount a user can afford exactly {@code (free + balance) / AMOUNT} requests, which is what the correctness
 * check holds every system to.
 */
public final class Scenario
{
    public static final long AMOUNT = 2;
    public static final int SERVICE = 1;

    /** The balance of a user who never runs out. */
    static final long RICH = 1_000_000_000_000L;
    /** Free units of an ordinary user: two requests free, the third half free, then paid. */
    static final long SMALL_FREE = 5;

    private final String name;
    private final String description;
    private final long[] free;
    private final long[] balance;
    private final String[] groups;
    private final byte[] groupOf;
    private final int[] sequence;
    private long firstUserId = 1;

    private Scenario(
        final String name, final String description, final int users, final int[] sequence, final String... groups)
    {
        this.name = name;
        this.description = description;
        this.free = new long[users];
        this.balance = new long[users];
        this.groupOf = new byte[users];
        this.groups = groups;
        this.sequence = sequence;
    }

    /** 1 user, every request on it: the row lock (or the single key) of the hot user. */
    static Scenario hotUser()
    {
        final Scenario s = new Scenario("hot-user", "1 user, every request charges it", 1, new int[] { 0 }, "user");
        s.fill(0, 1, 0, SMALL_FREE, RICH);
        return s;
    }

    /** 1,000 users × 10 requests each, in a shuffled order, repeated round after round. */
    static Scenario thousandUsers(final long seed)
    {
        final int users = 1_000;
        final int[] round = new int[users * 10];
        for (int i = 0; i < round.length; i++)
        {
            round[i] = i % users;
        }
        shuffle(round, new Random(seed));
        final Scenario s = new Scenario("1k-users", "1,000 users x 10 requests per round, shuffled", users, round,
            "user");
        s.fill(0, users, 0, SMALL_FREE, RICH);
        return s;
    }

    /** Many users, drawn uniformly or zipfian (YCSB skew 0.99) from {@link Workload.Distribution}. */
    static Scenario manyUsers(final int users, final Workload.Distribution distribution, final long seed)
    {
        final String label = distribution.name().toLowerCase(java.util.Locale.ROOT);
        final Scenario s = new Scenario(label + "-" + count(users), String.format(java.util.Locale.ROOT,
            "%,d users, %s", users, label), users, distribution.sequence(users, Math.max(1 << 20, users), seed),
            "user");
        s.fill(0, users, 0, SMALL_FREE, RICH);
        return s;
    }

    /**
     * A third of the users with free quota to spare, a third whose free quota runs out (then they pay), a third
     * whose balance pays for {@link #POOR_REQUESTS} requests only: every later request of theirs must be rejected.
     */
    static Scenario mixed(final int users, final long seed)
    {
        final int third = users / 3;
        final Random random = new Random(seed);
        final int[] sequence = new int[Math.max(1 << 20, users)];
        for (int i = 0; i < sequence.length; i++)
        {
            sequence[i] = random.nextInt(third * 3);
        }
        final Scenario s = new Scenario("mixed", String.format(java.util.Locale.ROOT,
            "%,d users: free quota enough / free exhausted / balance insufficient", third * 3), third * 3, sequence,
            "free quota enough", "free quota exhausted", "balance insufficient");
        s.fill(0, third, 0, 1_000_000_000L, 0);
        s.fill(third, 2 * third, 1, SMALL_FREE, RICH);
        s.fill(2 * third, 3 * third, 2, 0, POOR_REQUESTS * AMOUNT);
        return s;
    }

    /** Requests a user of the "balance insufficient" group can pay for. */
    static final long POOR_REQUESTS = 5;

    public String name()
    {
        return name;
    }

    public String description()
    {
        return description;
    }

    public int users()
    {
        return free.length;
    }

    /**
     * Users of this scenario have the ids {@code firstUserId() .. firstUserId() + users() - 1}; every run gets ids of
     * its own, so that a system keeps no state from an earlier run.
     */
    public long firstUserId()
    {
        return firstUserId;
    }

    void firstUserId(final long id)
    {
        firstUserId = id;
    }

    public long userId(final int index)
    {
        return firstUserId + index;
    }

    public long free(final int index)
    {
        return free[index];
    }

    public long balance(final int index)
    {
        return balance[index];
    }

    /** Requests the user can pay for, free units and balance together. */
    public long affordable(final int index)
    {
        return (free[index] + balance[index]) / AMOUNT;
    }

    public int group(final int index)
    {
        return groupOf[index];
    }

    public String groupName(final int group)
    {
        return groups[group];
    }

    public int groupCount()
    {
        return groups.length;
    }

    /**
     * @return the user index of the {@code k}-th request (any k ≥ 0; the sequence repeats).
     */
    public int userOf(final long k)
    {
        return sequence[(int)(k % sequence.length)];
    }

    private void fill(final int from, final int to, final int group, final long freeUnits, final long money)
    {
        for (int i = from; i < to; i++)
        {
            free[i] = freeUnits;
            balance[i] = money;
            groupOf[i] = (byte)group;
        }
    }

    private static String count(final int users)
    {
        return users % 1000 == 0 ? users / 1000 + "k" : Integer.toString(users);
    }

    private static void shuffle(final int[] values, final Random random)
    {
        for (int i = values.length - 1; i > 0; i--)
        {
            final int j = random.nextInt(i + 1);
            final int swap = values[i];
            values[i] = values[j];
            values[j] = swap;
        }
    }
}
