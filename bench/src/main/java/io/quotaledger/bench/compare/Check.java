package io.quotaledger.bench.compare;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The correctness check after a scenario: from what the system answered (the {@link Tally}) and what each user
 * started with, every user's balance and free use are known exactly. Any difference is a lost update, an
 * over-deduction or a charge nobody was told of; a user charged more often than it can afford, or refused while it
 * still could pay, breaks the rejection rule. In a keyed scenario every virtual key must have admitted exactly its
 * first {@link Scenario#keyCap} requests, refused the others for the reason {@link Scenario#keyRefusal} names, and
 * hold the spend of the charges it was answered for.
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
        final Findings findings = new Findings();
        // per user: the charges it was answered for, and the requests that reached its funds
        final long[] charged = new long[scenario.users()];
        final long[] asked = new long[scenario.users()];
        final long[] expectedRefusals = new long[Tally.RATE_LIMITED + 1];
        long sent = 0;
        if (scenario.keyed())
        {
            for (int key = 0; key < scenario.keys(); key++)
            {
                final long requests = tally.sentTo(key);
                final long got = tally.accepted(key);
                final long cap = scenario.keyCap(key);
                final long admitted = Math.min(requests, cap);
                sent += requests;
                expectedRefusals[scenario.keyRefusal(key)] += requests - admitted;
                charged[scenario.userOfTarget(key)] += got;
                asked[scenario.userOfTarget(key)] += admitted;
                final long spent = state.keySpent()[key];
                String problem = null;
                if (spent == State.MISSING)
                {
                    problem = "missing";
                }
                else if (got > cap)
                {
                    problem = got + " requests charged, the key admits only " + cap;
                }
                else if (tally.errors() == 0 && got != admitted)
                {
                    problem = got + " of " + requests + " requests charged, expected " + admitted;
                }
                else if (spent != got * Scenario.AMOUNT)
                {
                    problem = String.format(Locale.ROOT, "spent %d, expected %d after %d charges", spent,
                        got * Scenario.AMOUNT, got);
                }
                findings.add("key " + scenario.keyId(key), problem);
            }
        }
        else
        {
            for (int user = 0; user < scenario.users(); user++)
            {
                charged[user] = tally.accepted(user);
                asked[user] = tally.sentTo(user);
                sent += asked[user];
            }
        }

        long accepted = 0;
        for (int i = 0; i < scenario.users(); i++)
        {
            final long k = charged[i];
            final long affordable = scenario.affordable(i);
            accepted += k;
            expectedRefusals[Tally.REJECTED] += Math.max(0, asked[i] - affordable);
            final long freeUsed = Math.min(k * Scenario.AMOUNT, scenario.free(i));
            final long balance = scenario.balance(i) - (k * Scenario.AMOUNT - freeUsed);
            String problem = null;
            if (state.balance()[i] == State.MISSING)
            {
                problem = "missing";
            }
            else if (state.balance()[i] < 0)
            {
                problem = "over-deducted: balance " + state.balance()[i];
            }
            else if (k > affordable)
            {
                problem = k + " requests charged, only " + affordable + " affordable";
            }
            else if (tally.errors() == 0 && k != Math.min(asked[i], affordable))
            {
                problem = k + " of " + asked[i] + " requests " + (scenario.keyed() ? "its keys admitted " : "") +
                    "charged, expected " + Math.min(asked[i], affordable);
            }
            else if (state.balance()[i] != balance || state.freeUsed()[i] != freeUsed)
            {
                problem = String.format(Locale.ROOT, "balance %d, free used %d; expected %d and %d after %d charges",
                    state.balance()[i], state.freeUsed()[i], balance, freeUsed, k);
            }
            findings.add("user " + scenario.userId(i), problem);
        }

        final List<String> problems = findings.problems();
        if (tally.errors() > 0)
        {
            problems.add(0, tally.errors() + " requests failed or went unanswered: their effect is unknown");
        }
        final long expected = expectedRefusals[Tally.REJECTED] + expectedRefusals[Tally.KEY_BUDGET] +
            expectedRefusals[Tally.RATE_LIMITED];
        if (tally.rejected() != expected)
        {
            problems.add(String.format(Locale.ROOT, "%,d rejections, expected %,d", tally.rejected(), expected));
        }
        if (scenario.keyed())
        {
            for (final int reason : new int[] { Tally.REJECTED, Tally.KEY_BUDGET, Tally.RATE_LIMITED })
            {
                if (tally.rejected(reason) != expectedRefusals[reason])
                {
                    problems.add(String.format(Locale.ROOT, "%,d refused %s, expected %,d", tally.rejected(reason),
                        reason(reason), expectedRefusals[reason]));
                }
            }
        }
        final long billedCharges = accepted * Scenario.AMOUNT;
        if (state.billed() >= 0 && state.billed() != billedCharges)
        {
            problems.add(String.format(Locale.ROOT, "billing records sum to %,d, charges to %,d", state.billed(),
                billedCharges));
        }
        final String reasons = !scenario.keyed() ? "" : String.format(Locale.ROOT, ": %,d by key budgets, %,d by " +
            "rate limits, %,d for funds", expectedRefusals[Tally.KEY_BUDGET], expectedRefusals[Tally.RATE_LIMITED],
            expectedRefusals[Tally.REJECTED]);
        final String summary = String.format(Locale.ROOT, "%,d requests, %,d charged, %,d rejected (expected %,d%s)%s",
            sent, accepted, tally.rejected(), expected, reasons,
            state.billed() >= 0 ? ", billing records checked" : "");
        return new Check(problems.isEmpty(), summary, List.copyOf(problems));
    }

    private static String reason(final int outcome)
    {
        return switch (outcome)
        {
            case Tally.KEY_BUDGET -> "by key budgets";
            case Tally.RATE_LIMITED -> "by rate limits";
            default -> "for funds";
        };
    }

    /** The first few users or keys found wrong, and how many in all. */
    private static final class Findings
    {
        private final List<String> problems = new ArrayList<>();
        private int wrong;

        void add(final String who, final String problem)
        {
            if (problem != null && wrong++ < MAX_PROBLEMS)
            {
                problems.add(who + ": " + problem);
            }
        }

        List<String> problems()
        {
            final List<String> all = new ArrayList<>(problems);
            if (wrong > MAX_PROBLEMS)
            {
                all.add("... " + (wrong - MAX_PROBLEMS) + " more wrong");
            }
            return all;
        }
    }
}
