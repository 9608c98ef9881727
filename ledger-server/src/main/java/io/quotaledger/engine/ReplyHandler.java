package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;

/**
 * The last stage: hands each result to its listener, once every earlier stage has seen the event.
 */
final class ReplyHandler implements EventHandler<LedgerEvent>
{
    private final Runnable batchEnd;

    /**
     * @param batchEnd called after the last result of each batch: where a network server flushes what it wrote.
     */
    ReplyHandler(final Runnable batchEnd)
    {
        this.batchEnd = batchEnd;
    }

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        final ResultListener listener = event.listener();
        if (listener != null)
        {
            event.replyTo(null, event.correlationId(), event.arrivalNanos()); // the slot must not keep it reachable
            listener.onResult(event.correlationId(), event.arrivalNanos(), event.command(), event.result());
        }
        if (endOfBatch)
        {
            batchEnd.run();
        }
    }
}
