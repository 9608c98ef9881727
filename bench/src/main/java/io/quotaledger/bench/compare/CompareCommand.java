package io.quotaledger.bench.compare;

import io.quotaledger.bench.BenchSupport;
import io.quotaledger.bench.Workload;
import io.quotaledger.cli.Tools;
import io.quotaledger.journal.Durability;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code scripts/bench compare}: the ledger against the designs gateways use today (PostgreSQL with row locks,
 * PostgreSQL with one conditional UPDATE, Redis with a Lua script), on the same scenarios in one run, and a report.
 *
 * <p>The run has three passes, every system started once: closed-loop throughput of each system on each scenario;
 * open-loop latency on the latency scenarios, once at one rate for all (the slowest system's sustainable rate: equal
 * offered load) and once at each system's own sustainable rate (half its closed-loop maximum); then PostgreSQL again
 * with fsync off, for reference. After every scenario each system's state is read back and checked.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Runs the ledger, PostgreSQL (SELECT ... FOR UPDATE transaction; one conditional UPDATE) and Redis + Lua on " +
        "the same scenarios (hot user, 1,000 users x 10, 100k users uniform and zipfian, mixed users, virtual keys " +
        "with a budget and a rate limit) and writes REPORT.md, results.json, latency plots (PNG) and .hgrm files.",
        "Every system's final state is checked against what it answered: no lost update, no over-deduction, the " +
        "expected rejections. Redis is skipped, with a message, when no redis-server binary is installed.",
        "Exit status: 0 when every check passed, 1 when one failed, 2 on bad options." })
public final class CompareCommand implements Callable<Integer>
{
    @Option(names = "--quick", description = "A run of under a minute that proves the suite works: smaller " +
        "scenarios, 1 s phases, no zipfian scenario, no JMH. Its figures are not worth quoting.")
    boolean quick;

    @Option(names = "--out", paramLabel = "DIR", description = "Where the report goes (default: docs/bench of the " +
        "project).")
    Path out = Machine.projectRoot().resolve("docs").resolve("bench");

    @Option(names = "--concurrency", description = "Requests in flight, the same for every system (default: 100).")
    int concurrency = 100;

    @Option(names = "--users", description = "Users of the uniform and zipfian scenarios (default: 100000; " +
        "--quick: 10000).")
    Integer users;

    @Option(names = "--warmup", paramLabel = "SECONDS", description = "Warm-up of every phase (default: 1; " +
        "--quick: 0.2).")
    Double warmup;

    @Option(names = "--duration", paramLabel = "SECONDS", description = "Measured part of every phase (default: " +
        "closed loop 3, open loop 4; --quick: 0.8).")
    Double duration;

    @Option(names = "--equal-rate", paramLabel = "PER_SECOND", description = "The offered load every system gets " +
        "in the equal-load latency runs (default: the slowest system's sustainable rate, half its closed-loop " +
        "maximum).")
    Double equalRate;

    @Option(names = "--ledger-option", paramLabel = "OPTION", description = "An option for `ledger serve` (repeat " +
        "it; e.g. --ledger-option=--busy-wait, --ledger-option=--io-threads=2), to compare its settings.")
    List<String> ledgerOptions = new ArrayList<>();

    @Option(names = "--connections", description = "Connections of the pipelined clients, the ledger's and Redis's: " +
        "the requests in flight are spread over them (default: 2). PostgreSQL gets a connection per request in " +
        "flight.")
    int connections = 2;

    @Option(names = "--systems", split = ",", paramLabel = "NAME", description = "Systems to run, of: " +
        "ledger-process, ledger-fsync, ledger-cluster (three members on this machine), pg-for-update, " +
        "pg-conditional, redis, pg-fsync-off (the two PostgreSQL " +
        "designs with fsync off, for reference). Default: all.")
    List<String> systems = List.of(ALL_SYSTEMS);

    @Option(names = "--no-redis", description = "Leave Redis out even when it is installed.")
    boolean noRedis;

    @Option(names = "--no-jmh", description = "Leave out the JMH summary of the core and the journal.")
    boolean noJmh;

    @Option(names = "--work", paramLabel = "DIR", description = "Scratch folder for the systems' data (default: " +
        "the system's temporary folder); deleted afterwards.")
    String work;

    @Option(names = "--json", description = "Print results.json to standard output as well.")
    boolean json;

    private boolean stopped;

