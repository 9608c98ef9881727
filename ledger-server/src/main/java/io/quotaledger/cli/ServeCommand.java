package io.quotaledger.cli;

import io.quotaledger.cluster.ClusterMembers;
import io.quotaledger.cluster.ClusterMetrics;
import io.quotaledger.cluster.ClusterNode;
import io.quotaledger.cluster.ClusterRuntime;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerHost;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.Threading;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalCorruptedException;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.OwnerOnly;
import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import io.quotaledger.server.LedgerServer;
import io.quotaledger.server.MetricsHttpServer;
import io.quotaledger.server.ServerConfig;
import io.quotaledger.server.ServerMetrics;
import net.openhft.chronicle.queue.RollCycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * {@code ledger serve}: recovers the ledger from its data directory and serves the binary protocol, with metrics
 * and health on a separate port. With no arguments it works on a fresh machine: data in ./data, an admin key
 * generated and saved there.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
        "Starts the ledger: recovers its state from the data directory, then serves the binary protocol.",
        "On first start an admin key is generated; its hash goes to the keys file and the key itself to",
        "DIR/admin.key (readable by you only), which client commands use with --data DIR.",
        "Give each gateway a key of its own with `ledger keys add`: serve follows the keys file while it runs.",
        "Every option is checked before anything is created, recovered or bound: a bad one exits with 2." })
final class ServeCommand implements Callable<Integer>
{
    static final String ADMIN_KEY_FILE = "admin.key";
    private static final long HOUR_MILLIS = 3_600_000L;
    private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

    @Option(names = "--data", defaultValue = "data", paramLabel = "DIR",
        description = "Data directory: journal, snapshots, keys (default: ${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--port", defaultValue = "7070", converter = Tools.ListenPortConverter.class,
        description = "Protocol port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--metrics-port", defaultValue = "9090", converter = Tools.ListenPortConverter.class,
        description = "Port of GET /metrics and GET /health, on the same address (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(names = "--durability", defaultValue = "process",
        description = "process: survives kill -9; fsync: survives power loss (default: ${DEFAULT-VALUE}).")
    String durability;

