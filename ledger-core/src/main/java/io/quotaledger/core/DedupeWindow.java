package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * The accepted request ids the ledger remembers, with their results, oldest first. Bounded by count (a ring of
 * preallocated entries) and by age. Entries are evicted only when a new one is recorded, so the window's contents
 * depend on the journal alone and replay rebuilds it exactly; lookups ignore entries that are too old.
 */
final class DedupeWindow
{
    private static final int STRIDE = 17;
    private static final int V1_STRIDE = 12;
    private static final int ID_HI = 0;
    private static final int ID_LO = 1;
    private static final int TIME = 2;
    private static final int FINGERPRINT = 3;
    private static final int PACKED = 4; // op | code << 8 | flags << 16 | frozen << 24
    private static final int FROM_FREE = 5;
    private static final int FROM_BALANCE = 6;
    private static final int RETURNED = 7;
    private static final int BALANCE = 8;
    private static final int HELD = 9;
    private static final int CREDIT_LIMIT = 10;
    private static final int FREE_REMAINING = 11;
    private static final int VIRTUAL_KEY = 12;
    private static final int UNITS = 13;
    private static final int AMOUNT = 14;
    private static final int KEY_SPENT = 15;
    private static final int KEY_REMAINING = 16;

    private final long[] entries;
    private final int capacity;
    private final long maxAgeMillis;
    private final RequestIdIndex index;
    private int head;
    private int size;
    // the id of the last find, whose hash record() can reuse: a new request is looked up, then recorded
    private long lastHi;
    private long lastLo;
    private int lastHash;

    DedupeWindow(final int capacity, final long maxAgeMillis)
    {
        this.capacity = capacity;
        this.maxAgeMillis = maxAgeMillis;
        this.entries = new long[capacity * STRIDE];
        this.index = new RequestIdIndex(capacity, false);
    }

    int size()
    {
        return size;
    }

    /**
     * @return the entry for the id, or {@link RequestIdIndex#MISSING} when it is unknown or older than the window.
     */
    int find(final long hi, final long lo, final long now)
    {
        lastHi = hi;
        lastLo = lo;
        lastHash = RequestIdIndex.hash(hi, lo);
        final int entry = index.get(hi, lo, lastHash);
        if (entry == RequestIdIndex.MISSING || now - entries[entry * STRIDE + TIME] >= maxAgeMillis)
        {
            return RequestIdIndex.MISSING;
        }
        return entry;
    }

    long fingerprint(final int entry)
    {
        return entries[entry * STRIDE + FINGERPRINT];
    }

    Op op(final int entry)
    {
        return Op.fromCode((int)(entries[entry * STRIDE + PACKED] & 0xFF));
    }

    void readResult(final int entry, final Result result)
    {
        final int base = entry * STRIDE;
        final long packed = entries[base + PACKED];
        result
            .op(Op.fromCode((int)(packed & 0xFF)))
            .code(ResultCode.fromCode((int)((packed >>> 8) & 0xFF)))
            .flags((int)((packed >>> 16) & 0xFF))
            .frozen(((packed >>> 24) & 1) != 0)
            .fromFree(entries[base + FROM_FREE])
            .fromBalance(entries[base + FROM_BALANCE])
            .returned(entries[base + RETURNED])
            .balance(entries[base + BALANCE])
            .held(entries[base + HELD])
            .creditLimit(entries[base + CREDIT_LIMIT])
            .freeRemaining(entries[base + FREE_REMAINING])
            .virtualKeyId(entries[base + VIRTUAL_KEY])
            .units(entries[base + UNITS])
            .amount(entries[base + AMOUNT])
            .keySpent(entries[base + KEY_SPENT])
            .keyBudgetRemaining(entries[base + KEY_REMAINING])
            .duplicate(true);
    }

