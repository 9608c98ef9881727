package io.quotaledger.bench.compare;

/**
 * How the load reaches one system, stated the same way for every system so that the report shows whether they were
 * driven alike.
 *
 * @param client      the client library, its version and how it is used.
 * @param connections connections the closed loop uses.
 * @param inFlight    requests in flight over all of them in the closed loop.
 * @param pipelined   whether a connection carries more than one request at a time.
 * @param openLoop    how the open loop hands its requests to the connections.
 */
record Driving(String client, int connections, int inFlight, boolean pipelined, String openLoop)
{
    /**
     * @return requests in flight per connection in the closed loop: "50", or "33-34" when they do not divide evenly.
     */
    String perConnection()
    {
        final int low = inFlight / connections;
        return inFlight % connections == 0 ? Integer.toString(low) : low + "-" + (low + 1);
    }
}
