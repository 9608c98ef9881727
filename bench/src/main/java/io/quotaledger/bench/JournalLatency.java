package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.ResultListener;
import io.quotaledger.engine.Threading;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Latency the journal stage adds: the engine without a journal ({@code none}), then the durable runtime in
 * {@code process} and {@code fsync} mode, each driven at fixed offered rates by one producer thread. Not a JMH
 * benchmark; run with {@code scripts/bench journal-latency [options]}.
 *
 * <p>Open loop: request i is due at {@code start + i / rate}, whether or not earlier ones have been answered. Latency
 * runs from that intended time to the listener's callback, so a stall (a slow msync, a GC pause, a full ring) is
 * charged to every request that should have been sent during it, not just to the one that was stuck (coordinated
 * omission corrected). The latency from the actual {@code submit} call is recorded too ("service"); the two differ
 * when the producer falls behind its schedule. The first {@code --warmup} seconds of each run are not recorded.
 *
 * <p>Each mode gets a fresh engine (and, with a journal, a fresh data directory, deleted afterwards) holding
 * {@code --accounts} funded accounts; every DEDUCT picks a user uniformly at random.
 */
public final class JournalLatency
{
    private static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final long DRAIN_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(60);

    private JournalLatency()
    {
    }

    /**
     * What to run, from the command line.
     */
    static final class Options
    {
        List<String> modes = List.of("none", "process", "fsync");
        long[] rates = { 50_000, 200_000 };
        double warmupSeconds = 5;
        double durationSeconds = 20;
        int accounts = Workload.ACCOUNTS;
        int dedupeWindow = LedgerBenchmark.DEDUPE_WINDOW;
        int ringSize = EngineBenchmark.RING_SIZE;
        String waitStrategy = "stage";
        String dir = "";
        boolean json;

        static Options parse(final String[] args)
        {
            final Options options = new Options();
            for (int i = 0; i < args.length; i++)
            {
                final String arg = args[i];
                switch (arg)
                {
                    case "--modes" -> options.modes = List.of(BenchSupport.value(args, ++i, arg).split(","));
                    case "--rates" ->
                    {
                        final String[] rates = BenchSupport.value(args, ++i, arg).split(",");
                        options.rates = new long[rates.length];
                        for (int r = 0; r < rates.length; r++)
                        {
                            options.rates[r] = Long.parseLong(rates[r].replace("_", "").replace("k", "000"));
                        }
                    }
                    case "--warmup" -> options.warmupSeconds = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--duration" -> options.durationSeconds = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--accounts" -> options.accounts = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--dedupe-window" -> options.dedupeWindow = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--ring" -> options.ringSize = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--wait" -> options.waitStrategy = BenchSupport.value(args, ++i, arg);
                    case "--dir" -> options.dir = BenchSupport.value(args, ++i, arg);
                    case "--json" -> options.json = true;
                    case "-h", "--help" ->
                    {
                        usage(System.out);
                        System.exit(0);
                    }
                    default ->
                    {
                        System.err.println("unknown option: " + arg);
                        usage(System.err);
                        System.exit(2);
                    }
                }
            }
            for (final String mode : options.modes)
            {
                if (!mode.equals("none") && !mode.equals("process") && !mode.equals("fsync"))
                {
                    throw new IllegalArgumentException("mode must be none, process or fsync: " + mode);
                }
            }
            return options;
        }

        static void usage(final PrintStream out)
        {
            out.println("""
                usage: JournalLatency [options]
                  --modes none,process,fsync  journal modes to run (none: the engine without a journal)
                  --rates 50000,200000        offered rates, deducts/s (open loop; 50k works too)
                  --warmup 5                  seconds per run not recorded
                  --duration 20               seconds per run recorded
                  --accounts 1000000          funded accounts (uniform users)
                  --dedupe-window 1048576     request ids remembered
                  --ring 65536                ring slots
                  --wait stage                ring wait strategy: stage (default), phased, yielding, busyspin, blocking
                  --dir DIR                   parent of the scratch data directories (default: system temp)
                  --json                      one JSON object on stdout instead of the table""");
        }
    }

    /**
     * The figures of one mode at one rate; latencies in nanoseconds.
     */
    record Run(
        String mode, long offeredRate, long recorded, double achievedRate, long gcCount, long gcMillis,
        Histogram corrected, Histogram service)
    {
        String json()
        {
            return String.format(Locale.ROOT,
                "{\"mode\":\"%s\",\"offeredRate\":%d,\"achievedRate\":%.0f,\"recorded\":%d,\"gcCount\":%d," +
                "\"gcMillis\":%d,\"latencyMicros\":%s,\"serviceMicros\":%s}",
                mode, offeredRate, achievedRate, recorded, gcCount, gcMillis, percentiles(corrected),
                percentiles(service));
        }

        private static String percentiles(final Histogram h)
        {
            return String.format(Locale.ROOT,
                "{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
                BenchSupport.micros(h.getValueAtPercentile(50)), BenchSupport.micros(h.getValueAtPercentile(90)),
                BenchSupport.micros(h.getValueAtPercentile(99)), BenchSupport.micros(h.getValueAtPercentile(99.9)), BenchSupport.micros(h.getMaxValue()),
                h.getMean() / 1_000.0);
        }
    }

