package io.quotaledger.cluster;

import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.cluster.codecs.CloseReason;
import io.aeron.cluster.service.ClientSession;
import io.aeron.cluster.service.Cluster;
import io.aeron.cluster.service.ClusteredService;
import io.aeron.logbuffer.Header;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.ResultCode;
import io.quotaledger.engine.BusinessLogicHandler;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEvent;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.JournalReader;
import net.openhft.chronicle.queue.RollCycle;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.SystemEpochClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * The ledger as a replicated state machine: every node applies the cluster's committed log, in the same order, to
 * its own copy of the core, through the same {@link BusinessLogicHandler} as the single-node runtime. Nothing here
 * may depend on the node: time is the log's timestamp, hold expiry runs on a cluster timer, and the outcome sequence,
 * time floor and timer deadline travel in the snapshot ({@link ClusterSnapshot}).
 *
 * <p>Each node writes its own Chronicle outcome journal (for the projector, {@code ledger journal}, {@code replay},
 * {@code verify}): outcomes the journal already holds, met again while the log is replayed after a restart, are not
 * written twice. The journal is flushed when the service is idle and before each snapshot; an outcome lost from an
 * unflushed journal is rebuilt from the log, which is the durable record here.
 *
 * <p>A bug in the core, or a journal that cannot be written, stops the node ({@code onFatal}) rather than letting
 * it go on with state or a journal that differ from the others'.
 */
public final class LedgerClusteredService implements ClusteredService
{
    private static final Logger LOG = LoggerFactory.getLogger(LedgerClusteredService.class);
    private static final long EXPIRY_TIMER = 1;

    private final LedgerConfig config;
    private final DataDir dir;
    private final RollCycle rollCycle;
    private final Consumer<String> onFatal;
    private final BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory;
    private final LedgerEvent event;
    private final UnsafeBuffer reply = new UnsafeBuffer(new byte[ClusterMessages.REPLY_LENGTH]);
    private byte[] snapshotBuffer = new byte[0];
    private final AtomicLong internalErrors = new AtomicLong();

    private Cluster cluster;
    private BusinessLogicHandler businessLogic;
    private JournalAppender journal;
    private long journaled;
    private boolean unflushed;
    private long logTime;
    private long expiryDeadline = Long.MAX_VALUE;
    private volatile Cluster.Role role = Cluster.Role.FOLLOWER;
    private volatile long appliedSequence;
    private volatile boolean fatal;
    private volatile String failure;
    private volatile long snapshotSequence = -1;
    private volatile long lastSnapshotSequence;
    private volatile long snapshotChecksum;
    private volatile long snapshotCrc;

    /**
     * @param config    the ledger's settings: every node must have the same (a snapshot says so when not).
     * @param dir       this node's data directory: its outcome journal.
     * @param rollCycle how often the journal starts a new file.
     * @param onFatal   stops the node, given why: called once, on the service's thread.
     * @param ledgerFactory makes the member's ledger ({@code Ledger::new}; tests wrap its outcome sink).
     */
    public LedgerClusteredService(
        final LedgerConfig config,
        final DataDir dir,
        final RollCycle rollCycle,
        final Consumer<String> onFatal,
        final BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory)
    {
        this.ledgerFactory = ledgerFactory;
        this.config = config;
        this.dir = dir;
        this.rollCycle = rollCycle;
        this.onFatal = onFatal;
        this.event = new LedgerEvent(config.maxOutcomesPerCommand());
    }

    public void onStart(final Cluster cluster, final Image snapshotImage)
    {
        this.cluster = cluster;
        try
        {
            start(snapshotImage);
        }
        catch (final RuntimeException ex)
        {
            // e.g. a snapshot taken with other settings, a damaged journal: the member must not serve
            stop("cannot start: " + ex.getMessage());
            throw ex;
        }
    }

    private void start(final Image snapshotImage)
    {
        final ClusterSnapshot.State state = snapshotImage == null ? ClusterSnapshot.State.NONE :
            ClusterSnapshot.load(snapshotImage, cluster.idleStrategy(), config);
        expiryDeadline = state.expiryDeadline();
        journal = openJournal(state.lastSequence());
        journaled = journal.lastSequence();
        final EngineConfig engineConfig = new EngineConfig()
            .ledger(config)
            .clock(() -> logTime)
            .acceptingChanges(() -> true) // the same answer on every node: a local disk never decides
            .ledgerFactory((ledgerConfig, sink) -> state.restore(ledgerFactory.apply(ledgerConfig, sink)))
            .lastSequence(state.lastSequence())
            .lastTimestamp(state.lastTimestamp());
        businessLogic = new BusinessLogicHandler(engineConfig, internalErrors);
        appliedSequence = state.lastSequence();
        lastSnapshotSequence = state.lastSequence();
        LOG.info("ledger service: {} accounts at outcome {} ({}), journal at outcome {}",
            businessLogic.ledger().accountCount(), state.lastSequence(),
            snapshotImage == null ? "no snapshot" : "from the cluster's snapshot", journaled);
    }