    private static final String[] ALL_SYSTEMS = {
        "ledger-process", "ledger-fsync", "ledger-cluster", "pg-for-update", "pg-conditional", "redis", "pg-fsync-off" };

    private CompareCommand()
    {
    }

    public static void main(final String[] args)
    {
        System.exit(run(args));
    }

    /**
     * @return the exit status.
     */
    public static int run(final String... args)
    {
        return new CommandLine(new CompareCommand()).execute(args);
    }

    @Override
    public Integer call() throws Exception
    {
        if (concurrency < 1 || connections < 1)
        {
            throw new CommandLine.ParameterException(new CommandLine(this),
                "--concurrency and --connections must be at least 1");
        }
        for (final String system : systems)
        {
            if (!List.of(ALL_SYSTEMS).contains(system))
            {
                throw new CommandLine.ParameterException(new CommandLine(this), "unknown system '" + system +
                    "' in --systems; known: " + String.join(", ", ALL_SYSTEMS));
            }
        }
        final long began = System.nanoTime();
        final Plan plan = plan();
        final Scenario warmUp = Scenario.thousandUsers(7); // JIT-compiles both sides before anything counts
        final Path scratch = BenchSupport.scratchDir(work, "ledger-compare-");
        final Results results = new Results(commandLine(), quick, concurrency);
        final List<Contender> primaries = new ArrayList<>();
        final PostgresServer postgres = new PostgresServer(scratch.resolve("postgres"), concurrency + 20);
        // Ctrl-C must not leave ledger servers, PostgreSQL or Redis running
        final Thread onInterrupt = new Thread(() -> stopAll(primaries, postgres, scratch), "compare-stop");
        Runtime.getRuntime().addShutdownHook(onInterrupt);
        try (ProgressBar bar = Tools.progressBar("compare", plan.steps(primaries.size()), " steps"))
        {
            bar.setExtraMessage(" starting the systems");
            if (systems.contains("ledger-process"))
            {
                primaries.add(ledger(Durability.PROCESS, scratch));
            }
            if (systems.contains("ledger-fsync"))
            {
                primaries.add(ledger(Durability.FSYNC, scratch));
            }
            if (systems.contains("ledger-cluster"))
            {
                primaries.add(cluster(scratch));
            }
            if (systems.contains("pg-for-update"))
            {
                primaries.add(new PostgresContender(postgres, PostgresContender.Design.FOR_UPDATE, true));
            }
            if (systems.contains("pg-conditional"))
            {
                primaries.add(new PostgresContender(postgres, PostgresContender.Design.CONDITIONAL, true));
            }
            if (systems.contains("redis") && !noRedis)
            {
                RedisContender.find(scratch.resolve("redis"), freePort(), connections).ifPresentOrElse(primaries::add,
                    () -> results.skipped("Redis + Lua: skipped, no redis-server binary on this machine (Debian: " +
                        "apt-get install redis-server)"));
            }
            else
            {
                results.skipped("Redis + Lua: left out (--systems / --no-redis)");
            }
            bar.maxHint(plan.steps(primaries.size()));
            // a system that fails is reported (its check fails, the exit status is 1) and the others go on
            final List<Contender> running = new ArrayList<>();
            for (final Contender contender : primaries)
            {
                if (attempt(results, contender, "start", "start", contender::start))
                {
                    running.add(contender);
                    results.settings(contender.name(), contender.settings());
                    results.driving(contender.name(), contender.driving(concurrency));
                }
            }

            int pass = 0;
            for (final Contender contender : running)
            {
                step(bar, contender, warmUp, "warm-up (not measured)");
                warmUp.firstUserId(++pass * 10_000_000L + 1);
                attempt(results, contender, warmUp.name(), "warm-up", () ->
                {
                    contender.populate(warmUp);
                    final Tally tally = new Tally(warmUp.targets());
                    contender.prepare(concurrency);
                    final Measurement max = contender.closedLoop(new Phase(warmUp, tally, concurrency, 0, 0,
                        nanos(quick ? 0.5 : 2)));
                    // the open-loop pacer is compiled too, at a rate the system sustains
                    contender.prepare(concurrency);
                    contender.openLoop(new Phase(warmUp, tally, concurrency, Math.max(100, max.throughput() / 2), 0,
                        nanos(quick ? 0.3 : 1)));
                });
                bar.step();
            }
            for (final Contender contender : running)
            {
                for (final Scenario scenario : plan.scenarios)
                {
                    step(bar, contender, scenario, "closed loop");
                    final int id = ++pass;
                    contender.unsupported(scenario).ifPresentOrElse(
                        why -> results.skipped(contender.name() + ", " + scenario.name() + ": " + why),
                        () -> attempt(results, contender, scenario.name(), "closed loop",
                            () -> throughput(contender, scenario, id, results)));
                    bar.step();
                }
                if (contender instanceof RedisContender redis)
                {
                    bar.setExtraMessage(" " + contender.name() + " · redis-benchmark, for reference");
                    ceilings(redis, results);
                }
            }

            for (final Scenario scenario : plan.latencyScenarios)
            {
                final double equal = equalRate != null ? equalRate : equalRate(results, scenario, running);
                for (final Contender contender : running)
                {
                    step(bar, contender, scenario, "open loop");
                    final int id = ++pass;
                    attempt(results, contender, scenario.name(), "open loop",
                        () -> latency(contender, scenario, id, equal, results));
                    bar.step();
                }
            }

            final List<Contender> references = !systems.contains("pg-fsync-off") ? List.of() : List.of(
                new PostgresContender(postgres, PostgresContender.Design.FOR_UPDATE, false),
                new PostgresContender(postgres, PostgresContender.Design.CONDITIONAL, false));
            for (final Contender contender : references)
            {
                final boolean started = attempt(results, contender, "start", "start", contender::start);
                if (started)
                {
                    results.settings(contender.name(), contender.settings());
                    results.driving(contender.name(), contender.driving(concurrency));
                }
                for (final Scenario scenario : plan.referenceScenarios)
                {
                    step(bar, contender, scenario, "closed loop, reference");
                    final int id = ++pass;
                    if (started)
                    {
                        attempt(results, contender, scenario.name(), "closed loop",
                            () -> throughput(contender, scenario, id, results));
                    }
                    bar.step();
                }
            }

            if (!quick && !noJmh)
            {
                bar.setExtraMessage(" JMH: core and journal");
                try
                {
                    results.jmh(JmhSummary.run(jvmFlags()));
                }
                catch (final Exception ex) // the comparison stands without it
                {
                    results.skipped("JMH summary: failed (" + ex + ")");
                }
            }
            bar.step();
        }
        finally
        {
            stopAll(primaries, postgres, scratch);
            Runtime.getRuntime().removeShutdownHook(onInterrupt);
        }
        results.took(System.nanoTime() - began);
        final Report report = new Report(results, out);
        report.write();
        report.printSummary(System.err);
        if (json)
        {
            System.out.println(results.json());
        }
        return results.allChecksPassed() ? 0 : 1;
    }

