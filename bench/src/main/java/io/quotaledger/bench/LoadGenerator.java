package io.quotaledger.bench;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.RequestIds;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.client.ResultView;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.Threading;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import io.quotaledger.server.LedgerServer;
import io.quotaledger.server.ServerConfig;
import io.quotaledger.server.ServerMetrics;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * TCP load generator for a ledger speaking the binary protocol (docs/protocol.md): N connections sending DEDUCTs,
 * in a closed loop for maximum throughput or an open loop at a fixed offered rate for latency. Run with
 * {@code scripts/bench load [options]} against {@code scripts/ledger serve}, or with {@code --embedded} against a
 * ledger started in this JVM.
 *
 * <p>Each connection is a {@link LedgerClient}, the client gateways use, in its callback form, which allocates
 * nothing per request: what is measured is what a gateway gets. The clients of a worker share one I/O thread
 * ({@code --threads} of them). A connection's request ids are (its own high half, a sequence), so the send times of
 * its requests live in a ring indexed by {@code sequence & mask}. The clients do not resend after a timeout: a
 * request unanswered at the end of the drain counts as lost.
 *
 * <p>Closed loop ({@code --mode closed}): every connection keeps {@code --window} requests in flight, sending one for
 * each result. Open loop ({@code --mode open --rate R}): request i is due at {@code start + i / R}, round-robin over the
 * connections, whether or not earlier ones have been answered. Latency runs from that intended time to the result
 * (coordinated omission corrected: a stall is charged to every request that should have been sent during it); the
 * "service" time runs from the actual send. Only requests due (open) or sent (closed) in the measured window, after
 * {@code --warmup}, are recorded. At the end every request must have had a result; results are counted by code.
 */
public final class LoadGenerator
{
    private static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final int USER_SEQUENCE_LENGTH = 1 << 20;
    private static final int SETUP_BATCH = 4096;

    private LoadGenerator()
    {
    }

    /**
     * What to run, from the command line.
     */
    static final class Options
    {
        String host = "127.0.0.1";
        int port = 7070;
        String key;
        Path data;
        boolean embedded;
        Integer ioThreads;
        boolean busyWait;
        Threading threading = Threading.byDefault();
        String durability = "process";
        int ringSize = 16_384;
        String dir = "";

        String mode = "closed";
        long rate = 100_000;
        int connections = 4;
        int window = 256;
        int threads = 1;
        double warmupSeconds = 5;
        double durationSeconds = 20;
        double drainSeconds = 30;
        String pace = "park";

        int users = 1_000_000;
        String distribution = "uniform";
        double hotShare = 0.9;
        double hotSet = 0.01;
        long hotUser;
        int serviceId = Workload.SERVICE_ID;
        long amount = 1;
        long credit = Workload.OPENING_BALANCE;
        long grant = Workload.FREE_ALLOWANCE;
        int keysPerUser;
        boolean setup = true;
        long seed = 42;
        int ringSlots;

        boolean json;
        Path hgrm;

