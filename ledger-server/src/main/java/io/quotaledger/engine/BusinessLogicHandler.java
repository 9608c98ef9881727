package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.ResultCode;
import org.agrona.concurrent.EpochClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * The single writer: owns the {@link Ledger}, stamps each command with the time, applies it and writes its outcomes
 * into the event for the stages after it. While the journal cannot take changes
 * ({@link EngineConfig#acceptingChanges()}), commands that would change the ledger are answered UNAVAILABLE without
 * being applied (queries are still answered) and ticks wait.
 *
 * <p>Fail-stop: an exception or a failed assertion inside the ledger is a bug, after which its state may be half
 * changed. The failing command's outcomes are dropped (the journal never sees them), it and every command after it
 * are answered UNAVAILABLE without being applied, no state is handed out for snapshots, and {@link #failure()} says
 * why, until a restart recovers the state from the journal.
 *
 * <p>This is the one host of the core: the Disruptor engines run it as their first handler, and the replicated
 * ledger ({@code io.quotaledger.cluster.LedgerClusteredService}) calls it for each command of the cluster's log, with
 * the log's timestamp as its clock.
 */
public final class BusinessLogicHandler implements EventHandler<LedgerEvent>, OutcomeSink
{
    private static final Logger LOG = LoggerFactory.getLogger(BusinessLogicHandler.class);
    private static final long REFUSED_TICK_RETRY_MILLIS = 1_000;

    private final Ledger ledger;
    private final EpochClock clock;
    private final AtomicLong internalErrors;
    private final BooleanSupplier acceptingChanges;
    private long lastTimestamp;
    private long nextOutcomeSequence;
    private LedgerEvent current;
    /** Earliest hold expiry, published for the ticker thread. */
    private volatile long nextExpiry = Long.MAX_VALUE;
    /** TICK commands processed, so that the ticker keeps at most one in the ring. */
    private volatile long ticksProcessed;
    /** Why the writer stopped; null while it works. */
    private volatile String failure;

    public BusinessLogicHandler(final EngineConfig config, final AtomicLong internalErrors)
    {
        this.ledger = config.ledgerFactory().apply(config.ledger(), this);
        this.clock = config.clock();
        this.internalErrors = internalErrors;
        this.acceptingChanges = config.acceptingChanges();
        this.lastTimestamp = config.lastTimestamp();
        this.nextOutcomeSequence = config.lastSequence() + 1;
        this.nextExpiry = ledger.nextExpiry();
    }

    public Ledger ledger()
    {
        return ledger;
    }

    /**
     * @return the time of the last command applied: the floor under the next one's.
     */
    public long lastTimestamp()
    {
        return lastTimestamp;
    }

    public long nextExpiry()
    {
        return nextExpiry;
    }

    long ticksProcessed()
    {
        return ticksProcessed;
    }

    /**
     * @return why the writer stopped on a bug, or null while it works. Any thread.
     */
    public String failure()
    {
        return failure;
    }

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        event.startOutcomes(nextOutcomeSequence);
        if (event.stateListener() != null)
        {
            stateRequest(event);
            return;
        }
        // time never goes backwards, whatever the wall clock does
        final long now = Math.max(lastTimestamp, clock.time());
        lastTimestamp = now;
        event.command().timestamp(now);
        final Op op = event.command().op();
        if (failure != null)
        {
            event.result().reset().op(op).code(ResultCode.UNAVAILABLE); // stopped: nothing is applied any more
            return;
        }
        if (op != null && op != Op.QUERY && !acceptingChanges.getAsBoolean())
        {
            refuse(event, op, now);
            return;
        }
        current = event;
        try
        {
            ledger.process(event.command(), event.result());
        }
        catch (final RuntimeException | Error ex)
        {
            stop(event, ex);
            return;
        }
        finally
        {
            current = null;
        }
        if (op == Op.TICK)
        {
            nextExpiry = ledger.nextExpiry();
            ticksProcessed++; // single writer
        }
        else if (endOfBatch)
        {
            nextExpiry = ledger.nextExpiry();
        }
    }

    /**
     * A bug: the command's outcomes so far are dropped (its sequence numbers go to the next command that would have
     * any, and none comes), and the writer stops.
     */
    private void stop(final LedgerEvent event, final Throwable ex)
    {
        internalErrors.incrementAndGet();
        nextOutcomeSequence = event.firstOutcomeSequence();
        event.startOutcomes(nextOutcomeSequence);
        event.result().reset().op(event.command().op()).code(ResultCode.UNAVAILABLE);
        nextExpiry = Long.MAX_VALUE;
        failure = "the ledger failed on " + event.command() + ": " + ex;
        LOG.error("STOPPED: the ledger failed on {}. Nothing more is applied and every request is answered " +
            "UNAVAILABLE; the journal holds nothing of this command. Restart to recover from the journal.",
            event.command(), ex);
    }

    /**
     * Not applied, so not journaled: the client retries with the same request id once the journal takes changes.
     */
    private void refuse(final LedgerEvent event, final Op op, final long now)
    {
        if (op == Op.TICK)
        {
            nextExpiry = now + REFUSED_TICK_RETRY_MILLIS; // the ticker asks again later, not in a tight loop
            ticksProcessed++;
        }
        else
        {
            event.result().reset().op(op).code(ResultCode.UNAVAILABLE);
        }
    }

    public void onOutcome(final Outcome outcome)
    {
        current.addOutcome(outcome);
        nextOutcomeSequence++;
    }

    private void stateRequest(final LedgerEvent event)
    {
        final StateListener listener = event.stateListener();
        event.stateListener(null);
        if (failure != null)
        {
            LOG.warn("state request refused: the ledger stopped on a bug, its state is not to be kept");
            return;
        }
        try
        {
            listener.onState(ledger, nextOutcomeSequence - 1, lastTimestamp);
        }
        catch (final RuntimeException ex)
        {
            internalErrors.incrementAndGet();
            LOG.error("state request failed", ex);
        }
    }
}
