package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.TimeoutException;
import com.lmax.disruptor.YieldingWaitStrategy;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.EventHandlerGroup;
import io.netty.channel.IoEventLoopGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link Threading#DEDICATED}: a multi-producer Disruptor ring whose one business-logic consumer owns the ledger,
 * followed by the configured stages (the journal) and the reply stage, each on a thread of its own. While the reply
 * stage answers one batch and the journal writes the next, the business logic decides a third. A ticker thread adds
 * a TICK when a hold is due.
 */
final class RingEngine extends LedgerEngine
{
    private static final Logger LOG = LoggerFactory.getLogger(RingEngine.class);

    private final Disruptor<LedgerEvent> disruptor;
    private final RingBuffer<LedgerEvent> ring;
    private final Ticker ticker;
    private final Set<Thread> threads = ConcurrentHashMap.newKeySet();

    RingEngine(final EngineConfig config)
    {
        super(config);
        final int outcomeCapacity = config.ledger().maxOutcomesPerCommand();
        disruptor = new Disruptor<>(
            () -> new LedgerEvent(outcomeCapacity),
            config.ringSize(),
            new NamedThreadFactory("ledger-", threads),
            config.producerType(),
            config.busyWait() ? new YieldingWaitStrategy() : config.waitStrategy());
        disruptor.setDefaultExceptionHandler(stageFailures);

        EventHandlerGroup<LedgerEvent> chain = disruptor.handleEventsWith(businessLogic);
        for (final EventHandler<LedgerEvent> stage : config.stages())
        {
            chain = chain.then(stage);
        }
        chain.then(new ReplyHandler(config.replyBatchEnd()));
        ring = disruptor.start();
        ticker = new Ticker(this, businessLogic, config.clock(), config.tickIntervalMillis());
        ticker.start();
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
        catch (final InsufficientCapacityException ex) // a preallocated singleton: no cost
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

    public void requestState(final StateListener listener)
    {
        ensureWorking();
        final long sequence = ring.next();
        try
        {
            ring.get(sequence).stateRequest(listener);
        }
        finally
        {
            ring.publish(sequence);
        }
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
        return ring.getBufferSize() - ring.remainingCapacity();
    }

    public int ringSize()
    {
        return ring.getBufferSize();
    }

    /**
     * Stops the ticker, lets the ring drain (up to a timeout) and stops the consumer threads.
     */
    public void close()
    {
        if (!running)
        {
            return;
        }
        ticker.close(); // first, so that it never publishes into a closing ring
        running = false;
        try
        {
            disruptor.shutdown(10, TimeUnit.SECONDS);
        }
        catch (final TimeoutException ex)
        {
            LOG.warn("ring did not drain within 10 s; halting");
            disruptor.halt();
        }
    }

    protected boolean onLedgerThread()
    {
        return threads.contains(Thread.currentThread());
    }

    /**
     * Publishes a TICK unless the ring is full (the next check retries).
     */
    boolean tryTick()
    {
        try
        {
            return running && tryPublish(TICK, null, null, 0);
        }
        catch (final IllegalStateException ex) // closed meanwhile
        {
            return false;
        }
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
            ring.get(sequence).request(translator, source, listener, correlationId, System.nanoTime());
        }
        finally
        {
            ring.publish(sequence); // a claimed slot must be published, or the ring stalls
        }
    }

    /**
     * Names the ring's threads and remembers them: a thread of the ring must never wait for a result.
     */
    private static final class NamedThreadFactory implements ThreadFactory
    {
        private final String prefix;
        private final Set<Thread> threads;
        private final AtomicInteger count = new AtomicInteger();

        NamedThreadFactory(final String prefix, final Set<Thread> threads)
        {
            this.prefix = prefix;
            this.threads = threads;
        }

        public Thread newThread(final Runnable runnable)
        {
            final Thread thread = new Thread(runnable, prefix + count.incrementAndGet());
            thread.setDaemon(true);
            threads.add(thread);
            return thread;
        }
    }
}
