package io.quotaledger.client;

import io.quotaledger.protocol.CreditEncoder;
import io.quotaledger.protocol.DeductEncoder;
import io.quotaledger.protocol.FreezeEncoder;
import io.quotaledger.protocol.GrantEncoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ReleaseEncoder;
import io.quotaledger.protocol.ReserveEncoder;
import io.quotaledger.protocol.RevokeVirtualKeyEncoder;
import io.quotaledger.protocol.SetConcurrencyEncoder;
import io.quotaledger.protocol.SetGroupEncoder;
import io.quotaledger.protocol.SetLimitEncoder;
import io.quotaledger.protocol.SetPriceEncoder;
import io.quotaledger.protocol.SetRateLimitEncoder;
import io.quotaledger.protocol.SetSpendWindowEncoder;
import io.quotaledger.protocol.SetVirtualKeyEncoder;
import io.quotaledger.protocol.SetVirtualKeyServiceBudgetEncoder;
import io.quotaledger.protocol.SettleEncoder;
import io.quotaledger.protocol.TakeSnapshotEncoder;
import io.quotaledger.protocol.UnfreezeEncoder;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;

/**
 * The requests sent and not yet answered, in slots of preallocated arrays: nothing is allocated per request. A slot
 * keeps what a resend needs (the encoded frame, byte for byte) and what the answer needs (handler, request id).
 * The arrays double when every slot is taken, up to {@link #MAX_SLOTS}; a freed slot is reused first, so the slots
 * in use stay at the low end.
 *
 * <p>A request's correlation id is {@code sequence << SLOT_BITS | slot}: the slot is found from the answer without a
 * map, and the sequence tells an answer to the slot's current request from a late answer to an earlier one (a
 * resend's second answer).
 *
 * <p>Not thread-safe: the client guards it with its lock.
 */
final class PendingRequests
{
    static final int SLOT_BITS = 20;
    static final int MAX_SLOTS = 1 << SLOT_BITS;
    static final int NO_SLOT = -1;
    /** The longest SetVirtualKey: its block and a list of the most services a key may name. */
    static final int SET_VIRTUAL_KEY_CAPACITY = SetVirtualKeyEncoder.BLOCK_LENGTH +
        SetVirtualKeyEncoder.ServicesEncoder.HEADER_SIZE +
        LedgerClient.MAX_SERVICES * SetVirtualKeyEncoder.ServicesEncoder.sbeBlockLength();
    /** The longest request frame, length prefix included. */
    static final int FRAME_CAPACITY = Integer.BYTES + MessageHeaderEncoder.ENCODED_LENGTH + max(
        DeductEncoder.BLOCK_LENGTH, ReserveEncoder.BLOCK_LENGTH, SettleEncoder.BLOCK_LENGTH, ReleaseEncoder.BLOCK_LENGTH,
        CreditEncoder.BLOCK_LENGTH, GrantEncoder.BLOCK_LENGTH, SetLimitEncoder.BLOCK_LENGTH, FreezeEncoder.BLOCK_LENGTH,
        UnfreezeEncoder.BLOCK_LENGTH, QueryEncoder.BLOCK_LENGTH, TakeSnapshotEncoder.BLOCK_LENGTH,
        SET_VIRTUAL_KEY_CAPACITY, SetVirtualKeyServiceBudgetEncoder.BLOCK_LENGTH,
        RevokeVirtualKeyEncoder.BLOCK_LENGTH,
        SetPriceEncoder.BLOCK_LENGTH, SetGroupEncoder.BLOCK_LENGTH, SetRateLimitEncoder.BLOCK_LENGTH,
        SetSpendWindowEncoder.BLOCK_LENGTH, SetConcurrencyEncoder.BLOCK_LENGTH);

    private static final long SLOT_MASK = MAX_SLOTS - 1;

    private long[] correlationIds; // 0 for a free slot
    private long[] requestIdHi;
    private long[] requestIdLo;
    private long[] deadlines;
    private int[] attempts;
    private int[] frameLengths;
    private Op[] ops;
    private ResultHandler[] handlers;
    private UnsafeBuffer frames;
    private int[] free;
    private int freeCount;
    private int highWater;
    private int size;
    private long sequence;

    PendingRequests(final int initialSlots)
    {
        allocate(Math.min(MAX_SLOTS, Math.max(2, initialSlots)));
    }

