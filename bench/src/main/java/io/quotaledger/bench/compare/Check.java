package io.quotaledger.bench.compare;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The correctness check after a scenario: from what the system answered (the {@link Tally}) and what each user
 * started with, every user's balance and free use are known exactly. Any difference is a lost update, an
 * over-deduction or a charge nobody was told of; a user charged more often than it can afford, or refused while it
 * still could pay, breaks the rejection rule.
 *
 * @param passed   nothing wrong.
 * @param summary  one line: requests, charges, rejections (and the expected ones).
 * @param problems the first few things found wrong.
 */
record Check(boolean passed, String summary, List<String> problems)
{
    private static final int MAX_PROBLEMS = 5;

    /** A run that could not be completed or checked. */
    static Check failed(final String why)
    {
        return new Check(false, "not checked", List.of(why));
    }

    static Check of(final Scenario scenario, final Tally tally, final State state)
    {
        final List<String> problems = new ArrayList<>();
        int wrong = 0;
        long sent = 0;
        long accepted = 0;
        long expectedRejections = 0;
        long charged = 0;
        for (int i = 0; i < scenario.users(); i++)
        {
            final long asked = tally.sentTo(i);
            final long k = tally.accepted(i);
            sent += asked;
            accepted += k;
            expectedRejections += Math.max(0, asked - scenario.affordable(i));
            final long freeUsed = Math.min(k * Scenario.AMOUNT, scenario.free(i));
            final long balance = scenario.balance(i) - (k * Scenario.AMOUNT - freeUsed);
            charged += k * Scenario.AMOUNT;
            String problem = null;
            if (state.balance()[i] == State.MISSING)
            {
                problem = "missing";
            }
            else if (state.balance()[i] < 0)
            {
                problem = "over-deducted: balance " + state.balance()[i];
            }
            else if (k > scenario.affordable(i))
            {
                problem = k + " requests charged, only " + scenario.affordable(i) + " affordable";
            }
            else if (tally.errors() == 0 && k != Math.min(asked, scenario.affordable(i)))
            {
                problem = k + " of " + asked + " requests charged, expected " + Math.min(asked, scenario.affordable(i));
            }
            else if (state.balance()[i] != balance || state.freeUsed()[i] != freeUsed)
            {
                problem = String.format(Locale.ROOT, "balance %d, free used %d; expected %d and %d after %d charges",
                    state.balance()[i], state.freeUsed()[i], balance, freeUsed, k);
            }
            if (problem != null && wrong++ < MAX_PROBLEMS)
            {
                problems.add("user " + scenario.userId(i) + ": " + problem);
            }
        }
        if (wrong > MAX_PROBLEMS)
        {
            problems.add("... " + (wrong - MAX_PROBLEMS) + " more users wrong");
        }
        if (tally.errors() > 0)
        {
            problems.add(0, tally.errors() + " requests failed or went unanswered: their effect is unknown");
        }
        if (tally.rejected() != expectedRejections)
        {
            problems.add(String.format(Locale.ROOT, "%,d rejections, expected %,d", tally.rejected(),
                expectedRejections));
        }
        if (state.billed() >= 0 && state.billed() != charged)
        {
            problems.add(String.format(Locale.ROOT, "billing records sum to %,d, charges to %,d", state.billed(),
                charged));
        }
        final String summary = String.format(Locale.ROOT, "%,d requests, %,d charged, %,d rejected (expected %,d)%s",
            sent, accepted, tally.rejected(), expectedRejections, state.billed() >= 0 ? ", billing records checked" : "");
        return new Check(problems.isEmpty(), summary, List.copyOf(problems));
    }
}
