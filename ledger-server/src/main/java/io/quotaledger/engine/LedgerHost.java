package io.quotaledger.engine;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What {@code ledger serve} runs the ledger on, whichever it is: this process alone ({@link LedgerRuntime}: the
 * Disruptor engine and its Chronicle journal) or one member of a replicated cluster
 * ({@code io.quotaledger.cluster.ClusterRuntime}). The server, metrics, health and projector see only this.
 */
public interface LedgerHost extends AutoCloseable
{
    /**
     * @return the engine the server submits requests to.
     */
    LedgerEngine engine();

    /**
     * @return the sequence of the last outcome in this process's journal (what the projector may read). Any thread.
     */
    long journalSequence();

    /**
     * @return why the journal failed (no change is acknowledged), or null while it works. Any thread.
     */
    String journalFailure();

    /**
     * @return why the journal is short of disk space (changes refused meanwhile), or null. Any thread.
     */
    String lowOnSpace();

    /**
     * @return disk space allocated ahead of the journal's end, in bytes. Any thread.
     */
    long journalSpaceAhead();

    /**
     * Takes a snapshot (an admin's TakeSnapshot).
     */
    CompletableFuture<Snapshotter.Snapshot> snapshot();

    /**
     * @return the business thread's pause in the last snapshot, in nanoseconds (0 when not known here).
     */
    long lastSnapshotPauseNanos();

    /**
     * @return what was recovered at start, for the start-up lines: accounts and the last outcome's sequence.
     */
    String recoveredSummary();

    /**
     * @return journal losses an operator accepted for this start (empty normally).
     */
    List<String> acceptedLoss();

    /**
     * Stops taking requests, answers those taken, and stops.
     */
    void close();
}