    public void onSessionOpen(final ClientSession session, final long timestamp)
    {
        LOG.debug("session {} opened", session.id());
    }

    public void onSessionClose(final ClientSession session, final long timestamp, final CloseReason closeReason)
    {
        LOG.debug("session {} closed: {}", session.id(), closeReason);
    }

    public void onSessionMessage(
        final ClientSession session,
        final long timestamp,
        final DirectBuffer buffer,
        final int offset,
        final int length,
        final Header header)
    {
        if (fatal)
        {
            return;
        }
        final long correlationId = length >= Long.BYTES ? ClusterMessages.correlationId(buffer, offset) : 0;
        if (!ClusterMessages.decodeRequest(buffer, offset, length, event.command().reset()))
        {
            // every node refuses it alike; the sender gets a result rather than silence
            event.result().reset().code(ResultCode.INVALID_ARGUMENT);
            reply(session, correlationId);
            return;
        }
        apply(timestamp);
        if (session != null && !fatal) // a member that failed says nothing more: the request is resent to the next leader
        {
            reply(session, correlationId);
        }
    }

    public void onTimerEvent(final long correlationId, final long timestamp)
    {
        if (fatal || correlationId != EXPIRY_TIMER)
        {
            return;
        }
        expiryDeadline = Long.MAX_VALUE; // fired: no timer is scheduled any more
        event.command().reset().op(Op.TICK);
        apply(timestamp);
    }

    public void onTakeSnapshot(final ExclusivePublication snapshotPublication)
    {
        flushJournal();
        final Ledger ledger = businessLogic.ledger();
        final int length = ledger.snapshotLength();
        if (snapshotBuffer.length < length)
        {
            snapshotBuffer = new byte[length + length / 8]; // kept: room to grow before the next snapshot reallocates
        }
        final long checksum = ledger.checksum();
        final long crc = ClusterSnapshot.write(snapshotPublication, cluster.idleStrategy(), ledger, checksum,
            new UnsafeBuffer(snapshotBuffer, 0, length), appliedSequence, businessLogic.lastTimestamp(),
            expiryDeadline);
        snapshotChecksum = checksum;
        snapshotCrc = crc;
        // last: who sees a sequence change sees the checksum and CRC that go with it
        snapshotSequence = appliedSequence;
        lastSnapshotSequence = appliedSequence;
        LOG.info("snapshot at outcome {} ({} accounts, state checksum {}, snapshot crc {})", appliedSequence,
            ledger.accountCount(), Long.toHexString(checksum), Long.toHexString(crc));
    }

    public void onRoleChange(final Cluster.Role newRole)
    {
        LOG.info("this member is now {}", newRole);
        role = newRole;
    }

    public void onTerminate(final Cluster cluster)
    {
        flushJournal();
        journal.close();
    }

    public int doBackgroundWork(final long nowNs)
    {
        if (unflushed)
        {
            flushJournal();
            return 1;
        }
        return 0;
    }

    /**
     * @return this node's role as the service last heard it. Any thread.
     */
    public Cluster.Role role()
    {
        return role;
    }

    /**
     * @return the sequence of the last outcome this node applied. Any thread.
     */
    public long appliedSequence()
    {
        return appliedSequence;
    }

    /**
     * @return the outcome sequence of this member's last snapshot since it started, -1 when none. Any thread.
     */
    public long snapshotSequence()
    {
        return snapshotSequence;
    }

    /**
     * @return the outcome sequence of the last snapshot this member took or started from (0 for none). Any thread.
     */
    public long lastSnapshotSequence()
    {
        return lastSnapshotSequence;
    }

    /**
     * @return the ledger's checksum in this member's last snapshot: members agree when taken at the same sequence.
     */
    public long snapshotChecksum()
    {
        return snapshotChecksum;
    }

    /**
     * @return a CRC-32C of this member's last snapshot's bytes: members agree when their snapshots are identical.
     */
    public long snapshotCrc()
    {
        return snapshotCrc;
    }

    /**
     * @return outcomes in this node's journal (flushed or not). Any thread.
     */
    public long journaledSequence()
    {
        return journal == null ? 0 : journal.lastSequence();
    }

