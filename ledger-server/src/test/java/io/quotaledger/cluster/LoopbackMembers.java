package io.quotaledger.cluster;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Cluster members on loopback for tests: three members on free UDP ports.
 */
final class LoopbackMembers
{
    private LoopbackMembers()
    {
    }

    /**
     * @return three members on localhost, their ports free when this was called.
     */
    static ClusterMembers three()
    {
        final int base = freeUdpPorts(3 * ClusterMembers.PORTS_PER_MEMBER);
        return ClusterMembers.parse("localhost:" + base + ",localhost:" + (base + ClusterMembers.PORTS_PER_MEMBER) +
            ",localhost:" + (base + 2 * ClusterMembers.PORTS_PER_MEMBER));
    }

    /**
     * @return a base port with {@code count} free UDP ports from it, below the usual ephemeral range.
     */
    static int freeUdpPorts(final int count)
    {
        while (true)
        {
            final int base = 20_000 + ThreadLocalRandom.current().nextInt(12_000);
            boolean free = true;
            for (int p = base; p < base + count && free; p++)
            {
                try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress("localhost", p)))
                {
                    free = socket.getLocalPort() == p;
                }
                catch (final IOException ex)
                {
                    free = false;
                }
            }
            if (free)
            {
                return base;
            }
        }
    }
}
