package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import io.netty.channel.DefaultSelectStrategyFactory;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.SingleThreadEventLoop;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import io.quotaledger.core.Command;
import org.agrona.concurrent.EpochClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.channels.spi.SelectorProvider;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * {@link Threading#SHARED}: one Netty event loop (epoll where available) owns the ledger and, through a server that
 * puts its channels on {@link #eventLoop()}, every client connection. A request is decoded on that thread straight
 * into a preallocated slot of the current batch; at the end of the event loop's iteration (or at once when the batch
 * is full) the batch runs through the same handlers as the ring would run it, in the same order: the business logic
 * for every event, then each stage (the journal: one document and, in FSYNC mode, one msync per batch), then the
 * replies, whose batch end writes and flushes every connection it touched. A batch thus holds every request that was
 * readable in one iteration, from all connections, and nothing is handed from one thread to another.
 *
 * <pre>
 * event loop iteration:  epoll_wait --&gt; read + decode into the batch (every ready connection)
 *                        --&gt; tasks (hand-offs from other threads, the hold-expiry timer)
 *                        --&gt; business logic, journal (+msync), replies: write + flush
 * </pre>
 *
 * <p>Idle, the loop blocks in epoll_wait: no CPU. Busy, it never waits for a wake-up: the next iteration starts as
 * soon as the batch is answered. Hold expiry is a task on the same loop, every tick interval, that adds a TICK only
 * when a hold is due. Submissions from other threads (tools, tests, snapshots) are handed over as tasks: they
 * allocate, and at most {@link EngineConfig#ringSize()} of them wait at once.
 */
final class SharedEngine extends LedgerEngine
{
    private static final Logger LOG = LoggerFactory.getLogger(SharedEngine.class);
    private static final long CLOSE_TIMEOUT_SECONDS = 10;

    private final IoEventLoopGroup group;
    private final SingleThreadEventLoop loop;
    private final EpochClock clock;
    private final LedgerEvent[] batch;
    private final EventHandler<LedgerEvent>[] handlers;
    private final Semaphore handOffs;
    private final Runnable runBatch = this::runBatch;
    private final Runnable tickCheck = this::tickIfDue;
    private final ScheduledFuture<?> ticks;

    // the event loop's own
    private int batchCount;
    private int handOffsInBatch;
    private boolean batchScheduled;
    private boolean processing;
    private boolean tickInBatch;
    private long sequence;

    @SuppressWarnings({ "unchecked", "rawtypes" })
    SharedEngine(final EngineConfig config)
    {
        super(config);
        clock = config.clock();
        final int outcomeCapacity = config.ledger().maxOutcomesPerCommand();
        batch = new LedgerEvent[config.ringSize()];
        for (int i = 0; i < batch.length; i++)
        {
            batch[i] = new LedgerEvent(outcomeCapacity);
        }
        handlers = new EventHandler[config.stages().size() + 2];
        handlers[0] = businessLogic;
        for (int i = 0; i < config.stages().size(); i++)
        {
            handlers[i + 1] = config.stages().get(i);
        }
        handlers[handlers.length - 1] = new ReplyHandler(config.replyBatchEnd());
        handOffs = new Semaphore(config.ringSize());

        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("ledger-shared", true),
            ioHandler(config.busyWait()));
        loop = (SingleThreadEventLoop)group.next();
        ticks = loop.scheduleWithFixedDelay(tickCheck, config.tickIntervalMillis(), config.tickIntervalMillis(),
            TimeUnit.MILLISECONDS);
    }

    /**
     * Epoll where the native transport loads, NIO otherwise. Busy-waiting, the loop polls without blocking.
     */
    private static IoHandlerFactory ioHandler(final boolean busyWait)
    {
        final SelectStrategyFactory strategy = busyWait ?
            () -> (selectNow, hasTasks) -> selectNow.get() :
            DefaultSelectStrategyFactory.INSTANCE;
        return Epoll.isAvailable() ?
            EpollIoHandler.newFactory(0, strategy) :
            NioIoHandler.newFactory(SelectorProvider.provider(), strategy);
    }

    public <A> boolean tryPublish(
        final CommandTranslator<A> translator, final A source, final ResultListener listener, final long correlationId)
    {
        ensureRunning();
        if (loop.inEventLoop() && !processing)
        {
            add(translator, source, listener, correlationId, System.nanoTime());
            return true;
        }
        return handOff(translator, source, listener, correlationId, false);
    }

    public <A> void publish(
        final CommandTranslator<A> translator, final A source, final ResultListener listener, final long correlationId)
    {
        ensureRunning();
        if (loop.inEventLoop() && !processing)
        {
            add(translator, source, listener, correlationId, System.nanoTime());
        }
        else
        {
            handOff(translator, source, listener, correlationId, true);
        }
    }

    public void requestState(final StateListener listener)
    {
        ensureWorking();
        if (loop.inEventLoop() && !processing)
        {
            addStateRequest(listener);
            return;
        }
        try
        {
            loop.execute(() -> addStateRequest(listener));
        }
        catch (final RejectedExecutionException ex)
        {
            throw new IllegalStateException("engine is closed", ex);
        }
    }

    public Threading threading()
    {
        return Threading.SHARED;
    }

    public IoEventLoopGroup eventLoop()
    {
        return group;
    }

    public long ringFill()
    {
        return batchCount + (batch.length - handOffs.availablePermits()); // racy reads: a gauge
    }

    public int ringSize()
    {
        return batch.length;
    }

    /**
     * Stops the timer, runs every task and batch already waiting (each request taken is journaled and answered) and
     * stops the event loop, whose channels close with it.
     */
    public void close()
    {
        if (!running)
        {
            return;
        }
        running = false;
        ticks.cancel(false);
        final Future<?> terminated = group.shutdownGracefully(0, CLOSE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        if (!loop.inEventLoop() && !terminated.awaitUninterruptibly(CLOSE_TIMEOUT_SECONDS + 5, TimeUnit.SECONDS))
        {
            LOG.warn("the ledger's event loop did not stop within {} s", CLOSE_TIMEOUT_SECONDS + 5);
        }
    }

    protected boolean onLedgerThread()
    {
        return loop.inEventLoop();
    }

    /**
     * On the event loop: fills the next slot of the batch, running the batch first when it is full, and makes sure
     * the batch runs at the end of this iteration.
     */
    private <A> void add(
        final CommandTranslator<A> translator,
        final A source,
        final ResultListener listener,
        final long correlationId,
        final long arrivalNanos)
    {
        if (batchCount == batch.length)
        {
            runBatch();
        }
        batch[batchCount++].request(translator, source, listener, correlationId, arrivalNanos);
        scheduleBatch();
    }

    private void addStateRequest(final StateListener listener)
    {
        if (batchCount == batch.length)
        {
            runBatch();
        }
        batch[batchCount++].stateRequest(listener);
        scheduleBatch();
    }

    private void scheduleBatch()
    {
        if (!batchScheduled)
        {
            batchScheduled = true;
            loop.executeAfterEventLoopIteration(runBatch);
        }
    }

    /**
     * From another thread, or from a listener while a batch runs: a copy of the request goes to the event loop as a
     * task. Threads other than the loop's own take a permit first, so that no more than the batch size wait.
     */
    private <A> boolean handOff(
        final CommandTranslator<A> translator,
        final A source,
        final ResultListener listener,
        final long correlationId,
        final boolean wait)
    {
        final Command copy = new Command();
        translator.translateTo(copy, source);
        final long arrivalNanos = System.nanoTime();
        final boolean permit = !loop.inEventLoop(); // the loop's own thread must never wait for itself
        if (permit)
        {
            if (wait)
            {
                handOffs.acquireUninterruptibly();
            }
            else if (!handOffs.tryAcquire())
            {
                return false;
            }
        }
        try
        {
            loop.execute(() ->
            {
                add(COPY, copy, listener, correlationId, arrivalNanos);
                if (permit)
                {
                    handOffsInBatch++; // after add: a full batch it ran first did not hold this one
                }
            });
        }
        catch (final RejectedExecutionException ex)
        {
            if (permit)
            {
                handOffs.release();
            }
            throw new IllegalStateException("engine is closed", ex);
        }
        return true;
    }

    /**
     * Hold expiry: a TICK when a hold is due, at most one waiting at a time; a backlog is worked off one batch after
     * the other.
     */
    private void tickIfDue()
    {
        if (!tickInBatch && clock.time() >= businessLogic.nextExpiry())
        {
            add(TICK, null, null, 0, 0);
            tickInBatch = true; // after add: a full batch it ran first did not hold this tick
        }
    }

    /**
     * Runs the batch through every handler in turn, as the ring's consumers would see it: all events through the
     * business logic, then through each stage, then through the replies. A stage that throws is logged and counted
     * and goes on with the next event, as on the ring.
     */
    private void runBatch()
    {
        batchScheduled = false;
        final int count = batchCount;
        if (count == 0)
        {
            return;
        }
        processing = true;
        try
        {
            for (final EventHandler<LedgerEvent> handler : handlers)
            {
                try
                {
                    handler.onBatchStart(count, 0);
                }
                catch (final Throwable ex)
                {
                    stageFailures.handleEventException(ex, sequence, batch[0]);
                }
                for (int i = 0; i < count; i++)
                {
                    try
                    {
                        handler.onEvent(batch[i], sequence + i, i == count - 1);
                    }
                    catch (final Throwable ex)
                    {
                        stageFailures.handleEventException(ex, sequence + i, batch[i]);
                    }
                }
            }
        }
        finally
        {
            sequence += count;
            batchCount = 0;
            processing = false;
            if (handOffsInBatch > 0)
            {
                handOffs.release(handOffsInBatch);
                handOffsInBatch = 0;
            }
            if (tickInBatch)
            {
                tickInBatch = false;
                if (running && clock.time() >= businessLogic.nextExpiry())
                {
                    loop.execute(tickCheck);
                }
            }
        }
    }
}