        static Options parse(final String[] args)
        {
            final Options o = new Options();
            for (int i = 0; i < args.length; i++)
            {
                final String arg = args[i];
                switch (arg)
                {
                    case "--host" -> o.host = BenchSupport.value(args, ++i, arg);
                    case "--port" -> o.port = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--key" -> o.key = BenchSupport.value(args, ++i, arg);
                    case "--data" -> o.data = Path.of(BenchSupport.value(args, ++i, arg));
                    case "--embedded" -> o.embedded = true;
                    case "--io-threads" -> o.ioThreads = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--busy-wait" -> o.busyWait = true;
                    case "--threading" -> o.threading = Threading.valueOf(
                        BenchSupport.value(args, ++i, arg).toUpperCase(Locale.ROOT));
                    case "--durability" -> o.durability = BenchSupport.value(args, ++i, arg);
                    case "--ring-size" -> o.ringSize = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--dir" -> o.dir = BenchSupport.value(args, ++i, arg);
                    case "--mode" -> o.mode = BenchSupport.value(args, ++i, arg);
                    case "--rate" -> o.rate = count(BenchSupport.value(args, ++i, arg));
                    case "--connections", "-c" -> o.connections = (int)count(BenchSupport.value(args, ++i, arg));
                    case "--window", "-w" -> o.window = (int)count(BenchSupport.value(args, ++i, arg));
                    case "--threads" -> o.threads = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--warmup" -> o.warmupSeconds = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--duration", "-d" -> o.durationSeconds = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--drain-timeout" -> o.drainSeconds = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--pace" -> o.pace = BenchSupport.value(args, ++i, arg);
                    case "--users" -> o.users = (int)count(BenchSupport.value(args, ++i, arg));
                    case "--distribution" -> o.distribution = BenchSupport.value(args, ++i, arg);
                    case "--hot-share" -> o.hotShare = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--hot-set" -> o.hotSet = Double.parseDouble(BenchSupport.value(args, ++i, arg));
                    case "--hot-user" -> o.hotUser = Long.parseLong(BenchSupport.value(args, ++i, arg));
                    case "--service" -> o.serviceId = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--amount" -> o.amount = Long.parseLong(BenchSupport.value(args, ++i, arg));
                    case "--credit" -> o.credit = Long.parseLong(BenchSupport.value(args, ++i, arg));
                    case "--grant" -> o.grant = Long.parseLong(BenchSupport.value(args, ++i, arg));
                    case "--keys-per-user" -> o.keysPerUser = Integer.parseInt(BenchSupport.value(args, ++i, arg));
                    case "--no-setup" -> o.setup = false;
                    case "--seed" -> o.seed = Long.parseLong(BenchSupport.value(args, ++i, arg));
                    case "--ring-slots" -> o.ringSlots = (int)count(BenchSupport.value(args, ++i, arg));
                    case "--json" -> o.json = true;
                    case "--hgrm" -> o.hgrm = Path.of(BenchSupport.value(args, ++i, arg));
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
            o.validate();
            return o;
        }

        private void validate()
        {
            if (!mode.equals("closed") && !mode.equals("open"))
            {
                throw new IllegalArgumentException("--mode must be closed or open: " + mode);
            }
            if (!distribution.equals("uniform") && !distribution.equals("hot") && !distribution.equals("zipfian"))
            {
                throw new IllegalArgumentException("--distribution must be uniform, hot or zipfian: " + distribution);
            }
            if (!pace.equals("park") && !pace.equals("yield") && !pace.equals("spin"))
            {
                throw new IllegalArgumentException("--pace must be park, yield or spin: " + pace);
            }
            if (hotUser != 0)
            {
                distribution = "hot";
                if (hotUser < 1 || hotUser > users)
                {
                    throw new IllegalArgumentException("--hot-user must be 1.." + users + ": " + hotUser);
                }
            }
            if (connections < 1 || threads < 1 || threads > connections || window < 1 || users < 1 || rate < 1)
            {
                throw new IllegalArgumentException(
                    "--connections, --window, --users and --rate must be positive, 1 <= --threads <= --connections");
            }
            if (keysPerUser < 0)
            {
                throw new IllegalArgumentException("--keys-per-user must be 0 or more: " + keysPerUser);
            }
            if (hotShare < 0 || hotShare > 1 || hotSet <= 0 || hotSet > 1)
            {
                throw new IllegalArgumentException("--hot-share must be 0..1 and --hot-set in (0, 1]");
            }
            if (ringSlots == 0)
            {
                // open loop: how far a connection may run ahead of its results before the sender waits
                ringSlots = mode.equals("closed") ? window : 1 << 16;
            }
            ringSlots = Integer.highestOneBit(Math.max(2, ringSlots - 1)) << 1;
            if (!embedded && key == null && data == null)
            {
                data = Path.of("data"); // like the CLI: ./data/admin.key
            }
        }

        String target()
        {
            return embedded ? "embedded ledger" : host + ":" + port;
        }

        private static long count(final String value)
        {
            final String v = value.replace("_", "").replace(",", "").toLowerCase(Locale.ROOT);
            if (v.endsWith("k"))
            {
                return Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 1_000);
            }
            if (v.endsWith("m"))
            {
                return Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 1_000_000);
            }
            return Long.parseLong(v);
        }

        static void usage(final PrintStream out)
        {
            out.println("""
                usage: scripts/bench load [options]
                Drives a ledger over TCP with DEDUCTs on N connections of the Java client (LedgerClient, callback
                form, no resends) and reports throughput, latency percentiles and results by code. Exit code 1 if a
                request got no result or a non-OK result.

                target:
                  --host H --port P       a running `scripts/ledger serve` (default 127.0.0.1:7070)
                  --key KEY               an admin API key (set-up credits accounts), or
                  --data DIR              read it from DIR/admin.key, as the CLI does (default: ./data)
                  --embedded              start a ledger in this JVM instead (journal in a temp dir, deleted after);
                                          with --threading shared|dedicated, --io-threads N, --busy-wait,
                                          --durability process|fsync|none
                                          (none: the engine without the journal stage),
                                          --ring-size N (16384), --dir PARENT
                load:
                  --mode closed|open      closed: every connection keeps --window requests in flight (throughput);
                                          open: --rate R requests/s on a fixed schedule (latency, coordinated
                                          omission corrected). Default closed
                  --rate R                offered requests/s in open mode (default 100k)
                  --connections N, -c N   connections (default 4)
                  --window N, -w N        requests in flight per connection, closed mode (default 256)
                  --threads N             client I/O threads, connections spread over them (default 1; open mode
                                          adds a sender thread per I/O thread)
                  --pace park|yield|spin  how the open-loop sender waits for the next send time (default park:
                                          cheapest on shared cores; sends in small bursts of ~50 us)
                  --warmup S              seconds not recorded (default 5)
                  --duration S, -d S      seconds recorded (default 20)
                  --drain-timeout S       seconds to wait for the last results (default 30)
                workload:
                  --users N               accounts 1..N (default 1m)
                  --distribution D        uniform | hot | zipfian (s = 0.99). Default uniform
                  --hot-share F           hot: share of requests to the hot users (default 0.9)
                  --hot-set F             hot: share of users that are hot (default 0.01)
                  --hot-user ID           hot: the hot share goes to this one user (implies hot)
                  --service ID --amount N what each DEDUCT charges (default service 1, amount 1)
                  --credit N --grant N    set-up: CREDIT every user N (default 2^50), GRANT N free units a month
                                          on the service (default 1000, 0 for none)
                  --keys-per-user K       set-up: also K virtual keys per user (ids from 1, a budget of 2^50 a
                                          month), each with a rate limit; the DEDUCTs go through none of them
                                          (default 0). 1m users with 2: the state of `footprint --policy`
                  --no-setup              skip the set-up (accounts funded by an earlier run)
                  --seed N                user sequences (default 42)
                output:
                  --json                  one JSON object on stdout
                  --hgrm FILE             HdrHistogram percentile distribution (microseconds) of the latency;
                                          open mode also writes the service time to FILE with .service inserted
                """);
        }
    }