    /**
     * @return why this member stopped applying the log (a bug, a journal it cannot write), or null. Any thread.
     */
    public String failure()
    {
        return failure;
    }

    /**
     * @return disk space allocated ahead of the journal's end, in bytes. Any thread.
     */
    public long journalSpaceAhead()
    {
        return journal == null ? 0 : journal.spaceAhead();
    }

    /**
     * Applies the command in the event at the log's time, journals its outcomes and keeps the expiry timer on the
     * earliest due hold.
     */
    private void apply(final long timestamp)
    {
        logTime = timestamp;
        businessLogic.onEvent(event, 0, true);
        final String failure = businessLogic.failure();
        if (failure != null)
        {
            stop(failure);
            return;
        }
        journal();
        appliedSequence = event.firstOutcomeSequence() + event.outcomeCount() - 1;
        final long next = businessLogic.nextExpiry();
        if (next != expiryDeadline)
        {
            scheduleExpiry(next);
        }
    }

    private void journal()
    {
        final int count = event.outcomeCount();
        if (count == 0)
        {
            return;
        }
        final long first = event.firstOutcomeSequence();
        final long last = first + count - 1;
        if (last <= journaled)
        {
            return; // the journal has them from before the restart: the log is being replayed
        }
        final int skip = (int)Math.max(0, journaled - first + 1);
        try
        {
            journal.append(first + skip, event.outcomes(), LedgerEvent.outcomeOffset(skip), count - skip);
        }
        catch (final RuntimeException | Error ex)
        {
            stop("the outcome journal failed: " + ex);
            return;
        }
        journaled = last;
        unflushed = true;
    }

    private void flushJournal()
    {
        if (!unflushed || fatal)
        {
            return;
        }
        try
        {
            journal.flush();
            unflushed = false;
        }
        catch (final RuntimeException | Error ex)
        {
            stop("the outcome journal failed: " + ex);
        }
    }

    private void scheduleExpiry(final long deadline)
    {
        if (deadline == Long.MAX_VALUE)
        {
            cluster.cancelTimer(EXPIRY_TIMER);
        }
        else
        {
            cluster.idleStrategy().reset();
            while (!cluster.scheduleTimer(EXPIRY_TIMER, deadline))
            {
                cluster.idleStrategy().idle();
            }
        }
        expiryDeadline = deadline;
    }

    private void reply(final ClientSession session, final long correlationId)
    {
        ClusterMessages.encodeReply(reply, correlationId, event.result());
        cluster.idleStrategy().reset();
        for (int attempt = 0; attempt < 1_000; attempt++)
        {
            final long result = session.offer(reply, 0, ClusterMessages.REPLY_LENGTH);
            if (result > 0 || result == io.aeron.Publication.NOT_CONNECTED || result == io.aeron.Publication.CLOSED)
            {
                return; // sent, or nobody to send to: a client that went away resends elsewhere
            }
            cluster.idleStrategy().idle();
        }
        // the gateway side resends what it does not hear back about; the dedupe window answers it then
        LOG.warn("reply to session {} dropped after back-pressure", session.id());
    }

    private JournalAppender openJournal(final long snapshotSequence)
    {
        try
        {
            dir.create();
            long last = 0;
            if (dir.hasJournal())
            {
                try (JournalReader reader = JournalReader.open(dir))
                {
                    final JournalReader.End end = reader.end();
                    if (end.badDocuments() != 0)
                    {
                        throw new IllegalStateException("this node's outcome journal in " + dir + " is damaged: " +
                            end.problem() + ". Move the journal folder aside: the node rebuilds it from the log");
                    }
                    last = end.lastSequence();
                }
            }
            if (last != 0 && last < snapshotSequence)
            {
                throw new IllegalStateException("this node's outcome journal ends at outcome " + last + " but the " +
                    "cluster's snapshot is at " + snapshotSequence + ": the outcomes between are in no log any more. " +
                    "Move the journal folder aside to start a new one at the snapshot");
            }
            return JournalAppender.open(dir, Durability.PROCESS, rollCycle, Math.max(last, snapshotSequence),
                JournalAppender.DEFAULT_RESERVE, SystemEpochClock.INSTANCE);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    private void stop(final String why)
    {
        if (fatal)
        {
            return;
        }
        fatal = true;
        failure = why;
        LOG.error("STOPPING cluster member: {}. The other members go on; restart this one to rebuild it from the " +
            "cluster's snapshot and log.", why);
        onFatal.accept(why);
    }
}
