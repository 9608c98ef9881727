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
import java.util.concurrent.TimeUnit;

/**
 * The ledger as a gateway runs it: {@code ledger serve} in a JVM of its own (no projector, so that only the charging
 * path is measured), reached over loopback TCP by the Java client, which pipelines: the concurrency is the number of
 * requests in flight over a few connections, not a thread per request. Driven by {@link PipelinedContender}, as Redis
 * is. In the virtual-key scenario the keys are set up with the client's SetVirtualKey and SetRateLimit and every
 * DEDUCT names its key: the ledger checks the key and charges key and user in one step.
 *
 * <p>With three members it is the replicated ledger ({@code ledger serve --cluster-members ...}, Aeron Cluster): three
 * JVMs on this machine, connection i to member i mod 3 (each member forwards to the leader), and a result only once a
 * majority has the request in its log.
 */
final class LedgerContender extends PipelinedContender
{
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final Durability durability;
    private final Path dir;
    private final int port;
    private final int metricsPort;
    private final List<String> jvmOptions;
    private final int expectedAccounts;
    private final List<String> serveOptions;
    private final int members;
    private final int clusterPort;
    private final List<LedgerClient> clients = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();

    /**
     * @param jvmOptions       for the server's JVM (the project's @argfile and heap).
     * @param expectedAccounts accounts to preallocate for.
     */
    /**
     * @param port        the first member's protocol port; member i listens on port + i.
     * @param metricsPort likewise for metrics.
     * @param clusterPort the first member's cluster base port (five UDP ports each), unused for one member.
     * @param members     1: the ledger alone; 3: a cluster.
     */
    LedgerContender(final Durability durability, final Path dir, final int port, final int metricsPort,
        final int clusterPort, final int connections, final List<String> jvmOptions, final int expectedAccounts,
        final List<String> serveOptions, final int members)
    {
        super(connections);
        this.clusterPort = clusterPort;
        this.members = members;
        this.serveOptions = List.copyOf(serveOptions);
        this.durability = durability;
        this.dir = dir;
        this.port = port;
        this.metricsPort = metricsPort;
        this.jvmOptions = List.copyOf(jvmOptions);
        this.expectedAccounts = expectedAccounts;
    }

    @Override
    public String name()
    {
        return members > 1 ? "ledger cluster (" + members + " members, " +
            durability.name().toLowerCase(java.util.Locale.ROOT) + ")" :
            "ledger (" + durability.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }

    @Override
    public List<String> settings()
    {
        final List<String> settings = new ArrayList<>();
        if (members > 1)
        {
            settings.add(members + " cluster members (ledger serve --cluster-members ...), each in its own JVM on " +
                "this machine: all of them share its cores with the load generator; connection i goes to member i " +
                "mod " + members + ", which forwards through the cluster's ingress to the leader; a result leaves " +
                "once a majority has logged the request and the leader has applied it");
        }
        settings.addAll(List.of(
            "ledger serve --durability " + durability.name().toLowerCase(java.util.Locale.ROOT) + " --no-projector" +
            (serveOptions.isEmpty() ? "" : " " + String.join(" ", serveOptions)) + ", " +
            "own JVM (" + String.join(" ", jvmOptions.stream().filter(o -> o.startsWith("-X")).toList()) + "), " +
            "journal in " + dir.getParent(),
            durability == Durability.FSYNC ? "journal fsynced (msync) once per ring batch before the results leave"
                : "journal written to the page cache (mmap) before the results leave: survives kill -9",
            "virtual-key scenario: keys set up with SetVirtualKey (a budget per 30 days) and SetRateLimit (requests " +
            "per day), every DEDUCT through its key: the ledger checks the key (this user's, not revoked, not " +
            "expired), the rate limit, the key's budget and the user's funds, and charges key and user in one step"));
        return settings;
    }

