package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The crash test's workload, regenerated identically by the child that sends it and the parent that checks it:
 * every request follows from (seed, cycle, index). Cycle 0 sets up: a price for group 1, then per user one CREDIT
 * so large that no DEDUCT or RESERVE can ever fail for funds, a generous spend window, and for some users a price
 * group (their DEDUCTs carry units to be priced) or a virtual key with a rate limit and a concurrency cap (their
 * charges go through the key). No policy ever binds: every charge is accepted, and each one touches policy, so the
 * kills fall between a charge and its policy outcome too. Cycles 1.. hold DEDUCTs and RESERVE+SETTLE pairs.
 */
final class CrashWorkload
{
    static final int USERS = 64;
    static final int SERVICE = 7;
    static final long CREDIT = 1_000_000_000_000L;
    /** An hour, the default maximum: no hold expires while the test runs, so every SETTLE finds its hold open. */
    static final long TTL_MILLIS = 3_600_000L;
    private static final long ID_TAG = 0x514C_4352_0000_0000L; // "QLCR": keeps ids away from 0:0
    /** The price group of every third user: 2.5 per unit of {@link #SERVICE}. */
    static final int GROUP = 1;
    static final long MULTIPLIER = 2_500_000L;
    private static final long KEY_BASE = 1_000_000L;
    private static final long HOUR_MILLIS = 3_600_000L;

    /**
     * One request, with every field the command carries, so a retry is exactly the same request.
     *
     * @param partition the producer thread that sends it; a RESERVE and its SETTLE share one, so they stay in order.
     */
    record Request(Op op, int cycle, int index, long userId, long amount, int partition, long units)
    {
        Request(final Op op, final int cycle, final int index, final long userId, final long amount, final int partition)
        {
            this(op, cycle, index, userId, amount, partition, 0);
        }

        long hi()
        {
            return ID_TAG | cycle;
        }

        long lo()
        {
            return index;
        }

        long key()
        {
            return CrashWorkload.key(cycle, index);
        }

        Command fill(final Command command)
        {
            command.reset().op(op).requestId(hi(), lo());
            switch (op)
            {
                case CREDIT -> command.userId(userId).amount(amount);
                case SET_PRICE -> command.groupId(GROUP).serviceId(SERVICE).multiplier(MULTIPLIER);
                case SET_GROUP -> command.userId(userId).groupId(GROUP);
                case SET_SPEND_WINDOW -> command.userId(userId).amount(Long.MAX_VALUE / 4).perMillis(5 * HOUR_MILLIS);
                case SET_VIRTUAL_KEY -> command.userId(userId).virtualKeyId(keyOfUser(userId)).unlimited(true);
                case SET_RATE_LIMIT -> command.userId(userId).virtualKeyId(keyOfUser(userId))
                    .requests(1_000_000_000L).units(Long.MAX_VALUE / 4).perMillis(60_000L);
                case SET_CONCURRENCY -> command.userId(userId).virtualKeyId(keyOfUser(userId)).amount(1_000_000L);
                case DEDUCT -> command.userId(userId).serviceId(SERVICE).virtualKeyId(keyOfUser(userId))
                    .amount(units > 0 ? 0 : amount).units(units);
                case RESERVE -> command.userId(userId).serviceId(SERVICE).virtualKeyId(keyOfUser(userId))
                    .amount(amount).ttlMillis(TTL_MILLIS);
                case SETTLE -> command.holdId(hi(), index - 1).amount(amount); // the RESERVE just before it
                default -> throw new IllegalStateException("not in the workload: " + op);
            }
            return command;
        }

        /**
         * @return what the request charges in the end: a priced DEDUCT its units at the group's price, rounded up.
         */
        long charged()
        {
            return units > 0 ? -Math.floorDiv(-units * MULTIPLIER, 1_000_000L) : amount; // rounded up
        }
    }

    /**
     * @return the virtual key every charge of an even user goes through, 0 (none) for odd users.
     */
    static long keyOfUser(final long userId)
    {
        return userId % 2 == 0 ? KEY_BASE + userId : 0;
    }

    static boolean priced(final long userId)
    {
        return userId % 3 == 0;
    }

