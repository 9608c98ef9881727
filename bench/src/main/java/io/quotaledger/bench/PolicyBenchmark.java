package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
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
import org.openjdk.jmh.infra.BenchmarkParams;

import java.util.concurrent.TimeUnit;

/**
 * What gateway policy costs in the state machine alone, on one thread (issue 12's target: a DEDUCT through a virtual
 * key, priced from units, under a rate limit and a spend window costs at most 1.5 times a plain DEDUCT).
 *
 * <ul>
 *     <li>{@link #plainDeduct}: {@link LedgerBenchmark}'s DEDUCT, an amount charged to a user of a ledger with no
 *     policy at all: the figure to compare with.</li>
 *     <li>{@link #policyDeduct}: a DEDUCT of {@link Workload#UNITS} units through the user's virtual key, in a ledger
 *     where every one of the {@link Workload#ACCOUNTS} users is in a price group (its multiplier prices the units)
 *     and has one key with a budget per month, a rate limit on requests and units, and a 5-hour spend window: the
 *     key (known, this user's, not revoked or expired), the price, both rate limits, the window, the key's budget and
 *     the funds are checked, and the key, its limiter and window and the account all change.</li>
 * </ul>
 * Each method gets its own ledger (the set-up reads which method runs). Same parameters and clock as
 * {@link LedgerBenchmark}: fresh request ids (the dedupe window's cost is inside both figures), the timestamp
 * advancing 1 ms every 1,024 operations. No limit refuses anything ({@link Workload}'s values); a rejection fails the
 * iteration, so the figure is always the accepting path. {@code -prof gc} gives the allocation per operation.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgs = { "-Xms2g", "-Xmx2g" })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class PolicyBenchmark
{
    private static final long REQUEST_ID_HI = 0xBE4C_0000_0000_0002L;
    private static final int SEQUENCE_MASK = Workload.SEQUENCE_LENGTH - 1;

    /** How the users of successive requests are chosen: "uniform" or "zipfian". */
    @Param({ "uniform", "zipfian" })
    public String distribution;

    /** Accounts, and virtual keys (one per account) in the policy ledger. */
    @Param({ "" + Workload.ACCOUNTS })
    public int accounts;

    /** Request ids remembered. */
    @Param({ "" + LedgerBenchmark.DEDUPE_WINDOW })
    public int dedupeWindow;

    private final Command command = new Command();
    private final Result result = new Result();
    private final LedgerBenchmark.CountingSink sink = new LedgerBenchmark.CountingSink();
    private Ledger ledger;
    private int[] users;
    private long sequence;

    @Setup(Level.Trial)
    public void setUp(final BenchmarkParams params)
    {
        setUp(params.getBenchmark().endsWith(".policyDeduct"));
    }

    /**
     * @param policy set up for {@link #policyDeduct}, else for {@link #plainDeduct}.
     */
    void setUp(final boolean policy)
    {
        ledger = new Ledger(config(accounts, dedupeWindow), sink);
        populate(ledger, accounts, policy, command, result);
        users = Workload.Distribution.of(distribution).sequence(accounts, Workload.SEQUENCE_LENGTH, 42);

        // only the request id, user, key and timestamp change from one invocation to the next
        command.reset().op(Op.DEDUCT).serviceId(Workload.SERVICE_ID);
        if (policy)
        {
            command.units(Workload.UNITS);
        }
        else
        {
            command.amount(1);
        }
        sink.reset();
    }

    /**
     * @return the configuration of both ledgers: room for a key, a rate limit and a spend window per account.
     */
    static LedgerConfig config(final int accounts, final int dedupeWindow)
    {
        return new LedgerConfig()
            .expectedAccounts(accounts)
            .dedupeWindowCount(dedupeWindow)
            .maxVirtualKeys(Math.max(LedgerConfig.DEFAULT_MAX_VIRTUAL_KEYS, accounts))
            .maxRateLimits(Math.max(LedgerConfig.DEFAULT_MAX_RATE_LIMITS, accounts))
            .maxSpendWindows(Math.max(LedgerConfig.DEFAULT_MAX_SPEND_WINDOWS, accounts));
    }

    /**
     * Opens the accounts as {@link LedgerBenchmark} does and, for the policy ledger, sets the price, puts every user
     * in its group and gives each one key with its rate limit and spend window.
     *
     * @throws IllegalStateException when the ledger refuses any of it.
     */
    static void populate(final Ledger ledger, final int accounts, final boolean policy, final Command command,
        final Result result)
    {
        for (int i = 0; i < accounts; i++)
        {
            process(ledger, Workload.credit(command.reset().timestamp(Workload.START_MILLIS), i), result);
            process(ledger, Workload.grant(command.reset().timestamp(Workload.START_MILLIS), i), result);
        }
        if (!policy)
        {
            return;
        }
        process(ledger, Workload.price(command.reset().timestamp(Workload.START_MILLIS)), result);
        for (int i = 0; i < accounts; i++)
        {
            process(ledger, Workload.group(command.reset().timestamp(Workload.START_MILLIS), i), result);
            process(ledger, Workload.virtualKey(command.reset().timestamp(Workload.START_MILLIS), i, 0), result);
            process(ledger, Workload.rateLimit(command.reset().timestamp(Workload.START_MILLIS), i, 0), result);
            process(ledger, Workload.spendWindow(command.reset().timestamp(Workload.START_MILLIS), i, 0), result);
        }
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

    /**
     * A DEDUCT of an amount by a user, in a ledger without policy.
     */
    @Benchmark
    public ResultCode plainDeduct()
    {
        final long n = ++sequence;
        command
            .requestId(REQUEST_ID_HI, n)
            .timestamp(Workload.START_MILLIS + (n >>> 10))
            .userId(Workload.userId(users[(int)n & SEQUENCE_MASK]));
        ledger.process(command, result);
        return result.code();
    }

    /**
     * A DEDUCT of units through the user's virtual key, priced by its group, under the key's rate limits and spend
     * window.
     */
    @Benchmark
    public ResultCode policyDeduct()
    {
        final long n = ++sequence;
        final int user = users[(int)n & SEQUENCE_MASK];
        command
            .requestId(REQUEST_ID_HI, n)
            .timestamp(Workload.START_MILLIS + (n >>> 10))
            .userId(Workload.userId(user))
            .virtualKeyId(Workload.virtualKeyId(user, 0));
        ledger.process(command, result);
        return result.code();
    }

    /**
     * @return the result of the last invocation.
     */
    Result lastResult()
    {
        return result;
    }

    private static void process(final Ledger ledger, final Command command, final Result result)
    {
        ledger.process(command, result);
        if (!result.accepted())
        {
            throw new IllegalStateException("set-up command refused: " + command + " -> " + result);
        }
    }
}
