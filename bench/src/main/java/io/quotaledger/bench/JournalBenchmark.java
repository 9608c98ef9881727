package io.quotaledger.bench;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.Threading;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.Journals;
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

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The durable runtime end to end: {@link EngineBenchmark}'s producer, ring, business logic and counting listener,
 * with the journal stage between the business logic and the reply ({@link LedgerRuntime}, as the server runs it).
 * Each invocation submits one DEDUCT; a result is counted only after its outcome is in the journal (and msync'ed, in
 * FSYNC mode), so the figure is journaled throughput. After each iteration the producer waits for every result it is
 * owed and fails if any is missing or refused.
 *
 * <p>Every trial starts from an empty data directory (under {@link #dir}, or the system's temporary folder) that its
 * tear-down deletes; snapshots are off. The accounts are opened through the runtime, so their outcomes are journaled
 * too. The tear-down prints how many journal documents were written: outcomes per document is the mean ring batch,
 * which is what one msync covers in FSYNC mode.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgs = { "-Xms3g", "-Xmx3g" })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class JournalBenchmark
{
    /**
     * The runtime with its ledger of funded accounts and its journal, shared by all producers.
     */
    @State(Scope.Benchmark)
    public static class Journaled
    {
        /** When a change counts as safe: "process" (in the mapped file) or "fsync" (msync'ed per ring batch). */
        @Param({ "process", "fsync" })
        public String durability;

        /** How the ring's consumers wait: "yielding", "stage" (the EngineConfig default), "phased", "busyspin", "blocking". */
        @Param({ "yielding", "stage" })
        public String waitStrategy;

        /** Funded accounts; {@code -p accounts=10000} keeps them all in cache, leaving the ring's and journal's cost. */
        @Param({ "" + Workload.ACCOUNTS })
        public int accounts;

        /** Request ids remembered; see {@link LedgerBenchmark#dedupeWindow}. */
        @Param({ "" + LedgerBenchmark.DEDUPE_WINDOW })
        public int dedupeWindow;

        /** Parent of the trial's data directory; empty for the system's temporary folder. fsync figures depend on it. */
        @Param({ "" })
        public String dir;

        Path dataDir;
        LedgerRuntime runtime;
        LedgerEngine engine;
        int[] users;
        private long sequenceAtStart;

        @Setup(Level.Trial)
        public void start() throws IOException
        {
            dataDir = BenchSupport.scratchDir(dir, "journal-bench-");
            final EngineConfig config = BenchSupport.waitStrategy(new EngineConfig()
                .ledger(new LedgerConfig()
                    .expectedAccounts(accounts)
                    .dedupeWindowCount(dedupeWindow))
                .ringSize(EngineBenchmark.RING_SIZE)
                .threading(Threading.DEDICATED), waitStrategy); // in-process producers: the ring's path
            runtime = LedgerRuntime.start(new LedgerRuntime.Settings(
                new DataDir(dataDir),
                Durability.valueOf(durability.toUpperCase(Locale.ROOT)),
                Journals.rollCycle("daily"),
                0,
                0,
                2), config);
            engine = runtime.engine();
            populate();
            users = Workload.Distribution.UNIFORM.sequence(accounts, Workload.SEQUENCE_LENGTH, 42);
            sequenceAtStart = runtime.journal().lastSequence();
        }

        @TearDown(Level.Trial)
        public void stop()
        {
            try
            {
                final JournalAppender appender = runtime.journal().appender();
                runtime.close();
                final long outcomes = appender.lastSequence() - sequenceAtStart;
                System.out.printf(Locale.ROOT,
                    "%njournal (%s, %s, %,d accounts): %,d outcomes after set-up, %,d documents in all, " +
                    "%.1f outcomes per document; journal files %,d bytes; failure: %s%n",
                    durability, waitStrategy, accounts, outcomes, appender.documentsWritten(),
                    (double)appender.lastSequence() / Math.max(1, appender.documentsWritten()),
                    BenchSupport.sizeOf(dataDir), runtime.journal().failure());
            }
            finally
            {
                BenchSupport.deleteRecursively(dataDir);
            }
        }

        private void populate()
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
    }

    /**
     * One producer thread: its command, its request ids and the count of its results.
     */
    @State(Scope.Thread)
    public static class Producer
    {
        private static final AtomicInteger PRODUCERS = new AtomicInteger();

        final Command command = new Command();
        final EngineBenchmark.Counter results = new EngineBenchmark.Counter();
        long requestIdHi;
        long submitted;
        int[] users;

        @Setup(Level.Trial)
        public void setUp(final Journaled runtime)
        {
            requestIdHi = 0x10A1_0000_0000_0000L | PRODUCERS.incrementAndGet();
            users = runtime.users;
            command.reset().op(Op.DEDUCT).serviceId(Workload.SERVICE_ID).amount(1);
        }

        @TearDown(Level.Iteration)
        public void awaitResults()
        {
            results.await(submitted, "deduct");
        }
    }

    @Benchmark
    public void deduct(final Journaled runtime, final Producer producer)
    {
        final long n = ++producer.submitted;
        producer.command
            .requestId(producer.requestIdHi, n)
            .userId(Workload.userId(producer.users[(int)n & (Workload.SEQUENCE_LENGTH - 1)]));
        runtime.engine.submit(producer.command, producer.results, n);
    }
}
