package io.quotaledger.bench.compare;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * What was asked of a system and what it answered, per target (user, or virtual key), over every phase of one
 * scenario (warm-up included): the ground truth its final state is checked against.
 */
final class Tally
{
    /** A charge was made. */
    static final int OK = 0;
    /** Refused for lack of funds: nothing charged. */
    static final int REJECTED = 1;
    /** No answer or an error: whether anything was charged is unknown, which fails the check. */
    static final int ERROR = 2;
    /** Refused by the virtual key's budget: nothing charged. */
    static final int KEY_BUDGET = 3;
    /** Refused by the virtual key's rate limit: nothing charged. */
    static final int RATE_LIMITED = 4;

    private static final int OUTCOMES = 5;

    private final AtomicLongArray sent;
    private final AtomicLongArray accepted;
    private final LongAdder[] answers = new LongAdder[OUTCOMES];

    /**
     * @param targets users, or keys in a keyed scenario ({@link Scenario#targets()}).
     */
    Tally(final int targets)
    {
        sent = new AtomicLongArray(targets);
        accepted = new AtomicLongArray(targets);
        for (int i = 0; i < OUTCOMES; i++)
        {
            answers[i] = new LongAdder();
        }
    }

    /**
     * @return whether an outcome is a refusal: nothing charged, and the system said so.
     */
    static boolean refusal(final int outcome)
    {
        return outcome == REJECTED || outcome == KEY_BUDGET || outcome == RATE_LIMITED;
    }

    void sent(final int target)
    {
        sent.incrementAndGet(target);
    }

    void answered(final int target, final int outcome)
    {
        if (outcome == OK)
        {
            accepted.incrementAndGet(target);
        }
        answers[outcome >= 0 && outcome < OUTCOMES ? outcome : ERROR].increment();
    }

    long sentTo(final int target)
    {
        return sent.get(target);
    }

    long accepted(final int target)
    {
        return accepted.get(target);
    }

    /** Refusals of every reason. */
    long rejected()
    {
        return answers[REJECTED].sum() + answers[KEY_BUDGET].sum() + answers[RATE_LIMITED].sum();
    }

    /**
     * @param outcome {@link #REJECTED}, {@link #KEY_BUDGET} or {@link #RATE_LIMITED}.
     * @return refusals for that reason.
     */
    long rejected(final int outcome)
    {
        return answers[outcome].sum();
    }

    long errors()
    {
        return answers[ERROR].sum();
    }
}
