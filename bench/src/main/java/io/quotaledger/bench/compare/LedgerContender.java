package io.quotaledger.bench.compare;

import io.quotaledger.bench.BenchSupport;
import io.quotaledger.cli.LedgerCli;
import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.RequestIds;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.client.ResultView;
import io.quotaledger.journal.Durability;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.ResultCode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The ledger as a gateway runs it: {@code ledger serve} in a JVM of its own (no projector, so that only the charging
 * path is measured), reached over loopback TCP by the Java client in its callback form (nothing allocated per
 * request), which pipelines: the concurrency is the number of requests in flight over a few connections, not a
 * thread per request.
 */
final class LedgerContender implements Contender
{
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final Durability durability;
    private final Path dir;
    private final int port;
    private final int metricsPort;
    private final int connections;
    private final List<String> jvmOptions;
    private final int expectedAccounts;
    private final List<String> serveOptions;
    private final List<Lane> lanes = new ArrayList<>();
    private Process process;

    /**
     * One connection and its DEDUCTs in flight: the user and start time of each live in a ring indexed by the low
     * half of its request id (which counts up by one), so that the answer finds them without an allocation per
     * request. Answers arrive on the client's I/O thread; in the closed loop each sends the next request there.
     */
    private static final class Lane implements ResultHandler
    {
        static final int RING = 1 << 16;

        final LedgerClient client;
        final RequestIds ids = new RequestIds();
        final int[] users = new int[RING];
        final long[] starts = new long[RING];
        final AtomicLong sent = new AtomicLong();
        final AtomicLong answered = new AtomicLong();
        volatile Phase phase;
        volatile CountDownLatch closedLoop; // null in the open loop

        Lane(final LedgerClient client)
        {
            this.client = client;
        }

        void begin(final Phase phase, final CountDownLatch closedLoop)
        {
            this.phase = phase;
            this.closedLoop = closedLoop;
        }

        long inFlight()
        {
            return sent.get() - answered.get();
        }

        /**
         * @param started when the request is sent (closed loop) or was due (open loop).
         */
        void send(final int user, final long started)
        {
            final long lo = ids.nextLo();
            final int slot = (int)(lo & (RING - 1));
            users[slot] = user;
            starts[slot] = started;
            sent.incrementAndGet();
            client.deduct(ids.hi(), lo, phase.scenario.userId(user), Scenario.SERVICE, Scenario.AMOUNT, this);
        }

        /**
         * Closed loop: the next request of a chain, or the chain's end once the phase is over.
         */
        void sendNext()
        {
            final Phase current = phase;
            if (System.nanoTime() >= current.end)
            {
                closedLoop.countDown();
                return;
            }
            send(current.send(current.nextRequest()), System.nanoTime());
        }

        public void onResult(final ResultView result)
        {
            final ResultCode code = result.code();
            answer(result.requestIdLo(), code == ResultCode.OK ? Tally.OK :
                code == ResultCode.INSUFFICIENT_FUNDS ? Tally.REJECTED : Tally.ERROR);
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            answer(requestIdLo, Tally.ERROR);
        }

        private void answer(final long lo, final int outcome)
        {
            final long now = System.nanoTime();
            final int slot = (int)(lo & (RING - 1));
            phase.answered(users[slot], outcome, starts[slot], now);
            answered.incrementAndGet();
            if (closedLoop != null)
            {
                sendNext(); // on the client's I/O thread: the next request of this chain
            }
        }
    }

    /**
     * @param jvmOptions       for the server's JVM (the project's @argfile and heap).
     * @param expectedAccounts accounts to preallocate for.
     */
    LedgerContender(final Durability durability, final Path dir, final int port, final int metricsPort,
        final int connections, final List<String> jvmOptions, final int expectedAccounts,
        final List<String> serveOptions)
    {
        this.serveOptions = List.copyOf(serveOptions);
        this.durability = durability;
        this.dir = dir;
        this.port = port;
        this.metricsPort = metricsPort;
        this.connections = connections;
        this.jvmOptions = List.copyOf(jvmOptions);
        this.expectedAccounts = expectedAccounts;
    }

    @Override
    public String name()
    {
        return "ledger (" + durability.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }

    @Override
    public List<String> settings()
    {
        return List.of(
            "ledger serve --durability " + durability.name().toLowerCase(java.util.Locale.ROOT) + " --no-projector" +
            (serveOptions.isEmpty() ? "" : " " + String.join(" ", serveOptions)) + ", " +
            "own JVM (" + String.join(" ", jvmOptions.stream().filter(o -> o.startsWith("-X")).toList()) + "), " +
            "journal in " + dir.getParent(),
            durability == Durability.FSYNC ? "journal fsynced (msync) once per ring batch before the results leave"
                : "journal written to the page cache (mmap) before the results leave: survives kill -9",
            "Java LedgerClient (callback form), " + connections + " pipelined connection(s), loopback TCP");
    }

