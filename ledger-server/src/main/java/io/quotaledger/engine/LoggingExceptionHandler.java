package io.quotaledger.engine;

import com.lmax.disruptor.ExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Replaces the Disruptor's default handler, which would stop the consumer: a failing stage is logged and counted and
 * goes on with the next event.
 */
final class LoggingExceptionHandler implements ExceptionHandler<LedgerEvent>
{
    private static final Logger LOG = LoggerFactory.getLogger(LoggingExceptionHandler.class);

    private final AtomicLong errors;

    LoggingExceptionHandler(final AtomicLong errors)
    {
        this.errors = errors;
    }

    public void handleEventException(final Throwable ex, final long sequence, final LedgerEvent event)
    {
        errors.incrementAndGet();
        LOG.error("stage failed at sequence {} on {}", sequence, event.command(), ex);
    }

    public void handleOnStartException(final Throwable ex)
    {
        errors.incrementAndGet();
        LOG.error("stage failed to start", ex);
    }

    public void handleOnShutdownException(final Throwable ex)
    {
        errors.incrementAndGet();
        LOG.error("stage failed to shut down", ex);
    }
}
