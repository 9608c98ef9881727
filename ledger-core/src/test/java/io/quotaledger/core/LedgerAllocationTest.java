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
