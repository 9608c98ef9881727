package io.quotaledger.cluster;

import com.lmax.disruptor.EventPoller;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.YieldingWaitStrategy;
import io.aeron.Publication;
import io.aeron.cluster.client.AeronCluster;
import io.aeron.cluster.client.EgressListener;
import io.aeron.cluster.codecs.AdminRequestType;
import io.aeron.cluster.codecs.AdminResponseCode;
import io.aeron.cluster.codecs.EventCode;
import io.aeron.logbuffer.Header;
import io.netty.channel.IoEventLoopGroup;
import io.quotaledger.core.Command;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.engine.CommandTranslator;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.ResultListener;
import io.quotaledger.engine.StateListener;
import io.quotaledger.engine.Threading;
import org.agrona.CloseHelper;
import org.agrona.DirectBuffer;
import org.agrona.ExpandableArrayBuffer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A member's gateway side: the same {@link LedgerEngine} the TCP server drives in single-node mode, but the ledger
 * lives in the cluster. Requests are handed (from any thread, without allocating) to a ring; one thread sends them
 * through the cluster's ingress to whichever member leads, and relays each result when the cluster has committed and
 * applied the request. So any member takes gateways' connections, and a result always means "committed".
 *
 * <p>Around a change of leader the cluster may lose requests in flight and their replies. Every request stays in a
 * table of unanswered ones until its reply comes: on a new leader, a new session, or after {@code resendAfterNs}
 * without a reply, it is sent again, with the same request id, which the replicated dedupe window answers with the
 * first result. After {@code requestTimeoutNs} it is answered UNAVAILABLE (the gateway may retry it, again with the
 * same request id).
 */
public final class ClusterEngine extends LedgerEngine
{
    private static final Logger LOG = LoggerFactory.getLogger(ClusterEngine.class);
    private static final int NONE = -1;
    private static final long SNAPSHOT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(120);

    /**
     * A ring slot: what a producer hands to the sending thread.
     */
    private static final class Slot
    {
        final Command command = new Command();
        ResultListener listener;
        long correlationId;
        long arrivalNanos;
    }

    private final AeronCluster.Context clusterContext;
    private final RingBuffer<Slot> ring;
    private final EventPoller<Slot> poller;
    private final Runnable replyBatchEnd;
    private final long resendAfterNs;
    private final long requestTimeoutNs;
    private final Thread thread;
    private final IdleStrategy idle = new BackoffIdleStrategy(100, 10, 1_000, 200_000);

    // the table of requests sent and not answered: the sending thread's alone
    private final Command[] commands;
    private final ResultListener[] listeners;
    private final long[] correlationIds;
    private final long[] arrivals;
    private final long[] sentAt;
    private final int[] generations;
    private final boolean[] unsent;
    private final int[] free;
    private int freeCount;
    private int unsentCount;
    private final Result result = new Result();
    private final ExpandableArrayBuffer request = new ExpandableArrayBuffer(ClusterMessages.MAX_REQUEST_LENGTH);

    private AeronCluster cluster;
    private AeronCluster.AsyncConnect connecting;
    private final long scanIntervalNs;
    private long lastScanNanos;
    private long lastKeepAliveNs;
    /**
     * When the cluster last said anything on the egress (a reply, an event, a new leader), or when a request began to
     * wait for it, whichever came last.
     */
    private long lastEgressNanos;
    private long connectedNanos;
    private volatile int leaderMemberId = NONE;
    private volatile String unreachable = "not connected to the cluster yet";
    /** A snapshot asked for and not yet answered: requests meanwhile share it. */
    private final AtomicReference<CompletableFuture<String>> snapshotRequest = new AtomicReference<>();
    private boolean snapshotSent;
    private long snapshotSentNanos;
    private final EventPoller.Handler<Slot> take = this::take;
    private long takeNanos;
    private int taken;
    private volatile long inFlight;