    @Override
    public void start() throws Exception
    {
        Files.createDirectories(dir);
        final String key = members > 1 ? shareOneKey() : null;
        final String clusterMembers = members > 1 ? clusterMembers() : null;
        for (int member = 0; member < members; member++)
        {
            final Path data = members > 1 ? dir.resolve("member" + member) : dir;
            Files.createDirectories(data);
            final List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(jvmOptions);
            command.addAll(List.of("-cp", System.getProperty("java.class.path"), LedgerCli.class.getName(), "serve",
                "--data", data.toString(), "--port", Integer.toString(port + member),
                "--metrics-port", Integer.toString(metricsPort + member), "--durability",
                durability.name().toLowerCase(java.util.Locale.ROOT), "--no-projector",
                "--expected-accounts", Integer.toString(expectedAccounts), "--snapshot-every", "0"));
            if (members > 1)
            {
                command.addAll(List.of("--cluster-members", clusterMembers, "--cluster-member-id",
                    Integer.toString(member), "--aeron-dir", dir.resolve("aeron-" + member).toString()));
            }
            command.addAll(serveOptions);
            final Path log = data.resolve("serve.log");
            processes.add(new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start());
        }
        final long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        for (int member = 0; member < members; member++)
        {
            final Path log = (members > 1 ? dir.resolve("member" + member) : dir).resolve("serve.log");
            while (!Files.exists(log) || !Files.readString(log, StandardCharsets.UTF_8).contains("ledger serving"))
            {
                if (!processes.get(member).isAlive() || System.nanoTime() > deadline)
                {
                    throw new IOException("ledger serve did not start; its output:\n" + tail(log));
                }
                Thread.sleep(50);
            }
        }
        // written by serve on first start (one ledger), or shared by the members
        final String apiKey = key != null ? key : Files.readString(dir.resolve("admin.key")).strip();
        for (int i = 0; i < connections; i++)
        {
            clients.add(LedgerClient.connect(new ClientConfig().port(port + i % members).apiKey(apiKey)
                .timeout(Duration.ofSeconds(10))));
        }
        if (members > 1)
        {
            awaitLeader(clients.get(0), deadline);
        }
    }

    /**
     * @return the admin key every member's keys file holds, written before the members start.
     */
    private String shareOneKey() throws IOException
    {
        final String key = io.quotaledger.server.ApiKeys.generate();
        for (int member = 0; member < members; member++)
        {
            final Path data = dir.resolve("member" + member);
            Files.createDirectories(data);
            io.quotaledger.server.ApiKeys.append(data.resolve("keys"), io.quotaledger.protocol.Role.ADMIN, key,
                "compare");
        }
        return key;
    }

    /**
     * @return the members' cluster addresses: five UDP ports each, above the metrics ports.
     */
    private String clusterMembers()
    {
        final StringBuilder spec = new StringBuilder();
        for (int member = 0; member < members; member++)
        {
            spec.append(member == 0 ? "" : ",").append("localhost:").append(clusterPort + member * 5);
        }
        return spec.toString();
    }

    /**
     * Waits until the cluster answers: a member's engine says UNAVAILABLE until it has found the leader.
     */
    private static void awaitLeader(final LedgerClient client, final long deadline) throws Exception
    {
        while (client.query(1, Scenario.SERVICE).get(30, TimeUnit.SECONDS).code() == ResultCode.UNAVAILABLE)
        {
            if (System.nanoTime() > deadline)
            {
                throw new IOException("the cluster found no leader in " + START_TIMEOUT);
            }
            Thread.sleep(100);
        }
    }

    @Override
    public void populate(final Scenario scenario) throws Exception
    {
        final LedgerClient client = clients.get(0);
        final List<CompletableFuture<LedgerResult>> pending = new ArrayList<>();
        for (int i = 0; i < scenario.users(); i++)
        {
            // CREDIT and GRANT both open the account; every user has money, free units or both
            if (scenario.balance(i) > 0)
            {
                pending.add(client.credit(client.requestIds().next(), scenario.userId(i), scenario.balance(i)));
            }
            if (scenario.free(i) > 0)
            {
                pending.add(client.grant(client.requestIds().next(), scenario.userId(i), Scenario.SERVICE, scenario.free(i), Period.MONTH));
            }
            if (pending.size() >= 8192)
            {
                awaitAll(pending);
            }
        }
        awaitAll(pending);
        if (scenario.keyed())
        {
            populateKeys(client, scenario);
        }
    }