    private synchronized void stopAll(final List<Contender> started, final PostgresServer postgres, final Path scratch)
    {
        if (stopped)
        {
            return;
        }
        stopped = true;
        for (final Contender contender : started)
        {
            try
            {
                contender.close();
            }
            catch (final Exception ex)
            {
                System.err.println("closing " + contender.name() + ": " + ex);
            }
        }
        try
        {
            postgres.close();
        }
        catch (final IOException ex)
        {
            System.err.println("stopping PostgreSQL: " + ex);
        }
        BenchSupport.deleteRecursively(scratch);
    }

    private interface Work
    {
        void run() throws Exception;
    }

    /**
     * Runs one step; a failure becomes a failed check of that system, logged, and the run goes on.
     *
     * @return whether it worked.
     */
    private static boolean attempt(final Results results, final Contender contender, final String scenario,
        final String phase, final Work work)
    {
        try
        {
            work.run();
            return true;
        }
        catch (final Exception ex)
        {
            final String message = ex.getClass().getSimpleName() + ": " + ex.getMessage();
            System.err.println(contender.name() + ", " + scenario + ", " + phase + " failed: " + message);
            results.check(contender.name(), scenario, phase, Check.failed(phase + " failed: " + message));
            return false;
        }
    }

    private static void step(final ProgressBar bar, final Contender contender, final Scenario scenario,
        final String what)
    {
        bar.setExtraMessage(" " + contender.name() + " · " + scenario.name() + " · " + what);
    }