    /**
     * Remembers an accepted request, first forgetting what is over the count or older than the window at {@code now}.
     */
    void record(final long hi, final long lo, final long now, final long fingerprint, final Result result)
    {
        while (size == capacity || (size > 0 && now - entries[head * STRIDE + TIME] >= maxAgeMillis))
        {
            evictHead();
        }
        int entry = head + size;
        if (entry >= capacity)
        {
            entry -= capacity;
        }
        final int base = entry * STRIDE;
        entries[base + ID_HI] = hi;
        entries[base + ID_LO] = lo;
        entries[base + TIME] = now;
        entries[base + FINGERPRINT] = fingerprint;
        entries[base + PACKED] = (result.op().code() & 0xFFL) |
            ((result.code().code() & 0xFFL) << 8) |
            ((result.flags() & 0xFFL) << 16) |
            ((result.frozen() ? 1L : 0L) << 24);
        entries[base + FROM_FREE] = result.fromFree();
        entries[base + FROM_BALANCE] = result.fromBalance();
        entries[base + RETURNED] = result.returned();
        entries[base + BALANCE] = result.balance();
        entries[base + HELD] = result.held();
        entries[base + CREDIT_LIMIT] = result.creditLimit();
        entries[base + FREE_REMAINING] = result.freeRemaining();
        writePolicy(base, result);
        size++;
        final int hash = hi == lastHi && lo == lastLo ? lastHash : RequestIdIndex.hash(hi, lo);
        index.put(hi, lo, hash, entry); // replaces a stale entry of the same id, left to be evicted in turn
    }

    private void writePolicy(final int base, final Result result)
    {
        entries[base + VIRTUAL_KEY] = result.virtualKeyId();
        entries[base + UNITS] = result.units();
        entries[base + AMOUNT] = result.amount();
        entries[base + KEY_SPENT] = result.keySpent();
        entries[base + KEY_REMAINING] = result.keyBudgetRemaining();
    }

    /**
     * Completes the entry recorded last with the policy fields (and flags) of its result: they are known only once
     * the request's POLICY_APPLIED outcome has been applied.
     */
    void amendLast(final Result result)
    {
        assert size > 0;
        int entry = head + size - 1;
        if (entry >= capacity)
        {
            entry -= capacity;
        }
        final int base = entry * STRIDE;
        entries[base + PACKED] = (entries[base + PACKED] & ~(0xFFL << 16)) | ((result.flags() & 0xFFL) << 16);
        writePolicy(base, result);
    }

    private void evictHead()
    {
        final int base = head * STRIDE;
        index.remove(entries[base + ID_HI], entries[base + ID_LO], head);
        head = head + 1 == capacity ? 0 : head + 1;
        size--;
    }

    /**
     * Order-sensitive digest of the window, oldest first.
     */
    long checksum()
    {
        long h = Hashing.mix(size);
        for (int i = 0, entry = head; i < size; i++, entry = entry + 1 == capacity ? 0 : entry + 1)
        {
            final int base = entry * STRIDE;
            for (int f = 0; f < STRIDE; f++)
            {
                h = Hashing.combine(h, entries[base + f]);
            }
        }
        return h;
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
        for (int i = 0, entry = head; i < size; i++, entry = entry + 1 == capacity ? 0 : entry + 1)
        {
            final int base = entry * STRIDE;
            for (int f = 0; f < STRIDE; f++)
            {
                buffer.putLong(p, entries[base + f], ByteOrder.LITTLE_ENDIAN);
                p += Long.BYTES;
            }
        }
        return p - offset;
    }

    /**
     * Restores entries oldest first into an empty window; a window configured smaller keeps the newest. Version 1
     * entries have no policy fields: their amount is what they charged.
     */
    int readSnapshot(final DirectBuffer buffer, final int offset, final int version)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        final int stride = version == 1 ? V1_STRIDE : STRIDE;
        final int skip = Math.max(0, n - capacity);
        p += skip * stride * Long.BYTES;
        for (int i = skip; i < n; i++)
        {
            final int base = size * STRIDE;
            for (int f = 0; f < STRIDE; f++)
            {
                entries[base + f] = f < stride ? buffer.getLong(p + f * Long.BYTES, ByteOrder.LITTLE_ENDIAN) : 0;
            }
            p += stride * Long.BYTES;
            if (version == 1)
            {
                final Op op = Op.fromCode((int)(entries[base + PACKED] & 0xFF));
                entries[base + AMOUNT] = op == Op.DEDUCT || op == Op.RESERVE || op == Op.SETTLE ?
                    entries[base + FROM_FREE] + entries[base + FROM_BALANCE] : 0;
            }
            index.put(entries[base + ID_HI], entries[base + ID_LO], size);
            size++;
        }
        return p - offset;
    }
}