    /**
     * One connection: a {@link LedgerClient} of its own and the ring of its requests' send times. Its request ids
     * are (a high half of its own, a sequence), so a result finds its send times at {@code sequence & mask}. The
     * send side belongs to the sending thread, the receive side to the worker's I/O thread (the same thread in
     * closed mode).
     */
    static final class Conn implements ResultHandler
    {
        final int index;
        final Worker worker;
        final long requestIdHi;
        LedgerClient client;

        // send side
        long sent;
        final AtomicLong published = new AtomicLong(); // requests sent, ring entries written up to this sequence

        // per request: intended send time, actual send time
        final long[] ring;
        final int mask;

        // receive side
        long received;
        final AtomicLong receivedCount = new AtomicLong(); // read by the sender for its back-pressure, and at the end
        final AtomicLong failed = new AtomicLong(); // given up by the client: no result after its attempts
        long outOfOrder;

        Conn(final int index, final Worker worker, final long requestIdHi, final int ringSlots)
        {
            this.index = index;
            this.worker = worker;
            this.requestIdHi = requestIdHi;
            this.ring = new long[ringSlots * 2];
            this.mask = ringSlots - 1;
        }

        /**
         * Sends the next DEDUCT: the client encodes it into its outbound buffer, its I/O thread writes and flushes.
         */
        void deduct(final long userId, final int serviceId, final long amount, final long intended, final long now)
        {
            final long sequence = ++sent;
            final int slot = (int)(sequence & mask) * 2;
            ring[slot] = intended;
            ring[slot + 1] = now;
            published.lazySet(sequence);
            client.deduct(requestIdHi, sequence, userId, serviceId, amount, this);
        }

        public void onResult(final ResultView result)
        {
            worker.onResult(this, result.requestIdLo(), result.code(), System.nanoTime());
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            failed.incrementAndGet();
            worker.failure = "connection " + index + ", request " + requestIdLo + ": " + cause;
        }
    }

    /**
     * A group of connections whose clients share one I/O thread, which records their results (and sends in closed
     * mode), and in open mode one sending thread. Histograms and counts are written by the I/O thread only, read
     * after it has been drained.
     */
    static final class Worker
    {
        final int index;
        final Options options;
        final List<Conn> conns = new ArrayList<>();
        final int[] users;
        final boolean open;
        final double interval;
        final long drainNanos;
        final EventLoopGroup io = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

        final Histogram latency = new Histogram(HIGHEST_NANOS, 3);
        final Histogram service = new Histogram(HIGHEST_NANOS, 3);
        final long[] codes = new long[256];
        long recorded;
        long lastRecordedNanos;
        long protocolErrors; // results with a protocol error's code (UNAUTHENTICATED and up)
        volatile String failure;

        private int userCursor;
        private Thread sender;
        private long start;
        private long measureStart;
        private long measureEnd;

        Worker(final int index, final Options options, final int[] users)
        {
            this.index = index;
            this.options = options;
            this.users = users;
            this.open = options.mode.equals("open");
            this.interval = 1e9 / options.rate;
            this.drainNanos = (long)(options.drainSeconds * 1e9);
        }

        /**
         * Connects a client for each of this worker's connections, on this worker's I/O thread.
         */
        void connect(final String host, final int port, final String key, final long runId)
        {
            for (int c = index; c < options.connections; c += options.threads)
            {
                // a fresh high half per run and connection: every request id is new, none is a duplicate
                final Conn conn = new Conn(c, this, (runId << 16) | (c + 1), options.ringSlots);
                conns.add(conn);
                conn.client = LedgerClient.connect(clientConfig(options, host, port, key).eventLoopGroup(io));
            }
        }