    private void throughput(final Contender contender, final Scenario scenario, final int pass, final Results results)
        throws Exception
    {
        scenario.firstUserId(pass * 10_000_000L + 1);
        contender.populate(scenario);
        final Tally tally = new Tally(scenario.targets());
        contender.prepare(concurrency);
        final Measurement m = contender.closedLoop(
            new Phase(scenario, tally, concurrency, 0, nanos(warmupSeconds()), nanos(closedSeconds())));
        results.run(contender.name(), scenario, "closed", m);
        results.check(contender.name(), scenario, "closed loop", Check.of(scenario, tally, contender.read(scenario)));
    }

    private void latency(final Contender contender, final Scenario scenario, final int pass, final double equal,
        final Results results) throws Exception
    {
        scenario.firstUserId(pass * 10_000_000L + 1);
        contender.populate(scenario);
        final Tally tally = new Tally(scenario.targets());
        final long warm = nanos(warmupSeconds());
        final long measured = nanos(openSeconds());
        contender.prepare(concurrency);
        results.run(contender.name(), scenario, "equal", contender.openLoop(
            new Phase(scenario, tally, concurrency, equal, warm, measured)));
        final double own = ownRate(results, scenario, contender.name());
        if (!quick && own > equal * 1.05)
        {
            contender.prepare(concurrency);
            results.run(contender.name(), scenario, "own", contender.openLoop(
                new Phase(scenario, tally, concurrency, own, warm, measured)));
        }
        results.check(contender.name(), scenario, "open loop", Check.of(scenario, tally, contender.read(scenario)));
    }

    /**
     * What redis-benchmark gets from the Redis contender's server and script: with 100 connections of 16 pipelined
     * requests (the usual reference), and with the connections and requests in flight the comparison drives.
     */
    private void ceilings(final RedisContender redis, final Results results)
    {
        final long requests = quick ? 100_000 : 1_000_000;
        final int clients = Math.min(connections, concurrency);
        final int pipeline = (concurrency + clients - 1) / clients;
        try
        {
            for (final int[] shape : new int[][] { { 100, 16 }, { clients, pipeline } })
            {
                final var ceiling = redis.ceiling(manyUsers(), shape[0], shape[1], requests);
                if (ceiling.isEmpty())
                {
                    results.skipped("redis-benchmark: not measured, no redis-benchmark binary on this machine");
                    return;
                }
                results.ceiling(ceiling.get());
            }
        }
        catch (final Exception ex) // a reference figure: the comparison stands without it
        {
            results.skipped("redis-benchmark: failed (" + ex.getMessage() + ")");
        }
    }

    /** Half the closed-loop maximum: a rate the system sustains with room for bursts. */
    private static double ownRate(final Results results, final Scenario scenario, final String system)
    {
        return Math.max(10, Math.floor(results.throughput(system, scenario.name()) / 2 / 10) * 10);
    }

    /** The slowest system's own rate: the one load every system is measured at. */
    private static double equalRate(final Results results, final Scenario scenario, final List<Contender> systems)
    {
        double rate = Double.MAX_VALUE;
        for (final Contender contender : systems)
        {
            final double own = ownRate(results, scenario, contender.name());
            if (Double.isFinite(own)) // a system whose closed loop failed has no rate
            {
                rate = Math.min(rate, own);
            }
        }
        return rate == Double.MAX_VALUE ? 100 : rate;
    }

    private Plan plan()
    {
        final int many = manyUsers();
        final long seed = 42;
        final Scenario hot = Scenario.hotUser();
        final Scenario uniform = Scenario.manyUsers(many, Workload.Distribution.UNIFORM, seed);
        final List<Scenario> scenarios = new ArrayList<>(List.of(hot, Scenario.thousandUsers(seed), uniform));
        if (!quick)
        {
            scenarios.add(Scenario.manyUsers(many, Workload.Distribution.ZIPFIAN, seed));
        }
        // few enough users that even the slowest system sends each poor user more requests than it can pay for
        scenarios.add(Scenario.mixed(quick ? 300 : 600, seed));
        // and each tight key more than it admits
        scenarios.add(Scenario.virtualKeys(quick ? 150 : 600, seed));
        return new Plan(scenarios, quick ? List.of(uniform) : List.of(uniform, hot), quick ? List.of(hot)
            : List.of(hot, uniform));
    }

    private record Plan(List<Scenario> scenarios, List<Scenario> latencyScenarios, List<Scenario> referenceScenarios)
    {
        long steps(final int systems)
        {
            return (long)systems * (1 + scenarios.size() + latencyScenarios.size()) + 2L * referenceScenarios.size() + 1;
        }
    }

