package io.quotaledger.bench.compare;

import io.quotaledger.bench.Workload;

import java.util.Random;

/**
 * One workload of the comparison, from the test plan of the billing service the ledger replaces (a hot user, many
 * users, the three kinds of user of the mixed scenario) and from a gateway's per-key policy (the virtual-key
 * scenario): who the users and their keys are, what each starts with, and the order in which requests pick them.
 * Every system gets the same users, keys and sequence.
 *
 * <p>Every request is a DEDUCT of {@link #AMOUNT} units of service {@link #SERVICE}. A user's free quota is used
 * first, then the balance; a request neither can pay in full is rejected and changes nothing (docs/semantics.md). With
 * a fixed amount a user can afford exactly {@code (free + balance) / AMOUNT} requests, which is what the correctness
 * check holds every system to.
 *
 * <p>Requests pick a <em>target</em>: a user, or in the virtual-key scenario one of the users' virtual keys, which
 * the DEDUCT goes through. A key admits exactly {@link #keyCap} requests during a run, whatever the timing: its
 * budget per {@link #KEY_RESET_MILLIS} ({@link #keyBudget}) and its rate limit of {@link #keyRequests} requests per
 * {@link #KEY_RATE_MILLIS}. A rate limiter (GCRA, burst = limit) admits its limit at once and the next request only
 * {@code KEY_RATE_MILLIS / limit} after the first, hours after any run, and a rejection moves neither the limiter nor
 * the budget; so the first {@code keyCap} requests to a key are charged and the others refused, by the rate limit when
 * it is the lower of the two (it is checked first), else by the budget. Its users can pay for everything: only the
 * keys refuse.
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
    private final int keysPerUser;
    private final long[] keyBudget;
    private final long[] keyRequests;
    private long firstUserId = 1;

    private Scenario(
        final String name, final String description, final int users, final int[] sequence, final String... groups)
    {
        this(name, description, users, 0, sequence, groups);
    }

    private Scenario(final String name, final String description, final int users, final int keysPerUser,
        final int[] sequence, final String... groups)
    {
        this.name = name;
        this.description = description;
        this.free = new long[users];
        this.balance = new long[users];
        this.groupOf = new byte[users];
        this.groups = groups;
        this.sequence = sequence;
        this.keysPerUser = keysPerUser;
        this.keyBudget = new long[users * keysPerUser];
        this.keyRequests = new long[users * keysPerUser];
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

    /** Virtual keys per user in the virtual-key scenario. */
    static final int KEYS_PER_USER = 2;
    /** The keys' budgets reset every 30 days from the key's creation: never during a run. */
    static final long KEY_RESET_MILLIS = 30L * 86_400_000L;
    /** The keys' rate limits count requests per day (the limits below divide it into whole microseconds). */
    static final long KEY_RATE_MILLIS = 86_400_000L;
    /** {@link #KEY_RATE_MILLIS} in microseconds, the unit the contenders' GCRA counts in. */
    static final long KEY_RATE_MICROS = KEY_RATE_MILLIS * 1000;
    /** Requests a key with a tight budget can pay for; its budget leaves one unit over, too little for another. */
    static final long KEY_BUDGET_REQUESTS = 5;
    /** Requests a rate-limited key admits per day. */
    static final long KEY_RATE_REQUESTS = 5;
    /** Requests a key with room to spare can pay for in a period. */
    static final long KEY_ROOMY_REQUESTS = 1_000_000;
    /** The rate limit of the keys it does not bind: above every budget, so it never refuses, but is checked. */
    static final long KEY_ROOMY_RATE = 2_000_000;

    /**
     * Every request goes through one of the users' virtual keys, each with a budget and a rate limit; the users have
     * funds to spare. Of every 10 keys, 8 have room to spare, 1 a budget for {@link #KEY_BUDGET_REQUESTS} requests and
     * 1 a rate limit of {@link #KEY_RATE_REQUESTS} a day: once those 2 are used up, 1 request in 5 is refused, by the
     * key's budget or its rate limit. Few users, as in {@link #mixed}, so that every system uses up the tight keys.
     */
    static Scenario virtualKeys(final int users, final long seed)
    {
        final int keys = users * KEYS_PER_USER;
        final int[] sequence = Workload.Distribution.UNIFORM.sequence(keys, Math.max(1 << 20, keys), seed);
        final Scenario s = new Scenario("virtual-key", String.format(java.util.Locale.ROOT,
            "%,d users x %d virtual keys, each with a budget and a rate limit: 80%% with room to spare, 10%% with a " +
            "budget for %d requests, 10%% limited to %d requests a day", users, KEYS_PER_USER,
            KEY_BUDGET_REQUESTS, KEY_RATE_REQUESTS), users, KEYS_PER_USER, sequence, "user");
        s.fill(0, users, 0, SMALL_FREE, RICH);
        for (int key = 0; key < keys; key++)
        {
            s.keyBudget[key] = key % 10 == 8 ? KEY_BUDGET_REQUESTS * AMOUNT + 1 : KEY_ROOMY_REQUESTS * AMOUNT;
            s.keyRequests[key] = key % 10 == 9 ? KEY_RATE_REQUESTS : KEY_ROOMY_RATE;
        }
        return s;
    }

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
     * @return the target index of the {@code k}-th request (any k ≥ 0; the sequence repeats): a user index, or in a
     * {@link #keyed()} scenario a key index.
     */
    public int targetOf(final long k)
    {
        return sequence[(int)(k % sequence.length)];
    }

    /**
     * @return whether requests go through virtual keys.
     */
    public boolean keyed()
    {
        return keysPerUser > 0;
    }

    /**
     * @return what requests pick: the keys in a {@link #keyed()} scenario, else the users.
     */
    public int targets()
    {
        return keyed() ? keyBudget.length : free.length;
    }

    /**
     * @return virtual keys of the scenario, 0 when it has none; key {@code k} belongs to user {@code k / }
     * {@link #KEYS_PER_USER}.
     */
    public int keys()
    {
        return keyBudget.length;
    }

    /**
     * @return the index of the user a target charges.
     */
    public int userOfTarget(final int target)
    {
        return keyed() ? target / keysPerUser : target;
    }

    /**
     * @return the id of the user a target charges.
     */
    public long userIdOfTarget(final int target)
    {
        return userId(userOfTarget(target));
    }

    /**
     * @return the id of the virtual key a target's requests go through, 0 for none.
     */
    public long keyIdOfTarget(final int target)
    {
        return keyed() ? keyId(target) : 0;
    }

    /**
     * Keys have ids of their own, from the same base as the users': a run's keys are new to every system too.
     */
    public long keyId(final int key)
    {
        return firstUserId + key;
    }

    /**
     * @return the key's budget per {@link #KEY_RESET_MILLIS}.
     */
    public long keyBudget(final int key)
    {
        return keyBudget[key];
    }

    /**
     * @return the requests the key's rate limit admits per {@link #KEY_RATE_MILLIS}.
     */
    public long keyRequests(final int key)
    {
        return keyRequests[key];
    }

    /**
     * @return the key's GCRA emission interval in microseconds, rounded up as the ledger rounds it.
     */
    public long keyEmissionMicros(final int key)
    {
        return (KEY_RATE_MICROS + keyRequests(key) - 1) / keyRequests(key);
    }

    /**
     * @return requests the key admits during a run: the first this many are charged, the rest refused.
     */
    public long keyCap(final int key)
    {
        return Math.min(keyBudget[key] / AMOUNT, keyRequests[key]);
    }

    /**
     * @return what refuses the key's requests beyond {@link #keyCap}: {@link Tally#RATE_LIMITED} when its rate limit
     * binds first (the rate limit is checked before the budget), else {@link Tally#KEY_BUDGET}.
     */
    public int keyRefusal(final int key)
    {
        return keyRequests[key] <= keyBudget[key] / AMOUNT ? Tally.RATE_LIMITED : Tally.KEY_BUDGET;
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
