package io.quotaledger.cli;

import com.lmax.disruptor.YieldingWaitStrategy;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalCorruptedException;
import io.quotaledger.journal.Journals;
import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import io.quotaledger.server.LedgerServer;
import io.quotaledger.server.MetricsHttpServer;
import io.quotaledger.server.ServerConfig;
import io.quotaledger.server.ServerMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

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
        "DIR/admin.key (readable by you only), which client commands use with --data DIR." })
final class ServeCommand implements Callable<Integer>
{
    static final String ADMIN_KEY_FILE = "admin.key";
    private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

    @Option(names = "--data", defaultValue = "data", paramLabel = "DIR",
        description = "Data directory: journal, snapshots, keys (default: ${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--port", defaultValue = "7070", description = "Protocol port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--metrics-port", defaultValue = "9090",
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
        description = "Snapshot after this many changes; 0 turns it off (default: ${DEFAULT-VALUE}).")
    long snapshotEvery;

    @Option(names = "--snapshot-minutes", defaultValue = "60",
        description = "Snapshot after this many minutes with changes; 0 turns it off (default: ${DEFAULT-VALUE}).")
    long snapshotMinutes;

    @Option(names = "--keep-snapshots", defaultValue = "3", description = "Snapshots kept (default: ${DEFAULT-VALUE}).")
    int keepSnapshots;

    @Option(names = "--ring-size", defaultValue = "16384", description = "Ring slots, a power of two (default: ${DEFAULT-VALUE}).")
    int ringSize;

    @Option(names = "--busy-wait", description = "Ring threads spin-yield instead of parking: lower latency, busy cores.")
    boolean busyWait;

    @Option(names = "--io-threads", description = "Netty I/O threads (default: half the cores, at least 1).")
    Integer ioThreads;

    @Option(names = "--max-in-flight", defaultValue = "16384",
        description = "Requests one connection may have waiting, a power of two (default: ${DEFAULT-VALUE}).")
    int maxInFlight;

    @Option(names = "--max-connections", defaultValue = "1000", description = "Connections at once (default: ${DEFAULT-VALUE}).")
    int maxConnections;

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

    @Mixin
    DatabaseOptions database;

    @Option(names = "--accept-journal-loss",
        description = "Start even though the journal lost acknowledged changes (a checksum that fails, zeroed " +
            "headers, a file cut short, a snapshot beyond its end): go on from what is readable, set the rest aside " +
            "in DIR/damaged. For one start, once no copy can be restored (docs/operations.md).")
    boolean acceptJournalLoss;

    @Option(names = "--no-projector",
        description = "Do not project the journal into PostgreSQL (ledger project can do it later).")
    boolean noProjector;

