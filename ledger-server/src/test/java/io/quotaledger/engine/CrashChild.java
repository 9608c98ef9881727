package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.Result;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.Recovery;

import java.io.BufferedWriter;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The process {@link CrashRecoveryTest} kills: recovers the ledger from the data directory, prints READY, then sends
 * the unacknowledged requests of earlier cycles and this cycle's chunk from several producer threads, printing one
 * {@code ACK <hi> <lo> <code> <dup>} line per result it was given, until it is killed.
 *
 * <pre>
 * args: dataDir seed cycle cycles durability chunk producers ackedFile snapshotDelayMs(-1: none) threading
 * </pre>
 */
public final class CrashChild
{
    /** Requests per second over all producers. */
    private static final int RATE = 20_000;
    private static final int MAX_BURST = 128;
    private static final Object LOCK = new Object();
    private static StringBuilder pending = new StringBuilder(1 << 16);
    private static long readyNanos;
    private static long firstAckNanos;

    private CrashChild()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final DataDir dir = new DataDir(Path.of(args[0]));
        final long seed = Long.parseLong(args[1]);
        final int cycle = Integer.parseInt(args[2]);
        final int cycles = Integer.parseInt(args[3]);
        final Durability durability = Durability.valueOf(args[4]);
        final int chunk = Integer.parseInt(args[5]);
        final int producers = Integer.parseInt(args[6]);
        final Set<Long> acked = readAcked(Path.of(args[7]));
        final long snapshotDelayMs = Long.parseLong(args[8]);
        final Threading threading = Threading.valueOf(args[9]);

