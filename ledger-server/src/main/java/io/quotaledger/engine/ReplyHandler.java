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
            final long correlationId = event.correlationId();
            event.replyTo(null, 0); // the slot must not keep the listener reachable
            listener.onResult(correlationId, event.command(), event.result());
        }
        if (endOfBatch)
        {
            batchEnd.run();
        }
    }
}