    /**
     * @param clusterContext  how to reach the cluster (ingress endpoints, egress channel, the node's media driver).
     * @param capacity        most requests waiting or in flight; a power of two.
     * @param replyBatchEnd   called after each batch of results: where the server flushes.
     * @param resendAfterNs   an unanswered request is sent again after this.
     * @param requestTimeoutNs an unanswered request is answered UNAVAILABLE after this.
     */
    public ClusterEngine(
        final AeronCluster.Context clusterContext,
        final int capacity,
        final Runnable replyBatchEnd,
        final long resendAfterNs,
        final long requestTimeoutNs)
    {
        this.clusterContext = clusterContext.egressListener(new Egress());
        this.replyBatchEnd = replyBatchEnd;
        this.resendAfterNs = resendAfterNs;
        this.requestTimeoutNs = requestTimeoutNs;
        this.scanIntervalNs = Math.min(resendAfterNs / 4, TimeUnit.MILLISECONDS.toNanos(100));
        ring = RingBuffer.createMultiProducer(Slot::new, capacity, new YieldingWaitStrategy());
        poller = ring.newPoller();
        ring.addGatingSequences(poller.getSequence());
        commands = new Command[capacity];
        listeners = new ResultListener[capacity];
        correlationIds = new long[capacity];
        arrivals = new long[capacity];
        sentAt = new long[capacity];
        generations = new int[capacity];
        unsent = new boolean[capacity];
        free = new int[capacity];
        for (int i = 0; i < capacity; i++)
        {
            commands[i] = new Command();
            free[freeCount++] = capacity - 1 - i;
        }
        thread = new Thread(this::run, "ledger-cluster-client");
        thread.setDaemon(true);
        thread.start();
    }

    public <A> boolean tryPublish(
        final CommandTranslator<A> translator, final A source, final ResultListener listener, final long correlationId)
    {
        ensureRunning();
        final long sequence;
        try
        {
            sequence = ring.tryNext();
        }
        catch (final InsufficientCapacityException ex)
        {
            return false;
        }
        fill(sequence, translator, source, listener, correlationId);
        return true;
    }

    public <A> void publish(
        final CommandTranslator<A> translator, final A source, final ResultListener listener, final long correlationId)
    {
        ensureRunning();
        fill(ring.next(), translator, source, listener, correlationId);
    }

    /**
     * Snapshots belong to the cluster: see {@link #requestSnapshot()}.
     */
    public void requestState(final StateListener listener)
    {
        throw new UnsupportedOperationException("a cluster member's state is snapshotted by the cluster");
    }

    /**
     * Asks the cluster to take a snapshot on every member.
     *
     * @return completes with the cluster's answer ("OK" or why not).
     */
    public CompletableFuture<String> requestSnapshot()
    {
        final CompletableFuture<String> request = new CompletableFuture<>();
        final CompletableFuture<String> asked = snapshotRequest.compareAndExchange(null, request);
        return asked != null ? asked : request; // picked up by the sending thread
    }

    public Threading threading()
    {
        return Threading.DEDICATED;
    }

    public IoEventLoopGroup eventLoop()
    {
        return null;
    }

    public long ringFill()
    {
        return ring.getBufferSize() - ring.remainingCapacity() + inFlight;
    }

    public int ringSize()
    {
        return ring.getBufferSize();
    }

    /**
     * @return the member the cluster says leads, or -1 while none is known.
     */
    public int leaderMemberId()
    {
        return leaderMemberId;
    }

    /**
     * @return why the cluster cannot be reached now, or null while it can.
     */
    public String failure()
    {
        return unreachable;
    }