        final BufferedWriter out = new BufferedWriter(
            new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), StandardCharsets.US_ASCII), 1 << 16);
        final LedgerRuntime runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, durability, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(CrashWorkload.ledgerConfig(cycles, chunk)).threading(threading));
        final Recovery.Result recovery = runtime.recovery();
        out.write("RECOVERED " + recovery.lastSequence() + " " + recovery.replayed() + " " +
            (recovery.snapshot() == null ? "-" : Long.toString(recovery.snapshot().sequence())) + " " +
            (recovery.tornTail() == null ? "-" : recovery.tornTail().replace(' ', '_')) + "\n");
        readyNanos = System.nanoTime();
        out.write("READY\n");
        out.flush();
        startPrinter(out);

        // only results that were delivered are printed: that is what "acknowledged" means to a client
        final ResultListener listener = (correlationId, arrivalNanos, command, result) -> ack(command, result);

        // the set-up first (accounts, keys, limits), and wait for it: no DEDUCT may meet an account or key not there yet
        final List<CrashWorkload.Request> setup = new ArrayList<>();
        for (final CrashWorkload.Request request : CrashWorkload.setup())
        {
            if (!acked.contains(request.key()))
            {
                setup.add(request);
            }
        }
        final CountDownLatch setupDone = new CountDownLatch(setup.size());
        final Command command = new Command();
        for (final CrashWorkload.Request request : setup)
        {
            runtime.engine().submit(request.fill(command), (correlationId, arrivalNanos, c, result) ->
            {
                ack(c, result);
                setupDone.countDown();
            }, 0);
        }
        if (!setupDone.await(30, TimeUnit.SECONDS))
        {
            throw new IllegalStateException("setup not answered");
        }

        // earlier cycles' unacknowledged requests first (in their order), then this cycle's chunk
        final List<List<CrashWorkload.Request>> partitions = new ArrayList<>();
        for (int p = 0; p < producers; p++)
        {
            partitions.add(new ArrayList<>());
        }
        for (int c = 1; c <= cycle; c++)
        {
            for (final CrashWorkload.Request request : CrashWorkload.chunk(seed, c, chunk, producers))
            {
                if (c == cycle || !acked.contains(request.key()))
                {
                    partitions.get(request.partition()).add(request);
                }
            }
        }

        if (snapshotDelayMs >= 0)
        {
            final Thread snapshotter = new Thread(() -> snapshot(runtime, snapshotDelayMs), "crash-snapshot");
            snapshotter.setDaemon(true);
            snapshotter.start();
        }

        final int total = partitions.stream().mapToInt(List::size).sum();
        final CountDownLatch done = new CountDownLatch(total);
        final ResultListener counting = (correlationId, arrivalNanos, c, result) ->
        {
            listener.onResult(correlationId, arrivalNanos, c, result);
            done.countDown();
        };
        final List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++)
        {
            final List<CrashWorkload.Request> partition = partitions.get(p);
            final Random random = new Random(seed * 97 + cycle * 31 + p);
            final Thread producer = new Thread(
                () -> produce(runtime.engine(), partition, counting, random, producers), "crash-producer-" + p);
            producer.setDaemon(true);
            producer.start();
            threads.add(producer);
        }
        for (final Thread producer : threads)
        {
            producer.join();
        }
        done.await();
        print("DONE " + total + "\n");
        Thread.sleep(Long.MAX_VALUE); // the parent kills us
    }

    private static void produce(
        final LedgerEngine engine,
        final List<CrashWorkload.Request> requests,
        final ResultListener listener,
        final Random random,
        final int producers)
    {
        final Command command = new Command();
        int burst = 0;
        int sent = 0;
        for (final CrashWorkload.Request request : requests)
        {
            if (burst == 0)
            {
                burst = 1 + random.nextInt(MAX_BURST);
            }
            engine.submit(request.fill(command), listener, 0);
            sent++;
            // paced to RATE in bursts of random size, so that the parent's kill lands while requests are in flight
            // (sometimes hundreds of them) rather than after the chunk is done
            if (--burst == 0)
            {
                LockSupport.parkNanos(sent * producers * (1_000_000_000L / RATE));
                sent = 0;
            }
        }
    }

    private static void snapshot(final LedgerRuntime runtime, final long delayMs)
    {
        try
        {
            Thread.sleep(delayMs);
            final Snapshotter.Snapshot snapshot = runtime.snapshotter().snapshot().get(30, TimeUnit.SECONDS);
            if (snapshot != null)
            {
                print("SNAPSHOT " + snapshot.sequence() + "\n");
            }
        }
        catch (final Exception ex)
        {
            ex.printStackTrace();
        }
    }

    private static void ack(final Command command, final Result result)
    {
        synchronized (LOCK)
        {
            if (firstAckNanos == 0)
            {
                // how long the restarted ledger took to answer: a stall here is a stall for every client
                firstAckNanos = System.nanoTime();
                pending.append("FIRST_ACK ").append((firstAckNanos - readyNanos) / 1_000_000).append(" ms\n");
            }
            pending.append("ACK ").append(command.requestIdHi()).append(' ').append(command.requestIdLo())
                .append(' ').append(result.code().code()).append(' ').append(result.duplicate() ? 1 : 0)
                .append('\n');
        }
    }

    private static void print(final String line)
    {
        synchronized (LOCK)
        {
            pending.append(line);
        }
    }

    /**
     * One thread writes and flushes every couple of milliseconds, off the reply thread.
     */
    private static void startPrinter(final BufferedWriter out)
    {
        final Thread printer = new Thread(() ->
        {
            StringBuilder spare = new StringBuilder(1 << 16);
            while (true)
            {
                final StringBuilder batch;
                synchronized (LOCK)
                {
                    batch = pending;
                    pending = spare;
                }
                try
                {
                    if (batch.length() > 0)
                    {
                        out.append(batch);
                        out.flush();
                    }
                }
                catch (final IOException ex)
                {
                    return; // the parent went away
                }
                batch.setLength(0);
                spare = batch;
                LockSupport.parkNanos(2_000_000);
            }
        }, "crash-printer");
        printer.setDaemon(true);
        printer.start();
    }

    private static Set<Long> readAcked(final Path file) throws IOException
    {
        final Set<Long> acked = new HashSet<>();
        if (Files.exists(file))
        {
            for (final String line : Files.readAllLines(file))
            {
                if (!line.isBlank())
                {
                    acked.add(Long.parseLong(line.trim()));
                }
            }
        }
        return acked;
    }
}