    @Option(names = "--keys", paramLabel = "FILE", description = "Keys file (default: DIR/keys).")
    Path keysFile;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "TLS certificate chain (with --tls-key).")
    Path tlsCertificate;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "TLS private key, PKCS#8 (with --tls-cert).")
    Path tlsKey;

    @Option(names = "--roll", defaultValue = "daily", description = "Journal file per: daily or hourly (default: ${DEFAULT-VALUE}).")
    String roll;

    @Option(names = "--snapshot-every", defaultValue = "10000000",
        description = "Snapshot after this many changes; 0 turns it off. In a cluster the leader asks every member " +
            "for one (default: ${DEFAULT-VALUE}).")
    long snapshotEvery;

    @Option(names = "--snapshot-minutes", defaultValue = "60",
        description = "Snapshot after this many minutes with changes; 0 turns it off (default: ${DEFAULT-VALUE}).")
    long snapshotMinutes;

    @Option(names = "--journal-reserve", paramLabel = "MIB",
        description = "Disk space (MiB) kept allocated ahead of the journal's end, so a full disk is met with " +
            "UNAVAILABLE before any write can fail; at least what the ring holds in flight (default: that).")
    long journalReserveMib;

    @Option(names = "--keep-snapshots", defaultValue = "3",
        description = "Snapshots kept, besides the one the ledger started from (default: ${DEFAULT-VALUE}); a " +
            "cluster member keeps its last two and the log from the older one (docs/cluster.md).")
    int keepSnapshots;

    @Option(names = "--ring-size", defaultValue = "16384", description = "Ring slots, a power of two (default: ${DEFAULT-VALUE}).")
    int ringSize;

    @Option(names = "--threading", paramLabel = "MODE",
        description = "shared: one thread reads, decides, journals and answers each batch (small machines); " +
            "dedicated: a pipeline of threads (many cores). Default: shared below " + Threading.DEDICATED_FROM_CORES +
            " cores, dedicated from there (this machine: ${DEFAULT-VALUE}).")
    String threading = Threading.byDefault().label();

    @Option(names = "--busy-wait",
        description = "Threads waiting for work spin instead of sleeping: lower latency, busy cores. Shared: the " +
            "event loop polls its sockets without blocking; dedicated: the ring's threads spin-yield.")
    boolean busyWait;

    @Option(names = "--io-threads",
        description = "Netty I/O threads with --threading dedicated (default: half the cores, at least 1).")
    Integer ioThreads;

    @Option(names = "--max-in-flight", defaultValue = "16384",
        description = "Requests one connection may have waiting (default: ${DEFAULT-VALUE}).")
    int maxInFlight;

    @Option(names = "--max-connections", defaultValue = "1000", description = "Connections at once (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--max-unauthenticated", defaultValue = "100",
        description = "Connections at once that have not said Hello; when full, a new one closes the oldest " +
            "(default: ${DEFAULT-VALUE}).")
    int maxUnauthenticated;

    @Option(names = "--hello-timeout", defaultValue = "3",
        description = "Seconds a new connection has to authenticate (default: ${DEFAULT-VALUE}).")
    int helloTimeout;

    @Option(names = "--idle-timeout", defaultValue = "300", description = "Seconds before a silent connection is closed (default: ${DEFAULT-VALUE}).")
    int idleTimeout;

    @Option(names = "--expected-accounts", defaultValue = "65536", description = "Accounts to preallocate for (default: ${DEFAULT-VALUE}).")
    int expectedAccounts;

    @Option(names = "--dedupe-window", defaultValue = "1048576",
        description = "Request ids remembered for idempotency, at most (default: ${DEFAULT-VALUE}).")
    int dedupeWindow;

    @Option(names = "--dedupe-hours", defaultValue = "24",
        description = "Hours a request id is remembered (default: ${DEFAULT-VALUE}).")
    long dedupeHours;

    @Option(names = "--max-accounts", defaultValue = "" + LedgerConfig.DEFAULT_MAX_ACCOUNTS,
        description = "Accounts at most; more give CAPACITY_EXCEEDED (default: ${DEFAULT-VALUE}).")
    int maxAccounts;

    @Option(names = "--max-free-quotas", defaultValue = "" + LedgerConfig.DEFAULT_MAX_FREE_QUOTAS,
        description = "Free quotas (user, service) at most; more give CAPACITY_EXCEEDED (default: ${DEFAULT-VALUE}).")
    int maxFreeQuotas;

    @Option(names = "--max-open-holds", defaultValue = "" + LedgerConfig.DEFAULT_MAX_OPEN_HOLDS,
        description = "Open holds at most; more give CAPACITY_EXCEEDED (default: ${DEFAULT-VALUE}).")
    int maxOpenHolds;

    @Option(names = "--max-hold-ttl-seconds", defaultValue = "" + LedgerConfig.DEFAULT_MAX_HOLD_TTL_MILLIS / 1000,
        description = "Longest ttl a reserve may ask for, at most the dedupe window (default: ${DEFAULT-VALUE}).")
    long maxHoldTtlSeconds;

    @Option(names = "--max-settle-excess", defaultValue = "" + LedgerConfig.DEFAULT_MAX_SETTLE_EXCESS,
        description = "A settle may exceed its hold H by max(H, this) at most (default: ${DEFAULT-VALUE}).")
    long maxSettleExcess;

    @Option(names = "--max-virtual-keys", defaultValue = "" + LedgerConfig.DEFAULT_MAX_VIRTUAL_KEYS,
        description = "Virtual keys at most, revoked ones included; more give CAPACITY_EXCEEDED (default: ${DEFAULT-VALUE}).")
    int maxVirtualKeys;

    @Option(names = "--max-rate-limits", defaultValue = "" + LedgerConfig.DEFAULT_MAX_RATE_LIMITS,
        description = "Users and keys with a rate limit, at most (default: ${DEFAULT-VALUE}).")
    int maxRateLimits;

    @Option(names = "--max-spend-windows", defaultValue = "" + LedgerConfig.DEFAULT_MAX_SPEND_WINDOWS,
        description = "Spend windows of all users and keys together, at most (default: ${DEFAULT-VALUE}).")
    int maxSpendWindows;

    @Option(names = "--max-prices", defaultValue = "" + LedgerConfig.DEFAULT_MAX_PRICE_ENTRIES,
        description = "Prices (group, service) at most (default: ${DEFAULT-VALUE}).")
    int maxPriceEntries;

    @Option(names = "--max-service-budgets", defaultValue = "" + LedgerConfig.DEFAULT_MAX_SERVICE_BUDGETS,
        description = "Per-service budgets of virtual keys, at most (default: ${DEFAULT-VALUE}).")
    int maxServiceBudgets;

    @Mixin
    DatabaseOptions database;

    @Option(names = "--accept-journal-loss",
        description = "Start even though the journal lost acknowledged changes (a checksum that fails, zeroed " +
            "headers, a file cut short, a snapshot beyond its end): go on from what is readable, set the rest aside " +
            "in DIR/damaged. For one start, once no copy can be restored (docs/operations.md).")
    boolean acceptJournalLoss;

    @Option(names = "--cluster-members", paramLabel = "HOST:PORT,...",
        description = "Run as one member of a replicated cluster (Aeron Cluster): every member's host and first " +
            "UDP port, in member id order, the same list on every member. Each member uses " +
            ClusterMembers.PORTS_PER_MEMBER + " UDP ports from its own (docs/cluster.md).")
    String clusterMembers;

    @Option(names = "--cluster-member-id", paramLabel = "N",
        description = "This member's id: its position in --cluster-members, from 0.")
    Integer clusterMemberId;

    @Option(names = "--cluster-timeout-ms", defaultValue = "1000",
        description = "Milliseconds without the leader's heartbeat before the members elect another; heartbeats " +
            "go every tenth of it, an election waits half of it (default: ${DEFAULT-VALUE}).")
    long clusterTimeoutMillis;

    @Option(names = "--aeron-dir", paramLabel = "DIR",
        description = "The cluster member's media driver directory, this member's alone (default: under /dev/shm).")
    Path aeronDir;

    @Option(names = "--no-projector",
        description = "Do not project the journal into PostgreSQL (ledger project can do it later).")
    boolean noProjector;

    /**
     * What serve runs with, every option checked: built before anything is created, recovered or bound.
     */
    private record Plan(
        DataDir dir,
        Path keysPath,
        ServerConfig server,
        EngineConfig engine,
        LedgerRuntime.Settings runtime,
        ClusterNode.Context cluster)
    {
    }

    public Integer call()
    {
        return Tools.run("serve", () -> serve(plan()));
    }

    /**
     * Checks every option and builds the settings from them. Touches nothing: a bad option is reported before a
     * long recovery, not after it (and no data directory is created for a mistyped command).
     *
     * @throws Tools.ToolException (usage) naming the first bad option.
     */
    Plan plan() throws Tools.ToolException
    {
        final Durability mode = choice("--durability", durability, "process or fsync", Durability::valueOf);
        final Threading threads = choice("--threading", threading, "shared or dedicated", Threading::valueOf);
        require(ioThreads == null || threads == Threading.DEDICATED, "--io-threads applies to --threading " +
            "dedicated; with shared threading (the default below " + Threading.DEDICATED_FROM_CORES +
            " cores) the ledger's one thread serves every connection");
        final RollCycle rollCycle = choice("--roll", roll, "daily or hourly", Journals::rollCycle);
        require(snapshotEvery >= 0, "--snapshot-every must be 0 (off) or more, not " + snapshotEvery);
        require(snapshotMinutes >= 0, "--snapshot-minutes must be 0 (off) or more, not " + snapshotMinutes);
        require(journalReserveMib >= 0 && journalReserveMib <= 1L << 30,
            "--journal-reserve must be 0 (the ring's minimum) to 1073741824 MiB, not " + journalReserveMib);
        require(keepSnapshots >= 1, "--keep-snapshots must be 1 or more, not " + keepSnapshots);
        require(dedupeHours >= 1 && dedupeHours <= Long.MAX_VALUE / HOUR_MILLIS,
            "--dedupe-hours must be 1 or more (and fit in milliseconds), not " + dedupeHours);
        require(port == 0 || port != metricsPort, "--port and --metrics-port must differ, both are " + port);
        require(database.port >= 0 && database.port <= 65_535, "--db-port must be 0 to 65535, not " + database.port);
        require(database.jdbcUrl == null || database.jdbcUrl.startsWith("jdbc:postgresql:"),
            "--jdbc-url must start with jdbc:postgresql: (jdbc:postgresql://host:port/database)");

        final ServerConfig serverConfig = new ServerConfig()
            .bind(bind)
            .port(port)
            .maxInFlight(maxInFlight)
            .maxConnections(maxConnections)
            .maxUnauthenticated(maxUnauthenticated)
            .helloTimeoutSeconds(helloTimeout)
            .idleTimeoutSeconds(idleTimeout)
            .tlsCertificate(tlsCertificate)
            .tlsKey(tlsKey);
        if (ioThreads != null)
        {
            serverConfig.ioThreads(ioThreads);
        }
        final EngineConfig engineConfig = new EngineConfig()
            .ledger(ledgerConfig())
            .threading(threads)
            .busyWait(busyWait)
            .ringSize(ringSize);
        try
        {
            serverConfig.validate();
            engineConfig.validate();
        }
        catch (final IllegalArgumentException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "bad option: " + ex.getMessage());
        }
        readable("--tls-cert", tlsCertificate);
        readable("--tls-key", tlsKey);
        try
        {
            LedgerServer.tlsContext(serverConfig);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, ex.getMessage());
        }

        final DataDir dir = new DataDir(data);
        final Path keysPath = keysFile != null ? keysFile : dir.root().resolve("keys");
        usableDirectory(dir.root());
        if (Files.exists(keysPath))
        {
            readable("--keys", keysPath);
            try
            {
                ApiKeys.read(keysPath);
            }
            catch (final IOException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "cannot read " + keysPath + ": " + Tools.reason(ex));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "bad keys file: " + ex.getMessage());
            }
        }
        canListen("--port", port);
        canListen("--metrics-port", metricsPort);
        return new Plan(dir, keysPath, serverConfig, engineConfig,
            new LedgerRuntime.Settings(dir, mode, rollCycle, snapshotEvery, snapshotMinutes, keepSnapshots,
                journalReserveMib << 20, acceptJournalLoss),
            cluster(dir, mode, rollCycle, engineConfig.ledger()));
    }

    /**
     * @return the cluster member's settings, or null to run alone.
     */
    private ClusterNode.Context cluster(
        final DataDir dir, final Durability mode, final RollCycle rollCycle, final LedgerConfig ledger)
        throws Tools.ToolException
    {
        if (clusterMembers == null && clusterMemberId == null)
        {
            require(aeronDir == null, "--aeron-dir applies to a cluster member (--cluster-members)");
            return null;
        }
        require(clusterMembers != null && clusterMemberId != null,
            "a cluster member needs both --cluster-members and --cluster-member-id");
        require(clusterTimeoutMillis >= 100 && clusterTimeoutMillis <= 600_000,
            "--cluster-timeout-ms must be 100 to 600000, not " + clusterTimeoutMillis);
        require(!acceptJournalLoss, "--accept-journal-loss does not apply to a cluster member: its state comes " +
            "from the cluster's log and snapshots, and its journal is rebuilt from them");
        final long timeoutNs = TimeUnit.MILLISECONDS.toNanos(clusterTimeoutMillis);
        final ClusterMembers parsed;
        try
        {
            parsed = ClusterMembers.parse(clusterMembers);
            canListenUdp(parsed.member(clusterMemberId));
            return new ClusterNode.Context()
                .members(parsed)
                .memberId(clusterMemberId)
                .dataDir(dir)
                .aeronDir(aeronDir)
                .ledger(ledger)
                .durability(mode)
                .rollCycle(rollCycle)
                .snapshotEveryOutcomes(snapshotEvery)
                .snapshotEveryMinutes(snapshotMinutes)
                .leaderHeartbeatTimeoutNs(timeoutNs)
                .leaderHeartbeatIntervalNs(timeoutNs / 10)
                .electionTimeoutNs(timeoutNs / 2)
                .electionStatusIntervalNs(timeoutNs / 20)
                .onFatal(ServeCommand::stopMember)
                .conclude();
        }
        catch (final IllegalArgumentException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, ex.getMessage());
        }
    }

    /**
     * Binds and releases the member's UDP ports, so that a port in use (another member with this id on this host?) or
     * a host that is not this machine is reported now, before anything starts.
     */
    private static void canListenUdp(final ClusterMembers.Member member) throws Tools.ToolException
    {
        for (int p = member.basePort(); p < member.basePort() + ClusterMembers.PORTS_PER_MEMBER; p++)
        {
            try (java.net.DatagramSocket socket = new java.net.DatagramSocket(null))
            {
                socket.bind(new InetSocketAddress(InetAddress.getByName(member.host()), p));
            }
            catch (final IOException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "--cluster-members: member " + member.id() +
                    " cannot listen on UDP " + member.host() + ":" + p + " (" + Tools.reason(ex) + "): is another " +
                    "member with this id running, or is " + member.host() + " not this machine?");
            }
        }
    }

    /**
     * A cluster member that cannot apply the log as the others do leaves at once, without a word more to anyone:
     * the others go on, and a restart rebuilds it from the cluster.
     */
    private static void stopMember(final String why)
    {
        System.err.println("ledger serve: cluster member stopping: " + why);
        System.err.flush();
        Runtime.getRuntime().halt(Tools.EXIT_FAILURE);
    }

    /**
     * The ledger's own settings from the options; {@link LedgerConfig#validate()} checks them (via the engine's).
     */
    private LedgerConfig ledgerConfig()
    {
        return new LedgerConfig()
            .expectedAccounts(expectedAccounts)
            .dedupeWindowCount(dedupeWindow)
            .dedupeWindowMillis(dedupeHours * HOUR_MILLIS)
            .maxAccounts(maxAccounts)
            .maxFreeQuotas(maxFreeQuotas)
            .maxOpenHolds(maxOpenHolds)
            .maxHoldTtlMillis(TimeUnit.SECONDS.toMillis(maxHoldTtlSeconds))
            .maxSettleExcess(maxSettleExcess)
            .maxVirtualKeys(maxVirtualKeys)
            .maxRateLimits(maxRateLimits)
            .maxSpendWindows(maxSpendWindows)
            .maxPriceEntries(maxPriceEntries)
            .maxServiceBudgets(maxServiceBudgets);
    }

    private static void require(final boolean condition, final String message) throws Tools.ToolException
    {
        if (!condition)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, message);
        }
    }

    private static <T> T choice(
        final String option, final String value, final String choices, final Function<String, T> parse)
        throws Tools.ToolException
    {
        try
        {
            return parse.apply(value.toUpperCase(Locale.ROOT));
        }
        catch (final IllegalArgumentException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, option + " must be " + choices + ", not " + value);
        }
    }

    private static void readable(final String option, final Path file) throws Tools.ToolException
    {
        if (file == null)
        {
            return;
        }
        require(Files.isRegularFile(file), option + " " + file + ": no such file");
        require(Files.isReadable(file), option + " " + file + ": not readable by this user");
    }

    /**
     * The data directory must be a writable directory, or creatable: its nearest existing ancestor is one.
     */
    private static void usableDirectory(final Path root) throws Tools.ToolException
    {
        Path existing = root;
        while (existing != null && !Files.exists(existing))
        {
            existing = existing.getParent();
        }
        final String where = "--data " + root + (root.equals(existing) ? "" : ": " + existing);
        require(existing != null && Files.isDirectory(existing), where + " is not a directory");
        require(Files.isWritable(existing) && Files.isExecutable(existing), where + " is not writable by this user");
    }

    /**
     * Binds and releases the port, so that a port in use or an address that is not this machine's is reported now,
     * not after recovery. (Something could still take the port in between; then start-up fails with that message.)
     */
    private void canListen(final String option, final int candidate) throws Tools.ToolException
    {
        try (ServerSocket socket = new ServerSocket())
        {
            socket.bind(new InetSocketAddress(InetAddress.getByName(bind), candidate));
        }
        catch (final UnknownHostException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--bind " + bind + ": unknown host");
        }
        catch (final IOException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, option + " " + candidate + ": cannot listen on " + bind +
                ":" + candidate + " (" + ex.getMessage() + ")");
        }
    }

    private int serve(final Plan plan) throws Exception
    {
        final DataDir dir = plan.dir();
        final Path keysPath = plan.keysPath();
        try
        {
            dir.create();
        }
        catch (final IOException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "cannot create the data directory " + dir + ": " +
                Tools.reason(ex));
        }
        final String generatedKey = Files.exists(keysPath) ? null : generateAdminKey(dir, keysPath);
        final ApiKeys keys = ApiKeys.load(keysPath);
        warnIfExposed(dir, keysPath);
        if (keys.size() == 0)
        {
            LOG.warn("no keys in {}: every connection is refused until `ledger keys add`", keysPath);
        }

        final ServerMetrics metrics = new ServerMetrics();
        final LedgerServer server = new LedgerServer(plan.server(), keys, metrics);
        final Durability mode = plan.runtime().durability();
        final LedgerHost host;
        try
        {
            host = plan.cluster() == null ?
                LedgerRuntime.start(plan.runtime(), plan.engine().replyBatchEnd(server.replyBatchEnd())) :
                ClusterRuntime.start(plan.cluster(), plan.engine().ringSize(), server.replyBatchEnd());
        }
        catch (final JournalCorruptedException ex)
        {
            System.err.println("ledger serve: journal corrupted, not starting: " + ex.getMessage());
            return Tools.EXIT_FAILURE;
        }
        metrics.info("ledger_threading", "The threading mode the ledger runs in", "mode",
            host.engine().threading().label());
        metrics.gauge("ledger_ring_fill", "Requests waiting in the engine (ring slots, or batch and hand-offs)",
            () -> host.engine().ringFill());
        metrics.gauge("ledger_ring_size", "Ring slots (largest batch in shared threading)",
            () -> host.engine().ringSize());
        metrics.gauge("ledger_journal_sequence", "Sequence of the last outcome in the journal",
            host::journalSequence);
        metrics.gauge("ledger_journal_failed", "1 once the journal has failed (restart needed)",
            () -> host.journalFailure() == null ? 0 : 1);
        metrics.gauge("ledger_journal_low_on_space", "1 while the journal is short of disk space (changes refused)",
            () -> host.lowOnSpace() == null ? 0 : 1);
        metrics.gauge("ledger_journal_space_ahead_bytes", "Disk space allocated ahead of the journal's end",
            host::journalSpaceAhead);
        final FileStore dataStore = Files.getFileStore(dir.journal());
        metrics.gauge("ledger_data_free_bytes", "Usable space on the file system of the data directory",
            () -> usableSpace(dataStore));
        metrics.gauge("ledger_internal_errors", "Commands that hit a bug in the ledger (the first one stops it)",
            () -> host.engine().internalErrors());
        metrics.gauge("ledger_stopped", "1 once a bug stopped the ledger: every request UNAVAILABLE (restart needed)",
            () -> host.engine().failure() == null ? 0 : 1);
        metrics.gauge("ledger_snapshot_pause_seconds", "Business-thread pause of the last snapshot",
            () -> host.lastSnapshotPauseNanos() / 1e9);
        if (host instanceof ClusterRuntime member)
        {
            ClusterMetrics.register(metrics, member);
        }

        final MetricsHttpServer http;
        ServeProjection projection = null;
        try
        {
            if (!noProjector)
            {
                projection = ServeProjection.start(database, dir, host::journalSequence,
                    !host.acceptedLoss().isEmpty(), metrics);
            }
            server.start(host.engine(), host::snapshot);
            final ServeProjection projected = projection;
            http = new MetricsHttpServer(bind, metricsPort, metrics,
                () -> health(host, server.connections(), projected));
        }
        catch (final Exception ex)
        {
            server.close();
            host.close();
            if (projection != null)
            {
                projection.close();
            }
            throw ex;
        }

        final CountDownLatch stopped = new CountDownLatch(1);
        final ServeProjection projecting = projection;
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            LOG.info("stopping");
            server.close();      // no new requests; connections close, so requests in flight go unanswered
            host.close();        // drain the ring: everything accepted is journaled (a retry gets its result)
            http.close();
            String projected = "";
            if (projecting != null)
            {
                projecting.close(); // the embedded PostgreSQL is a process of its own: stop it with the ledger
                projected = ", " + projecting.state();
            }
            LOG.info(String.format(Locale.ROOT, "stopped: journal at sequence %,d%s",
                host.journalSequence(),
                projected));
            stopped.countDown();
        }, "ledger-shutdown"));

        System.out.printf("ledger serving %s:%d (metrics http://%s:%d/metrics, health /health), data %s, %s, " +
            "threading %s%n", bind, server.port(), bind, http.port(), dir, mode.name().toLowerCase(Locale.ROOT),
            host.engine().threading().label());
        System.out.printf("  %s%n", host.recoveredSummary());
        for (final String loss : host.acceptedLoss())
        {
            System.out.printf("  ACCEPTED JOURNAL LOSS: %s%n", loss);
        }
        if (generatedKey != null)
        {
            System.out.printf("  new admin key saved in %s (its hash in %s)%n", dir.root().resolve(ADMIN_KEY_FILE),
                keysPath);
        }
        if (projecting != null)
        {
            System.out.printf("  projecting to PostgreSQL%s: %s%n",
                projecting.embedded() ? " (embedded, data in " + dir.root().resolve("postgres") + ")" : "",
                projecting.psql());
        }
        System.out.printf("  try: scripts/ledger credit --data %s --user 1 --amount 1000%n", data);
        System.out.flush();
        stopped.await();
        return 0;
    }

    /**
     * What GET /health says: 503 with the reason once a bug stopped the ledger or the journal failed, or while the
     * journal is short of disk space; 200 otherwise.
     */
    static MetricsHttpServer.Health health(
        final LedgerHost host, final int connections, final ServeProjection projected)
    {
        final LedgerEngine engine = host.engine();
        final String stopped = engine.failure();
        final String journalFailure = host.journalFailure();
        final String failure = stopped != null ? stopped : journalFailure;
        final String lowOnSpace = host.lowOnSpace();
        final StringBuilder json = new StringBuilder(256)
            .append("{\"status\":\"").append(stopped != null ? (host instanceof ClusterRuntime ?
                "cluster-unreachable" : "stopped") : journalFailure != null ?
                "journal-failed" : lowOnSpace != null ? "journal-low-on-space" : "ok").append('"')
            .append(",\"journalSequence\":").append(host.journalSequence())
            .append(",\"connections\":").append(connections)
            .append(",\"threading\":\"").append(engine.threading().label()).append('"')
            .append(",\"ringFill\":").append(engine.ringFill());
        if (failure != null)
        {
            json.append(",\"failure\":").append(Tools.quote(failure));
        }
        else if (lowOnSpace != null)
        {
            json.append(",\"lowOnSpace\":").append(Tools.quote(lowOnSpace));
        }
        if (host instanceof ClusterRuntime member)
        {
            json.append(",\"cluster\":").append(ClusterMetrics.json(member));
        }
        if (projected != null)
        {
            json.append(",\"projector\":{\"checkpoint\":").append(projected.projector().checkpoint())
                .append(",\"lagEvents\":").append(projected.projector().lagEvents())
                .append(",\"lagSeconds\":").append(projected.projector().lagSeconds())
                .append(",\"failures\":").append(projected.projector().failures())
                .append(",\"lastError\":").append(Tools.quote(projected.projector().lastError()))
                .append(",\"refused\":").append(projected.projector().refused())
                .append('}');
        }
        return new MetricsHttpServer.Health(failure == null && lowOnSpace == null, json.append('}').toString());
    }

    /**
     * Warns (and changes nothing: a wider mode may be on purpose) when other users may read the data or the keys.
     */
    private static void warnIfExposed(final DataDir dir, final Path keysPath)
    {
        for (final String warning : dir.exposedFolders())
        {
            LOG.warn(warning);
        }
        for (final Path file : List.of(keysPath, dir.root().resolve(ADMIN_KEY_FILE)))
        {
            final String permissions = OwnerOnly.exposed(file);
            if (permissions != null)
            {
                LOG.warn("{} is {}: other users may read or change the ledger's keys (chmod 600 {})", file,
                    permissions, file);
            }
        }
    }

    private static long usableSpace(final FileStore store)
    {
        try
        {
            return store.getUsableSpace();
        }
        catch (final IOException ex)
        {
            return -1;
        }
    }

    private static String generateAdminKey(final DataDir dir, final Path keysPath) throws Exception
    {
        final String key = ApiKeys.generate();
        ApiKeys.append(keysPath, Role.ADMIN, key, "generated-by-serve");
        final Path keyFile = dir.root().resolve(ADMIN_KEY_FILE);
        ApiKeys.writeSecret(keyFile, key);
        return key;
    }
}