    public static void main(final String[] args) throws Exception
    {
        final Options options = Options.parse(args);
        final List<Run> runs = new ArrayList<>();
        for (final String mode : options.modes)
        {
            runs.addAll(runMode(options, mode));
        }

        final PrintStream out = System.out;
        if (options.json)
        {
            final StringBuilder json = new StringBuilder()
                .append("{\"accounts\":").append(options.accounts)
                .append(",\"dedupeWindow\":").append(options.dedupeWindow)
                .append(",\"ringSize\":").append(options.ringSize)
                .append(",\"waitStrategy\":\"").append(options.waitStrategy)
                .append("\",\"warmupSeconds\":").append(options.warmupSeconds)
                .append(",\"durationSeconds\":").append(options.durationSeconds)
                .append(",\"cpus\":").append(java.lang.Runtime.getRuntime().availableProcessors())
                .append(",\"jvm\":\"").append(System.getProperty("java.vm.name")).append(' ')
                .append(System.getProperty("java.vm.version")).append("\",\"runs\":[");
            for (int i = 0; i < runs.size(); i++)
            {
                json.append(i == 0 ? "" : ",").append(runs.get(i).json());
            }
            out.println(json.append("]}"));
            return;
        }

        out.printf(Locale.ROOT, "%,d accounts, dedupe window %,d, ring %,d, wait %s, %.0f s recorded after %.0f s " +
            "warm-up, %d CPUs%n", options.accounts, options.dedupeWindow, options.ringSize, options.waitStrategy,
            options.durationSeconds, options.warmupSeconds, java.lang.Runtime.getRuntime().availableProcessors());
        out.println("latency = intended send time -> result listener (coordinated omission corrected), " +
            "microseconds; service = submit call -> listener");
        out.printf(Locale.ROOT, "%-8s %9s %10s %9s %9s %9s %9s %10s   %9s %9s  %s%n",
            "mode", "offered/s", "achieved/s", "p50", "p90", "p99", "p99.9", "max", "svc p50", "svc p99", "gc");
        for (final Run run : runs)
        {
            out.printf(Locale.ROOT, "%-8s %9d %10.0f %9.1f %9.1f %9.1f %9.1f %10.1f   %9.1f %9.1f  %d (%d ms)%n",
                run.mode(), run.offeredRate(), run.achievedRate(),
                BenchSupport.micros(run.corrected().getValueAtPercentile(50)), BenchSupport.micros(run.corrected().getValueAtPercentile(90)),
                BenchSupport.micros(run.corrected().getValueAtPercentile(99)), BenchSupport.micros(run.corrected().getValueAtPercentile(99.9)),
                BenchSupport.micros(run.corrected().getMaxValue()),
                BenchSupport.micros(run.service().getValueAtPercentile(50)), BenchSupport.micros(run.service().getValueAtPercentile(99)),
                run.gcCount(), run.gcMillis());
        }
    }

    private static List<Run> runMode(final Options options, final String mode) throws IOException
    {
        final EngineConfig config = BenchSupport.waitStrategy(new EngineConfig()
            .ledger(new LedgerConfig()
                .expectedAccounts(options.accounts)
                .dedupeWindowCount(options.dedupeWindow))
            .ringSize(options.ringSize)
            .threading(Threading.DEDICATED), options.waitStrategy); // in-process producers: the ring's path
        Path dataDir = null;
        LedgerRuntime runtime = null;
        final LedgerEngine engine;
        if (mode.equals("none"))
        {
            engine = LedgerEngine.start(config);
        }
        else
        {
            dataDir = BenchSupport.scratchDir(options.dir, "journal-latency-");
            runtime = LedgerRuntime.start(new LedgerRuntime.Settings(
                new DataDir(dataDir),
                Durability.valueOf(mode.toUpperCase(Locale.ROOT)),
                Journals.rollCycle("daily"),
                0,
                0,
                2), config);
            engine = runtime.engine();
        }
        try
        {
            populate(engine, options.accounts);
            final int[] users = Workload.Distribution.UNIFORM.sequence(options.accounts, Workload.SEQUENCE_LENGTH, 42);
            final List<Run> runs = new ArrayList<>();
            for (int r = 0; r < options.rates.length; r++)
            {
                System.err.printf(Locale.ROOT, "%s at %,d/s ...%n", mode, options.rates[r]);
                runs.add(run(engine, mode, options, options.rates[r], users, 0x1A7E_0000_0000_0000L | r));
            }
            if (runtime != null && runtime.journal().failure() != null)
            {
                throw new IllegalStateException("journal failed: " + runtime.journal().failure());
            }
            return runs;
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
            BenchSupport.deleteRecursively(dataDir);
        }
    }

