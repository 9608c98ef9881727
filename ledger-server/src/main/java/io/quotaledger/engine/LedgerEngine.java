package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.TimeoutException;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.EventHandlerGroup;
import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The single-writer runtime: a multi-producer Disruptor ring whose one business-logic consumer owns the
 * {@link Ledger}, followed by the configured stages (the journal) and the reply stage.
 *
 * <pre>
 * callers (any thread) --&gt; ring --&gt; business logic --&gt; stages... --&gt; reply (ResultListener)
 * ticker thread ---------^   (TICK when a hold is due, so holds expire without traffic)
 * </pre>
 *
 * <p>Submitting from any thread is safe and allocates nothing: the command is copied (or translated) into a
 * preallocated ring slot and the result comes back through a {@link ResultListener} with the caller's correlation id.
 * When the ring is full, {@code try*} methods return false (back-pressure to handle) and the others wait.
 */
public final class LedgerEngine implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(LedgerEngine.class);

    private static final CommandTranslator<Command> COPY = (slot, source) ->
    {
        final long timestamp = slot.timestamp();
        slot.copyFrom(source).timestamp(timestamp);
    };

    private final Disruptor<LedgerEvent> disruptor;
    private final RingBuffer<LedgerEvent> ring;
    private final BusinessLogicHandler businessLogic;
    private final Ticker ticker;
    private final AtomicLong internalErrors = new AtomicLong();
    private final AtomicLong stageErrors = new AtomicLong();
    private volatile boolean running = true;

    private LedgerEngine(final EngineConfig config)
    {
        config.validate();
        final int outcomeCapacity = LedgerEvent.outcomeCapacity(config.ledger());
        disruptor = new Disruptor<>(
            () -> new LedgerEvent(outcomeCapacity),
            config.ringSize(),
            new NamedThreadFactory("ledger-"),
            config.producerType(),
            config.waitStrategy());
        disruptor.setDefaultExceptionHandler(new LoggingExceptionHandler(stageErrors));

        businessLogic = new BusinessLogicHandler(config, internalErrors);
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

    /**
     * Starts the ring, its consumer threads and the ticker.
     */
    public static LedgerEngine start(final EngineConfig config)
    {
        return new LedgerEngine(config);
    }

    /**
     * Copies {@code command} into the ring, unless it is full.
     *
     * @return false when the ring is full: nothing was submitted.
     */
    public boolean trySubmit(final Command command, final ResultListener listener, final long correlationId)
    {
        return tryPublish(COPY, command, listener, correlationId);
    }

    /**
     * Copies {@code command} into the ring, waiting for a free slot.
     */
    public void submit(final Command command, final ResultListener listener, final long correlationId)
    {
        publish(COPY, command, listener, correlationId);
    }

    /**
     * Writes a request straight into a ring slot, unless the ring is full.
     *
     * @return false when the ring is full: nothing was submitted.
     */
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

    /**
     * Writes a request straight into a ring slot, waiting for a free one.
     */
    public <A> void publish(
        final CommandTranslator<A> translator, final A source, final ResultListener listener, final long correlationId)
    {
        ensureRunning();
        fill(ring.next(), translator, source, listener, correlationId);
    }

    /**
     * Blocking convenience for tools and tests: submits a copy and waits for the result. Allocates; not for the hot
     * path.
     *
     * @return a copy of the result.
     */
    public Result execute(final Command command, final long timeout, final TimeUnit unit)
        throws java.util.concurrent.TimeoutException, InterruptedException
    {
        final CompletableFuture<Result> future = new CompletableFuture<>();
        submit(command, (correlationId, c, result) -> future.complete(new Result().copyFrom(result)), 0);
        try
        {
            return future.get(timeout, unit);
        }
        catch (final ExecutionException ex)
        {
            throw new IllegalStateException(ex.getCause());
        }
    }

    /**
     * Hands the ledger's state to {@code listener} on the business-logic thread, between two commands, once every
     * command submitted before this call has been applied (a snapshot's moment). Waits for a ring slot.
     */
    public void requestState(final StateListener listener)
    {
        ensureRunning();
        final long sequence = ring.next();
        try
        {
            final LedgerEvent event = ring.get(sequence);
            event.command().reset();
            event.replyTo(null, 0);
            event.stateListener(listener);
        }
        finally
        {
            ring.publish(sequence);
        }
    }

    /**
     * The ledger itself, for inspection once the engine is closed (its thread has stopped); never while running.
     */
    public Ledger ledgerAfterClose()
    {
        if (running)
        {
            throw new IllegalStateException("the ledger belongs to the business-logic thread until close()");
        }
        return businessLogic.ledger();
    }

    /**
     * @return commands that failed with INTERNAL_ERROR (bugs in the ledger).
     */
    public long internalErrors()
    {
        return internalErrors.get();
    }

    /**
     * @return failures of the stages after the business logic.
     */
    public long stageErrors()
    {
        return stageErrors.get();
    }

    /**
     * @return ring slots currently in use, for the ring-fill metric.
     */
    public long ringFill()
    {
        return ring.getBufferSize() - ring.remainingCapacity();
    }

    public int ringSize()
    {
        return ring.getBufferSize();
    }

    /**
     * Stops the ticker, lets the ring drain (up to a timeout) and stops the consumer threads. Submitting afterwards
     * throws.
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

    /**
     * Publishes a TICK unless the ring is full (the next check retries).
     */
    boolean tryTick()
    {
        try
        {
            return running && tryPublish((slot, unused) -> slot.op(Op.TICK), null, null, 0);
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
            final LedgerEvent event = ring.get(sequence);
            translator.translateTo(event.command().reset(), source);
            event.replyTo(listener, correlationId);
            event.stateListener(null);
        }
        finally
        {
            ring.publish(sequence); // a claimed slot must be published, or the ring stalls
        }
    }

    private void ensureRunning()
    {
        if (!running)
        {
            throw new IllegalStateException("engine is closed");
        }
    }

    private static final class NamedThreadFactory implements ThreadFactory
    {
        private final String prefix;
        private final AtomicInteger count = new AtomicInteger();

        NamedThreadFactory(final String prefix)
        {
            this.prefix = prefix;
        }

        public Thread newThread(final Runnable runnable)
        {
            final Thread thread = new Thread(runnable, prefix + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        }
    }
}
