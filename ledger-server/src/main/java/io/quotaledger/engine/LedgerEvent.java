package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.Result;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One preallocated slot of the engine: the command, its result, the outcomes it produced (encoded, fixed layout),
 * where the result goes, the caller's correlation id and when the request arrived. Reused for every message that
 * passes through the slot; nothing here is allocated per message. Everything a result needs travels in the slot, so
 * no other structure has to stay in step with the order of the slots.
 */
public final class LedgerEvent
{
    private final Command command = new Command();
    private final Result result = new Result();
    private final UnsafeBuffer outcomes;
    private final int outcomeCapacity;
    private int outcomeCount;
    private long firstOutcomeSequence;
    private ResultListener listener;
    private long correlationId;
    private long arrivalNanos;
    private StateListener stateListener;

    LedgerEvent(final int outcomeCapacity)
    {
        this.outcomeCapacity = outcomeCapacity;
        this.outcomes = new UnsafeBuffer(new byte[outcomeCapacity * Outcome.LENGTH]);
    }

    public Command command()
    {
        return command;
    }

    public Result result()
    {
        return result;
    }

    /**
     * @return the outcomes of this command, {@link #outcomeCount()} of them, {@link Outcome#LENGTH} bytes each.
     */
    public UnsafeBuffer outcomes()
    {
        return outcomes;
    }

    public int outcomeCount()
    {
        return outcomeCount;
    }

    /**
     * @return the sequence number of the first outcome of this event; outcomes are numbered 1, 2, 3... across the
     * life of the ledger, with no gaps, and the journal stores them under these numbers.
     */
    public long firstOutcomeSequence()
    {
        return firstOutcomeSequence;
    }

    /**
     * @return the listener of a state request (a snapshot), or null for an ordinary command.
     */
    StateListener stateListener()
    {
        return stateListener;
    }

    /**
     * @return the offset of outcome {@code i} in {@link #outcomes()}.
     */
    public static int outcomeOffset(final int i)
    {
        return i * Outcome.LENGTH;
    }

    public ResultListener listener()
    {
        return listener;
    }

    public long correlationId()
    {
        return correlationId;
    }

    /**
     * @return {@link System#nanoTime()} when the request was handed to the engine.
     */
    public long arrivalNanos()
    {
        return arrivalNanos;
    }

    void addOutcome(final Outcome outcome)
    {
        if (outcomeCount == outcomeCapacity)
        {
            throw new IllegalStateException("more outcomes than a ring slot holds: " + outcomeCapacity);
        }
        outcome.encode(outcomes, outcomeOffset(outcomeCount++));
    }

    void startOutcomes(final long firstSequence)
    {
        outcomeCount = 0;
        firstOutcomeSequence = firstSequence;
    }

    void replyTo(final ResultListener listener, final long correlationId, final long arrivalNanos)
    {
        this.listener = listener;
        this.correlationId = correlationId;
        this.arrivalNanos = arrivalNanos;
    }

    void stateListener(final StateListener stateListener)
    {
        this.stateListener = stateListener;
    }
}
