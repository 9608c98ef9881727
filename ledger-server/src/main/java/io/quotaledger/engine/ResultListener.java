package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.Result;

/**
 * Receives results on the engine's reply thread, after every stage (the journal, once there is one) has seen the
 * event. The command and result are the ring slot's own objects: copy what you need and return quickly, never block.
 */
@FunctionalInterface
public interface ResultListener
{
    /**
     * @param correlationId the caller's id given at submission: lets one listener serve many requests without an
     *                      object per request.
     * @param arrivalNanos  {@link System#nanoTime()} when the request was submitted, for its latency.
     */
    void onResult(long correlationId, long arrivalNanos, Command command, Result result);
}
