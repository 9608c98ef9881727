package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Open holds: what each took (free units and their period, paid units) and when it expires, found by hold id, plus
 * an indexed min-heap by expiry so that due holds are found in O(1) and closed holds leave it in O(log n).
 * Ties on expiry are broken by hold id, so the expiry order never depends on the order of insertion.
 *
 * <p>For gateway policy a hold also keeps its virtual key (0: none), when it was opened (its spend-window bucket),
 * the key's period then, and the policy sequence number then with a flag saying whether its RESERVE touched policy
 * (so its close does too): what it took goes back only to the key period and windows that counted it.
 */
final class Holds
{
    static final int MISSING = RequestIdIndex.MISSING;

    private static final int STRIDE = 12;
    private static final int V1_STRIDE = 8;
    private static final int ID_HI = 0;
    private static final int ID_LO = 1;
    private static final int USER_ID = 2;
    private static final int SERVICE_ID = 3;
    private static final int FROM_FREE = 4;
    private static final int FROM_BALANCE = 5;
    private static final int EXPIRES_AT = 6;
    private static final int PERIOD_KEY = 7;
    private static final int VIRTUAL_KEY = 8;
    private static final int OPENED_AT = 9;
    private static final int KEY_PERIOD = 10;
    private static final int POLICY = 11; // policy sequence << 1 | touched policy

    private final RequestIdIndex index;
    private long[] data;
    private int[] freeSlots;
    private int freeCount;
    private int highWater;
    private int[] heap;
    private int[] heapPosition;
    private int size;

    Holds(final int expectedHolds)
    {
        index = new RequestIdIndex(expectedHolds, true);
        data = new long[expectedHolds * STRIDE];
        freeSlots = new int[expectedHolds];
        heap = new int[expectedHolds];
        heapPosition = new int[expectedHolds];
    }

    int size()
    {
        return size;
    }

    int find(final long idHi, final long idLo)
    {
        return index.get(idHi, idLo);
    }

    int open(
        final long idHi,
        final long idLo,
        final long userId,
        final int serviceId,
        final long fromFree,
        final long fromBalance,
        final long expiresAt,
        final long periodKey)
    {
        final int hold = allocateSlot();
        final int base = hold * STRIDE;
        data[base + ID_HI] = idHi;
        data[base + ID_LO] = idLo;
        data[base + USER_ID] = userId;
        data[base + SERVICE_ID] = serviceId;
        data[base + FROM_FREE] = fromFree;
        data[base + FROM_BALANCE] = fromBalance;
        data[base + EXPIRES_AT] = expiresAt;
        data[base + PERIOD_KEY] = periodKey;
        data[base + VIRTUAL_KEY] = 0;
        data[base + OPENED_AT] = 0;
        data[base + KEY_PERIOD] = 0;
        data[base + POLICY] = 0;
        index.put(idHi, idLo, hold);
        heap[size] = hold;
        heapPosition[hold] = size;
        siftUp(size++);
        return hold;
    }

    void close(final int hold)
    {
        final int base = hold * STRIDE;
        index.remove(data[base + ID_HI], data[base + ID_LO], hold);
        final int position = heapPosition[hold];
        final int last = heap[--size];
        if (position != size)
        {
            heap[position] = last;
            heapPosition[last] = position;
            siftDown(position);
            siftUp(heapPosition[last]);
        }
        freeSlots[freeCount++] = hold;
    }

    /**
     * @param position 0 &le; position &lt; size().
     * @return the open hold at that position (in no particular order).
     */
    int at(final int position)
    {
        return heap[position];
    }

    /**
     * @return the hold expiring first, or {@link #MISSING} when none is open.
     */
    int earliest()
    {
        return size == 0 ? MISSING : heap[0];
    }

    long idHi(final int hold)
    {
        return data[hold * STRIDE + ID_HI];
    }

    long idLo(final int hold)
    {
        return data[hold * STRIDE + ID_LO];
    }

    long userId(final int hold)
    {
        return data[hold * STRIDE + USER_ID];
    }

    int serviceId(final int hold)
    {
        return (int)data[hold * STRIDE + SERVICE_ID];
    }

    long fromFree(final int hold)
    {
        return data[hold * STRIDE + FROM_FREE];
    }

    long fromBalance(final int hold)
    {
        return data[hold * STRIDE + FROM_BALANCE];
    }

    long amount(final int hold)
    {
        return fromFree(hold) + fromBalance(hold);
    }

    long expiresAt(final int hold)
    {
        return data[hold * STRIDE + EXPIRES_AT];
    }

    long periodKey(final int hold)
    {
        return data[hold * STRIDE + PERIOD_KEY];
    }

