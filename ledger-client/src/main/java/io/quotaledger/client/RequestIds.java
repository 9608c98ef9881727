package io.quotaledger.client;

import java.security.SecureRandom;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * 128-bit request ids made without a {@link SecureRandom} call per id: the high half is 64 random bits drawn once
 * (never 0), the low half starts at 64 random bits and counts up by one per id. Thread-safe.
 *
 * <p>Why two clients cannot collide in practice: within one generator the low half never repeats (it would take
 * 2<sup>64</sup> ids). Ids of two generators can only meet if both drew the same high half (a chance of
 * 2<sup>-64</sup> per pair) and, on top of that, their runs of low halves overlap: two runs of n ids starting at
 * random points overlap with a chance of about 2n / 2<sup>64</sup>. A million clients, each making 10<sup>12</sup>
 * ids, make about 2<sup>39</sup> pairs: about 2<sup>39</sup> &times; 2<sup>-64</sup> &times; 2<sup>-22</sup> =
 * 2<sup>-47</sup>, as unlikely as two random UUIDs meeting. The ledger only compares ids within its dedupe window,
 * which makes it smaller still. Ids are never 0:0 (the nil id the ledger refuses): the high half is never 0.
 */
public final class RequestIds
{
    private final long hi;
    private final AtomicLong next;

    /**
     * Draws the high half and the first low half from a new {@link SecureRandom}.
     */
    public RequestIds()
    {
        this(new SecureRandom());
    }

    /**
     * @param random where the high half and the first low half come from; a {@link SecureRandom} unless ids only
     *               need to be unique within one test.
     */
    public RequestIds(final Random random)
    {
        long drawn;
        do
        {
            drawn = random.nextLong();
        }
        while (drawn == 0);
        hi = drawn;
        next = new AtomicLong(random.nextLong());
    }

    /**
     * @return the high half of every id this generator makes.
     */
    public long hi()
    {
        return hi;
    }

    /**
     * @return the low half of the next id; pair it with {@link #hi()}.
     */
    public long nextLo()
    {
        return next.getAndIncrement();
    }

    /**
     * @return the next id as a UUID (allocates it; the version bits are not those of a random UUID).
     */
    public UUID next()
    {
        return new UUID(hi, nextLo());
    }
}