    public void close()
    {
        if (!running)
        {
            return;
        }
        running = false;
        try
        {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    protected boolean onLedgerThread()
    {
        return Thread.currentThread() == thread;
    }

    private <A> void fill(
        final long sequence,
        final CommandTranslator<A> translator,
        final A source,
        final ResultListener listener,
        final long correlationId)
    {
        try
        {
            final Slot slot = ring.get(sequence);
            translator.translateTo(slot.command.reset(), source);
            slot.listener = listener;
            slot.correlationId = correlationId;
            slot.arrivalNanos = System.nanoTime();
        }
        finally
        {
            ring.publish(sequence);
        }
    }

    private void run()
    {
        try
        {
            while (running || (inFlight > 0 && cluster != null && !cluster.isClosed()))
            {
                idle.idle(doWork(System.nanoTime()));
            }
        }
        catch (final Throwable ex)
        {
            LOG.error("the cluster client failed", ex);
            unreachable = "the cluster client failed: " + ex;
        }
        finally
        {
            CloseHelper.quietClose(cluster);
            CloseHelper.quietClose(connecting);
        }
    }

    private int doWork(final long now)
    {
        int work = 0;
        final boolean scan = now - lastScanNanos > scanIntervalNs;
        if (scan)
        {
            lastScanNanos = now;
        }
        if (!connected(now))
        {
            // queued until the cluster is reached, or expired
            return (scan ? expire(now) : 0) + takeFromRing(now);
        }
        final int egress = cluster.pollEgress();
        if (egress > 0)
        {
            lastEgressNanos = now;
        }
        work += egress;
        work += takeFromRing(now);
        if (unsentCount > 0)
        {
            work += sendUnsent(now);
        }
        if (scan)
        {
            work += resendOverdue(now);
            if (inFlight > 0 && now - lastEgressNanos > resendAfterNs && now - connectedNanos > resendAfterNs)
            {
                // requests wait and the cluster says nothing: our session may be with a leader that no longer is
                // one (a new leader's event can be missed); a new session finds the current leader
                LOG.warn("no word from the cluster for {} ms with {} requests waiting: opening a new session",
                    TimeUnit.NANOSECONDS.toMillis(now - lastEgressNanos), inFlight);
                CloseHelper.quietClose(cluster);
                return work + 1;
            }
        }
        if (now - lastKeepAliveNs > TimeUnit.SECONDS.toNanos(1))
        {
            lastKeepAliveNs = now;
            cluster.sendKeepAlive();
        }
        final CompletableFuture<String> snapshot = snapshotRequest.get();
        if (snapshot != null && !snapshotSent)
        {
            snapshotSent = cluster.sendAdminRequestToTakeASnapshot(now); // retried next time when back-pressured
            snapshotSentNanos = now;
        }
        else if (snapshot != null && now - snapshotSentNanos > SNAPSHOT_TIMEOUT_NS)
        {
            answerSnapshot("no answer from the cluster within " +
                TimeUnit.NANOSECONDS.toSeconds(SNAPSHOT_TIMEOUT_NS) + " s");
        }
        if (work > 0)
        {
            replyBatchEnd.run();
        }
        return work;
    }

    private boolean connected(final long now)
    {
        if (cluster != null && !cluster.isClosed())
        {
            return true;
        }
        if (cluster != null)
        {
            LOG.warn("the cluster closed this member's session; connecting again");
            cluster = null;
            leaderMemberId = NONE;
            unreachable = "the cluster closed the session; reconnecting";
        }
        if (!running)
        {
            return false;
        }
        try
        {
            if (connecting == null)
            {
                connecting = AeronCluster.asyncConnect(clusterContext.clone());
            }
            final AeronCluster connected = connecting.poll();
            if (connected == null)
            {
                return false;
            }
            connecting = null;
            cluster = connected;
            connectedNanos = System.nanoTime();
            lastEgressNanos = connectedNanos;
            leaderMemberId = connected.leaderMemberId();
            unreachable = null;
            LOG.info("connected to the cluster: session {}, leader member {}", connected.clusterSessionId(),
                connected.leaderMemberId());
            markAllUnsent();
            return true;
        }
        catch (final RuntimeException ex)
        {
            // no leader yet, or timed out: keep trying with a fresh attempt
            CloseHelper.quietClose(connecting);
            connecting = null;
            unreachable = "cannot reach the cluster: " + ex.getMessage();
            LOG.debug("cluster connect attempt failed: {}", ex.toString());
            return false;
        }
    }

    /**
     * Moves requests from the ring into the table, while it has room.
     */
    private int takeFromRing(final long now)
    {
        if (freeCount == 0)
        {
            return 0;
        }
        takeNanos = now;
        taken = 0;
        try
        {
            poller.poll(take);
        }
        catch (final Exception ex)
        {
            throw new IllegalStateException(ex);
        }
        return taken;
    }

    private boolean take(final Slot slot, final long sequence, final boolean endOfBatch)
    {
        final int index = free[--freeCount];
        commands[index].copyFrom(slot.command);
        listeners[index] = slot.listener;
        correlationIds[index] = slot.correlationId;
        arrivals[index] = slot.arrivalNanos;
        slot.listener = null;
        generations[index]++;
        if (inFlight++ == 0)
        {
            lastEgressNanos = takeNanos; // the cluster's silence counts from when something waits for it
        }
        taken++;
        if (cluster == null || !send(index, takeNanos))
        {
            unsent[index] = true;
            unsentCount++;
        }
        return freeCount > 0;
    }

    private boolean send(final int index, final long now)
    {
        final long id = ((long)generations[index] << 32) | index;
        final int length = ClusterMessages.encodeRequest(request, id, commands[index]);
        final long position = cluster.offer(request, 0, length);
        if (position > 0)
        {
            sentAt[index] = now;
            return true;
        }
        if (position == Publication.CLOSED || position == Publication.MAX_POSITION_EXCEEDED)
        {
            CloseHelper.quietClose(cluster); // reconnects, then resends everything
        }
        return false;
    }

    private int sendUnsent(final long now)
    {
        int sent = 0;
        for (int i = 0; i < commands.length && unsentCount > 0; i++)
        {
            if (unsent[i])
            {
                if (!send(i, now))
                {
                    break; // back-pressure: the rest next time
                }
                unsent[i] = false;
                unsentCount--;
                sent++;
            }
        }
        return sent;
    }

    private int resendOverdue(final long now)
    {
        int work = expire(now);
        for (int i = 0; i < commands.length; i++)
        {
            if (listeners[i] != null && !unsent[i] && now - sentAt[i] > resendAfterNs)
            {
                unsent[i] = true;
                unsentCount++;
                work++;
            }
        }
        return work;
    }

    private int expire(final long now)
    {
        int expired = 0;
        for (int i = 0; i < commands.length; i++)
        {
            if (listeners[i] != null && now - arrivals[i] > requestTimeoutNs)
            {
                result.reset().op(commands[i].op()).code(ResultCode.UNAVAILABLE);
                answer(i, result);
                expired++;
            }
        }
        if (expired > 0)
        {
            LOG.warn("{} requests unanswered by the cluster within {} ms: answered UNAVAILABLE", expired,
                TimeUnit.NANOSECONDS.toMillis(requestTimeoutNs));
            replyBatchEnd.run();
        }
        return expired;
    }

    private void markAllUnsent()
    {
        for (int i = 0; i < commands.length; i++)
        {
            if (listeners[i] != null && !unsent[i])
            {
                unsent[i] = true;
                unsentCount++;
            }
        }
    }

    private void answer(final int index, final Result result)
    {
        final ResultListener listener = listeners[index];
        listeners[index] = null;
        if (unsent[index])
        {
            unsent[index] = false;
            unsentCount--;
        }
        free[freeCount++] = index;
        inFlight--;
        listener.onResult(correlationIds[index], arrivals[index], commands[index], result);
    }

    private void answerSnapshot(final String answer)
    {
        snapshotSent = false;
        snapshotRequest.getAndSet(null).complete(answer);
    }

    private final class Egress implements EgressListener
    {
        public void onMessage(
            final long clusterSessionId,
            final long timestamp,
            final DirectBuffer buffer,
            final int offset,
            final int length,
            final Header header)
        {
            if (length < Long.BYTES)
            {
                return;
            }
            final long id = ClusterMessages.correlationId(buffer, offset);
            final int index = (int)id;
            if (index < 0 || index >= commands.length || generations[index] != (int)(id >>> 32) ||
                listeners[index] == null)
            {
                return; // the answer to a resent request, already answered
            }
            if (!ClusterMessages.decodeReply(buffer, offset, length, result))
            {
                result.reset().op(commands[index].op()).code(ResultCode.UNAVAILABLE);
                LOG.error("undecodable reply from the cluster ({} bytes)", length);
            }
            answer(index, result);
        }

        public void onSessionEvent(
            final long correlationId,
            final long clusterSessionId,
            final long leadershipTermId,
            final int leaderMemberId,
            final EventCode code,
            final String detail)
        {
            if (code == EventCode.ERROR || code == EventCode.CLOSED)
            {
                LOG.warn("cluster session event {}: {}", code, detail);
            }
        }

        public void onNewLeader(
            final long clusterSessionId,
            final long leadershipTermId,
            final int leaderMemberId,
            final String ingressEndpoints)
        {
            LOG.info("new cluster leader: member {} (term {}); resending {} unanswered requests", leaderMemberId,
                leadershipTermId, inFlight);
            ClusterEngine.this.leaderMemberId = leaderMemberId;
            markAllUnsent(); // the old leader may have lost them
        }

        public void onAdminResponse(
            final long clusterSessionId,
            final long correlationId,
            final AdminRequestType requestType,
            final AdminResponseCode responseCode,
            final String message,
            final DirectBuffer payload,
            final int payloadOffset,
            final int payloadLength)
        {
            if (requestType == AdminRequestType.SNAPSHOT && snapshotSent)
            {
                answerSnapshot(responseCode == AdminResponseCode.OK ? "OK" : responseCode + ": " + message);
            }
        }
    }
}
