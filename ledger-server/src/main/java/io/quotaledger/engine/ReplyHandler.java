package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;

/**
 * The last stage: hands each result to its listener, once every earlier stage has seen the event.
 */
final class ReplyHandler implements EventHandler<LedgerEvent>
{
    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        final ResultListener listener = event.listener();
        if (listener != null)
        {
            event.replyTo(null, 0);
            listener.onResult(event.correlationId(), event.command(), event.result());
        }
    }
}