    /**
     * Marks a hold whose RESERVE touched policy, with its key (0: none), when it opened, the key's period and the
     * policy sequence number then. A hold that touched no policy keeps zeros: nothing ever gives back for it.
     */
    void policy(
        final int hold, final long virtualKeyId, final long openedAt, final long keyPeriod, final long policySequence)
    {
        final int base = hold * STRIDE;
        data[base + VIRTUAL_KEY] = virtualKeyId;
        data[base + OPENED_AT] = openedAt;
        data[base + KEY_PERIOD] = keyPeriod;
        data[base + POLICY] = (policySequence << 1) | 1;
    }

    long virtualKeyId(final int hold)
    {
        return data[hold * STRIDE + VIRTUAL_KEY];
    }

    long openedAt(final int hold)
    {
        return data[hold * STRIDE + OPENED_AT];
    }

    long keyPeriod(final int hold)
    {
        return data[hold * STRIDE + KEY_PERIOD];
    }

    long policySequence(final int hold)
    {
        return data[hold * STRIDE + POLICY] >>> 1;
    }

    boolean touchedPolicy(final int hold)
    {
        return (data[hold * STRIDE + POLICY] & 1) != 0;
    }

    /**
     * Order-independent digest of the open holds.
     */
    long checksum()
    {
        long sum = Hashing.mix(size);
        for (int i = 0; i < size; i++)
        {
            final int base = heap[i] * STRIDE;
            long h = Hashing.mix(data[base]);
            for (int f = 1; f < STRIDE; f++)
            {
                h = Hashing.combine(h, data[base + f]);
            }
            sum += h;
        }
        return sum;
    }

    private int allocateSlot()
    {
        if (freeCount > 0)
        {
            return freeSlots[--freeCount];
        }
        if (highWater == heap.length)
        {
            final int capacity = highWater + (highWater >> 1) + 16;
            data = Arrays.copyOf(data, capacity * STRIDE);
            freeSlots = Arrays.copyOf(freeSlots, capacity);
            heap = Arrays.copyOf(heap, capacity);
            heapPosition = Arrays.copyOf(heapPosition, capacity);
        }
        return highWater++;
    }

    private boolean before(final int a, final int b)
    {
        final long expiresA = expiresAt(a);
        final long expiresB = expiresAt(b);
        if (expiresA != expiresB)
        {
            return expiresA < expiresB;
        }
        final long hiA = idHi(a);
        final long hiB = idHi(b);
        return hiA != hiB ? hiA < hiB : idLo(a) < idLo(b);
    }

    private void siftUp(final int start)
    {
        int position = start;
        final int hold = heap[position];
        while (position > 0)
        {
            final int parent = (position - 1) >>> 1;
            if (!before(hold, heap[parent]))
            {
                break;
            }
            place(heap[parent], position);
            position = parent;
        }
        place(hold, position);
    }

    private void siftDown(final int start)
    {
        int position = start;
        final int hold = heap[position];
        while (true)
        {
            int child = 2 * position + 1;
            if (child >= size)
            {
                break;
            }
            if (child + 1 < size && before(heap[child + 1], heap[child]))
            {
                child++;
            }
            if (!before(heap[child], hold))
            {
                break;
            }
            place(heap[child], position);
            position = child;
        }
        place(hold, position);
    }

    private void place(final int hold, final int position)
    {
        heap[position] = hold;
        heapPosition[hold] = position;
    }

    int snapshotLength()
    {
        return Integer.BYTES + size * STRIDE * Long.BYTES;
    }

    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, size, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int i = 0; i < size; i++)
        {
            final int base = heap[i] * STRIDE;
            for (int f = 0; f < STRIDE; f++)
            {
                buffer.putLong(p, data[base + f], ByteOrder.LITTLE_ENDIAN);
                p += Long.BYTES;
            }
        }
        return p - offset;
    }

    /**
     * @param version the snapshot version: version 1 holds have no policy fields (they touched no policy).
     */
    int readSnapshot(final DirectBuffer buffer, final int offset, final int version)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        final int stride = version == 1 ? V1_STRIDE : STRIDE;
        final long[] hold = new long[STRIDE];
        for (int i = 0; i < n; i++)
        {
            for (int f = 0; f < stride; f++)
            {
                hold[f] = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
                p += Long.BYTES;
            }
            final int h = open(hold[ID_HI], hold[ID_LO], hold[USER_ID], (int)hold[SERVICE_ID], hold[FROM_FREE],
                hold[FROM_BALANCE], hold[EXPIRES_AT], hold[PERIOD_KEY]);
            data[h * STRIDE + OPENED_AT] = hold[OPENED_AT];
            data[h * STRIDE + VIRTUAL_KEY] = hold[VIRTUAL_KEY];
            data[h * STRIDE + KEY_PERIOD] = hold[KEY_PERIOD];
            data[h * STRIDE + POLICY] = hold[POLICY];
        }
        return p - offset;
    }
}
