package io.quotaledger.bench.compare;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The correctness check finds what it is there to find: lost updates, over-deductions, wrong rejections.
 */
class CheckTest
{
    @Test
    void shouldPassTheExactStateAndFindALostUpdateAndAWrongRejection()
    {
        final Scenario mixed = Scenario.mixed(3, 1); // one user per group
        final Tally tally = new Tally(3);
        for (int i = 0; i < 8; i++) // 8 requests per user: the poor one can pay for 5
        {
            for (int user = 0; user < 3; user++)
            {
                tally.sent(user);
                tally.answered(user, user == 2 && i >= Scenario.POOR_REQUESTS ? Tally.REJECTED : Tally.OK);
            }
        }
        final State exact = State.of(mixed);
        exact.balance()[0] = 0;
        exact.freeUsed()[0] = 16;
        exact.balance()[1] = Scenario.RICH - (16 - Scenario.SMALL_FREE);
        exact.freeUsed()[1] = Scenario.SMALL_FREE;
        exact.balance()[2] = 0;
        exact.freeUsed()[2] = 0;
        final Check good = Check.of(mixed, tally, exact);
        assertTrue(good.passed(), good.problems().toString());
        assertEquals("24 requests, 21 charged, 3 rejected (expected 3)", good.summary());

        exact.balance()[1] += Scenario.AMOUNT; // one charge lost
        final Check lost = Check.of(mixed, tally, exact);
        assertFalse(lost.passed());
        assertTrue(lost.problems().get(0).startsWith("user 2: balance"), lost.problems().toString());

        exact.balance()[1] -= Scenario.AMOUNT;
        tally.sent(2);
        tally.answered(2, Tally.OK); // a sixth charge the poor user could not afford
        final Check over = Check.of(mixed, tally, exact);
        assertFalse(over.passed());
        assertTrue(over.problems().get(0).contains("6 requests charged, only 5 affordable"),
            over.problems().toString());
    }
}
