package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.core.Outcome;
import org.agrona.ExpandableArrayBuffer;

import java.util.function.Consumer;

/**
 * An in-memory stage that keeps every outcome in order: the stand-in for the journal in tests and the demo. Grows
 * without bound, so it is not for production. Read it only once the engine is closed.
 */
public final class OutcomeRecorder implements EventHandler<LedgerEvent>
{
    private final ExpandableArrayBuffer buffer = new ExpandableArrayBuffer(1 << 16);
    private int count;

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        final int length = event.outcomeCount() * Outcome.LENGTH;
        buffer.putBytes(count * Outcome.LENGTH, event.outcomes(), 0, length);
        count += event.outcomeCount();
    }

    public int count()
    {
        return count;
    }

    /**
     * Decodes each recorded outcome, oldest first, into one reused {@link Outcome}.
     */
    public void forEach(final Consumer<Outcome> consumer)
    {
        final Outcome outcome = new Outcome();
        for (int i = 0; i < count; i++)
        {
            if (!outcome.decode(buffer, i * Outcome.LENGTH))
            {
                throw new IllegalStateException("corrupt outcome at " + i);
            }
            consumer.accept(outcome);
        }
    }
}
