package io.quotaledger.bench.compare;

import java.util.List;
import java.util.Optional;

/**
 * A system that charges quota, driven the way a gateway drives it. Started once, given the users of one scenario at
 * a time, loaded in a closed or an open loop, then read back for the correctness check.
 */
interface Contender extends AutoCloseable
{
    /** Shown in the report, e.g. "ledger (fsync)". */
    String name();

    /** How it is run: durability settings, versions, what a request does; lines for the report. */
    List<String> settings();

    /** How the load reaches it when {@code concurrency} requests are in flight: client, connections, pipelining. */
    Driving driving(int concurrency);

    void start() throws Exception;

    /**
     * @return why this system does not run {@code scenario} (the report says so), or empty when it does. Default:
     * it runs every scenario.
     */
    default Optional<String> unsupported(final Scenario scenario)
    {
        return Optional.empty();
    }

    /**
     * Creates the scenario's users with their balances and free quotas, and its virtual keys with their budgets and
     * rate limits, no other state.
     */
    void populate(Scenario scenario) throws Exception;

    /**
     * Opens what the next phase needs (connections), before its clock starts. Default: nothing.
     */
    default void prepare(final int concurrency) throws Exception
    {
    }

    /** Keeps {@code phase.concurrency} requests in flight until the phase ends. */
    Measurement closedLoop(Phase phase) throws Exception;

    /** Sends requests at {@code phase.rate} per second, at most {@code phase.concurrency} at a time being served. */
    Measurement openLoop(Phase phase) throws Exception;

    /** What it holds now for every user of the scenario. */
    State read(Scenario scenario) throws Exception;

    @Override
    void close() throws Exception;
}
