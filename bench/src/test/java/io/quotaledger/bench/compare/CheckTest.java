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

    @Test
    void shouldHoldEveryVirtualKeyToItsCountSpendAndReason()
    {
        final Scenario keyed = Scenario.virtualKeys(5, 1); // 10 keys: key 8 pays for 5 requests, key 9 admits 5
        final Tally tally = new Tally(keyed.targets());
        for (int i = 0; i < 7; i++)
        {
            for (int key = 0; key < keyed.keys(); key++)
            {
                tally.sent(key);
                tally.answered(key, i < 5 ? Tally.OK : key == 8 ? Tally.KEY_BUDGET : key == 9 ? Tally.RATE_LIMITED
                    : Tally.OK);
            }
        }
        final State exact = State.of(keyed);
        for (int key = 0; key < keyed.keys(); key++)
        {
            exact.keySpent()[key] = (key >= 8 ? 5 : 7) * Scenario.AMOUNT;
        }
        for (int user = 0; user < keyed.users(); user++)
        {
            final long charged = (user == 4 ? 10 : 14) * Scenario.AMOUNT; // user 4 has keys 8 and 9
            exact.freeUsed()[user] = Scenario.SMALL_FREE;
            exact.balance()[user] = Scenario.RICH - (charged - Scenario.SMALL_FREE);
        }
        final Check good = Check.of(keyed, tally, exact);
        assertTrue(good.passed(), good.problems().toString());
        assertEquals("70 requests, 66 charged, 4 rejected (expected 4: 2 by key budgets, 2 by rate limits, 0 for " +
            "funds)", good.summary());

        exact.keySpent()[3] -= Scenario.AMOUNT; // the key's spend lost one charge the user paid
        final Check lost = Check.of(keyed, tally, exact);
        assertFalse(lost.passed());
        assertEquals("key 4: spent 12, expected 14 after 7 charges", lost.problems().get(0));
        exact.keySpent()[3] += Scenario.AMOUNT;

        final Tally wrongReason = new Tally(keyed.targets());
        final Tally overCharged = new Tally(keyed.targets());
        for (int i = 0; i < 7; i++)
        {
            for (int key = 0; key < keyed.keys(); key++)
            {
                wrongReason.sent(key);
                wrongReason.answered(key, i < 5 || key < 8 ? Tally.OK : Tally.KEY_BUDGET); // key 9 was rate-limited
                overCharged.sent(key);
                overCharged.answered(key, i < 6 || key < 8 ? Tally.OK : Tally.KEY_BUDGET);
            }
        }
        final Check reason = Check.of(keyed, wrongReason, exact);
        assertFalse(reason.passed());
        assertTrue(reason.problems().contains("4 refused by key budgets, expected 2"), reason.problems().toString());
        assertTrue(reason.problems().contains("0 refused by rate limits, expected 2"), reason.problems().toString());

        final Check over = Check.of(keyed, overCharged, exact);
        assertFalse(over.passed());
        assertEquals("key 9: 6 requests charged, the key admits only 5", over.problems().get(0));
    }
}
