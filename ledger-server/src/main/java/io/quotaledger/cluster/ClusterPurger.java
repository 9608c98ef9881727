package io.quotaledger.cluster;

import io.aeron.AeronCounters;
import io.aeron.archive.client.AeronArchive;
import io.aeron.archive.client.ArchiveException;
import io.aeron.cluster.ConsensusModule;
import io.aeron.cluster.NodeControl;
import io.aeron.cluster.RecordingLog;
import org.agrona.CloseHelper;
import org.agrona.concurrent.status.AtomicCounter;
import org.agrona.concurrent.status.CountersReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps a member's archive bounded: after each snapshot the member takes, on its own thread, it purges from its own
 * archive the log segments before the snapshot before the latest one (one snapshot interval of log stays, from which a
 * member that was down briefly catches up), and the recordings of snapshots older than the last two.
 *
 * <p>The consensus module owns the recording log and keeps it in memory: this class only reads the file (as Aeron's
 * {@code ClusterTool} does on a running member), after the member's snapshot counter moved, which the consensus
 * module increments once the snapshot's entries are written. The archive refuses a purge that would touch the live
 * segment, a position within a segment, or a segment a replay (a follower catching up) still reads: that purge is
 * retried later. Snapshot entries whose recordings are gone are invalidated by the consensus module itself, on its
 * own thread, when asked through its node control toggle ({@code VALIDATE_RECORDING_LOG}), so that neither a restart
 * nor {@code ClusterTool invalidate-latest-snapshot} can fall back to a purged snapshot.
 */
