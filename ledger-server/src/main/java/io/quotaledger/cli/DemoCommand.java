package io.quotaledger.cli;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.ReplicaStage;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.Recovery;
import io.quotaledger.engine.ResultListener;
import io.quotaledger.engine.Threading;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs the engine in process on a gateway-like workload and reports what it did: throughput, latency, results by
 * operation and code, and whether a replica rebuilt from the outcomes alone ended with the same state.
 */
@picocli.CommandLine.Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the ledger in process on a demo workload and prints what it did.",
        "Producer threads send deducts (a few hot users), reserve/settle pairs and retries of earlier requests;",
        "a replica stage rebuilds the state from the outcomes alone and must end with the same checksum." })
final class DemoCommand implements Callable<Integer>
{
    private static final int SERVICE = 1;

    @Option(names = "--users", defaultValue = "10000", description = "Accounts to open (default: ${DEFAULT-VALUE}).")
    int users;

    @Option(names = "--requests", defaultValue = "2000000",
        description = "Requests to send after set-up (default: ${DEFAULT-VALUE}).")
    long requests;

    @Option(names = "--producers", defaultValue = "2",
        description = "Producer threads (default: ${DEFAULT-VALUE}).")
    int producers;

    @Option(names = "--ring-size", defaultValue = "8192",
        description = "Ring slots, a power of two (default: ${DEFAULT-VALUE}).")
    int ringSize;

    @Option(names = "--threading", defaultValue = "dedicated", paramLabel = "MODE",
        description = "dedicated: the producers write into the ring; shared: each request is handed to the " +
            "ledger's one thread as a task, as in-process tools do in shared mode (default: ${DEFAULT-VALUE}).")
    String threading;

    @Option(names = "--seed", defaultValue = "1", description = "Workload seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    @Option(names = "--data", paramLabel = "DIR",
        description = "Journal to this data directory (recovering what it holds first) and, at the end, check that " +
            "the state recovered from disk equals the live one. Without it the demo runs in memory and checks a " +
            "replica rebuilt from the outcomes instead. Run it twice on one directory: the second run's requests " +
            "are all duplicates.")
    Path data;

    @Option(names = "--durability", defaultValue = "process",
        description = "With --data: process (survives kill -9) or fsync (survives power loss). Default: ${DEFAULT-VALUE}.")
    String durability;

    public Integer call() throws Exception
    {
        if (users <= 0 || requests <= 0 || producers <= 0)
        {
            System.err.println("ledger demo: --users, --requests and --producers must be positive");
            return 2;
        }
        final LedgerConfig ledgerConfig = new LedgerConfig()
            .expectedAccounts(users)
            .dedupeWindowCount(1 << 20);
        final ReplicaStage replica = new ReplicaStage(ledgerConfig);
        final Tally tally = new Tally();
        final Threading mode;
        try
        {
            mode = Threading.valueOf(threading.toUpperCase(Locale.ROOT));
        }
        catch (final IllegalArgumentException ex)
        {
            System.err.println("ledger demo: --threading must be shared or dedicated, not " + threading);
            return 2;
        }
        final EngineConfig engineConfig = new EngineConfig().ledger(ledgerConfig).ringSize(ringSize).threading(mode);
        final LedgerRuntime runtime;
        final LedgerEngine engine;
        try
        {
            if (data == null)
            {
                runtime = null;
                engine = LedgerEngine.start(engineConfig.addStage(replica));
            }
            else
            {
                runtime = LedgerRuntime.start(new LedgerRuntime.Settings(new DataDir(data),
                    Durability.valueOf(durability.toUpperCase(Locale.ROOT)), Journals.rollCycle("daily"), 0, 0, 3),
                    engineConfig);
                engine = runtime.engine();
            }
        }
        catch (final IllegalArgumentException ex)
        {
            System.err.println("ledger demo: " + ex.getMessage());
            return 2;
        }

        final long start;
        final long elapsedNanos;
        try
        {
            setUp(engine, tally);
            tally.histogram.reset();
            start = System.nanoTime();
            runProducers(engine, tally);
            tally.awaitAll(TimeUnit.MINUTES.toNanos(5));
            elapsedNanos = System.nanoTime() - start;
        }
        finally
        {
            if (runtime != null)
            {
                runtime.close();
            }
            else
            {
                engine.close();
            }
        }

        final Ledger live = engine.ledgerAfterClose();
        final String check;
        final boolean matches;
        if (runtime == null)
        {
            matches = live.checksum() == replica.replica().checksum();
            check = String.format("replica rebuilt from %,d outcomes alone: %s", replica.applied(),
                matches ? "same checksum" : "CHECKSUM MISMATCH");
        }
        else
        {
            final Recovery.Result recovered = Recovery.recover(new DataDir(data), () ->
                new Ledger(ledgerConfig, OutcomeSink.NONE));
            matches = recovered.ledger().checksum() == live.checksum();
            check = String.format("recovered from %s (journal to sequence %,d, %s): %s", data,
                recovered.lastSequence(), durability, matches ? "same checksum" : "CHECKSUM MISMATCH");
        }
        report(tally, elapsedNanos, live, check, matches, engine.internalErrors() + engine.stageErrors());
        return matches && engine.internalErrors() == 0 ? 0 : 1;
    }