        /**
         * Starts the load: request 0 is due at {@code start}, results count from {@code measureStart}, sending ends at
         * {@code measureEnd}.
         */
        void start(final long start, final long measureStart, final long measureEnd)
        {
            this.start = start;
            this.measureStart = measureStart;
            this.measureEnd = measureEnd;
            if (open)
            {
                sender = new Thread(this::sendOpenLoop, "load-send-" + index);
                sender.start();
            }
            else
            {
                io.schedule(this::startClosedLoop, start - System.nanoTime(), TimeUnit.NANOSECONDS);
            }
        }

        /**
         * Waits until every request sent has its answer (or the drain times out).
         */
        void join() throws Exception
        {
            if (sender != null)
            {
                sender.join();
            }
            else
            {
                waitUntil(measureEnd);
                // a result handled before the end may still send one more: let the I/O thread finish what it does
                io.submit(() -> { }).sync();
            }
            while (sent() != received() + failed() && failure == null)
            {
                if (System.nanoTime() - measureEnd > drainNanos)
                {
                    failure = "no result for " + (sent() - received() - failed()) + " requests after " +
                        options.drainSeconds + " s";
                    break;
                }
                LockSupport.parkNanos(1_000_000);
            }
            io.submit(() -> { }).sync(); // what the I/O thread recorded is visible from here
        }

        void close()
        {
            for (final Conn conn : conns)
            {
                if (conn.client != null)
                {
                    conn.client.close();
                }
            }
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }

        long sent()
        {
            long total = 0;
            for (final Conn conn : conns)
            {
                total += conn.published.get();
            }
            return total;
        }

        long received()
        {
            long total = 0;
            for (final Conn conn : conns)
            {
                total += conn.receivedCount.get();
            }
            return total;
        }

        long failed()
        {
            long total = 0;
            for (final Conn conn : conns)
            {
                total += conn.failed.get();
            }
            return total;
        }

        private long nextUser()
        {
            return users[userCursor++ & (USER_SEQUENCE_LENGTH - 1)] + 1L;
        }

        /**
         * Closed loop, on the I/O thread: every connection's window at once; then a new request per result.
         */
        private void startClosedLoop()
        {
            final long now = System.nanoTime();
            for (final Conn conn : conns)
            {
                for (int i = 0; i < options.window; i++)
                {
                    conn.deduct(nextUser(), options.serviceId, options.amount, now, now);
                }
            }
        }

        /**
         * A result, on the I/O thread: counted by code, recorded when its request belongs to the measured window; in
         * closed mode the next request goes out until the window ends.
         */
        void onResult(final Conn conn, final long sequence, final ResultCode code, final long now)
        {
            if (sequence != conn.received + 1)
            {
                conn.outOfOrder++;
            }
            if (open)
            {
                conn.published.get(); // acquire: the sender's ring entries up to here are visible
            }
            final int slot = (int)(sequence & conn.mask) * 2;
            final long intended = conn.ring[slot];
            final long sentNanos = conn.ring[slot + 1];
            final int value = code.value() & 0xFF;
            codes[value]++;
            if (value >= ResultCode.UNAUTHENTICATED.value() && code != ResultCode.NULL_VAL)
            {
                protocolErrors++;
            }
            if (intended >= measureStart && intended < measureEnd)
            {
                latency.recordValue(Math.min(HIGHEST_NANOS, Math.max(0, now - intended)));
                service.recordValue(Math.min(HIGHEST_NANOS, Math.max(0, now - sentNanos)));
                recorded++;
                lastRecordedNanos = now;
            }
            conn.received++;
            conn.receivedCount.lazySet(conn.received);
            if (!open && now < measureEnd)
            {
                conn.deduct(nextUser(), options.serviceId, options.amount, now, now);
            }
        }

        /**
         * Open loop: this worker's share of the schedule, request j due at {@code start + (j * threads + index) /
         * rate}, round-robin over its connections.
         */
        private void sendOpenLoop()
        {
            try
            {
                final int threads = options.threads;
                final Conn[] mine = conns.toArray(new Conn[0]);
                final int n = mine.length;
                long j = 0;
                while (failure == null)
                {
                    final long intended = start + (long)((j * threads + index) * interval);
                    if (intended >= measureEnd)
                    {
                        break;
                    }
                    long now = System.nanoTime();
                    if (now < intended)
                    {
                        pace(intended - now);
                        continue;
                    }
                    final Conn conn = mine[(int)(j % n)];
                    if (conn.sent - conn.receivedCount.get() - conn.failed.get() >= conn.mask)
                    {
                        // too far ahead of the server: wait, the delay is charged to latency
                        Thread.yield();
                        continue;
                    }
                    now = System.nanoTime();
                    conn.deduct(nextUser(), options.serviceId, options.amount, intended, now);
                    j++;
                }
            }
            catch (final Exception ex)
            {
                failure = ex.toString();
            }
        }

