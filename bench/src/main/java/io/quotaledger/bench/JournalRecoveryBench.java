package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Result;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Replay speed, restart time and snapshot pause of a big ledger. Not a JMH benchmark; run with
 * {@code scripts/bench recovery [options]}.
 *
 * <p>Builds a data directory quickly and honestly: a {@link Ledger} processes the commands in a loop (no engine) and
 * its outcomes go to a {@link JournalAppender} in documents of {@code --batch} outcomes, the same bytes the runtime's
 * journal stage writes. First {@code --accounts} accounts are opened (a CREDIT and a GRANT each, two outcomes), then
 * {@code --events} DEDUCTs of uniformly chosen users. {@code --tail} outcomes before the end, a snapshot is taken the
 * way {@code Snapshotter} does it: the copy of the state into memory (the business-logic thread's pause, measured
 * {@code --pauses} times), then the file written durably by {@link SnapshotStore}.
 *
 * <p>Then, each in a fresh JVM (a restart is a cold JVM: nothing JIT-compiled yet) unless {@code --in-process}:
 * <ol>
 *     <li>{@code read-only}: {@link JournalReader} over the whole journal, outcomes checked and decoded but not
 *     applied: the journal's own share of replay;</li>
 *     <li>{@code journal}: {@link Recovery} from the journal alone, every outcome replayed: events/s;</li>
 *     <li>{@code snapshot-load}: the newest snapshot loaded and checked, nothing replayed;</li>
 *     <li>{@code snapshot+tail}: {@link Recovery} as a restart does it, the snapshot and then the tail;</li>
 *     <li>{@code runtime}: {@link LedgerRuntime#start} end to end (recovery, journal opened, engine started).</li>
 * </ol>
 * The restart figure is also given as the wall time of its whole JVM, boot included. Each checks that the rebuilt
 * state's checksum is the one the builder ended with. The journal was just written, so
 * it is read from the page cache: the figures are for a warm restart (a process restart, not a machine reboot).
 * The data directory is deleted at the end unless {@code --keep}; {@code --existing DIR} measures a kept one again.
 */
public final class JournalRecoveryBench
{
    private static final String CHILD = "--child";
    private static final String RESULT = "RESULT ";

    private JournalRecoveryBench()
    {
    }

    /**
     * What to run, from the command line.
     */
    static final class Options
    {
        int accounts = Workload.ACCOUNTS;
        long events = 10_000_000;
        long tail = 1_000_000;
        int batch = JournalAppender.MAX_OUTCOMES_PER_DOCUMENT;
        int dedupeWindow = LedgerBenchmark.DEDUPE_WINDOW;
        int pauses = 5;
        String dir = "";
        String existing;
        boolean keep;
        boolean inProcess;
        boolean json;

        static Options parse(final String[] args)
        {
            final Options options = new Options();
            for (int i = 0; i < args.length; i++)
            {
                final String arg = args[i];
                switch (arg)
                {
                    case "--accounts" -> options.accounts = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--events" -> options.events = Long.parseLong(BenchSupport.value(args, ++i, arg).replace("_", ""));
                    case "--tail" -> options.tail = Long.parseLong(BenchSupport.value(args, ++i, arg).replace("_", ""));
                    case "--batch" -> options.batch = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--dedupe-window" -> options.dedupeWindow = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--pauses" -> options.pauses = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--dir" -> options.dir = BenchSupport.value(args, ++i, arg);
                    case "--existing" -> options.existing = BenchSupport.value(args, ++i, arg);
                    case "--keep" -> options.keep = true;
                    case "--in-process" -> options.inProcess = true;
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
            if (options.tail > options.events || options.batch < 1 || options.pauses < 1)
            {
                throw new IllegalArgumentException("need --tail <= --events, --batch >= 1, --pauses >= 1");
            }
            return options;
        }

        static void usage(final PrintStream out)
        {
            out.println("""
                usage: JournalRecoveryBench [options]
                  --accounts 1000000       accounts opened (CREDIT + GRANT each: two outcomes per account)
                  --events 10000000        DEDUCT outcomes journaled after the accounts
                  --tail 1000000           outcomes after the snapshot (what a restart replays on top of it)
                  --batch 512              outcomes per journal document (the runtime writes one per ring batch)
                  --dedupe-window 1048576  request ids remembered
                  --pauses 5               times the snapshot copy (the business thread's pause) is measured
                  --dir DIR                parent of the scratch data directory (default: system temp)
                  --keep                   keep the data directory (its path is printed)
                  --existing DIR           skip the build: measure a data directory kept earlier (same options)
                  --in-process             measure recovery in this JVM (JIT already warm) instead of fresh JVMs
                  --json                   one JSON object on stdout instead of the table
                disk: about 136 bytes per outcome, 1.7 GB with the defaults; heap: -Xmx4g is plenty""");
        }
    }

    /**
     * What building the data directory found and took.
     */
    static final class Build
    {
        long outcomes;
        long nanos;
        long journalBytes;
        long checksum;
        long snapshotSequence;
        long snapshotBytes;
        long snapshotFileNanos;
        long[] pauseNanos;
        long[] allocNanos;
        long[] copyNanos;
        long[] checksumNanos;
        long reusedCopyNanos;
    }

    public static void main(final String[] args) throws Exception
    {
        if (args.length > 0 && CHILD.equals(args[0]))
        {
            child(args);
            return;
        }
        final Options options = Options.parse(args);
        final Path dir = options.existing != null ?
            Path.of(options.existing) : BenchSupport.scratchDir(options.dir, "journal-recovery-");
        try
        {
            final Build build;
            if (options.existing == null)
            {
                System.err.printf(Locale.ROOT, "building %s: %,d accounts, %,d deducts ...%n",
                    dir, options.accounts, options.events);
                build = build(options, new DataDir(dir));
            }
            else
            {
                build = null;
            }
            final Map<String, Measure> measures = new LinkedHashMap<>();
            for (final String kind : List.of("read-only", "journal", "snapshot-load", "snapshot+tail", "runtime"))
            {
                System.err.printf(Locale.ROOT, "measuring %s ...%n", kind);
                measures.put(kind, options.inProcess ?
                    measure(kind, dir, options.accounts, options.dedupeWindow) : forkMeasure(kind, dir, options));
            }
            final long expected = build != null ? build.checksum : measures.get("journal").checksum;
            for (final Map.Entry<String, Measure> entry : measures.entrySet())
            {
                // the snapshot alone is behind the journal's end by the tail, and read-only builds no state
                if (entry.getValue().accounts() != 0 && !entry.getKey().equals("snapshot-load") && entry.getValue().checksum != expected)
                {
                    throw new IllegalStateException(entry.getKey() + ": state checksum " +
                        Long.toHexString(entry.getValue().checksum) + " after recovery, expected " +
                        Long.toHexString(expected));
                }
            }
            report(options, dir, build, measures);
        }
        finally
        {
            if (options.keep || options.existing != null)
            {
                System.err.println("kept " + dir);
            }
            else
            {
                BenchSupport.deleteRecursively(dir);
            }
        }
    }

    private static LedgerConfig ledgerConfig(final int accounts, final int dedupeWindow)
    {
        return new LedgerConfig().expectedAccounts(accounts).dedupeWindowCount(dedupeWindow);
    }

    private static Build build(final Options options, final DataDir dataDir) throws IOException
    {
        final Build build = new Build();
        final long start = System.nanoTime();
        final UnsafeBuffer staged = new UnsafeBuffer(new byte[(options.batch + 64) * Outcome.LENGTH]);
        final int[] stagedCount = { 0 };
        final Ledger ledger = new Ledger(ledgerConfig(options.accounts, options.dedupeWindow),
            outcome -> outcome.encode(staged, stagedCount[0]++ * Outcome.LENGTH));
        final Command command = new Command();
        final Result result = new Result();
        final int[] users = Workload.Distribution.UNIFORM.sequence(options.accounts, Workload.SEQUENCE_LENGTH, 42);
        final long snapshotAt = 2L * options.accounts + options.events - options.tail;

        long nextSequence = 1;
        long commands = 0;
        long timestamp = Workload.START_MILLIS;
        try (JournalAppender appender = JournalAppender.open(
            dataDir, Durability.PROCESS, Journals.rollCycle("daily"), 0))
        {
            final long total = 2L * options.accounts + options.events;
            for (long n = 0; n < total; n++)
            {
                timestamp = Workload.START_MILLIS + (commands++ >> 10); // 1 ms per 1,024 commands, as LedgerBenchmark
                if (n < 2L * options.accounts)
                {
                    final int account = (int)(n >> 1);
                    if ((n & 1) == 0)
                    {
                        Workload.credit(command.reset(), account);
                    }
                    else
                    {
                        Workload.grant(command.reset(), account);
                    }
                }
                else
                {
                    command.reset()
                        .op(Op.DEDUCT)
                        .requestId(0xDEC0_0000_0000_0001L, n)
                        .userId(Workload.userId(users[(int)n & (Workload.SEQUENCE_LENGTH - 1)]))
                        .serviceId(Workload.SERVICE_ID)
                        .amount(1);
                }
                ledger.process(command.timestamp(timestamp), result);
                if (!result.accepted())
                {
                    throw new IllegalStateException("command " + n + " refused: " + result);
                }
                if (stagedCount[0] >= options.batch)
                {
                    nextSequence = append(appender, nextSequence, staged, stagedCount);
                }
                if (nextSequence - 1 + stagedCount[0] == snapshotAt)
                {
                    nextSequence = append(appender, nextSequence, staged, stagedCount);
                    snapshot(options, dataDir, ledger, snapshotAt, timestamp, build);
                }
            }
            nextSequence = append(appender, nextSequence, staged, stagedCount);
        }
        build.outcomes = nextSequence - 1;
        build.checksum = ledger.checksum();
        build.nanos = System.nanoTime() - start;
        build.journalBytes = BenchSupport.sizeOf(dataDir.journal());
        return build;
    }

    private static long append(
        final JournalAppender appender, final long nextSequence, final UnsafeBuffer staged, final int[] stagedCount)
    {
        final int count = stagedCount[0];
        if (count == 0)
        {
            return nextSequence;
        }
        appender.append(nextSequence, staged, 0, count);
        appender.flush();
        stagedCount[0] = 0;
        return nextSequence + count;
    }

    /**
     * What {@code Snapshotter} does, timed: on the business thread a new buffer, the copy and the checksum (the
     * pause), measured several times; then the file, written once.
     */
    private static void snapshot(
        final Options options,
        final DataDir dataDir,
        final Ledger ledger,
        final long sequence,
        final long timestamp,
        final Build build) throws IOException
    {
        build.pauseNanos = new long[options.pauses];
        build.allocNanos = new long[options.pauses];
        build.copyNanos = new long[options.pauses];
        build.checksumNanos = new long[options.pauses];
        UnsafeBuffer copy = null;
        int length = 0;
        long checksum = 0;
        for (int i = 0; i < options.pauses; i++)
        {
            copy = null; // let the previous copy go, as a running ledger would have
            final long t0 = System.nanoTime();
            copy = new UnsafeBuffer(new byte[ledger.snapshotLength()]);
            final long t1 = System.nanoTime();
            length = ledger.writeSnapshot(copy, 0);
            final long t2 = System.nanoTime();
            checksum = ledger.checksum();
            final long t3 = System.nanoTime();
            build.allocNanos[i] = t1 - t0;
            build.copyNanos[i] = t2 - t1;
            build.checksumNanos[i] = t3 - t2;
            build.pauseNanos[i] = t3 - t0;
        }
        // the copy alone into a buffer kept from the last time: what a reused buffer would cost
        final long t0 = System.nanoTime();
        ledger.writeSnapshot(copy, 0);
        build.reusedCopyNanos = System.nanoTime() - t0;

        final long t1 = System.nanoTime();
        new SnapshotStore(dataDir).write(sequence, timestamp, checksum, copy, length);
        build.snapshotFileNanos = System.nanoTime() - t1;
        build.snapshotSequence = sequence;
        build.snapshotBytes = length;
    }

    /**
     * One recovery measurement.
     *
     * @param nanos        wall time of the whole step.
     * @param replayed     journal outcomes applied.
     * @param recoverNanos time {@link Recovery} reported (runtime: its recovery part), else the same as nanos.
     * @param jvmNanos     wall time of the JVM that measured, from its launch to its answer (0 in process).
     */
    record Measure(long nanos, long replayed, long recoverNanos, int accounts, long checksum, long jvmNanos)
    {
        Measure(final long nanos, final long replayed, final long recoverNanos, final int accounts, final long checksum)
        {
            this(nanos, replayed, recoverNanos, accounts, checksum, 0);
        }

        Measure jvmNanos(final long jvmNanos)
        {
            return new Measure(nanos, replayed, recoverNanos, accounts, checksum, jvmNanos);
        }

        String line()
        {
            return RESULT + nanos + ' ' + replayed + ' ' + recoverNanos + ' ' + accounts + ' ' + checksum;
        }

        static Measure parse(final String line)
        {
            final String[] f = line.substring(RESULT.length()).trim().split(" ");
            return new Measure(Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2]),
                Integer.parseInt(f[3]), Long.parseLong(f[4]));
        }
    }

    private static Measure forkMeasure(final String kind, final Path dir, final Options options)
        throws IOException, InterruptedException
    {
        final List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.addAll(Arrays.asList("-cp", System.getProperty("java.class.path"), JournalRecoveryBench.class.getName(),
            CHILD, kind, dir.toString(), "" + options.accounts, "" + options.dedupeWindow));
        final long launched = System.nanoTime();
        final Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Measure measure = null;
        try (BufferedReader out = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)))
        {
            String line;
            while ((line = out.readLine()) != null)
            {
                if (line.startsWith(RESULT))
                {
                    measure = Measure.parse(line).jvmNanos(System.nanoTime() - launched);
                }
                else
                {
                    System.err.println(line);
                }
            }
        }
        final int exit = process.waitFor();
        if (exit != 0 || measure == null)
        {
            throw new IllegalStateException(kind + ": measuring JVM exited with " + exit);
        }
        return measure;
    }

    private static void child(final String[] args) throws Exception
    {
        final Measure measure = measure(args[1], Path.of(args[2]), Integer.parseInt(args[3]),
            Integer.parseInt(args[4]));
        System.out.println(measure.line());
    }

    private static Measure measure(final String kind, final Path dir, final int accounts, final int dedupeWindow)
        throws IOException
    {
        final DataDir dataDir = new DataDir(dir);
        final LedgerConfig config = ledgerConfig(accounts, dedupeWindow);
        final Supplier<Ledger> newLedger = () -> new Ledger(config, OutcomeSink.NONE);
        final long start = System.nanoTime();
        switch (kind)
        {
            case "read-only":
            {
                try (JournalReader reader = JournalReader.open(dataDir))
                {
                    final long[] sum = { 0 };
                    final JournalReader.ReadResult read = reader.read(0, (sequence, outcome) ->
                    {
                        sum[0] += outcome.userId(); // touch the decoded outcome
                        return true;
                    });
                    final long nanos = System.nanoTime() - start;
                    return new Measure(nanos, read.outcomes(), nanos, 0, sum[0]);
                }
            }
            case "journal":
            {
                final Recovery.Result recovered =
                    Recovery.recover(dataDir, newLedger, false, Recovery.Limit.END, Recovery.Progress.NONE);
                return new Measure(System.nanoTime() - start, recovered.replayed(), recovered.nanos(),
                    recovered.ledger().accountCount(), recovered.ledger().checksum());
            }
            case "snapshot-load":
            {
                final SnapshotStore store = new SnapshotStore(dataDir);
                final Ledger ledger = newLedger.get();
                store.load(store.list().get(0), ledger);
                final long nanos = System.nanoTime() - start;
                // the snapshot is a little behind the journal's end: its checksum is not the final one; say so
                return new Measure(nanos, 0, nanos, ledger.accountCount(), 0);
            }
            case "snapshot+tail":
            {
                final Recovery.Result recovered = Recovery.recover(dataDir, newLedger);
                if (recovered.snapshot() == null)
                {
                    throw new IllegalStateException("recovery did not use the snapshot: " +
                        recovered.rejectedSnapshots());
                }
                return new Measure(System.nanoTime() - start, recovered.replayed(), recovered.nanos(),
                    recovered.ledger().accountCount(), recovered.ledger().checksum());
            }
            case "runtime":
            {
                final LedgerRuntime runtime = LedgerRuntime.start(
                    new LedgerRuntime.Settings(dataDir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
                    new EngineConfig().ledger(config));
                final long nanos = System.nanoTime() - start;
                runtime.close();
                final Ledger ledger = runtime.engine().ledgerAfterClose();
                return new Measure(nanos, runtime.recovery().replayed(), runtime.recovery().nanos(),
                    ledger.accountCount(), ledger.checksum());
            }
            default:
                throw new IllegalArgumentException("unknown measurement: " + kind);
        }
    }

    private static void report(
        final Options options, final Path dir, final Build build, final Map<String, Measure> measures)
    {
        final PrintStream out = System.out;
        final Measure readOnly = measures.get("read-only");
        final Measure journal = measures.get("journal");
        final Measure load = measures.get("snapshot-load");
        final Measure restart = measures.get("snapshot+tail");
        final Measure runtime = measures.get("runtime");
        final double replayRate = journal.replayed() * 1e9 / journal.recoverNanos();
        // the tail's own rate: restart minus the snapshot load
        final double tailRate = restart.replayed() * 1e9 / Math.max(1, restart.recoverNanos() - load.nanos());
        if (options.json)
        {
            final StringBuilder json = new StringBuilder()
                .append("{\"accounts\":").append(journal.accounts())
                .append(",\"dedupeWindow\":").append(options.dedupeWindow)
                .append(",\"freshJvmPerMeasure\":").append(!options.inProcess)
                .append(",\"cpus\":").append(java.lang.Runtime.getRuntime().availableProcessors());
            if (build != null)
            {
                json.append(",\"build\":{\"outcomes\":").append(build.outcomes)
                    .append(",\"seconds\":").append(seconds(build.nanos))
                    .append(",\"journalBytes\":").append(build.journalBytes)
                    .append(",\"outcomesPerDocument\":").append(options.batch)
                    .append("},\"snapshot\":{\"sequence\":").append(build.snapshotSequence)
                    .append(",\"bytes\":").append(build.snapshotBytes)
                    .append(",\"pauseMillis\":").append(millisArray(build.pauseNanos))
                    .append(",\"allocMillis\":").append(millisArray(build.allocNanos))
                    .append(",\"copyMillis\":").append(millisArray(build.copyNanos))
                    .append(",\"checksumMillis\":").append(millisArray(build.checksumNanos))
                    .append(",\"copyIntoReusedBufferMillis\":").append(millis(build.reusedCopyNanos))
                    .append(",\"fileWriteMillis\":").append(millis(build.snapshotFileNanos)).append('}');
            }
            json.append(",\"journalReadOnly\":{\"events\":").append(readOnly.replayed())
                .append(",\"millis\":").append(millis(readOnly.nanos()))
                .append(",\"eventsPerSecond\":").append(Math.round(readOnly.replayed() * 1e9 / readOnly.nanos()))
                .append('}');
            json.append(",\"journalReplay\":{\"events\":").append(journal.replayed())
                .append(",\"millis\":").append(millis(journal.recoverNanos()))
                .append(",\"eventsPerSecond\":").append(Math.round(replayRate))
                .append("},\"snapshotLoadMillis\":").append(millis(load.nanos()))
                .append(",\"restart\":{\"tailEvents\":").append(restart.replayed())
                .append(",\"recoverMillis\":").append(millis(restart.recoverNanos()))
                .append(",\"tailEventsPerSecond\":").append(Math.round(tailRate))
                .append(",\"runtimeStartMillis\":").append(millis(runtime.nanos()))
                .append(",\"runtimeRecoverMillis\":").append(millis(runtime.recoverNanos()))
                .append(",\"runtimeJvmMillis\":").append(millis(runtime.jvmNanos()))
                .append("}}");
            out.println(json);
            return;
        }

        out.printf(Locale.ROOT, "data dir %s, %,d accounts, dedupe window %,d, %d CPUs, %s%n", dir,
            journal.accounts(), options.dedupeWindow, java.lang.Runtime.getRuntime().availableProcessors(),
            options.inProcess ? "recovery measured in this JVM (JIT warm)" : "each recovery in a fresh JVM");
        if (build != null)
        {
            out.printf(Locale.ROOT, "built: %,d outcomes (%d per document) in %.1f s, journal files %,d bytes " +
                "(%.0f per outcome; apparent size, Chronicle grows its files in chunks)%n", build.outcomes, options.batch, seconds(build.nanos), build.journalBytes,
                (double)build.journalBytes / build.outcomes);
            out.println();
            out.printf(Locale.ROOT, "snapshot at sequence %,d, %,d bytes (%.1f per account)%n",
                build.snapshotSequence, build.snapshotBytes, (double)build.snapshotBytes / options.accounts);
            out.printf(Locale.ROOT, "  business-thread pause (new buffer + copy + checksum), ms: %s%n",
                millisList(build.pauseNanos));
            out.printf(Locale.ROOT, "    new buffer: %s   copy: %s   checksum: %s%n",
                millisList(build.allocNanos), millisList(build.copyNanos), millisList(build.checksumNanos));
            out.printf(Locale.ROOT, "    copy into a reused buffer: %.1f ms%n", millis(build.reusedCopyNanos));
            out.printf(Locale.ROOT, "  file write (temp file, fsync, rename; off the business thread): %.1f ms%n",
                millis(build.snapshotFileNanos));
        }
        out.println();
        out.printf(Locale.ROOT, "%-34s %12s %12s %14s%n", "recovery", "events", "ms", "events/s");
        out.printf(Locale.ROOT, "%-34s %,12d %12.1f %,14.0f%n", "journal read + check, no apply",
            readOnly.replayed(), millis(readOnly.nanos()), readOnly.replayed() * 1e9 / readOnly.nanos());
        out.printf(Locale.ROOT, "%-34s %,12d %12.1f %,14.0f%n", "journal alone (Recovery.recover)",
            journal.replayed(), millis(journal.recoverNanos()), replayRate);
        out.printf(Locale.ROOT, "%-34s %12s %12.1f %14s%n", "snapshot load + check", "-", millis(load.nanos()), "-");
        out.printf(Locale.ROOT, "%-34s %,12d %12.1f %,14.0f%n", "snapshot + tail (Recovery.recover)",
            restart.replayed(), millis(restart.recoverNanos()), tailRate);
        out.printf(Locale.ROOT, "%-34s %,12d %12.1f %14s%n", "LedgerRuntime.start (restart)",
            runtime.replayed(), millis(runtime.nanos()), "-");
        out.printf(Locale.ROOT, "  of which recovery: %.1f ms; whole JVM, launch to started and closed: %s%n",
            millis(runtime.recoverNanos()), runtime.jvmNanos() == 0 ? "-" : millis(runtime.jvmNanos()) + " ms");
    }

    private static double seconds(final long nanos)
    {
        return nanos / 1e9;
    }

    private static double millis(final long nanos)
    {
        return Math.round(nanos / 1e5) / 10.0;
    }

    private static String millisArray(final long[] nanos)
    {
        final StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < nanos.length; i++)
        {
            json.append(i == 0 ? "" : ",").append(millis(nanos[i]));
        }
        return json.append(']').toString();
    }

    private static String millisList(final long[] nanos)
    {
        final StringBuilder list = new StringBuilder();
        for (int i = 0; i < nanos.length; i++)
        {
            list.append(i == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.1f", millis(nanos[i])));
        }
        return list.toString();
    }
}
