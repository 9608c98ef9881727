package io.quotaledger.engine;

import io.netty.channel.IoEventLoopGroup;
import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The single-writer runtime: one thread at a time owns the {@link Ledger}; each request goes through the business
 * logic, then the configured stages (the journal), then the reply stage, in batches. How that maps onto threads is
 * the {@link Threading} mode of the {@link EngineConfig}: {@link #start} picks the implementation.
 *
 * <pre>
 * DEDICATED  callers (any thread) --&gt; ring --&gt; business logic --&gt; stages... --&gt; reply (ResultListener)
 *            ticker thread ---------^   (TICK when a hold is due, so holds expire without traffic)
 * SHARED     one event loop: sockets --&gt; batch --&gt; business logic, stages..., reply --&gt; sockets
 *            (other threads hand requests to it as tasks; a timer on it adds a TICK when a hold is due)
 * </pre>
 *
 * <p>Submitting allocates nothing on the hot path (from any thread in DEDICATED mode, from the event loop in SHARED
 * mode): the command is copied (or translated) into a preallocated slot and the result comes back through a
 * {@link ResultListener} with the caller's correlation id and the request's arrival time. When the engine is full,
 * {@code try*} methods return false (back-pressure to handle) and the others wait.
 *
 * <p>A failure inside the business logic is a bug: the engine stops applying anything (fail-stop, see
 * {@link #failure()}) rather than carrying on over half-changed state.
 */
public abstract class LedgerEngine implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(LedgerEngine.class);

    /** Hold expiry: a TICK moves the ledger's time so due holds expire. */
    static final CommandTranslator<Void> TICK = (slot, unused) -> slot.op(Op.TICK);
    static final CommandTranslator<Command> COPY = (slot, source) ->
    {
        final long timestamp = slot.timestamp();
        slot.copyFrom(source).timestamp(timestamp);
    };

    /** Null when the ledger lives elsewhere. */
    final BusinessLogicHandler businessLogic;
    final AtomicLong internalErrors = new AtomicLong();
    final AtomicLong stageErrors = new AtomicLong();
    final LoggingExceptionHandler stageFailures = new LoggingExceptionHandler(stageErrors);
    protected volatile boolean running = true;

    LedgerEngine(final EngineConfig config)
    {
        businessLogic = new BusinessLogicHandler(config, internalErrors);
    }

    /**
     * For an engine whose ledger lives elsewhere (a cluster's members): it forwards requests and relays results.
     */
    protected LedgerEngine()
    {
        businessLogic = null;
    }

    /**
     * Starts the engine in the configured {@link Threading} mode.
     */
    public static LedgerEngine start(final EngineConfig config)
    {
        config.validate();
        final LedgerEngine engine = config.threading() == Threading.SHARED ?
            new SharedEngine(config) : new RingEngine(config);
        LOG.info("threading {}: {} cores seen (by default shared below {} cores, dedicated from there)",
            config.threading().label(), Runtime.getRuntime().availableProcessors(), Threading.DEDICATED_FROM_CORES);
        return engine;
    }

    /**
     * Copies {@code command} into the engine, unless it is full.
     *
     * @return false when the engine is full: nothing was submitted.
     */
    public final boolean trySubmit(final Command command, final ResultListener listener, final long correlationId)
    {
        return tryPublish(COPY, command, listener, correlationId);
    }

    /**
     * Copies {@code command} into the engine, waiting for room.
     */
    public final void submit(final Command command, final ResultListener listener, final long correlationId)
    {
        publish(COPY, command, listener, correlationId);
    }

    /**
     * Writes a request straight into a slot, unless the engine is full.
     *
     * @return false when the engine is full: nothing was submitted.
     */
    public abstract <A> boolean tryPublish(
        CommandTranslator<A> translator, A source, ResultListener listener, long correlationId);

    /**
     * Writes a request straight into a slot, waiting for room.
     */
    public abstract <A> void publish(
        CommandTranslator<A> translator, A source, ResultListener listener, long correlationId);

    /**
     * Blocking convenience for tools and tests: submits a copy and waits for the result. Allocates; not for the hot
     * path, and never from the engine's own thread (it would wait for itself).
     *
     * @return a copy of the result.
     */
    public final Result execute(final Command command, final long timeout, final TimeUnit unit)
        throws java.util.concurrent.TimeoutException, InterruptedException
    {
        if (onLedgerThread())
        {
            throw new IllegalStateException("execute() waits for its result: not from the ledger's own thread");
        }
        final CompletableFuture<Result> future = new CompletableFuture<>();
        submit(command, (correlationId, arrivalNanos, c, result) -> future.complete(new Result().copyFrom(result)), 0);
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
     * command submitted before this call has been applied (a snapshot's moment).
     *
     * @throws IllegalStateException when the engine is closed or has stopped on a bug: its state is not to be kept.
     */
    public abstract void requestState(StateListener listener);

    /**
     * The ledger itself, for inspection once the engine is closed (its thread has stopped); never while running.
     */
    public final Ledger ledgerAfterClose()
    {
        if (running)
        {
            throw new IllegalStateException("the ledger belongs to the business-logic thread until close()");
        }
        if (businessLogic == null)
        {
            throw new IllegalStateException("this engine's ledger lives in the cluster's members");
        }
        return businessLogic.ledger();
    }

    /**
     * @return the {@link Threading} mode this engine runs in.
     */
    public abstract Threading threading();

    /**
     * @return in {@link Threading#SHARED} mode, the event loop (one thread) that runs the ledger: a server puts its
     * channels on it so that a request's whole path stays on that thread. Null in {@link Threading#DEDICATED} mode.
     */
    public abstract IoEventLoopGroup eventLoop();

    /**
     * @return commands that hit a bug in the ledger: the first one stops the engine, so 0 or 1.
     */
    public final long internalErrors()
    {
        return internalErrors.get();
    }

    /**
     * @return why the business logic stopped (a bug: an exception or a failed assertion, naming the command), or
     * null while it runs. Once stopped nothing more is applied and every result is UNAVAILABLE, until a restart
     * recovers from the journal, which holds nothing of the failed command. Any thread. An engine whose ledger lives
     * elsewhere says why it cannot reach it.
     */
    public String failure()
    {
        return businessLogic.failure();
    }

    /**
     * @return failures of the stages after the business logic (logged; the stage goes on with the next event).
     */
    public final long stageErrors()
    {
        return stageErrors.get();
    }

    /**
     * @return requests waiting in the engine (ring slots in use, or the batch and the hand-offs waiting for the
     * event loop), for the ring-fill metric.
     */
    public abstract long ringFill();

    /**
     * @return the engine's capacity: ring slots, or the largest batch.
     */
    public abstract int ringSize();

    /**
     * Stops taking requests, answers (journals first) every request already taken, up to a timeout, and stops the
     * engine's threads. Submitting afterwards throws.
     */
    public abstract void close();

    /**
     * @return whether the calling thread is the one that runs the business logic, where waiting for a result would
     * wait forever.
     */
    protected abstract boolean onLedgerThread();

    protected final void ensureRunning()
    {
        if (!running)
        {
            throw new IllegalStateException("engine is closed");
        }
    }

    final void ensureWorking()
    {
        ensureRunning();
        final String failure = businessLogic.failure();
        if (failure != null)
        {
            throw new IllegalStateException("the ledger stopped on a bug: " + failure);
        }
    }
}