    /**
     * Takes a free slot for a request and gives it its correlation id.
     *
     * @return the slot, or {@link #NO_SLOT} when {@link #MAX_SLOTS} requests are in flight.
     */
    int claim(final Op op, final long hi, final long lo, final ResultHandler handler, final long deadline,
        final int attempt)
    {
        if (freeCount == 0)
        {
            if (correlationIds.length == MAX_SLOTS)
            {
                return NO_SLOT;
            }
            grow();
        }
        final int slot = free[--freeCount];
        long correlationId;
        do
        {
            correlationId = ++sequence << SLOT_BITS | slot;
        }
        while (correlationId == 0); // 0 is the Hello's, and marks a free slot
        correlationIds[slot] = correlationId;
        requestIdHi[slot] = hi;
        requestIdLo[slot] = lo;
        ops[slot] = op;
        handlers[slot] = handler;
        deadlines[slot] = deadline;
        attempts[slot] = attempt;
        frameLengths[slot] = 0;
        highWater = Math.max(highWater, slot + 1);
        size++;
        return slot;
    }

    /**
     * @return the slot of the request with this correlation id, or {@link #NO_SLOT} when it is not pending (answered
     * already, failed, or never sent by this client).
     */
    int slotOf(final long correlationId)
    {
        final int slot = (int)(correlationId & SLOT_MASK);
        return correlationId != 0 && slot < correlationIds.length && correlationIds[slot] == correlationId ?
            slot : NO_SLOT;
    }

    void release(final int slot)
    {
        correlationIds[slot] = 0;
        handlers[slot] = null;
        free[freeCount++] = slot;
        size--;
    }

    int size()
    {
        return size;
    }

    /**
     * @return slots above this one have never been used: a scan can stop here.
     */
    int highWater()
    {
        return highWater;
    }

    boolean inUse(final int slot)
    {
        return correlationIds[slot] != 0;
    }

    long correlationId(final int slot)
    {
        return correlationIds[slot];
    }

    long requestIdHi(final int slot)
    {
        return requestIdHi[slot];
    }

    long requestIdLo(final int slot)
    {
        return requestIdLo[slot];
    }

    Op op(final int slot)
    {
        return ops[slot];
    }

    ResultHandler handler(final int slot)
    {
        return handlers[slot];
    }

    long deadline(final int slot)
    {
        return deadlines[slot];
    }

    void deadline(final int slot, final long deadline)
    {
        deadlines[slot] = deadline;
    }

    int attempts(final int slot)
    {
        return attempts[slot];
    }

    void attempts(final int slot, final int attempts)
    {
        this.attempts[slot] = attempts;
    }

    /**
     * @return the frames of all slots, each at {@link #frameOffset(int)}.
     */
    UnsafeBuffer frames()
    {
        return frames;
    }

    static int frameOffset(final int slot)
    {
        return slot * FRAME_CAPACITY;
    }

    /**
     * @return the length of the slot's encoded frame, 0 until it is encoded.
     */
    int frameLength(final int slot)
    {
        return frameLengths[slot];
    }

    void frameLength(final int slot, final int length)
    {
        frameLengths[slot] = length;
    }

    /**
     * @return the correlation ids of every pending request in the order they were first sent.
     */
    long[] correlationIdsInOrder()
    {
        final long[] pending = new long[size];
        int n = 0;
        for (int slot = 0; slot < highWater; slot++)
        {
            if (correlationIds[slot] != 0)
            {
                pending[n++] = correlationIds[slot];
            }
        }
        Arrays.sort(pending); // by sequence: the slot is in the low bits
        return pending;
    }

    private void allocate(final int slots)
    {
        correlationIds = new long[slots];
        requestIdHi = new long[slots];
        requestIdLo = new long[slots];
        deadlines = new long[slots];
        attempts = new int[slots];
        frameLengths = new int[slots];
        ops = new Op[slots];
        handlers = new ResultHandler[slots];
        frames = new UnsafeBuffer(new byte[slots * FRAME_CAPACITY]);
        free = new int[slots];
        for (int slot = slots - 1; slot >= 0; slot--)
        {
            free[freeCount++] = slot; // slot 0 on top
        }
    }

    private void grow()
    {
        final int old = correlationIds.length;
        final int slots = Math.min(MAX_SLOTS, old * 2);
        correlationIds = Arrays.copyOf(correlationIds, slots);
        requestIdHi = Arrays.copyOf(requestIdHi, slots);
        requestIdLo = Arrays.copyOf(requestIdLo, slots);
        deadlines = Arrays.copyOf(deadlines, slots);
        attempts = Arrays.copyOf(attempts, slots);
        frameLengths = Arrays.copyOf(frameLengths, slots);
        ops = Arrays.copyOf(ops, slots);
        handlers = Arrays.copyOf(handlers, slots);
        frames = new UnsafeBuffer(Arrays.copyOf(frames.byteArray(), slots * FRAME_CAPACITY));
        free = new int[slots];
        for (int slot = slots - 1; slot >= old; slot--)
        {
            free[freeCount++] = slot;
        }
    }

    private static int max(final int... values)
    {
        return Arrays.stream(values).max().orElseThrow();
    }
}
