package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The state machine alone, on one thread: one DEDUCT per invocation against a ledger of {@link Workload#ACCOUNTS}
 * accounts, each funded and granted a monthly free allowance for one service.
 *
 * <p>Every DEDUCT has a fresh request id and is accepted, so it is also remembered: the dedupe window
 * ({@value #DEDUPE_WINDOW} ids unless {@link #dedupeWindow} says otherwise) is full after the first second and every operation then evicts the oldest id as well.
 * The cost of idempotency is therefore inside the figure, as it is in production. Hot users of the zipfian stream
 * exhaust their free units and are charged from the balance; the uniform stream mostly stays within the allowance.
 * The timestamp advances 1 ms every 1,024 operations, far from the day-long age bound and the month's end.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgs = { "-Xms2g", "-Xmx2g" })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class LedgerBenchmark
{
    static final int DEDUPE_WINDOW = 1 << 20;

    private static final long REQUEST_ID_HI = 0xBE4C_0000_0000_0001L;
    private static final int SEQUENCE_MASK = Workload.SEQUENCE_LENGTH - 1;

    /** How the users of successive requests are chosen: "uniform" or "zipfian". */
    @Param({ "uniform", "zipfian" })
    public String distribution;

    /** Funded accounts; {@code -p accounts=10000} keeps them all in cache. */
    @Param({ "" + Workload.ACCOUNTS })
    public int accounts;

    /** Request ids remembered; {@code -p dedupeWindow=1024} shows what a window that stays in cache would cost. */
    @Param({ "" + DEDUPE_WINDOW })
    public int dedupeWindow;

    private final Command command = new Command();
    private final Result result = new Result();
    private final CountingSink sink = new CountingSink();
    private Ledger ledger;
    private int[] users;
    private long sequence;

    @Setup(Level.Trial)
    public void setUp()
    {
        final LedgerConfig config = new LedgerConfig()
            .expectedAccounts(accounts)
            .dedupeWindowCount(dedupeWindow);
        ledger = new Ledger(config, sink);
        for (int i = 0; i < accounts; i++)
        {
            ledger.process(Workload.credit(command.reset().timestamp(Workload.START_MILLIS), i), result);
            requireAccepted(result);
            ledger.process(Workload.grant(command.reset().timestamp(Workload.START_MILLIS), i), result);
            requireAccepted(result);
        }
        users = Workload.Distribution.of(distribution).sequence(accounts, Workload.SEQUENCE_LENGTH, 42);

        // only the request id, user and timestamp change from one invocation to the next
        command.reset().op(Op.DEDUCT).serviceId(Workload.SERVICE_ID).amount(1);
        sink.reset();
    }

    @TearDown(Level.Iteration)
    public void checkNothingRejected()
    {
        if (sink.rejected != 0)
        {
            throw new IllegalStateException(sink.rejected + " of " + sink.outcomes + " deducts rejected, last " +
                result);
        }
    }

    @Benchmark
    public ResultCode deduct()
    {
        final long n = ++sequence;
        command
            .requestId(REQUEST_ID_HI, n)
            .timestamp(Workload.START_MILLIS + (n >>> 10))
            .userId(Workload.userId(users[(int)n & SEQUENCE_MASK]));
        ledger.process(command, result);
        return result.code();
    }

    private static void requireAccepted(final Result result)
    {
        if (!result.accepted())
        {
            throw new IllegalStateException("set-up command refused: " + result);
        }
    }

    /**
     * Counts outcomes, and rejections so that a benchmark that stopped measuring the accept path fails loudly.
     */
    static final class CountingSink implements OutcomeSink
    {
        long outcomes;
        long rejected;

        public void onOutcome(final Outcome outcome)
        {
            outcomes++;
            if (outcome.type() == OutcomeType.REJECTED)
            {
                rejected++;
            }
        }

        void reset()
        {
            outcomes = 0;
            rejected = 0;
        }
    }
}
