package io.quotaledger.cluster;

import io.aeron.cluster.client.AeronCluster;
import io.aeron.cluster.service.Cluster;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerHost;
import io.quotaledger.engine.Snapshotter;
import org.agrona.CloseHelper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One member of the replicated ledger as {@code ledger serve} runs it: the {@link ClusterNode} (consensus, log,
 * the ledger service and this member's journal) and its gateway side, a {@link ClusterEngine} on the member's own
 * media driver. Started and closed as one.
 */
public final class ClusterRuntime implements LedgerHost
{
    private static final Logger LOG = LoggerFactory.getLogger(ClusterRuntime.class);
    /** A snapshot asked for and not seen within this is asked for again (the leader may have changed meanwhile). */
    private static final long SNAPSHOT_WAIT_NS = TimeUnit.MINUTES.toNanos(1);

    private final ClusterNode node;
    private final ClusterEngine engine;
    private final ScheduledExecutorService snapshotTimer;
    private long seenSnapshotSequence;
    private long seenSnapshotNanos = System.nanoTime();
    private long requestedNanos;
    private volatile boolean requested;

    private ClusterRuntime(final ClusterNode node, final ClusterEngine engine)
    {
        this.node = node;
        this.engine = engine;
        final ClusterNode.Context context = node.context();
        if (context.snapshotEveryOutcomes() > 0 || context.snapshotEveryMinutes() > 0)
        {
            seenSnapshotSequence = node.service().lastSnapshotSequence();
            snapshotTimer = Executors.newSingleThreadScheduledExecutor(runnable ->
            {
                final Thread thread = new Thread(runnable, "ledger-cluster-snapshot");
                thread.setDaemon(true);
                return thread;
            });
            snapshotTimer.scheduleWithFixedDelay(this::snapshotIfDue, 1, 1, TimeUnit.SECONDS);
        }
        else
        {
            snapshotTimer = null;
        }
    }

    /**
     * Starts the member, then its gateway side.
     *
     * @param context       the member's settings.
     * @param capacity      requests the gateway side holds waiting or in flight; a power of two.
     * @param replyBatchEnd where the server flushes after a batch of results.
     */
    public static ClusterRuntime start(final ClusterNode.Context context, final int capacity,
        final Runnable replyBatchEnd)
    {
        final ClusterNode node = ClusterNode.launch(context);
        try
        {
            final ClusterEngine engine = gatewaySide(context, capacity, replyBatchEnd,
                2 * context.leaderHeartbeatTimeoutNs(), context.requestTimeoutNs());
            return new ClusterRuntime(node, engine);
        }
        catch (final RuntimeException ex)
        {
            CloseHelper.quietClose(node);
            throw ex;
        }
    }

    /**
     * @return a member's gateway side: a cluster client on the member's own media driver, reaching every member's
     * ingress and hearing back on an ephemeral UDP port of the member's host.
     */
    static ClusterEngine gatewaySide(
        final ClusterNode.Context context,
        final int capacity,
        final Runnable replyBatchEnd,
        final long resendAfterNs,
        final long requestTimeoutNs)
    {
        final ClusterMembers.Member me = context.members().member(context.memberId());
        return new ClusterEngine(new AeronCluster.Context()
            .aeronDirectoryName(context.aeronDir().toString())
            .ingressChannel("aeron:udp")
            .ingressEndpoints(context.members().ingressEndpoints())
            .egressChannel("aeron:udp?endpoint=" + me.host() + ":0")
            .messageTimeoutNs(TimeUnit.SECONDS.toNanos(5)),
            capacity, replyBatchEnd, resendAfterNs, requestTimeoutNs);
    }

    public ClusterNode node()
    {
        return node;
    }

    public LedgerEngine engine()
    {
        return engine;
    }

    /**
     * @return the member the cluster says leads, -1 while none is known.
     */
    public int leaderMemberId()
    {
        return engine.leaderMemberId();
    }

    public long journalSequence()
    {
        return node.service().journaledSequence();
    }

    public String journalFailure()
    {
        return node.service().failure();
    }

    public String lowOnSpace()
    {
        return null; // the member's journal is rebuilt from the log: a full disk stops the member (journalFailure)
    }

    public long journalSpaceAhead()
    {
        return node.service().journalSpaceAhead();
    }

    /**
     * Asks the cluster for a snapshot on every member; completes when the leader says it is taken.
     */
    public CompletableFuture<Snapshotter.Snapshot> snapshot()
    {
        final long start = System.nanoTime();
        return engine.requestSnapshot().thenApply(answer ->
        {
            if (!"OK".equals(answer))
            {
                throw new IllegalStateException("the cluster did not take the snapshot: " + answer);
            }
            return new Snapshotter.Snapshot(null, node.service().appliedSequence(), 0, 0, System.nanoTime() - start);
        });
    }

    /**
     * Periodic snapshots: the member that leads asks the cluster for one when {@link Snapshotter#isDue} says so,
     * counting from the last snapshot this member took (every member takes each one) or started from. The others
     * only watch, so one snapshot is taken, not one per member.
     */
    private void snapshotIfDue()
    {
        final LedgerClusteredService service = node.service();
        final long now = System.nanoTime();
        final long taken = service.lastSnapshotSequence();
        if (taken != seenSnapshotSequence)
        {
            seenSnapshotSequence = taken;
            seenSnapshotNanos = now;
            requested = false;
        }
        if (service.role() != Cluster.Role.LEADER || service.failure() != null ||
            (requested && now - requestedNanos < SNAPSHOT_WAIT_NS))
        {
            return;
        }
        final ClusterNode.Context context = node.context();
        if (Snapshotter.isDue(service.appliedSequence() - taken, now - seenSnapshotNanos,
            context.snapshotEveryOutcomes(), context.snapshotEveryMinutes()))
        {
            requested = true;
            requestedNanos = now;
            engine.requestSnapshot().whenComplete((answer, ex) ->
            {
                if (ex != null || !"OK".equals(answer))
                {
                    LOG.warn("the cluster did not take the periodic snapshot: {}", ex != null ? ex.toString() : answer);
                    requested = false; // asked again at the next check
                }
            });
        }
    }

    public long lastSnapshotPauseNanos()
    {
        return 0;
    }

    public String recoveredSummary()
    {
        return String.format(Locale.ROOT, "cluster member %d of %s; journal at outcome %,d", node.context().memberId(),
            node.context().members(), journalSequence());
    }

    public List<String> acceptedLoss()
    {
        return List.of();
    }

    public void close()
    {
        if (snapshotTimer != null)
        {
            snapshotTimer.shutdownNow();
        }
        CloseHelper.closeAll(engine, node);
    }
}