    public Integer call() throws Exception
    {
        final DataDir dir = new DataDir(data).create();
        final Path keysPath = keysFile != null ? keysFile : dir.root().resolve("keys");
        final String generatedKey = Files.exists(keysPath) ? null : generateAdminKey(dir, keysPath);
        final ApiKeys keys = ApiKeys.load(keysPath);

        final ServerConfig serverConfig = new ServerConfig()
            .bind(bind)
            .port(port)
            .maxInFlight(maxInFlight)
            .maxConnections(maxConnections)
            .idleTimeoutSeconds(idleTimeout)
            .tlsCertificate(tlsCertificate)
            .tlsKey(tlsKey);
        if (ioThreads != null)
        {
            serverConfig.ioThreads(ioThreads);
        }
        final ServerMetrics metrics = new ServerMetrics();
        final LedgerServer server = new LedgerServer(serverConfig, keys, metrics);
        final EngineConfig engineConfig = new EngineConfig()
            .ledger(new LedgerConfig()
                .expectedAccounts(expectedAccounts)
                .dedupeWindowCount(dedupeWindow)
                .dedupeWindowMillis(dedupeHours * 3_600_000L))
            .ringSize(ringSize)
            .replyBatchEnd(server.replyBatchEnd());
        if (busyWait)
        {
            engineConfig.waitStrategy(new YieldingWaitStrategy());
        }
        final Durability mode = Durability.valueOf(durability.toUpperCase(Locale.ROOT));
        final LedgerRuntime runtime;
        try
        {
            runtime = LedgerRuntime.start(new LedgerRuntime.Settings(dir, mode, Journals.rollCycle(roll),
                snapshotEvery, snapshotMinutes, keepSnapshots, acceptJournalLoss), engineConfig);
        }
        catch (final JournalCorruptedException ex)
        {
            System.err.println("ledger serve: journal corrupted, not starting: " + ex.getMessage());
            return Tools.EXIT_FAILURE;
        }
        metrics.gauge("ledger_ring_fill", "Ring slots in use", () -> runtime.engine().ringFill());
        metrics.gauge("ledger_ring_size", "Ring slots", () -> runtime.engine().ringSize());
        metrics.gauge("ledger_journal_sequence", "Sequence of the last outcome in the journal",
            () -> runtime.journal().lastSequence());
        metrics.gauge("ledger_journal_failed", "1 once the journal has failed (restart needed)",
            () -> runtime.journal().failure() == null ? 0 : 1);
        metrics.gauge("ledger_internal_errors", "Commands that hit a bug (INTERNAL_ERROR)",
            () -> runtime.engine().internalErrors());
        metrics.gauge("ledger_snapshot_pause_seconds", "Business-thread pause of the last snapshot",
            () -> runtime.snapshotter().lastPauseNanos() / 1e9);

        final MetricsHttpServer http;
        ServeProjection projection = null;
        try
        {
            if (!noProjector)
            {
                projection = ServeProjection.start(database, dir, () -> runtime.journal().lastSequence(), metrics);
            }
            server.start(runtime.engine(), runtime.snapshotter()::snapshot);
            final ServeProjection projected = projection;
            http = new MetricsHttpServer(bind, metricsPort, metrics, () ->
            {
                final String failure = runtime.journal().failure();
                final StringBuilder json = new StringBuilder(256)
                    .append("{\"status\":\"").append(failure == null ? "ok" : "journal-failed").append('"')
                    .append(",\"journalSequence\":").append(runtime.journal().lastSequence())
                    .append(",\"connections\":").append(server.connections())
                    .append(",\"ringFill\":").append(runtime.engine().ringFill());
                if (failure != null)
                {
                    json.append(",\"failure\":").append(Tools.quote(failure));
                }
                if (projected != null)
                {
                    json.append(",\"projector\":{\"checkpoint\":").append(projected.projector().checkpoint())
                        .append(",\"lagEvents\":").append(projected.projector().lagEvents())
                        .append(",\"lagSeconds\":").append(projected.projector().lagSeconds())
                        .append(",\"failures\":").append(projected.projector().failures())
                        .append(",\"lastError\":").append(Tools.quote(projected.projector().lastError()))
                        .append('}');
                }
                return new MetricsHttpServer.Health(failure == null, json.append('}').toString());
            });
        }
        catch (final Exception ex)
        {
            server.close();
            runtime.close();
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
            runtime.close();     // drain the ring: everything accepted is journaled (a retry gets its result)
            http.close();
            String projected = "";
            if (projecting != null)
            {
                projecting.close(); // the embedded PostgreSQL is a process of its own: stop it with the ledger
                projected = ", " + projecting.state();
            }
            LOG.info(String.format(Locale.ROOT, "stopped: journal at sequence %,d%s",
                runtime.journal().lastSequence(),
                projected));
            stopped.countDown();
        }, "ledger-shutdown"));

        System.out.printf("ledger serving %s:%d (metrics http://%s:%d/metrics, health /health), data %s, %s%n",
            bind, server.port(), bind, http.port(), dir, mode.name().toLowerCase(Locale.ROOT));
        System.out.printf("  recovered %,d accounts at journal sequence %,d%n",
            runtime.recovery().ledger().accountCount(), runtime.recovery().lastSequence());
        for (final String loss : runtime.recovery().acceptedLoss())
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
            System.out.printf("  projecting to PostgreSQL%s: psql '%s'%n",
                projecting.embedded() ? " (embedded, data in " + dir.root().resolve("postgres") + ")" : "",
                projecting.connectionString());
        }
        System.out.printf("  try: scripts/ledger credit --data %s --user 1 --amount 1000%n", data);
        System.out.flush();
        stopped.await();
        return 0;
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