        private void pace(final long remainingNanos)
        {
            switch (options.pace)
            {
                case "park" -> LockSupport.parkNanos(remainingNanos);
                case "yield" ->
                {
                    if (remainingNanos > 200_000)
                    {
                        LockSupport.parkNanos(remainingNanos - 100_000);
                    }
                    else
                    {
                        Thread.yield();
                    }
                }
                default -> Thread.onSpinWait();
            }
        }

        private static void waitUntil(final long nanos)
        {
            long now;
            while ((now = System.nanoTime()) < nanos)
            {
                LockSupport.parkNanos(nanos - now);
            }
        }
    }

    /**
     * A ledger in this JVM, like {@code ledger serve} on a scratch data directory.
     */
    static final class Embedded implements AutoCloseable
    {
        final Path dir;
        final String key = ApiKeys.generate();
        final LedgerServer server;
        final LedgerRuntime runtime;
        final LedgerEngine engine;

        Embedded(final Options options) throws Exception
        {
            dir = BenchSupport.scratchDir(options.dir, "load-ledger-");
            final Path keys = dir.resolve("keys");
            ApiKeys.append(keys, Role.ADMIN, key, "load-generator");
            final ServerConfig serverConfig = new ServerConfig().port(0);
            if (options.ioThreads != null)
            {
                serverConfig.ioThreads(options.ioThreads);
            }
            server = new LedgerServer(serverConfig, ApiKeys.load(keys), new ServerMetrics());
            final EngineConfig engineConfig = new EngineConfig()
                .ledger(new LedgerConfig().expectedAccounts(Math.max(options.users, 1 << 16)))
                .ringSize(options.ringSize)
                .threading(options.threading)
                .busyWait(options.busyWait)
                .replyBatchEnd(server.replyBatchEnd());
            if (options.durability.equals("none"))
            {
                // no journal stage: what the journal costs over TCP, by difference
                runtime = null;
                engine = LedgerEngine.start(engineConfig);
            }
            else
            {
                runtime = LedgerRuntime.start(new LedgerRuntime.Settings(new DataDir(dir),
                    Durability.valueOf(options.durability.toUpperCase(Locale.ROOT)), Journals.rollCycle("daily"), 0,
                    0, 2), engineConfig);
                engine = runtime.engine();
            }
            server.start(engine);
        }

        int port()
        {
            return server.port();
        }

        public void close()
        {
            server.close();
            if (runtime != null)
            {
                runtime.close();
            }
            else
            {
                engine.close();
            }
            BenchSupport.deleteRecursively(dir);
        }
    }

    public static void main(final String[] args) throws Exception
    {
        final Options options;
        try
        {
            options = Options.parse(args);
        }
        catch (final IllegalArgumentException ex)
        {
            System.err.println(ex.getMessage());
            System.exit(2);
            return;
        }
        Embedded embedded = null;
        int exit;
        try
        {
            final String key;
            final int port;
            if (options.embedded)
            {
                System.err.println("starting an embedded ledger ...");
                embedded = new Embedded(options);
                key = embedded.key;
                port = embedded.port();
            }
            else
            {
                key = options.key != null ? options.key : readKey(options.data.resolve("admin.key"));
                port = options.port;
            }
            exit = run(options, options.embedded ? "127.0.0.1" : options.host, port, key).ok() ? 0 : 1;
        }
        catch (final LedgerClientException | IOException ex)
        {
            System.err.println("load: " + ex.getMessage());
            exit = 1;
        }
        finally
        {
            if (embedded != null)
            {
                embedded.close();
            }
        }
        System.exit(exit);
    }

    /**
     * Funds the accounts (unless --no-setup), runs the load, prints the report (and writes the .hgrm files).
     */
    static Report run(final Options options, final String host, final int port, final String key) throws Exception
    {
        final long runId = new SecureRandom().nextLong() & 0x0000_FFFF_FFFF_FFFFL;
        if (options.setup)
        {
            setup(options, host, port, key);
        }

        final Worker[] workers = new Worker[options.threads];
        final Report report;
        try
        {
            for (int t = 0; t < options.threads; t++)
            {
                workers[t] = new Worker(t, options, userSequence(options, options.seed + t));
                workers[t].connect(host, port, key, runId);
            }
            final long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
            final long measureStart = start + (long)(options.warmupSeconds * 1e9);
            final long measureEnd = measureStart + (long)(options.durationSeconds * 1e9);
            System.err.printf(Locale.ROOT, "%s loop on %d connections to %s: %.0f s warm-up, %.0f s measured ...%n",
                options.mode, options.connections, options.target(), options.warmupSeconds, options.durationSeconds);
            final long gcCountBefore = BenchSupport.gcCount();
            final long gcMillisBefore = BenchSupport.gcMillis();
            for (final Worker worker : workers)
            {
                worker.start(start, measureStart, measureEnd);
            }
            for (final Worker worker : workers)
            {
                worker.join();
            }
            final long gcCount = BenchSupport.gcCount() - gcCountBefore;
            final long gcMillis = BenchSupport.gcMillis() - gcMillisBefore;
            report = new Report(options, workers, measureStart, gcCount, gcMillis);
        }
        finally
        {
            for (final Worker worker : workers)
            {
                if (worker != null)
                {
                    worker.close();
                }
            }
        }

        if (options.hgrm != null)
        {
            report.writeHgrm(options.hgrm);
        }
        if (options.json)
        {
            System.out.println(report.json());
        }
        else
        {
            report.print(System.out);
        }
        return report;
    }

