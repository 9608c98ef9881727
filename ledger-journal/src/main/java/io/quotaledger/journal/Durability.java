package io.quotaledger.journal;

/**
 * When a journaled change counts as safe, which is when the ledger may answer.
 */
public enum Durability
{
    /** Written to the memory-mapped journal: survives the process being killed (kill -9), not a power loss. */
    PROCESS,
    /** Also msync'ed to disk once per ring batch, before any result of the batch is released: survives power loss. */
    FSYNC
}
