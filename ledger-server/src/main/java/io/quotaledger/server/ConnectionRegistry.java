package io.quotaledger.server;

import io.netty.channel.Channel;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Finds a connection from the engine correlation id its results carry: a slot plus a generation, so that a result
 * for a connection that closed is dropped rather than sent to the connection that took its slot.
 */
final class ConnectionRegistry
{
    private final AtomicReferenceArray<Connection> slots;
    private final int[] free;
    private int freeCount;
    private long generation;
    private final int maxInFlight;

    ConnectionRegistry(final int maxConnections, final int maxInFlight)
    {
        this.slots = new AtomicReferenceArray<>(maxConnections);
        this.free = new int[maxConnections];
        for (int i = 0; i < maxConnections; i++)
        {
            free[i] = maxConnections - 1 - i;
        }
        this.freeCount = maxConnections;
        this.maxInFlight = maxInFlight;
    }

    /**
     * @return the new connection, or null when every slot is taken.
     */
    synchronized Connection open(final Channel channel)
    {
        if (freeCount == 0)
        {
            return null;
        }
        final int slot = free[--freeCount];
        final Connection connection = new Connection(slot, ++generation & 0x7FFF_FFFFL, channel, maxInFlight);
        slots.set(slot, connection);
        return connection;
    }

    synchronized void close(final Connection connection)
    {
        if (slots.get(connection.slot) == connection)
        {
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
}