    /**
     * Indices of the users to charge, {@code [0, users)}, in the order they are charged.
     */
    static int[] userSequence(final Options options, final long seed)
    {
        if (options.distribution.equals("zipfian"))
        {
            return Workload.Distribution.ZIPFIAN.sequence(options.users, USER_SEQUENCE_LENGTH, seed);
        }
        final Random random = new Random(seed);
        final int[] sequence = new int[USER_SEQUENCE_LENGTH];
        final boolean hot = options.distribution.equals("hot");
        final int hotCount = Math.max(1, (int)(options.users * options.hotSet));
        for (int i = 0; i < sequence.length; i++)
        {
            if (hot && random.nextDouble() < options.hotShare)
            {
                sequence[i] = options.hotUser != 0 ? (int)(options.hotUser - 1) : random.nextInt(hotCount);
            }
            else
            {
                sequence[i] = random.nextInt(options.users);
            }
        }
        return sequence;
    }

    /**
     * The client settings of every connection: no resend after a timeout (a request still unanswered at the end of
     * the drain counts as lost, as it would without a client), so the timeout outlasts the run. After a reconnect
     * the client still sends again what was pending.
     */
    static ClientConfig clientConfig(final Options options, final String host, final int port, final String key)
    {
        final double seconds = options.warmupSeconds + options.durationSeconds + options.drainSeconds + 60;
        return new ClientConfig().host(host).port(port).apiKey(key)
            .timeout(Duration.ofMillis((long)(seconds * 1000))).attempts(1);
    }

    private static String readKey(final Path file) throws IOException
    {
        if (!Files.isReadable(file))
        {
            throw new IOException("no admin key in " + file + ": give --key KEY or --data DIR");
        }
        return Files.readString(file, StandardCharsets.US_ASCII).strip();
    }

    /**
     * Counts the answers to the set-up requests; remembers a refusal or a failure.
     */
    static final class SetupHandler implements ResultHandler
    {
        final AtomicLong answered = new AtomicLong();
        volatile String failure;

        public void onResult(final ResultView result)
        {
            if (!result.ok())
            {
                failure = "set-up " + result.op() + " refused: " + result.code();
            }
            answered.incrementAndGet();
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            failure = "set-up request failed: " + cause.getMessage();
            answered.incrementAndGet();
        }
    }

    /**
     * Opens and funds every account before the measurement: CREDIT (and GRANT) for users 1..N, pipelined with at
     * most {@link #SETUP_BATCH} in flight on one admin connection. Any result but OK fails the run.
     */
    static void setup(final Options options, final String host, final int port, final String key)
        throws IOException
    {
        final long begin = System.nanoTime();
        final boolean grant = options.grant > 0;
        final int keys = options.keysPerUser;
        System.err.printf(Locale.ROOT, "set-up: CREDIT %,d users%s%s ...%n", options.users,
            grant ? " and GRANT " + options.grant + " a month on service " + options.serviceId : "",
            keys > 0 ? ", " + keys + " virtual key(s) each with a rate limit" : "");
        final SetupHandler handler = new SetupHandler();
        try (LedgerClient client = LedgerClient.connect(clientConfig(options, host, port, key)))
        {
            final RequestIds ids = client.requestIds();
            final int perUser = 1 + (grant ? 1 : 0) + 2 * keys;
            long sent = 0;
            for (long user = 1; user <= options.users && handler.failure == null; user++)
            {
                for (int i = 0; i < perUser; i++, sent++)
                {
                    while (sent - handler.answered.get() >= SETUP_BATCH)
                    {
                        LockSupport.parkNanos(50_000);
                    }
                    final int policy = i - 1 - (grant ? 1 : 0);
                    final long keyId = (user - 1) * keys + policy / 2 + 1;
                    if (i == 0)
                    {
                        client.credit(ids.hi(), ids.nextLo(), user, options.credit, handler);
                    }
                    else if (policy < 0)
                    {
                        client.grant(ids.hi(), ids.nextLo(), user, options.serviceId, options.grant, Period.MONTH,
                            handler);
                    }
                    else if ((policy & 1) == 0)
                    {
                        client.setVirtualKey(ids.hi(), ids.nextLo(), user, keyId, Workload.KEY_BUDGET, false,
                            Period.MONTH, 0, 0, null, handler);
                    }
                    else
                    {
                        client.setRateLimit(ids.hi(), ids.nextLo(), user, keyId, Workload.RATE_REQUESTS,
                            Workload.RATE_UNITS, Workload.RATE_MILLIS, handler);
                    }
                }
            }
            while (handler.answered.get() < sent)
            {
                LockSupport.parkNanos(100_000);
            }
        }
        if (handler.failure != null)
        {
            throw new IOException(handler.failure);
        }
        System.err.printf(Locale.ROOT, "set-up done in %.1f s%n", (System.nanoTime() - begin) / 1e9);
    }