    private CrashWorkload()
    {
    }

    static long key(final int cycle, final long index)
    {
        return ((long)cycle << 32) | index;
    }

    /**
     * @return the (cycle, index) key of a request id, or -1 when the id is not one of the workload's.
     */
    static long keyOf(final long hi, final long lo)
    {
        if ((hi & 0xFFFF_FFFF_0000_0000L) != ID_TAG || lo < 0 || lo > Integer.MAX_VALUE)
        {
            return -1;
        }
        return key((int)hi, lo);
    }

    /**
     * Sized for every request the whole run can send, so the dedupe window forgets none of them.
     */
    static LedgerConfig ledgerConfig(final int cycles, final int chunk)
    {
        final long total = USERS + (long)cycles * chunk + 1024;
        final int window = Integer.highestOneBit((int)Math.min(1 << 27, Math.max(1 << 17, total)) - 1) << 1;
        return new LedgerConfig().dedupeWindowCount(window).expectedAccounts(1024);
    }

    /**
     * Cycle 0: every user's account and policy, in an order where each request finds what it needs.
     */
    static List<Request> setup()
    {
        final List<Request> setup = new ArrayList<>();
        setup.add(new Request(Op.SET_PRICE, 0, 0, 0, 0, 0));
        for (int user = 1; user <= USERS; user++)
        {
            setup.add(new Request(Op.CREDIT, 0, setup.size(), user, CREDIT, 0));
            setup.add(new Request(Op.SET_SPEND_WINDOW, 0, setup.size(), user, 0, 0));
            if (priced(user))
            {
                setup.add(new Request(Op.SET_GROUP, 0, setup.size(), user, 0, 0));
            }
            if (keyOfUser(user) != 0)
            {
                setup.add(new Request(Op.SET_VIRTUAL_KEY, 0, setup.size(), user, 0, 0));
                setup.add(new Request(Op.SET_RATE_LIMIT, 0, setup.size(), user, 0, 0));
                setup.add(new Request(Op.SET_CONCURRENCY, 0, setup.size(), user, 0, 0));
            }
        }
        return setup;
    }

    /**
     * @param cycle 1 and up.
     */
    static List<Request> chunk(final long seed, final int cycle, final int size, final int partitions)
    {
        final Random random = new Random(seed * 31 + cycle);
        final List<Request> requests = new ArrayList<>(size + 1);
        int index = 0;
        while (index < size)
        {
            final long user = 1 + random.nextInt(USERS);
            final int partition = random.nextInt(partitions);
            final long amount = 1 + random.nextInt(100);
            if (random.nextInt(3) < 2)
            {
                requests.add(new Request(Op.DEDUCT, cycle, index++, user, amount, partition, priced(user) ? amount : 0));
            }
            else
            {
                requests.add(new Request(Op.RESERVE, cycle, index++, user, amount, partition));
                requests.add(new Request(Op.SETTLE, cycle, index++, user, random.nextInt((int)amount + 1), partition));
            }
        }
        return requests;
    }

    /**
     * @return the balance each user must end with once every request is applied exactly once (index 0 is unused).
     */
    static long[] expectedBalances(final List<Request> all)
    {
        final long[] balances = new long[USERS + 1];
        for (final Request request : all)
        {
            switch (request.op())
            {
                case CREDIT -> balances[(int)request.userId()] += request.amount();
                case DEDUCT, SETTLE -> balances[(int)request.userId()] -= request.charged();
                default ->
                {
                    // a RESERVE's charge comes back in full minus the SETTLE's actual; settings charge nothing
                }
            }
        }
        return balances;
    }

    /**
     * @return what each user's virtual key must have spent (index 0 unused; 0 for users without a key): its keys
     * never reset, so everything charged through it.
     */
    static long[] expectedKeySpend(final List<Request> all)
    {
        final long[] spent = new long[USERS + 1];
        for (final Request request : all)
        {
            if ((request.op() == Op.DEDUCT || request.op() == Op.SETTLE) && keyOfUser(request.userId()) != 0)
            {
                spent[(int)request.userId()] += request.charged();
            }
        }
        return spent;
    }
}
