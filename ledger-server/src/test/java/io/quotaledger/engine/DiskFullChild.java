package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The ledger {@link DiskFullTest} runs on a small file system, in a JVM of its own (a write the file system cannot
 * back is a SIGBUS, which may take a JVM down). Prints one {@code ACK <index> <code> <duplicate>} line per deduct
 * result it was given, and what it is doing, and takes its cues from the parent on stdin.
 *
 * <pre>
 * args: dataDir durability threading fill         pipelines deducts until they are refused, prints FULL; then on
 *                                                 SNAPSHOT tries a snapshot, on FREED sends deducts until one is
 *                                                 taken again
 *       dataDir durability threading resend FILE  sends the deducts whose indexes FILE lists again, prints DONE
 * </pre>
 */
public final class DiskFullChild
{
    static final int USERS = 16;
    static final int RING = 1024;
    private static final int IN_FLIGHT = 500;
    private static final int REFUSALS_TO_STOP = 2_000;
    private static final int MAX_DEDUCTS = 1_000_000;
    private static final long ID_TAG = 0x4446_554C_0000_0000L; // "DFUL"

    private static BufferedWriter out;

    private DiskFullChild()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        out = new BufferedWriter(
            new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), StandardCharsets.US_ASCII), 1 << 16);
        final DataDir dir = new DataDir(Path.of(args[0]));
        final Durability durability = Durability.valueOf(args[1]);
        final Threading threading = Threading.valueOf(args[2]);
        final LedgerRuntime runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, durability, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ringSize(RING).ledger(ledgerConfig()).threading(threading));
        print("RECOVERED " + runtime.recovery().lastSequence());
        if ("fill".equals(args[3]))
        {
            fill(runtime);
        }
        else
        {
            resend(runtime, Files.readAllLines(Path.of(args[4])));
        }
        out.flush();
        Runtime.getRuntime().halt(0); // as a kill would: no orderly close
    }

    static LedgerConfig ledgerConfig()
    {
        return new LedgerConfig().dedupeWindowCount(1 << 20).expectedAccounts(256);
    }

    static Command deduct(final Command command, final int index)
    {
        return command.reset().op(Op.DEDUCT).requestId(ID_TAG, index).userId(1 + index % USERS).serviceId(1)
            .amount(1 + index % 5);
    }

    private static void fill(final LedgerRuntime runtime) throws Exception
    {
        final LedgerEngine engine = runtime.engine();
        final Command command = new Command();
        for (int user = 1; user <= USERS; user++)
        {
            final Result credit = engine.execute(command.reset().op(Op.CREDIT).requestId(ID_TAG + 1, user)
                .userId(user).amount(1L << 40), 10, TimeUnit.SECONDS);
            if (credit.code() != ResultCode.OK)
            {
                throw new IllegalStateException("credit refused: " + credit);
            }
        }

        // pipelined, as a gateway does, until the ledger has refused plenty
        final Semaphore window = new Semaphore(IN_FLIGHT);
        final AtomicInteger refused = new AtomicInteger();
        final ResultListener listener = (correlationId, arrivalNanos, c, result) ->
        {
            ack((int)correlationId, result);
            if (result.code() == ResultCode.UNAVAILABLE)
            {
                refused.incrementAndGet();
            }
            window.release();
        };
        int next = 0;
        while (refused.get() < REFUSALS_TO_STOP && next < MAX_DEDUCTS)
        {
            window.acquire();
            engine.submit(deduct(command, next), listener, next);
            next++;
        }
        window.acquire(IN_FLIGHT);
        window.release(IN_FLIGHT);
        print("FULL " + next + " " + refused.get() + " " + runtime.journal().lowOnSpace());
        print("QUERY " + engine.execute(command.reset().op(Op.QUERY).userId(1), 10, TimeUnit.SECONDS).code());

        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        for (String line = in.readLine(); line != null; line = in.readLine())
        {
            if ("SNAPSHOT".equals(line))
            {
                try
                {
                    print("SNAPSHOT_WRITTEN " + runtime.snapshotter().snapshot().get(30, TimeUnit.SECONDS));
                }
                catch (final Exception ex)
                {
                    print("SNAPSHOT_FAILED " + ex.getCause());
                }
            }
            else if ("FREED".equals(line))
            {
                next = resume(engine, command, next, listener, window);
                window.acquire(IN_FLIGHT);
                print("DONE " + next);
                return;
            }
        }
    }

    /**
     * Once space is back the ledger takes changes again by itself: one deduct every 20 ms until one is taken, then a
     * pipelined burst.
     */
    private static int resume(
        final LedgerEngine engine,
        final Command command,
        final int first,
        final ResultListener listener,
        final Semaphore window) throws Exception
    {
        int next = first;
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline)
        {
            final CountDownLatch answered = new CountDownLatch(1);
            final int index = next++;
            final ResultCode[] code = new ResultCode[1];
            window.acquire();
            engine.submit(deduct(command, index), (correlationId, arrivalNanos, c, result) ->
            {
                code[0] = result.code();
                listener.onResult(correlationId, arrivalNanos, c, result);
                answered.countDown();
            }, index);
            answered.await();
            if (code[0] == ResultCode.OK)
            {
                print("RESUME ok, first taken: " + index);
                for (int i = 0; i < 2_000; i++)
                {
                    window.acquire();
                    engine.submit(deduct(command, next), listener, next);
                    next++;
                }
                return next;
            }
            Thread.sleep(20);
        }
        print("RESUME failed: no change taken within 10 s of space being freed");
        return next;
    }

    private static void resend(final LedgerRuntime runtime, final List<String> indexes) throws Exception
    {
        final CountDownLatch done = new CountDownLatch(indexes.size());
        final ResultListener listener = (correlationId, arrivalNanos, c, result) ->
        {
            ack((int)correlationId, result);
            done.countDown();
        };
        final Command command = new Command();
        for (final String line : indexes)
        {
            final int index = Integer.parseInt(line.trim());
            runtime.engine().submit(deduct(command, index), listener, index);
        }
        if (!done.await(60, TimeUnit.SECONDS))
        {
            throw new IllegalStateException("resent deducts not answered");
        }
        print("DONE " + indexes.size());
    }

    private static void ack(final int index, final Result result)
    {
        write("ACK " + index + " " + result.code().name() + " " + (result.duplicate() ? 1 : 0) + "\n", false);
    }

    private static void print(final String line)
    {
        write(line + "\n", true);
    }

    private static void write(final String text, final boolean flush)
    {
        synchronized (DiskFullChild.class)
        {
            try
            {
                out.write(text);
                if (flush)
                {
                    out.flush();
                }
            }
            catch (final IOException ex)
            {
                throw new UncheckedIOException(ex);
            }
        }
    }
}
