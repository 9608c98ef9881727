package io.quotaledger.bench.compare;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The virtual-key scenario's expected counts: what each key admits and what refuses the rest, whatever the timing.
 */
class ScenarioTest
{
    @Test
    void shouldAdmitTheLowerOfBudgetAndRateLimitAndNameWhatRefuses()
    {
        final Scenario s = Scenario.virtualKeys(600, 42);
        s.firstUserId(10_000_001);

        assertTrue(s.keyed());
        assertEquals(600, s.users());
        assertEquals(1_200, s.keys());
        assertEquals(1_200, s.targets());
        assertEquals("virtual-key", s.name());
        int roomy = 0;
        int budget = 0;
        int rate = 0;
        for (int key = 0; key < s.keys(); key++)
        {
            assertEquals(key / Scenario.KEYS_PER_USER, s.userOfTarget(key));
            assertEquals(s.userId(key / Scenario.KEYS_PER_USER), s.userIdOfTarget(key));
            assertEquals(10_000_001 + key, s.keyIdOfTarget(key));
            // whole microseconds per request: the ledger's GCRA (increment rounded up) admits exactly the limit at once
            assertEquals(0, Scenario.KEY_RATE_MILLIS * 1000 % s.keyRequests(key), "key " + key);
            if (s.keyCap(key) == Scenario.KEY_BUDGET_REQUESTS && s.keyRefusal(key) == Tally.KEY_BUDGET)
            {
                budget++;
                assertEquals(Scenario.KEY_BUDGET_REQUESTS * Scenario.AMOUNT + 1, s.keyBudget(key),
                    "one unit over: too little for another request");
            }
            else if (s.keyCap(key) == Scenario.KEY_RATE_REQUESTS && s.keyRefusal(key) == Tally.RATE_LIMITED)
            {
                rate++;
            }
            else
            {
                roomy++;
                assertEquals(Scenario.KEY_ROOMY_REQUESTS, s.keyCap(key));
                assertTrue(s.keyRequests(key) > s.keyCap(key), "its rate limit is checked but never refuses");
            }
        }
        assertEquals(960, roomy);
        assertEquals(120, budget);
        assertEquals(120, rate);
        for (int user = 0; user < s.users(); user++)
        {
            assertTrue(s.affordable(user) > Scenario.KEYS_PER_USER * Scenario.KEY_ROOMY_REQUESTS,
                "only the keys refuse");
        }
        for (long k = 0; k < 10_000; k++)
        {
            assertTrue(s.targetOf(k) >= 0 && s.targetOf(k) < s.keys());
        }
    }

    @Test
    void shouldGoToTheUsersThemselvesWithoutKeys()
    {
        final Scenario s = Scenario.mixed(30, 1);

        assertFalse(s.keyed());
        assertEquals(0, s.keys());
        assertEquals(30, s.targets());
        assertEquals(7, s.userOfTarget(7));
        assertEquals(0, s.keyIdOfTarget(7));
    }
}
