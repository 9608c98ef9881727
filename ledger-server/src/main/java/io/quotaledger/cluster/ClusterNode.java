package io.quotaledger.cluster;

import io.aeron.AeronCounters;
import io.aeron.archive.Archive;
import io.aeron.archive.ArchiveThreadingMode;
import io.aeron.archive.client.AeronArchive;
import io.aeron.cluster.ClusteredMediaDriver;
import io.aeron.cluster.ConsensusModule;
import io.aeron.cluster.ElectionState;
import io.aeron.cluster.service.Cluster;
import io.aeron.cluster.service.ClusteredServiceContainer;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.logbuffer.LogBufferDescriptor;
import io.aeron.security.AuthorisationService;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import net.openhft.chronicle.queue.RollCycle;
import org.agrona.BitUtil;
import org.agrona.CloseHelper;
import org.agrona.SystemUtil;
import org.agrona.concurrent.NoOpLock;
import org.agrona.concurrent.status.CountersReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * One member of the replicated ledger, all in this process: an embedded media driver, archive and consensus module
 * (Aeron Cluster's Raft) and the ledger as its clustered service ({@link LedgerClusteredService}). The gateway side
 * of the node, a {@link ClusterEngine}, connects to the cluster like any cluster client. Everything is set in the
 * {@link Context}, checked by {@link Context#conclude()}.
 */
public final class ClusterNode implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(ClusterNode.class);
    private static final long PURGE_CHECK_INTERVAL_MS = 500;

    private final Context context;
    private final LedgerClusteredService service;
    private final ClusteredMediaDriver driver;
    private final ClusteredServiceContainer container;
    private final ClusterPurger purger;
    private final FileLock lock;

    private ClusterNode(final Context context)
    {
        this.context = context;
        final ClusterMembers.Member me = context.members().member(context.memberId());
        final String aeronDir = context.aeronDir().toString();
        final File clusterDir = context.dataDir().root().resolve("cluster").toFile();
        final File archiveDir = context.dataDir().root().resolve("archive").toFile();
        service = new LedgerClusteredService(context.ledger(), context.dataDir(), context.rollCycle(), context.onFatal(),
            context.ledgerFactory());

        final MediaDriver.Context driverContext = new MediaDriver.Context()
            .aeronDirectoryName(aeronDir)
            .dirDeleteOnStart(true) // this node's own directory: whatever a killed process left is stale
            .dirDeleteOnShutdown(true)
            .threadingMode(ThreadingMode.SHARED)
            .termBufferSparseFile(true)
            .errorHandler(ex -> LOG.warn("media driver: {}", ex.toString()));

        final Archive.Context archiveContext = new Archive.Context()
            .aeronDirectoryName(aeronDir)
            .archiveDir(archiveDir)
            .archiveId(me.id())
            .controlChannel("aeron:udp?endpoint=" + me.endpoint(ClusterMembers.ARCHIVE))
            .localControlChannel("aeron:ipc?term-length=64k")
            .replicationChannel("aeron:udp?endpoint=" + me.host() + ":0")
            .recordingEventsEnabled(false)
            .segmentFileLength(context.archiveSegmentLength())
            .threadingMode(ArchiveThreadingMode.SHARED)
            .fileSyncLevel(context.durability() == Durability.FSYNC ? 1 : 0)
            .catalogFileSyncLevel(context.durability() == Durability.FSYNC ? 1 : 0)
            .errorHandler(ex -> LOG.warn("archive: {}", ex.toString()));

        final AeronArchive.Context localArchive = new AeronArchive.Context()
            .lock(NoOpLock.INSTANCE)
            .controlRequestChannel(archiveContext.localControlChannel())
            .controlRequestStreamId(archiveContext.localControlStreamId())
            .controlResponseChannel(archiveContext.localControlChannel())
            .aeronDirectoryName(aeronDir);

        final ConsensusModule.Context consensusContext = new ConsensusModule.Context()
            .clusterMemberId(me.id())
            .clusterMembers(context.members().consensusMembers())
            .clusterDir(clusterDir)
            .archiveContext(localArchive.clone())
            .serviceCount(1)
            .ingressChannel("aeron:udp")
            .logChannel("aeron:udp?term-length=" + context.logTermLength())
            .replicationChannel("aeron:udp?endpoint=" + me.host() + ":0")
            .leaderHeartbeatTimeoutNs(context.leaderHeartbeatTimeoutNs())
            .leaderHeartbeatIntervalNs(context.leaderHeartbeatIntervalNs())
            .electionTimeoutNs(context.electionTimeoutNs())
            .electionStatusIntervalNs(context.electionStatusIntervalNs())
            .authorisationServiceSupplier(() -> AuthorisationService.ALLOW_ALL) // ingress is the members' own side
            .errorHandler(ex -> LOG.warn("consensus module: {}", ex.toString()));

        final ClusteredServiceContainer.Context serviceContext = new ClusteredServiceContainer.Context()
            .aeronDirectoryName(aeronDir)
            .archiveContext(localArchive.clone())
            .clusterDir(clusterDir)
            .clusteredService(service)
            .serviceId(0)
            .errorHandler(ex -> LOG.error("ledger service: {}", ex.toString(), ex));

        lock = lockDataDir(context.dataDir().root());
        ClusteredMediaDriver launched = null;
        try
        {
            clearStaleMarkFiles(clusterDir, archiveDir);
            launched = launchWithRetry(driverContext, archiveContext, consensusContext);
            container = ClusteredServiceContainer.launch(serviceContext);
        }
        catch (final RuntimeException ex)
        {
            CloseHelper.quietClose(launched);
            CloseHelper.quietClose(lock.channel());
            throw ex;
        }
        driver = launched;
        purger = new ClusterPurger(clusterDir, consensusContext.clusterId(), localArchive.clone(), counters());
        purger.start(PURGE_CHECK_INTERVAL_MS);
        LOG.info("cluster member {} of {} started: ingress {}, data in {}, media driver in {}", me.id(),
            context.members(), me.endpoint(ClusterMembers.INGRESS), context.dataDir(), aeronDir);
    }

    /**
     * Starts the member.
     */
    public static ClusterNode launch(final Context context)
    {
        context.conclude();
        return new ClusterNode(context);
    }

    public Context context()
    {
        return context;
    }

    public LedgerClusteredService service()
    {
        return service;
    }

    /**
     * @return the counters of this node's media driver (role, commit position, election state).
     */
    public CountersReader counters()
    {
        return driver.mediaDriver().context().countersManager();
    }

    /**
     * @return what this member's consensus module says of itself.
     */
    public Status status()
    {
        final Status status = new Status();
        counters().forEach((counterId, typeId, keyBuffer, label) ->
        {
            final long value = counters().getCounterValue(counterId);
            switch (typeId)
            {
                case AeronCounters.CLUSTER_NODE_ROLE_TYPE_ID -> status.role = roleName(value);
                case AeronCounters.CLUSTER_COMMIT_POSITION_TYPE_ID -> status.commitPosition = value;
                case AeronCounters.CLUSTER_ELECTION_STATE_TYPE_ID -> status.electionState = value;
                case AeronCounters.CLUSTER_ELECTION_COUNT_TYPE_ID -> status.elections = value;
                case AeronCounters.CLUSTER_SNAPSHOT_COUNTER_TYPE_ID -> status.snapshots = value;
                case AeronCounters.CLUSTER_CONSENSUS_MODULE_STATE_TYPE_ID -> status.moduleState = value;
                default ->
                {
                }
            }
        });
        status.memberId = context.memberId();
        status.appliedSequence = service.appliedSequence();
        status.journaledSequence = service.journaledSequence();
        status.snapshotSequence = service.snapshotSequence();
        status.snapshotChecksum = service.snapshotChecksum();
        status.snapshotCrc = service.snapshotCrc();
        return status;
    }

    /**
     * A member's view of itself, for metrics, health and {@code ledger cluster status}.
     */
    public static final class Status
    {
        public int memberId;
        public String role = "unknown";
        public long commitPosition = -1;
        /** {@code io.aeron.cluster.ElectionState} code; 17 (CLOSED) when no election is running. */
        public long electionState = -1;
        public long elections;
        public long snapshots;
        /** {@code io.aeron.cluster.ConsensusModule.State} code; 1 is ACTIVE. */
        public long moduleState = -1;
        public long appliedSequence;
        public long journaledSequence;
        /** The outcome sequence of the member's last snapshot, -1 when none since it started. */
        public long snapshotSequence;
        public long snapshotChecksum;
        /** CRC-32C of the member's last snapshot's bytes. */
        public long snapshotCrc;

        public String electionStateName()
        {
            return electionState < 0 ? "unknown" : ElectionState.get(electionState).name().toLowerCase();
        }
    }

    private static String roleName(final long code)
    {
        return code >= 0 && code <= 2 ? Cluster.Role.get(code).name().toLowerCase() : "unknown";
    }

    public void close()
    {
        CloseHelper.closeAll(purger, container, driver, lock.channel());
    }

    /**
     * Holds the data directory for this process's life: no other member process can run on it, so mark files found
     * at start belong to a process that is gone.
     */
    private static FileLock lockDataDir(final Path root)
    {
        try
        {
            Files.createDirectories(root);
            final FileChannel channel = FileChannel.open(root.resolve("member.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
            final FileLock lock = channel.tryLock();
            if (lock == null)
            {
                channel.close();
                throw new IllegalStateException("another cluster member runs on " + root);
            }
            return lock;
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException("cannot lock " + root + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * A member killed with SIGKILL leaves its mark files looking alive for Aeron's liveness timeout (10 s), and a
     * restart within it is refused. Holding the directory's lock, we know they are stale: they are kept aside, as
     * {@code *.prev} (their error logs may say why the member died), and the restart goes on at once.
     */
    private static void clearStaleMarkFiles(final File clusterDir, final File archiveDir)
    {
        for (final File dir : new File[]{ clusterDir, archiveDir })
        {
            final File[] marks = dir.listFiles((d, name) -> name.endsWith("mark.dat") || name.contains("mark-service"));
            if (marks == null)
            {
                continue;
            }
            for (final File mark : marks)
            {
                if (mark.getName().endsWith(".prev"))
                {
                    continue;
                }
                try
                {
                    Files.move(mark.toPath(), mark.toPath().resolveSibling(mark.getName() + ".prev"),
                        StandardCopyOption.REPLACE_EXISTING);
                }
                catch (final IOException ex)
                {
                    LOG.warn("cannot set the stale mark file {} aside: {}", mark, ex.toString());
                }
            }
        }
    }

    private static ClusteredMediaDriver launchWithRetry(
        final MediaDriver.Context driverContext,
        final Archive.Context archiveContext,
        final ConsensusModule.Context consensusContext)
    {
        // a member killed with SIGKILL leaves "active" mark files that age out in about 10 s
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true)
        {
            try
            {
                return ClusteredMediaDriver.launch(driverContext.clone(), archiveContext.clone(),
                    consensusContext.clone());
            }
            catch (final RuntimeException ex)
            {
                final String message = String.valueOf(ex.getMessage());
                if (!message.contains("active") || System.nanoTime() > deadline)
                {
                    throw ex;
                }
                LOG.info("waiting for the mark files of a stopped run to age out: {}", message);
                sleep(1_000);
            }
        }
    }

    private static void sleep(final long millis)
    {
        try
        {
            Thread.sleep(millis);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the cluster member", ex);
        }
    }

    /**
     * Everything a member needs, validated and completed by {@link #conclude()}.
     */
    public static final class Context
    {
        private int memberId = -1;
        private ClusterMembers members;
        private DataDir dataDir;
        private Path aeronDir;
        private LedgerConfig ledger = new LedgerConfig();
        private Durability durability = Durability.PROCESS;
        private RollCycle rollCycle;
        private String logTermLength = "16m";
        private int archiveSegmentLength = Archive.Configuration.SEGMENT_FILE_LENGTH_DEFAULT;
        private long snapshotEveryOutcomes;
        private long snapshotEveryMinutes;
        private long leaderHeartbeatTimeoutNs = TimeUnit.SECONDS.toNanos(1);
        private long leaderHeartbeatIntervalNs = TimeUnit.MILLISECONDS.toNanos(100);
        private long electionTimeoutNs = TimeUnit.MILLISECONDS.toNanos(500);
        private long electionStatusIntervalNs = TimeUnit.MILLISECONDS.toNanos(50);
        private long requestTimeoutNs = TimeUnit.SECONDS.toNanos(10);
        private Consumer<String> onFatal;
        private BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory = Ledger::new;

        /**
         * Checks the settings and fills in the defaults that depend on others.
         *
         * @throws IllegalArgumentException naming the setting that is wrong.
         */
        public Context conclude()
        {
            Objects.requireNonNull(members, "cluster members");
            Objects.requireNonNull(dataDir, "data directory");
            Objects.requireNonNull(rollCycle, "roll cycle");
            Objects.requireNonNull(onFatal, "onFatal");
            members.member(memberId); // throws for an id out of range
            ledger.validate();
            if (leaderHeartbeatIntervalNs >= leaderHeartbeatTimeoutNs)
            {
                throw new IllegalArgumentException("the leader's heartbeat interval must be below its timeout");
            }
            final long termLength = SystemUtil.parseSize("log term length", logTermLength);
            if (!BitUtil.isPowerOfTwo(termLength) || termLength < LogBufferDescriptor.TERM_MIN_LENGTH ||
                termLength > LogBufferDescriptor.TERM_MAX_LENGTH)
            {
                throw new IllegalArgumentException("the log term length must be a power of two from 64k to 1g, not " +
                    logTermLength);
            }
            if (!BitUtil.isPowerOfTwo(archiveSegmentLength) || archiveSegmentLength < termLength ||
                archiveSegmentLength > LogBufferDescriptor.TERM_MAX_LENGTH)
            {
                throw new IllegalArgumentException("the archive's segment length must be a power of two from the " +
                    "log term length (" + logTermLength + ") to 1g, not " + archiveSegmentLength);
            }
            if (snapshotEveryOutcomes < 0 || snapshotEveryMinutes < 0)
            {
                throw new IllegalArgumentException("snapshot intervals must be 0 (off) or more");
            }
            if (aeronDir == null)
            {
                final Path shm = Path.of("/dev/shm");
                final Path parent = Files.isDirectory(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
                final String tag = Integer.toHexString(dataDir.root().toAbsolutePath().normalize().hashCode());
                aeronDir = parent.resolve("quotaledger-" + memberId + "-" + tag);
            }
            return this;
        }

        public int memberId()
        {
            return memberId;
        }

        public Context memberId(final int memberId)
        {
            this.memberId = memberId;
            return this;
        }

        public ClusterMembers members()
        {
            return members;
        }

        public Context members(final ClusterMembers members)
        {
            this.members = members;
            return this;
        }

        public DataDir dataDir()
        {
            return dataDir;
        }

        public Context dataDir(final DataDir dataDir)
        {
            this.dataDir = dataDir;
            return this;
        }

        /**
         * @return the media driver's directory (tmpfs where there is one): this member's alone.
         */
        public Path aeronDir()
        {
            return aeronDir;
        }

        public Context aeronDir(final Path aeronDir)
        {
            this.aeronDir = aeronDir;
            return this;
        }

        public LedgerConfig ledger()
        {
            return ledger;
        }

        public Context ledger(final LedgerConfig ledger)
        {
            this.ledger = ledger;
            return this;
        }

        /**
         * @return PROCESS: the log survives a killed process (the page cache); FSYNC: the archive syncs the log to
         * disk as it records, so it survives the host (a majority must still hold each committed request).
         */
        public Durability durability()
        {
            return durability;
        }

        public Context durability(final Durability durability)
        {
            this.durability = durability;
            return this;
        }

        public RollCycle rollCycle()
        {
            return rollCycle;
        }

        public Context rollCycle(final RollCycle rollCycle)
        {
            this.rollCycle = rollCycle;
            return this;
        }

        public String logTermLength()
        {
            return logTermLength;
        }

        public Context logTermLength(final String logTermLength)
        {
            this.logTermLength = logTermLength;
            return this;
        }

        /**
         * @return the length of the archive's segment files: the log is purged a whole segment at a time.
         */
        public int archiveSegmentLength()
        {
            return archiveSegmentLength;
        }

        public Context archiveSegmentLength(final int archiveSegmentLength)
        {
            this.archiveSegmentLength = archiveSegmentLength;
            return this;
        }

        /**
         * @return the leader asks the cluster for a snapshot after this many outcomes since the last one (0: off).
         */
        public long snapshotEveryOutcomes()
        {
            return snapshotEveryOutcomes;
        }

        public Context snapshotEveryOutcomes(final long snapshotEveryOutcomes)
        {
            this.snapshotEveryOutcomes = snapshotEveryOutcomes;
            return this;
        }

        /**
         * @return the leader asks the cluster for a snapshot after this many minutes with changes (0: off).
         */
        public long snapshotEveryMinutes()
        {
            return snapshotEveryMinutes;
        }

        public Context snapshotEveryMinutes(final long snapshotEveryMinutes)
        {
            this.snapshotEveryMinutes = snapshotEveryMinutes;
            return this;
        }

        public long leaderHeartbeatTimeoutNs()
        {
            return leaderHeartbeatTimeoutNs;
        }

        public Context leaderHeartbeatTimeoutNs(final long leaderHeartbeatTimeoutNs)
        {
            this.leaderHeartbeatTimeoutNs = leaderHeartbeatTimeoutNs;
            return this;
        }

        public long leaderHeartbeatIntervalNs()
        {
            return leaderHeartbeatIntervalNs;
        }

        public Context leaderHeartbeatIntervalNs(final long leaderHeartbeatIntervalNs)
        {
            this.leaderHeartbeatIntervalNs = leaderHeartbeatIntervalNs;
            return this;
        }

        public long electionTimeoutNs()
        {
            return electionTimeoutNs;
        }

        public Context electionTimeoutNs(final long electionTimeoutNs)
        {
            this.electionTimeoutNs = electionTimeoutNs;
            return this;
        }

        public long electionStatusIntervalNs()
        {
            return electionStatusIntervalNs;
        }

        public Context electionStatusIntervalNs(final long electionStatusIntervalNs)
        {
            this.electionStatusIntervalNs = electionStatusIntervalNs;
            return this;
        }

        /**
         * @return how long the member's gateway side waits for the cluster to answer a request before answering
         * UNAVAILABLE (meanwhile it resends it to each new leader).
         */
        public long requestTimeoutNs()
        {
            return requestTimeoutNs;
        }

        public Context requestTimeoutNs(final long requestTimeoutNs)
        {
            this.requestTimeoutNs = requestTimeoutNs;
            return this;
        }

        public BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory()
        {
            return ledgerFactory;
        }

        /**
         * @param ledgerFactory makes the member's ledger; {@code Ledger::new} unless a test wraps its outcome sink.
         */
        public Context ledgerFactory(final BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory)
        {
            this.ledgerFactory = ledgerFactory;
            return this;
        }

        public Consumer<String> onFatal()
        {
            return onFatal;
        }

        /**
         * @param onFatal stops the member when the ledger service cannot go on (a bug, a journal it cannot write).
         */
        public Context onFatal(final Consumer<String> onFatal)
        {
            this.onFatal = onFatal;
            return this;
        }
    }
}