    /**
     * The merged figures of all workers.
     */
    static final class Report
    {
        final Options options;
        final Histogram latency = new Histogram(HIGHEST_NANOS, 3);
        final Histogram service = new Histogram(HIGHEST_NANOS, 3);
        final long[] codes = new long[256];
        final long sent;
        final long received;
        final long recorded;
        final double throughput;
        final long outOfOrder;
        final long protocolErrors;
        final long gcCount;
        final long gcMillis;
        final List<String> failures = new ArrayList<>();

        Report(final Options options, final Worker[] workers, final long measureStart, final long gcCount,
            final long gcMillis)
        {
            this.options = options;
            this.gcCount = gcCount;
            this.gcMillis = gcMillis;
            long sent = 0;
            long received = 0;
            long recorded = 0;
            long outOfOrder = 0;
            long protocolErrors = 0;
            long last = measureStart;
            for (final Worker worker : workers)
            {
                latency.add(worker.latency);
                service.add(worker.service);
                for (int i = 0; i < codes.length; i++)
                {
                    codes[i] += worker.codes[i];
                }
                sent += worker.sent();
                received += worker.received();
                recorded += worker.recorded;
                protocolErrors += worker.protocolErrors;
                last = Math.max(last, worker.lastRecordedNanos);
                for (final Conn conn : worker.conns)
                {
                    outOfOrder += conn.outOfOrder;
                }
                if (worker.failure != null)
                {
                    failures.add("worker " + worker.index + ": " + worker.failure);
                }
            }
            this.sent = sent;
            this.received = received;
            this.recorded = recorded;
            this.outOfOrder = outOfOrder;
            this.protocolErrors = protocolErrors;
            // recorded requests over the time from the window's start to the last of their results
            this.throughput = recorded * 1e9 / Math.max(1, last - measureStart);
        }

        long errors()
        {
            long errors = 0;
            for (int i = 1; i < codes.length; i++)
            {
                errors += codes[i];
            }
            return errors; // protocol errors are results with their own codes: counted here already
        }

        boolean ok()
        {
            return failures.isEmpty() && sent == received && errors() == 0 && outOfOrder == 0;
        }

        private String codes()
        {
            final StringBuilder text = new StringBuilder();
            for (int i = 0; i < codes.length; i++)
            {
                if (codes[i] != 0)
                {
                    final ResultCode code = ResultCode.get((short)i);
                    text.append(text.length() == 0 ? "" : ", ")
                        .append(code == ResultCode.NULL_VAL ? "code " + i : code.name())
                        .append(' ').append(String.format(Locale.ROOT, "%,d", codes[i]));
                }
            }
            return text.toString();
        }

        private String codesJson()
        {
            final StringBuilder json = new StringBuilder("{");
            for (int i = 0; i < codes.length; i++)
            {
                if (codes[i] != 0)
                {
                    final ResultCode code = ResultCode.get((short)i);
                    json.append(json.length() == 1 ? "" : ",").append('"')
                        .append(code == ResultCode.NULL_VAL ? Integer.toString(i) : code.name()).append("\":")
                        .append(codes[i]);
                }
            }
            return json.append('}').toString();
        }

        private String workload()
        {
            return switch (options.distribution)
            {
                case "hot" -> options.hotUser != 0 ?
                    String.format(Locale.ROOT, "hot (%.0f%% to user %d)", options.hotShare * 100, options.hotUser) :
                    String.format(Locale.ROOT, "hot (%.0f%% to %.2f%% of users)", options.hotShare * 100,
                        options.hotSet * 100);
                case "zipfian" -> "zipfian (s = 0.99)";
                default -> "uniform";
            };
        }

