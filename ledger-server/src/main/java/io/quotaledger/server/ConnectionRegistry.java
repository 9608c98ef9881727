package io.quotaledger.server;

import io.netty.channel.Channel;

/**
 * The connections in their slots (at most {@code maxConnections}), and the connections that have not said Hello yet,
 * oldest first, at most {@code maxUnauthenticated} of them: when a new connection finds that many (or every slot
 * taken), the oldest of them is closed to make room. Sockets that never authenticate can then hold no more than their
 * share, for no longer than it takes others to arrive, and an authenticated gateway is refused only when
 * authenticated connections fill every slot.
 */
final class ConnectionRegistry
{
    private final Connection[] slots; // guarded by this
    private final int[] free;
    private int freeCount;
    private final int maxInFlight;
    private final ResultPublisher publisher;
    private final int maxUnauthenticated;
    private final ServerMetrics metrics;
    private Connection oldestUnauthenticated;
    private Connection newestUnauthenticated;
    private int unauthenticated;

    ConnectionRegistry(
        final int maxConnections,
        final int maxUnauthenticated,
        final int maxInFlight,
        final ResultPublisher publisher,
        final ServerMetrics metrics)
    {
        this.slots = new Connection[maxConnections];
        this.free = new int[maxConnections];
        for (int i = 0; i < maxConnections; i++)
        {
            free[i] = maxConnections - 1 - i;
        }
        this.freeCount = maxConnections;
        this.maxInFlight = maxInFlight;
        this.publisher = publisher;
        this.maxUnauthenticated = Math.min(maxUnauthenticated, maxConnections);
        this.metrics = metrics;
    }

    /**
     * Registers a new, unauthenticated connection, closing the oldest unauthenticated one when there is no room.
     *
     * @return the new connection, or null when authenticated connections hold every slot.
     */
    synchronized Connection open(final Channel channel)
    {
        if (freeCount == 0 || unauthenticated == maxUnauthenticated)
        {
            final Connection oldest = oldestUnauthenticated;
            if (oldest == null)
            {
                return null;
            }
            close(oldest);
            oldest.channel.close(); // on its own event loop; its channelInactive finds it gone
            metrics.connectionClosed(ServerMetrics.Close.EVICTED);
        }
        final int slot = free[--freeCount];
        final Connection connection = new Connection(slot, channel, maxInFlight, publisher);
        slots[slot] = connection;
        connection.awaitingHello = true;
        connection.older = newestUnauthenticated;
        if (newestUnauthenticated == null)
        {
            oldestUnauthenticated = connection;
        }
        else
        {
            newestUnauthenticated.newer = connection;
        }
        newestUnauthenticated = connection;
        unauthenticated++;
        return connection;
    }

    /**
     * A good Hello: the connection leaves the unauthenticated ones and can no longer be closed to make room.
     *
     * @return false when the connection was closed to make room meanwhile.
     */
    synchronized boolean authenticated(final Connection connection)
    {
        if (slots[connection.slot] != connection)
        {
            return false;
        }
        unlink(connection);
        return true;
    }

    synchronized void close(final Connection connection)
    {
        connection.closed = true; // results still in the engine for it are dropped
        if (slots[connection.slot] == connection)
        {
            unlink(connection);
            slots[connection.slot] = null;
            free[freeCount++] = connection.slot;
        }
    }

    synchronized int size()
    {
        return slots.length - freeCount;
    }

    synchronized int unauthenticated()
    {
        return unauthenticated;
    }

    private void unlink(final Connection connection)
    {
        if (!connection.awaitingHello)
        {
            return;
        }
        connection.awaitingHello = false;
        if (connection.older == null)
        {
            oldestUnauthenticated = connection.newer;
        }
        else
        {
            connection.older.newer = connection.newer;
        }
        if (connection.newer == null)
        {
            newestUnauthenticated = connection.older;
        }
        else
        {
            connection.newer.older = connection.older;
        }
        connection.older = null;
        connection.newer = null;
        unauthenticated--;
    }
}