final class ClusterPurger implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(ClusterPurger.class);

    private final File clusterDir;
    private final int clusterId;
    private final AeronArchive.Context archiveContext;
    private final CountersReader counters;
    private final ScheduledExecutorService thread;
    private AeronArchive archive;
    private long purgedAtSnapshotCount = -1;
    private boolean validatePending;
    private String lastProblem;

    /**
     * @param clusterDir     the consensus module's directory, with the recording log.
     * @param clusterId      the consensus module's cluster id, which names its node control toggle.
     * @param archiveContext how to reach this member's archive (its local control channel).
     * @param counters       this member's media driver counters: the snapshot counter and the node control toggle.
     */
    ClusterPurger(
        final File clusterDir, final int clusterId, final AeronArchive.Context archiveContext,
        final CountersReader counters)
    {
        this.clusterDir = clusterDir;
        this.clusterId = clusterId;
        this.archiveContext = archiveContext;
        this.counters = counters;
        thread = Executors.newSingleThreadScheduledExecutor(runnable ->
        {
            final Thread purger = new Thread(runnable, "ledger-cluster-purge");
            purger.setDaemon(true);
            return purger;
        });
    }

    /**
     * Checks every {@code intervalMs} whether the member took a snapshot since the last purge (and purges once at
     * start, which finishes what a stopped run left).
     */
    void start(final long intervalMs)
    {
        thread.scheduleWithFixedDelay(this::poll, intervalMs, intervalMs, TimeUnit.MILLISECONDS);
    }

    private void poll()
    {
        try
        {
            if (validatePending)
            {
                validatePending = !askToValidateRecordingLog();
            }
            final long snapshotCount = snapshotCount();
            if (snapshotCount != purgedAtSnapshotCount)
            {
                purge();
                purgedAtSnapshotCount = snapshotCount;
                lastProblem = null;
            }
        }
        catch (final RuntimeException ex)
        {
            // retried at the next check: a replay in progress, an archive busy starting or in an election
            final String problem = ex.getMessage();
            if (!String.valueOf(problem).equals(lastProblem))
            {
                LOG.warn("purging the archive failed, retrying: {}", ex.toString());
                lastProblem = String.valueOf(problem);
            }
            if (!(ex instanceof ArchiveException))
            {
                CloseHelper.quietClose(archive);
                archive = null;
            }
        }
    }

    /**
     * One purge: reads the recording log, then asks the archive.
     */
    private void purge()
    {
        final List<RecordingLog.Entry> entries;
        final long logRecordingId;
        try (RecordingLog recordingLog = new RecordingLog(clusterDir, false))
        {
            entries = recordingLog.entries();
            logRecordingId = recordingLog.findLastTermRecordingId();
        }

        int latest = -1;
        int keepFrom = -1;
        for (int i = entries.size() - 1; i >= 0 && keepFrom < 0; i--)
        {
            final RecordingLog.Entry entry = entries.get(i);
            if (isSnapshot(entry) && entry.serviceId == ConsensusModule.Configuration.SERVICE_ID)
            {
                if (latest < 0)
                {
                    latest = i;
                }
                else
                {
                    keepFrom = i;
                }
            }
        }
        if (keepFrom < 0)
        {
            return;
        }
        final RecordingLog.Entry kept = entries.get(keepFrom);
        final AeronArchive archive = archive();

        // a set's service entries come before its consensus module entry, at the same log position (which the
        // snapshot action in the log makes unique to the set)
        final List<Long> oldSnapshots = new ArrayList<>();
        for (int i = 0; i < keepFrom; i++)
        {
            final RecordingLog.Entry entry = entries.get(i);
            final boolean keptSet = entry.leadershipTermId == kept.leadershipTermId &&
                entry.logPosition == kept.logPosition;
            if (isSnapshot(entry) && !keptSet)
            {
                oldSnapshots.add(entry.recordingId);
            }
        }
        int snapshotsPurged = 0;
        for (final long recordingId : oldSnapshots)
        {
            if (purgeRecording(archive, recordingId))
            {
                snapshotsPurged++;
            }
        }
        if (!oldSnapshots.isEmpty())
        {
            validatePending = !askToValidateRecordingLog();
        }

        if (logRecordingId < 0)
        {
            return;
        }
        final long[] extent = new long[3]; // start position, term length, segment length
        if (archive.listRecording(logRecordingId, (controlSessionId, correlationId, recordingId, startTimestamp,
            stopTimestamp, startPosition, stopPosition, initialTermId, segmentFileLength, termBufferLength, mtuLength,
            sessionId, streamId, strippedChannel, originalChannel, sourceIdentity) ->
        {
            extent[0] = startPosition;
            extent[1] = termBufferLength;
            extent[2] = segmentFileLength;
        }) == 0)
        {
            throw new IllegalStateException("the log recording " + logRecordingId + " is not in the archive");
        }
        final long start = extent[0];
        final int termLength = (int)extent[1];
        final int segmentLength = (int)extent[2];
        final long target = AeronArchive.segmentFileBasePosition(start, kept.logPosition, termLength, segmentLength);
        final long firstPurgeable = AeronArchive.segmentFileBasePosition(start, start, termLength, segmentLength) +
            segmentLength;
        long segmentsDeleted = 0;
        long newStart = start;
        if (target >= firstPurgeable)
        {
            segmentsDeleted = archive.purgeSegments(logRecordingId, target);
            newStart = target;
        }
        if (segmentsDeleted > 0 || snapshotsPurged > 0)
        {
            LOG.info("archive purged: log recording {} now starts at {} (kept from the snapshot at {}), {} log " +
                "segment(s) and {} old snapshot recording(s) deleted", logRecordingId, newStart, kept.logPosition,
                segmentsDeleted, snapshotsPurged);
        }
    }

    public void close()
    {
        thread.shutdownNow();
        try
        {
            if (!thread.awaitTermination(10, TimeUnit.SECONDS))
            {
                LOG.warn("the archive purge did not stop within 10 s");
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
        CloseHelper.quietClose(archive);
        archive = null;
    }

    private static boolean isSnapshot(final RecordingLog.Entry entry)
    {
        return entry.type == RecordingLog.ENTRY_TYPE_SNAPSHOT && entry.isValid;
    }

    /**
     * @return false when the archive no longer has the recording (purged before the recording log said so).
     */
    private static boolean purgeRecording(final AeronArchive archive, final long recordingId)
    {
        try
        {
            archive.purgeRecording(recordingId);
            return true;
        }
        catch (final ArchiveException ex)
        {
            if (ex.errorCode() == ArchiveException.UNKNOWN_RECORDING)
            {
                return false;
            }
            throw ex;
        }
    }

    /**
     * @return true when the consensus module took the request (it does while active, between elections).
     */
    private boolean askToValidateRecordingLog()
    {
        final AtomicCounter toggle = NodeControl.findControlToggle(counters, clusterId);
        return toggle != null && NodeControl.ToggleState.VALIDATE_RECORDING_LOG.toggle(toggle);
    }

    private long snapshotCount()
    {
        final long[] count = { 0 };
        counters.forEach((counterId, typeId, keyBuffer, label) ->
        {
            if (typeId == AeronCounters.CLUSTER_SNAPSHOT_COUNTER_TYPE_ID)
            {
                count[0] = counters.getCounterValue(counterId);
            }
        });
        return count[0];
    }

    private AeronArchive archive()
    {
        if (archive == null)
        {
            archive = AeronArchive.connect(archiveContext.clone());
        }
        return archive;
    }
}
