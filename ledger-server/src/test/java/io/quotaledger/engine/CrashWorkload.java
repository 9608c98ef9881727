package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The crash test's workload, regenerated identically by the child that sends it and the parent that checks it:
 * every request follows from (seed, cycle, index). Cycle 0 holds one CREDIT per user, so large that no DEDUCT or
 * RESERVE can ever fail for funds; cycles 1.. hold DEDUCTs and RESERVE+SETTLE pairs.
 */
final class CrashWorkload
{
    static final int USERS = 64;
    static final int SERVICE = 7;
    static final long CREDIT = 1_000_000_000_000L;
    /** An hour, the default maximum: no hold expires while the test runs, so every SETTLE finds its hold open. */
    static final long TTL_MILLIS = 3_600_000L;
    private static final long ID_TAG = 0x514C_4352_0000_0000L; // "QLCR": keeps ids away from 0:0

    /**
     * One request, with every field the command carries, so a retry is exactly the same request.
     *
     * @param partition the producer thread that sends it; a RESERVE and its SETTLE share one, so they stay in order.
     */
    record Request(Op op, int cycle, int index, long userId, long amount, int partition)
    {
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
                case DEDUCT -> command.userId(userId).serviceId(SERVICE).amount(amount);
                case RESERVE -> command.userId(userId).serviceId(SERVICE).amount(amount).ttlMillis(TTL_MILLIS);
                case SETTLE -> command.holdId(hi(), index - 1).amount(amount); // the RESERVE just before it
                default -> throw new IllegalStateException("not in the workload: " + op);
            }
            return command;
        }
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

    static List<Request> credits()
    {
        final List<Request> credits = new ArrayList<>(USERS);
        for (int user = 1; user <= USERS; user++)
        {
            credits.add(new Request(Op.CREDIT, 0, user - 1, user, CREDIT, 0));
        }
        return credits;
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
                requests.add(new Request(Op.DEDUCT, cycle, index++, user, amount, partition));
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
                case DEDUCT, SETTLE -> balances[(int)request.userId()] -= request.amount();
                default ->
                {
                    // a RESERVE's charge comes back in full minus the SETTLE's actual
                }
            }
        }
        return balances;
    }
}