    @Override
    public void start() throws Exception
    {
        Files.createDirectories(dir);
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), LedgerCli.class.getName(), "serve",
            "--data", dir.toString(), "--port", Integer.toString(port),
            "--metrics-port", Integer.toString(metricsPort), "--durability",
            durability.name().toLowerCase(java.util.Locale.ROOT), "--no-projector",
            "--expected-accounts", Integer.toString(expectedAccounts), "--snapshot-every", "0"));
        command.addAll(serveOptions);
        final Path log = dir.resolve("serve.log");
        process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        final long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!Files.readString(log, StandardCharsets.UTF_8).contains("ledger serving"))
        {
            if (!process.isAlive() || System.nanoTime() > deadline)
            {
                throw new IOException("ledger serve did not start; its output:\n" + tail(log));
            }
            Thread.sleep(50);
        }
        final String key = Files.readString(dir.resolve("admin.key")).strip(); // written by serve on first start
        for (int i = 0; i < connections; i++)
        {
            lanes.add(new Lane(LedgerClient.connect(new ClientConfig().port(port).apiKey(key)
                .timeout(Duration.ofSeconds(10)))));
        }
    }

    @Override
    public void populate(final Scenario scenario) throws Exception
    {
        final LedgerClient client = lanes.get(0).client;
        final List<CompletableFuture<LedgerResult>> pending = new ArrayList<>();
        for (int i = 0; i < scenario.users(); i++)
        {
            // CREDIT and GRANT both open the account; every user has money, free units or both
            if (scenario.balance(i) > 0)
            {
                pending.add(client.credit(scenario.userId(i), scenario.balance(i)));
            }
            if (scenario.free(i) > 0)
            {
                pending.add(client.grant(scenario.userId(i), Scenario.SERVICE, scenario.free(i), Period.MONTH));
            }
            if (pending.size() >= 8192)
            {
                awaitAll(pending);
            }
        }
        awaitAll(pending);
    }

    @Override
    public Measurement closedLoop(final Phase phase) throws Exception
    {
        final CountDownLatch done = new CountDownLatch(phase.concurrency);
        for (final Lane lane : lanes)
        {
            lane.begin(phase, done);
        }
        for (int i = 0; i < phase.concurrency; i++)
        {
            lanes.get(i % lanes.size()).sendNext();
        }
        if (!done.await(phase.end - System.nanoTime() + Phase.DRAIN_NANOS, TimeUnit.NANOSECONDS))
        {
            throw new IOException("requests still unanswered " + Phase.DRAIN_NANOS / 1_000_000_000 +
                " s after the run");
        }
        return phase.result("closed");
    }

    @Override
    public Measurement openLoop(final Phase phase) throws Exception
    {
        for (final Lane lane : lanes)
        {
            lane.begin(phase, null);
        }
        int next = 0;
        while (true)
        {
            final long k = phase.nextRequest();
            final long due = phase.dueTime(k);
            if (due >= phase.end)
            {
                break;
            }
            long now = System.nanoTime();
            while (now < due)
            {
                LockSupport.parkNanos(due - now);
                now = System.nanoTime();
            }
            final Lane lane = lanes.get(next++ % lanes.size());
            while (lane.inFlight() >= Lane.RING)
            {
                Thread.yield(); // far behind: the wait is charged to latency, which runs from the due time
            }
            lane.send(phase.send(k), due);
        }
        final long deadline = System.nanoTime() + Phase.DRAIN_NANOS;
        long outstanding;
        while ((outstanding = lanes.stream().mapToLong(Lane::inFlight).sum()) > 0)
        {
            if (System.nanoTime() > deadline)
            {
                throw new IOException(outstanding + " requests still unanswered " +
                    Phase.DRAIN_NANOS / 1_000_000_000 + " s after the run");
            }
            Thread.sleep(1);
        }
        return phase.result("open");
    }

    @Override
    public State read(final Scenario scenario) throws Exception
    {
        final State state = State.of(scenario.users());
        final LedgerClient client = lanes.get(0).client;
        final List<CompletableFuture<LedgerResult>> pending = new ArrayList<>();
        for (int from = 0; from < scenario.users(); from += 8192)
        {
            final int to = Math.min(scenario.users(), from + 8192);
            pending.clear();
            for (int i = from; i < to; i++)
            {
                pending.add(client.query(scenario.userId(i), Scenario.SERVICE));
            }
            for (int i = from; i < to; i++)
            {
                final LedgerResult r = pending.get(i - from).get(30, TimeUnit.SECONDS);
                if (r.code() == ResultCode.OK)
                {
                    state.balance()[i] = r.balance();
                    state.freeUsed()[i] = scenario.free(i) - r.freeRemaining();
                }
            }
        }
        return state;
    }

    @Override
    public void close() throws Exception
    {
        for (final Lane lane : lanes)
        {
            lane.client.close();
        }
        lanes.clear();
        if (process != null)
        {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
            }
            process = null;
        }
        BenchSupport.deleteRecursively(dir);
    }

    private static void awaitAll(final List<CompletableFuture<LedgerResult>> pending) throws Exception
    {
        for (final CompletableFuture<LedgerResult> future : pending)
        {
            final LedgerResult r = future.get(30, TimeUnit.SECONDS);
            if (r.code() != ResultCode.OK)
            {
                throw new IOException("set-up request refused: " + r);
            }
        }
        pending.clear();
    }

    private static String tail(final Path log) throws IOException
    {
        final List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }
}