    private void setUp(final LedgerEngine engine, final Tally tally) throws Exception
    {
        final Command command = new Command();
        for (long user = 1; user <= users; user++)
        {
            command.reset().op(Op.CREDIT).requestId(1, user).userId(user).amount(50_000_000);
            tally.submit(engine, command);
            if (user % 2 == 0)
            {
                command.reset().op(Op.GRANT).requestId(2, user).userId(user).serviceId(SERVICE).amount(10_000)
                    .period(Period.DAY);
                tally.submit(engine, command);
            }
        }
        tally.awaitAll(TimeUnit.MINUTES.toNanos(1));
    }

    private void runProducers(final LedgerEngine engine, final Tally tally) throws InterruptedException
    {
        final List<Thread> threads = new ArrayList<>();
        final AtomicLong progress = new AtomicLong();
        for (int p = 0; p < producers; p++)
        {
            final long share = requests / producers + (p < requests % producers ? 1 : 0);
            final int producer = p;
            threads.add(new Thread(() -> produce(engine, tally, producer, share, progress), "demo-producer-" + p));
        }
        try (ProgressBar bar = new ProgressBarBuilder()
            .setTaskName("demo")
            .setInitialMax(requests)
            .setStyle(ProgressBarStyle.ASCII)
            .setUnit(" req", 1)
            .showSpeed()
            .setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err))
            .build())
        {
            threads.forEach(Thread::start);
            for (final Thread thread : threads)
            {
                while (thread.isAlive())
                {
                    thread.join(100);
                    bar.stepTo(progress.get());
                }
            }
            bar.stepTo(progress.get());
        }
    }

    private void produce(
        final LedgerEngine engine, final Tally tally, final int producer, final long count, final AtomicLong progress)
    {
        final SplittableRandom random = new SplittableRandom(seed * 31 + producer);
        final Command command = new Command();
        final long hi = 100 + producer;
        final long[] openHolds = new long[64];
        int openCount = 0;
        for (long i = 1; i <= count; i++)
        {
            final int dice = random.nextInt(100);
            final long user = random.nextInt(5) == 0 ? 1 + random.nextInt(10) : 1 + random.nextInt(users);
            if (dice < 4 && openCount < openHolds.length)
            {
                command.reset().op(Op.RESERVE).requestId(hi, i).userId(user).serviceId(SERVICE)
                    .amount(500 + random.nextInt(1000)).ttlMillis(30_000);
                openHolds[openCount++] = i;
            }
            else if (dice < 8 && openCount > 0)
            {
                final long hold = openHolds[--openCount];
                command.reset().op(Op.SETTLE).requestId(hi, i).holdId(hi, hold).amount(random.nextInt(1500));
            }
            else if (dice < 12 && i > 1)
            {
                // a gateway retry: the same request id and fields as an earlier deduct of this producer
                final long earlier = 1 + random.nextLong(i - 1);
                command.reset().op(Op.DEDUCT).requestId(hi + 1_000, earlier).userId(1 + earlier % users)
                    .serviceId(SERVICE).amount(1 + earlier % 100);
            }
            else
            {
                command.reset().op(Op.DEDUCT).requestId(hi + 1_000, i).userId(1 + i % users).serviceId(SERVICE)
                    .amount(1 + i % 100);
            }
            tally.submit(engine, command);
            if ((i & 1023) == 0)
            {
                progress.addAndGet(1024);
            }
        }
        progress.addAndGet(count & 1023);
    }

    private void report(
        final Tally tally,
        final long elapsedNanos,
        final Ledger live,
        final String check,
        final boolean matches,
        final long errors)
    {
        final double seconds = elapsedNanos / 1e9;
        final Histogram h = tally.histogram;
        final Map<String, Long> results = tally.resultsByName();
        if (json)
        {
            final StringBuilder out = new StringBuilder(512).append('{');
            out.append("\"users\":").append(users).append(",\"requests\":").append(requests)
                .append(",\"producers\":").append(producers).append(",\"ringSize\":").append(ringSize)
                .append(",\"seconds\":").append(String.format("%.3f", seconds))
                .append(",\"requestsPerSecond\":").append((long)(requests / seconds))
                .append(",\"latencyMicros\":{\"p50\":").append(h.getValueAtPercentile(50) / 1000.0)
                .append(",\"p99\":").append(h.getValueAtPercentile(99) / 1000.0)
                .append(",\"p999\":").append(h.getValueAtPercentile(99.9) / 1000.0)
                .append(",\"max\":").append(h.getMaxValue() / 1000.0).append("},\"results\":{");
            String separator = "";
            for (final Map.Entry<String, Long> e : results.entrySet())
            {
                out.append(separator).append('"').append(e.getKey()).append("\":").append(e.getValue());
                separator = ",";
            }
            out.append("},\"accounts\":").append(live.accountCount())
                .append(",\"openHolds\":").append(live.openHoldCount())
                .append(",\"checksum\":\"").append(Long.toHexString(live.checksum())).append('"')
                .append(",\"check\":\"").append(check.replace("\"", "'")).append('"')
                .append(",\"stateMatches\":").append(matches)
                .append(",\"errors\":").append(errors).append('}');
            System.out.println(out);
            return;
        }
        System.out.printf("ledger demo: %,d users, %,d requests from %d producer threads, ring %,d%n",
            users, requests, producers, ringSize);
        System.out.printf("  throughput  %,d requests/s (%.2f s)%n", (long)(requests / seconds), seconds);
        System.out.printf("  latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (submit to result, " +
            "closed loop: includes waiting in a full ring)%n",
            h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0,
            h.getValueAtPercentile(99.9) / 1000.0, h.getMaxValue() / 1000.0);
        System.out.println("  results");
        results.forEach((name, count) -> System.out.printf("    %-34s %,12d%n", name, count));
        System.out.printf("  state       %,d accounts, %,d open holds, checksum %016x%n",
            live.accountCount(), live.openHoldCount(), live.checksum());
        System.out.printf("  check       %s%n", check);
        if (errors > 0)
        {
            System.out.printf("  errors      %,d (see the log)%n", errors);
        }
    }

    /**
     * Counts results by operation, code and duplicate flag on the reply thread, and records latency from submission
     * (the arrival time the engine hands back) to result. Single writer: only the reply thread records.
     */
    private static final class Tally implements ResultListener
    {
        private final long[][] counts = new long[Op.values().length][ResultCode.values().length * 2];
        private final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        private final AtomicLong submitted = new AtomicLong();
        private volatile long completed;

        void submit(final LedgerEngine engine, final Command command)
        {
            submitted.incrementAndGet();
            engine.submit(command, this, 0);
        }

        public void onResult(
            final long correlationId, final long submittedAt, final Command command, final Result result)
        {
            histogram.recordValue(Math.min(System.nanoTime() - submittedAt, histogram.getHighestTrackableValue()));
            counts[command.op().ordinal()][result.code().ordinal() * 2 + (result.duplicate() ? 1 : 0)]++;
            completed = completed + 1; // single writer
        }

        void awaitAll(final long timeoutNanos) throws InterruptedException
        {
            final long deadline = System.nanoTime() + timeoutNanos;
            while (completed < submitted.get())
            {
                if (System.nanoTime() > deadline)
                {
                    throw new IllegalStateException("results missing: " + (submitted.get() - completed));
                }
                Thread.sleep(1);
            }
        }

        Map<String, Long> resultsByName()
        {
            final Map<String, Long> byName = new LinkedHashMap<>();
            for (final Op op : Op.values())
            {
                for (final ResultCode code : ResultCode.values())
                {
                    for (int duplicate = 0; duplicate < 2; duplicate++)
                    {
                        final long n = counts[op.ordinal()][code.ordinal() * 2 + duplicate];
                        if (n > 0)
                        {
                            byName.put(op + " " + code + (duplicate == 1 ? " (duplicate)" : ""), n);
                        }
                    }
                }
            }
            return byName;
        }
    }
}
