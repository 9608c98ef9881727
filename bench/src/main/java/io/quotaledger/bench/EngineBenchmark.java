package io.quotaledger.bench;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.BusySpinWaitStrategy;
import com.lmax.disruptor.YieldingWaitStrategy;
import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.ResultListener;
import io.quotaledger.engine.Threading;
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

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The runtime end to end: producer thread, Disruptor ring, business-logic thread owning the ledger, reply stage and
 * a listener that counts results. Each invocation submits one DEDUCT (uniform users) with
 * {@link LedgerEngine#submit}, which waits when the ring is full, so in steady state the producer runs at the rate
 * the ledger processes. After each iteration the producer waits for every result it is owed and fails if any is
 * missing or was refused, so the figure is processed throughput, not queued; what is still in flight when an
 * iteration ends (at most one ring, {@value #RING_SIZE} slots) is the only bias.
 *
 * <p>Runs with {@code -t N} for N producers; each has its own request ids and counts its own results.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgs = { "-Xms3g", "-Xmx3g" })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class EngineBenchmark
{
    static final int RING_SIZE = 65_536;

    private static final int SEQUENCE_MASK = Workload.SEQUENCE_LENGTH - 1;
    private static final long DRAIN_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30);

    /**
     * The engine with its ledger of {@link Workload#ACCOUNTS} funded accounts, shared by all producers.
     */
    @State(Scope.Benchmark)
    public static class Engine
    {
        /** How the ring's consumers wait: "yielding", "stage" (the EngineConfig default), "phased", "busyspin", "blocking". */
        @Param({ "yielding", "stage" })
        public String waitStrategy;

        /** Funded accounts; {@code -p accounts=10000} keeps them all in cache, leaving the ring's own cost. */
        @Param({ "" + Workload.ACCOUNTS })
        public int accounts;

        /** Request ids remembered; see {@link LedgerBenchmark#dedupeWindow}. */
        @Param({ "" + LedgerBenchmark.DEDUPE_WINDOW })
        public int dedupeWindow;

        LedgerEngine engine;
        int[] users;

        @Setup(Level.Trial)
        public void start()
        {
            final EngineConfig config = new EngineConfig()
                .ledger(new LedgerConfig()
                    .expectedAccounts(accounts)
                    .dedupeWindowCount(dedupeWindow))
                .ringSize(RING_SIZE)
                .threading(Threading.DEDICATED); // producers on threads of their own write into the ring
            BenchSupport.waitStrategy(config, waitStrategy);
            engine = LedgerEngine.start(config);
            populate();
            users = Workload.Distribution.UNIFORM.sequence(accounts, Workload.SEQUENCE_LENGTH, 42);
        }

        @TearDown(Level.Trial)
        public void stop()
        {
            engine.close();
        }

        private void populate()
        {
            final Counter counter = new Counter();
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
        final Counter results = new Counter();
        long requestIdHi;
        long submitted;
        int[] users;

        @Setup(Level.Trial)
        public void setUp(final Engine engine)
        {
            requestIdHi = 0xE461_0000_0000_0000L | PRODUCERS.incrementAndGet();
            users = engine.users;
            command.reset().op(Op.DEDUCT).serviceId(Workload.SERVICE_ID).amount(1);
        }

        @TearDown(Level.Iteration)
        public void awaitResults()
        {
            results.await(submitted, "deduct");
        }
    }

    @Benchmark
    public void deduct(final Engine engine, final Producer producer)
    {
        final long n = ++producer.submitted;
        producer.command
            .requestId(producer.requestIdHi, n)
            .userId(Workload.userId(producer.users[(int)n & SEQUENCE_MASK]));
        engine.engine.submit(producer.command, producer.results, n);
    }

    /**
     * Counts results on the reply thread, its one writer; padded so that the producer's fields do not share its line.
     */
    static final class Counter extends CounterValue implements ResultListener
    {
        @SuppressWarnings("unused")
        private long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

        public void onResult(
            final long correlationId, final long arrivalNanos, final Command command, final Result result)
        {
            if (!result.accepted() || result.duplicate())
            {
                refused++;
            }
            RECEIVED.setRelease(this, received + 1); // single writer: no read-modify-write needed
        }

        /**
         * Waits until {@code expected} results have arrived.
         *
         * @throws IllegalStateException when some are lost (not there after a timeout) or any was refused.
         */
        void await(final long expected, final String what)
        {
            final long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
            long count;
            while ((count = (long)RECEIVED.getAcquire(this)) < expected && System.nanoTime() < deadline)
            {
                LockSupport.parkNanos(100_000);
            }
            final long lost = expected - count;
            if (lost != 0 || refused != 0)
            {
                throw new IllegalStateException(
                    what + ": " + expected + " submitted, " + lost + " results lost, " + refused + " refused");
            }
        }
    }

    @SuppressWarnings("unused")
    abstract static class CounterPadding
    {
        private long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    abstract static class CounterValue extends CounterPadding
    {
        static final VarHandle RECEIVED;

        static
        {
            try
            {
                RECEIVED = MethodHandles.lookup()
                    .findVarHandle(CounterValue.class, "received", long.class);
            }
            catch (final ReflectiveOperationException ex)
            {
                throw new ExceptionInInitializerError(ex);
            }
        }

        /** Read and written through {@link #RECEIVED}: released by the reply thread, acquired by the producer. */
        long received;
        /** Written before {@code received} is released, so visible to whoever has acquired the count. */
        long refused;
    }
}
