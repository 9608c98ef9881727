package io.quotaledger.server;

import io.netty.channel.Channel;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Finds a connection from the engine correlation id its results carry: a slot plus a generation, so that a result
 * for a connection that closed is dropped rather than sent to the connection that took its slot.
 *
 * <p>Also keeps the connections that have not said Hello yet, oldest first, and at most {@code maxUnauthenticated}
 * of them: when a new connection finds that many (or every slot taken), the oldest of them is closed to make room.
 * Sockets that never authenticate can then hold no more than their share, for no longer than it takes others to
 * arrive, and an authenticated gateway is refused only when authenticated connections fill every slot.
 */
final class ConnectionRegistry
{
    private final AtomicReferenceArray<Connection> slots;
    private final int[] free;
    private int freeCount;
    private long generation;
    private final int maxInFlight;
    private final int maxUnauthenticated;
    private final ServerMetrics metrics;
    private Connection oldestUnauthenticated;
    private Connection newestUnauthenticated;
    private int unauthenticated;

    ConnectionRegistry(
        final int maxConnections, final int maxUnauthenticated, final int maxInFlight, final ServerMetrics metrics)
    {
        this.slots = new AtomicReferenceArray<>(maxConnections);
        this.free = new int[maxConnections];
        for (int i = 0; i < maxConnections; i++)
        {
            free[i] = maxConnections - 1 - i;
        }
        this.freeCount = maxConnections;
        this.maxInFlight = maxInFlight;
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
        final Connection connection = new Connection(slot, ++generation & 0x7FFF_FFFFL, channel, maxInFlight);
        slots.set(slot, connection);
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
        if (slots.get(connection.slot) != connection)
        {
            return false;
        }
        unlink(connection);
        return true;
    }

    synchronized void close(final Connection connection)
    {
        if (slots.get(connection.slot) == connection)
        {
            unlink(connection);
            slots.set(connection.slot, null);
            free[freeCount++] = connection.slot;
        }
    }

    /**
     * @return the connection the engine correlation id names, or null when it has closed.
     */
    Connection find(final long engineCorrelationId)
    {
        final int slot = (int)engineCorrelationId;
        if (slot < 0 || slot >= slots.length())
        {
            return null;
        }
        final Connection connection = slots.get(slot);
        return connection != null && connection.generation == engineCorrelationId >>> 32 ? connection : null;
    }

    synchronized int size()
    {
        return slots.length() - freeCount;
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
