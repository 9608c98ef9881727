package io.quotaledger.core;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hot path allocates nothing in steady state: counted with the JVM's per-thread allocation counter, not timed.
 */
class LedgerAllocationTest
{
    private static final long T0 = 1_767_225_600_000L;
    private static final int USERS = 1_000;

    private final Command command = new Command();
    private final Result result = new Result();
    private long counter;
    private long admitted;
    private long now = T0;

    @Test
    void shouldNotAllocateWhileProcessingInSteadyState()
    {
        final long[] outcomes = new long[1];
        final Ledger ledger = new Ledger(new LedgerConfig().expectedAccounts(USERS).dedupeWindowCount(1 << 14)
            .maxOpenHolds(1 << 12), outcome -> outcomes[0]++);
        for (long user = 1; user <= USERS; user++)
        {
            ledger.process(command.reset().op(Op.CREDIT).requestId(1, user).userId(user).amount(1L << 40)
                .timestamp(now), result);
            ledger.process(command.reset().op(Op.GRANT).requestId(2, user).userId(user).serviceId(1).amount(1_000)
                .period(Period.DAY).timestamp(now), result);
        }

        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
        final long threadId = Thread.currentThread().getId();
        runMix(ledger, 300_000); // warm up: tables and holds reach their working size, the JIT compiles

        final long before = threads.getThreadAllocatedBytes(threadId);
        runMix(ledger, 300_000);
        final long allocated = threads.getThreadAllocatedBytes(threadId) - before;

        assertTrue(allocated < 1024, "allocated " + allocated + " bytes over 300,000 operations");
        assertTrue(outcomes[0] > 300_000);
    }

    /**
     * A deduct through a virtual key with units to price, rate limits and a spend window on both the user and the
     * key (and reserves, settles, queries by key and refusals) allocates nothing either.
     */
    @Test
    void shouldNotAllocateThroughVirtualKeyPriceRateLimitAndSpendWindow()
    {
        final long[] outcomes = new long[1];
        final Ledger ledger = new Ledger(new LedgerConfig().expectedAccounts(USERS).dedupeWindowCount(1 << 14)
            .maxOpenHolds(1 << 12), outcome -> outcomes[0]++);
        long setup = 0;
        ledger.process(command.reset().op(Op.SET_PRICE).requestId(1, ++setup).groupId(1).serviceId(1)
            .multiplier(1_250_000).timestamp(now), result);
        for (long user = 1; user <= USERS; user++)
        {
            final long key = user * 16;
            ledger.process(command.reset().op(Op.CREDIT).requestId(1, ++setup).userId(user).amount(1L << 50)
                .timestamp(now), result);
            ledger.process(command.reset().op(Op.SET_GROUP).requestId(1, ++setup).userId(user).groupId(1)
                .timestamp(now), result);
            ledger.process(command.reset().op(Op.SET_VIRTUAL_KEY).requestId(1, ++setup).userId(user)
                .virtualKeyId(key).amount(1L << 40).resetPeriod(Period.DAY).timestamp(now), result);
            for (final long subject : new long[] { 0, key })
            {
                ledger.process(command.reset().op(Op.SET_RATE_LIMIT).requestId(1, ++setup).userId(user)
                    .virtualKeyId(subject).requests(1_000).units(1_000_000).perMillis(1_000).timestamp(now), result);
                ledger.process(command.reset().op(Op.SET_SPEND_WINDOW).requestId(1, ++setup).userId(user)
                    .virtualKeyId(subject).amount(1L << 30).perMillis(5 * 3_600_000L).timestamp(now), result);
            }
            assertTrue(result.accepted(), result.toString());
        }

        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
        final long threadId = Thread.currentThread().getId();
        runPolicyMix(ledger, 300_000);
        final long before = threads.getThreadAllocatedBytes(threadId);
        final long outcomesBefore = outcomes[0];
        final long admittedBefore = admitted;
        runPolicyMix(ledger, 300_000);
        final long allocated = threads.getThreadAllocatedBytes(threadId) - before;

        assertTrue(allocated < 1024, "allocated " + allocated + " bytes over 300,000 operations");
        assertTrue(outcomes[0] - outcomesBefore > 300_000);
        assertTrue(admitted - admittedBefore > 140_000, "charges admitted through the policy: " +
            (admitted - admittedBefore));
    }

    private void runPolicyMix(final Ledger ledger, final int operations)
    {
        for (int i = 0; i < operations; i++)
        {
            final long id = ++counter;
            final long user = 1 + id % USERS;
            final long key = user * 16;
            now += 3;
            switch ((int)(id % 8))
            {
                case 0:
                    command.reset().op(Op.RESERVE).requestId(4, id).userId(user).serviceId(1).virtualKeyId(key)
                        .units(400).ttlMillis(500);
                    break;
                case 1:
                    command.reset().op(Op.SETTLE).requestId(4, id).holdId(4, id - 1).amount(id % 800);
                    break;
                case 2:
                    command.reset().op(Op.QUERY).userId(user).serviceId(1).virtualKeyId(key);
                    break;
                case 3:
                    command.reset().op(Op.DEDUCT).requestId(4, id).userId(user).serviceId(1).virtualKeyId(key + 1)
                        .units(5); // unknown key: refused
                    break;
                case 4:
                    command.reset().op(Op.TICK);
                    break;
                default:
                    command.reset().op(Op.DEDUCT).requestId(4, id).userId(user).serviceId(1).virtualKeyId(key)
                        .units(1 + id % 2_000);
                    break;
            }
            ledger.process(command.timestamp(now), result);
            if (result.accepted() && result.virtualKeyId() != 0 && result.units() != 0)
            {
                admitted++;
            }
        }
    }

    private void runMix(final Ledger ledger, final int operations)
    {
        for (int i = 0; i < operations; i++)
        {
            final long id = ++counter;
            final long user = 1 + id % USERS;
            now += 3;
            switch ((int)(id % 8))
            {
                case 0:
                    command.reset().op(Op.RESERVE).requestId(3, id).userId(user).serviceId(1).amount(50)
                        .ttlMillis(500);
                    break;
                case 1:
                    command.reset().op(Op.SETTLE).requestId(3, id).holdId(3, id - 1).amount(id % 80);
                    break;
                case 2:
                    command.reset().op(Op.QUERY).userId(user).serviceId(1);
                    break;
                case 3:
                    command.reset().op(Op.DEDUCT).requestId(3, id - 1).userId(user).serviceId(1).amount(5); // conflict
                    break;
                case 4:
                    command.reset().op(Op.TICK);
                    break;
                default:
                    command.reset().op(Op.DEDUCT).requestId(3, id).userId(user).serviceId(1).amount(1 + id % 20);
                    break;
            }
            ledger.process(command.timestamp(now), result);
        }
    }
}
