package io.quotaledger.server;

import io.quotaledger.engine.Threading;

import java.nio.file.Path;

/**
 * The ledger {@link ConnectionChurnTest} runs in a JVM of its own with a small heap: a whole {@link TestServer} with
 * the default network settings. Prints {@code READY <port> <adminKey> <gatewayKey>}, serves until its standard input
 * closes, then prints {@code STATS <connections accepted> <evicted> <still open>} and exits.
 *
 * <pre>
 * args: dataDir threading
 * </pre>
 */
public final class ChurnChild
{
    private ChurnChild()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        try (TestServer ledger = new TestServer(Threading.valueOf(args[1]), Path.of(args[0])))
        {
            System.out.println("READY " + ledger.port() + " " + ledger.adminKey + " " + ledger.gatewayKey);
            System.out.flush();
            while (System.in.read() >= 0)
            {
                // serve until the parent closes our input
            }
            System.out.println("STATS " + ledger.metrics.connectionsOpened() + " " +
                ledger.metrics.connectionsClosed(ServerMetrics.Close.EVICTED) + " " + ledger.server.connections());
            System.out.flush();
        }
    }
}
