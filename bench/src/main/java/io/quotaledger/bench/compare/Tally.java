package io.quotaledger.bench.compare;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * What was asked of a system and what it answered, per user, over every phase of one scenario (warm-up included):
 * the ground truth its final state is checked against.
 */
final class Tally
{
    /** A charge was made. */
    static final int OK = 0;
    /** Refused for lack of funds: nothing charged. */
    static final int REJECTED = 1;
    /** No answer or an error: whether anything was charged is unknown, which fails the check. */
    static final int ERROR = 2;

    private final AtomicLongArray sent;
    private final AtomicLongArray accepted;
    private final LongAdder rejected = new LongAdder();
    private final LongAdder errors = new LongAdder();

    Tally(final int users)
    {
        sent = new AtomicLongArray(users);
        accepted = new AtomicLongArray(users);
    }

    void sent(final int user)
    {
        sent.incrementAndGet(user);
    }

    void answered(final int user, final int outcome)
    {
        switch (outcome)
        {
            case OK -> accepted.incrementAndGet(user);
            case REJECTED -> rejected.increment();
            default -> errors.increment();
        }
    }

    long sentTo(final int user)
    {
        return sent.get(user);
    }

    long accepted(final int user)
    {
        return accepted.get(user);
    }

    long rejected()
    {
        return rejected.sum();
    }

    long errors()
    {
        return errors.sum();
    }
}
