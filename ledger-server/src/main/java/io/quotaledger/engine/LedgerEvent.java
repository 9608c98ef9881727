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
 *
 * <p>A slot starts with room for the outcomes of an ordinary command ({@link #USUAL_OUTCOMES}) and grows, once, to
 * the most a command can make ({@link io.quotaledger.core.LedgerConfig#maxOutcomesPerCommand()}) the first time a
 * TICK or a SETTLE that finds its hold due needs more: a ring of small slots, not one sized for the rare case.
 */
public final class LedgerEvent
{
    private final Command command = new Command();
    private final Result result = new Result();
    /** A charge and its POLICY_APPLIED, or a hold found due, its POLICY_APPLIED and the rejection. */
    static final int USUAL_OUTCOMES = 3;

    private final UnsafeBuffer outcomes;
    private final int maxOutcomes;
    private int outcomeCount;
    private long firstOutcomeSequence;
    private ResultListener listener;
    private long correlationId;
    private long arrivalNanos;
    private StateListener stateListener;

    public LedgerEvent(final int maxOutcomes)
    {
        this.maxOutcomes = maxOutcomes;
        this.outcomes = new UnsafeBuffer(new byte[Math.min(USUAL_OUTCOMES, maxOutcomes) * Outcome.LENGTH]);
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

    /**
     * Fills the slot with a request: its command from {@code translator}, where its result goes, when it arrived.
     */
    <A> void request(
        final CommandTranslator<A> translator,
        final A source,
        final ResultListener listener,
        final long correlationId,
        final long arrivalNanos)
    {
        translator.translateTo(command.reset(), source);
        replyTo(listener, correlationId, arrivalNanos);
        stateListener = null;
    }

    /**
     * Fills the slot with a state request (a snapshot's): no command, no result.
     */
    void stateRequest(final StateListener listener)
    {
        command.reset();
        replyTo(null, 0, 0);
        stateListener = listener;
    }

    void addOutcome(final Outcome outcome)
    {
        final int offset = outcomeOffset(outcomeCount);
        if (offset == outcomes.capacity())
        {
            if (outcomeCount == maxOutcomes)
            {
                throw new IllegalStateException("more outcomes than a ring slot holds: " + maxOutcomes);
            }
            final byte[] grown = new byte[maxOutcomes * Outcome.LENGTH]; // once per slot, for the rare case
            outcomes.getBytes(0, grown, 0, offset);
            outcomes.wrap(grown);
        }
        outcome.encode(outcomes, offset);
        outcomeCount++;
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