    private LedgerContender ledger(final Durability durability, final Path scratch) throws IOException
    {
        final List<String> flags = new ArrayList<>(jvmFlags());
        flags.add("-Xms2g");
        flags.add("-Xmx2g");
        return new LedgerContender(durability, scratch.resolve("ledger-" + durability.name().toLowerCase(
            java.util.Locale.ROOT)), freePort(), freePort(), 0, connections, flags,
            (users != null ? users : 100_000) * 8, ledgerOptions, 1);
    }

    /**
     * Three members, each its own JVM with a 1 GiB heap (three 2 GiB heaps would not be this machine's budget for
     * one system), ports from one free block: protocol, metrics, then five UDP ports per member.
     */
    private LedgerContender cluster(final Path scratch) throws IOException
    {
        final List<String> flags = new ArrayList<>(jvmFlags());
        flags.add("-Xms1g");
        flags.add("-Xmx1g");
        final int members = 3;
        final int base = freePorts(members * 7);
        return new LedgerContender(Durability.PROCESS, scratch.resolve("ledger-cluster"), base, base + members,
            base + 2 * members, connections, flags, (users != null ? users : 100_000) * 8, ledgerOptions, members);
    }

    /** The module and export flags this JVM was started with (scripts/jvm.options), for the JVMs it starts. */
    static List<String> jvmFlags()
    {
        return ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .filter(a -> a.startsWith("--add-opens") || a.startsWith("--add-exports"))
            .toList();
    }

    /** Users of the uniform and zipfian scenarios. */
    private int manyUsers()
    {
        return users != null ? users : quick ? 10_000 : 100_000;
    }

    private double warmupSeconds()
    {
        return warmup != null ? warmup : quick ? 0.2 : 1;
    }

    private double closedSeconds()
    {
        return duration != null ? duration : quick ? 0.8 : 3;
    }

    private double openSeconds()
    {
        return duration != null ? duration : quick ? 0.8 : 4;
    }

    private static long nanos(final double seconds)
    {
        return (long)(seconds * TimeUnit.SECONDS.toNanos(1));
    }

    static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }

    /**
     * @return the first of {@code count} consecutive ports free for TCP and UDP on loopback.
     */
    static int freePorts(final int count) throws IOException
    {
        final java.util.Random random = new java.util.Random();
        for (int attempt = 0; attempt < 1_000; attempt++)
        {
            final int base = 20_000 + random.nextInt(30_000);
            boolean free = true;
            for (int p = base; p < base + count && free; p++)
            {
                try (ServerSocket tcp = new ServerSocket(p, 1, InetAddress.getLoopbackAddress());
                    java.net.DatagramSocket udp = new java.net.DatagramSocket(p, InetAddress.getLoopbackAddress()))
                {
                    free = tcp.getLocalPort() == p && udp.getLocalPort() == p;
                }
                catch (final IOException ex)
                {
                    free = false;
                }
            }
            if (free)
            {
                return base;
            }
        }
        throw new IOException("no " + count + " consecutive free ports on loopback");
    }

    private String commandLine()
    {
        final List<String> parts = new ArrayList<>(List.of("scripts/bench", "compare"));
        final Map<String, Object> given = new LinkedHashMap<>();
        if (quick)
        {
            given.put("--quick", null);
        }
        if (concurrency != 100)
        {
            given.put("--concurrency", concurrency);
        }
        if (users != null)
        {
            given.put("--users", users);
        }
        if (warmup != null)
        {
            given.put("--warmup", warmup);
        }
        if (duration != null)
        {
            given.put("--duration", duration);
        }
        if (equalRate != null)
        {
            given.put("--equal-rate", equalRate);
        }
        for (final String option : ledgerOptions)
        {
            given.put("--ledger-option=" + option, null);
        }
        if (connections != 2)
        {
            given.put("--connections", connections);
        }
        if (!systems.equals(List.of(ALL_SYSTEMS)))
        {
            given.put("--systems", String.join(",", systems));
        }
        if (noRedis)
        {
            given.put("--no-redis", null);
        }
        if (noJmh)
        {
            given.put("--no-jmh", null);
        }
        given.forEach((option, value) ->
        {
            parts.add(option);
            if (value != null)
            {
                parts.add(value.toString());
            }
        });
        return String.join(" ", parts);
    }
}