        void print(final PrintStream out)
        {
            final boolean open = options.mode.equals("open");
            out.printf(Locale.ROOT, "%s loop, %s, %d connection%s%s, %d client thread%s, %,d users %s, %.0f s " +
                "after %.0f s warm-up, %d CPUs%n",
                options.mode, options.target(), options.connections, options.connections == 1 ? "" : "s",
                open ? String.format(Locale.ROOT, ", offered %,d/s (pace %s)", options.rate, options.pace) :
                    " x window " + options.window,
                options.threads, options.threads == 1 ? "" : "s", options.users, workload(), options.durationSeconds,
                options.warmupSeconds, Runtime.getRuntime().availableProcessors());
            out.printf(Locale.ROOT, "requests: %,d sent, %,d answered, %,d lost, %,d out of order, %,d protocol " +
                "errors%n", sent, received, sent - received, outOfOrder, protocolErrors);
            out.printf(Locale.ROOT, "results:  %s%n", codes());
            out.printf(Locale.ROOT, "throughput: %,.0f deducts/s (%,d recorded)%n", throughput, recorded);
            out.printf(Locale.ROOT, "%-26s %9s %9s %9s %9s %10s %9s%n", "microseconds", "p50", "p90", "p99",
                "p99.9", "max", "mean");
            if (open)
            {
                row(out, "latency (from intended)", latency);
                row(out, "service (from send)", service);
            }
            else
            {
                row(out, "latency (send to result)", service);
            }
            out.printf(Locale.ROOT, "client GC: %d collections, %d ms%n", gcCount, gcMillis);
            for (final String failure : failures)
            {
                out.println("FAILED: " + failure);
            }
        }

        private static void row(final PrintStream out, final String name, final Histogram h)
        {
            out.printf(Locale.ROOT, "%-26s %9.1f %9.1f %9.1f %9.1f %10.1f %9.1f%n", name,
                BenchSupport.micros(h.getValueAtPercentile(50)), BenchSupport.micros(h.getValueAtPercentile(90)),
                BenchSupport.micros(h.getValueAtPercentile(99)), BenchSupport.micros(h.getValueAtPercentile(99.9)), BenchSupport.micros(h.getMaxValue()),
                h.getMean() / 1_000.0);
        }

        String json()
        {
            final boolean open = options.mode.equals("open");
            final StringBuilder json = new StringBuilder()
                .append("{\"mode\":\"").append(options.mode)
                .append("\",\"target\":\"").append(options.target())
                .append("\",\"connections\":").append(options.connections)
                .append(",\"window\":").append(open ? 0 : options.window)
                .append(",\"offeredRate\":").append(open ? options.rate : 0)
                .append(",\"threads\":").append(options.threads)
                .append(",\"users\":").append(options.users)
                .append(",\"distribution\":\"").append(workload())
                .append("\",\"warmupSeconds\":").append(options.warmupSeconds)
                .append(",\"durationSeconds\":").append(options.durationSeconds)
                .append(",\"cpus\":").append(Runtime.getRuntime().availableProcessors())
                .append(",\"sent\":").append(sent)
                .append(",\"answered\":").append(received)
                .append(",\"lost\":").append(sent - received)
                .append(",\"outOfOrder\":").append(outOfOrder)
                .append(",\"protocolErrors\":").append(protocolErrors)
                .append(",\"errors\":").append(errors())
                .append(",\"codes\":").append(codesJson())
                .append(",\"recorded\":").append(recorded)
                .append(String.format(Locale.ROOT, ",\"throughput\":%.0f", throughput))
                .append(",\"latencyMicros\":").append(percentiles(open ? latency : service))
                .append(",\"serviceMicros\":").append(percentiles(service))
                .append(",\"gcCount\":").append(gcCount)
                .append(",\"gcMillis\":").append(gcMillis)
                .append(",\"ok\":").append(ok())
                .append(",\"failures\":[");
            for (int i = 0; i < failures.size(); i++)
            {
                json.append(i == 0 ? "" : ",").append('"').append(failures.get(i).replace("\"", "'")).append('"');
            }
            return json.append("]}").toString();
        }

        private static String percentiles(final Histogram h)
        {
            return String.format(Locale.ROOT,
                "{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
                BenchSupport.micros(h.getValueAtPercentile(50)), BenchSupport.micros(h.getValueAtPercentile(90)),
                BenchSupport.micros(h.getValueAtPercentile(99)), BenchSupport.micros(h.getValueAtPercentile(99.9)), BenchSupport.micros(h.getMaxValue()),
                h.getMean() / 1_000.0);
        }

        void writeHgrm(final Path file) throws IOException
        {
            final boolean open = options.mode.equals("open");
            write(file, open ? latency : service);
            if (open)
            {
                final String name = file.getFileName().toString();
                final int dot = name.lastIndexOf('.');
                final String serviceName = dot > 0 ?
                    name.substring(0, dot) + ".service" + name.substring(dot) : name + ".service";
                write(file.resolveSibling(serviceName), service);
            }
        }

        private static void write(final Path file, final Histogram h) throws IOException
        {
            try (PrintStream out = new PrintStream(Files.newOutputStream(file), false, StandardCharsets.US_ASCII))
            {
                h.outputPercentileDistribution(out, 1_000.0); // microseconds
            }
        }
    }

}