    /** Each key, then its rate limit: a rate limit names a key that exists. */
    private void populateKeys(final LedgerClient client, final Scenario scenario) throws Exception
    {
        final List<CompletableFuture<LedgerResult>> pending = new ArrayList<>();
        for (int key = 0; key < scenario.keys(); key++)
        {
            pending.add(client.setVirtualKey(scenario.userIdOfTarget(key), scenario.keyId(key),
                scenario.keyBudget(key), false, null, Scenario.KEY_RESET_MILLIS, 0, null));
            if (pending.size() >= 8192)
            {
                awaitAll(pending);
            }
        }
        awaitAll(pending);
        for (int key = 0; key < scenario.keys(); key++)
        {
            pending.add(client.setRateLimit(scenario.userIdOfTarget(key), scenario.keyId(key),
                scenario.keyRequests(key), 0, Duration.ofMillis(Scenario.KEY_RATE_MILLIS)));
            if (pending.size() >= 8192)
            {
                awaitAll(pending);
            }
        }
        awaitAll(pending);
    }

    @Override
    public State read(final Scenario scenario) throws Exception
    {
        final State state = State.of(scenario);
        final LedgerClient client = clients.get(0);
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
        for (int from = 0; from < scenario.keys(); from += 8192)
        {
            final int to = Math.min(scenario.keys(), from + 8192);
            pending.clear();
            for (int key = from; key < to; key++)
            {
                pending.add(client.query(scenario.userIdOfTarget(key), Scenario.SERVICE, scenario.keyId(key)));
            }
            for (int key = from; key < to; key++)
            {
                final LedgerResult r = pending.get(key - from).get(30, TimeUnit.SECONDS);
                if (r.code() == ResultCode.OK)
                {
                    state.keySpent()[key] = r.keySpent();
                }
            }
        }
        return state;
    }

    @Override
    public void close() throws Exception
    {
        for (final LedgerClient client : clients)
        {
            client.close();
        }
        clients.clear();
        for (final Process process : processes)
        {
            process.destroy();
        }
        for (final Process process : processes)
        {
            if (!process.waitFor(60, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
            }
        }
        processes.clear();
        BenchSupport.deleteRecursively(dir);
    }

    @Override
    protected void deduct(final int connection, final long userId, final long virtualKeyId, final Answer answer)
    {
        final LedgerClient client = clients.get(connection);
        final RequestIds ids = client.requestIds();
        final ResultHandler handler = new ResultHandler()
        {
            public void onResult(final ResultView result)
            {
                answer.answered(outcome(result.code()), System.nanoTime());
            }

            public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
            {
                answer.answered(Tally.ERROR, System.nanoTime());
            }
        };
        if (virtualKeyId == 0)
        {
            client.deduct(ids.hi(), ids.nextLo(), userId, Scenario.SERVICE, Scenario.AMOUNT, handler);
        }
        else
        {
            client.deduct(ids.hi(), ids.nextLo(), userId, Scenario.SERVICE, Scenario.AMOUNT, virtualKeyId, 0, handler);
        }
    }

    /**
     * @return what a result code means for the tally; a code no scenario expects is an error.
     */
    static int outcome(final ResultCode code)
    {
        return switch (code)
        {
            case OK -> Tally.OK;
            case INSUFFICIENT_FUNDS -> Tally.REJECTED;
            case VIRTUAL_KEY_BUDGET_EXCEEDED -> Tally.KEY_BUDGET;
            case RATE_LIMITED -> Tally.RATE_LIMITED;
            default -> Tally.ERROR;
        };
    }

    @Override
    protected String client()
    {
        return "Java LedgerClient (ledger-client of this commit, callback form), one I/O thread per connection";
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
