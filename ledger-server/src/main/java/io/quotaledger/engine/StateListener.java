package io.quotaledger.engine;

import io.quotaledger.core.Ledger;

/**
 * Is handed the ledger on the business-logic thread, between two commands: the one moment its state may be read
 * from outside. Must be quick (copy, don't write to disk) and must not modify the ledger.
 */
@FunctionalInterface
public interface StateListener
{
    /**
     * @param lastSequence  sequence of the last outcome the state includes.
     * @param lastTimestamp time of the last command applied.
     */
    void onState(Ledger ledger, long lastSequence, long lastTimestamp);
}
