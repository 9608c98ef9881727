package io.quotaledger.core;

/**
 * Receives every outcome as the ledger produces it, on the ledger's thread. The {@link Outcome} is reused for the
 * next one: copy it ({@link Outcome#encode}) before returning.
 */
@FunctionalInterface
public interface OutcomeSink
{
    OutcomeSink NONE = outcome -> {};

    void onOutcome(Outcome outcome);
}