    private static void populate(final LedgerEngine engine, final int accounts)
    {
        final EngineBenchmark.Counter counter = new EngineBenchmark.Counter();
        final Command command = new Command();
        for (int i = 0; i < accounts; i++)
        {
            engine.submit(Workload.credit(command.reset(), i), counter, i);
            engine.submit(Workload.grant(command.reset(), i), counter, i);
        }
        counter.await(2L * accounts, "set-up");
    }

    private static Run run(
        final LedgerEngine engine,
        final String mode,
        final Options options,
        final long rate,
        final int[] users,
        final long requestIdHi)
    {
        final double interval = 1e9 / rate;
        final long warmupCount = (long)(options.warmupSeconds * rate);
        final long total = warmupCount + (long)(options.durationSeconds * rate);
        final long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10);
        final Recorder recorder = new Recorder(start, interval, warmupCount, 4 * options.ringSize);
        final Command command = new Command().op(Op.DEDUCT).serviceId(Workload.SERVICE_ID).amount(1);
        final long gcCountBefore = BenchSupport.gcCount();
        final long gcMillisBefore = BenchSupport.gcMillis();

        for (long i = 0; i < total; i++)
        {
            final long intended = start + (long)(i * interval);
            long now;
            while ((now = System.nanoTime()) < intended)
            {
                pace(intended - now);
            }
            recorder.sent(i, now);
            command
                .requestId(requestIdHi, i + 1)
                .userId(Workload.userId(users[(int)i & (Workload.SEQUENCE_LENGTH - 1)]));
            engine.submit(command, recorder, i);
        }
        recorder.await(total, mode);

        final long recordedNanos = recorder.lastResultNanos - (start + (long)(warmupCount * interval));
        return new Run(mode, rate, recorder.corrected.getTotalCount(),
            (total - warmupCount) * 1e9 / Math.max(1, recordedNanos), BenchSupport.gcCount() - gcCountBefore,
            BenchSupport.gcMillis() - gcMillisBefore, recorder.corrected, recorder.service);
    }

    /**
     * Waits for the next send time without hogging a core when it is far off: two cores are shared with the
     * business-logic, journal and reply threads.
     */
    private static void pace(final long remainingNanos)
    {
        if (remainingNanos > 200_000)
        {
            LockSupport.parkNanos(remainingNanos - 100_000); // parking overshoots by tens of microseconds
        }
        else if (remainingNanos > 5_000)
        {
            Thread.yield();
        }
        else
        {
            Thread.onSpinWait();
        }
    }

    /**
     * Records latencies on the reply thread, the histograms' one writer; read by the producer only after
     * {@link #await} has seen every result.
     */
    static final class Recorder implements ResultListener
    {
        final Histogram corrected = new Histogram(HIGHEST_NANOS, 3);
        final Histogram service = new Histogram(HIGHEST_NANOS, 3);
        private final long start;
        private final double interval;
        private final long warmupCount;
        private final long[] sendTimes;
        private final int mask;
        private final AtomicLong received = new AtomicLong();
        private long refused;
        private long lastResultNanos;

        /**
         * @param slots send times remembered, a power of two above the most requests that can be in flight (the ring).
         */
        Recorder(final long start, final double interval, final long warmupCount, final int slots)
        {
            this.start = start;
            this.interval = interval;
            this.warmupCount = warmupCount;
            this.sendTimes = new long[slots];
            this.mask = slots - 1;
        }

        /**
         * Before submitting request i; the ring's publication makes it visible to the reply thread.
         */
        void sent(final long i, final long nanos)
        {
            sendTimes[(int)i & mask] = nanos;
        }

        public void onResult(
            final long correlationId, final long arrivalNanos, final Command command, final Result result)
        {
            final long now = System.nanoTime();
            if (!result.accepted() || result.duplicate())
            {
                refused++;
            }
            if (correlationId >= warmupCount)
            {
                final long intended = start + (long)(correlationId * interval);
                corrected.recordValue(Math.min(HIGHEST_NANOS, now - intended));
                service.recordValue(Math.min(HIGHEST_NANOS, now - sendTimes[(int)correlationId & mask]));
            }
            lastResultNanos = now;
            received.lazySet(received.get() + 1); // single writer; the release publishes the fields above
        }

        void await(final long expected, final String what)
        {
            final long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
            long count;
            while ((count = received.get()) < expected && System.nanoTime() < deadline)
            {
                LockSupport.parkNanos(100_000);
            }
            if (count != expected || refused != 0)
            {
                throw new IllegalStateException(what + ": " + expected + " submitted, " + (expected - count) +
                    " results lost, " + refused + " refused");
            }
        }
    }
}
