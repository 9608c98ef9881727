package io.quotaledger.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code scripts/bench footprint --policy} on a small ledger: every stage is built and measured, and the figures are
 * the stages' growth per entry. Needs the core's gateway-policy rules (without them the ledger refuses the set-up).
 */
class PolicyFootprintTest
{
    @Test
    void shouldMeasureKeysRateLimitsAndSpendWindowsStageByStage()
    {
        // more entries of each kind than the ledger preallocates (4,096), so that every stage grows it
        final PolicyFootprint.Figures figures = PolicyFootprint.measure(10_000);

        assertEquals(4, figures.stages().size());
        assertEquals(10_000, figures.stages().get(0).entries());
        assertEquals(20_000, figures.stages().get(1).entries(), "two keys per user");
        assertEquals(20_000, figures.stages().get(2).entries(), "a rate limit on every key");
        assertEquals(10_000, figures.stages().get(3).entries(), "a spend window per user");
        for (int stage = 1; stage <= 3; stage++)
        {
            assertTrue(figures.bytesPerEntry(stage) > 0, "stage " + stage + ": " + figures.json());
        }
        assertTrue(figures.dedupeBytes() > 0);
        assertTrue(figures.snapshotBytes() > 0);
        assertEquals(figures.stateBytes() + figures.snapshotBytes() + figures.snapshotBytes() / 8,
            figures.peakBytes());
        assertTrue(figures.copyNanos() > 0 && figures.checksumNanos() > 0, figures.json());
        assertTrue(figures.fits(), figures.json());
        assertTrue(figures.json().startsWith("{\"users\":10000,\"keysPerUser\":2,\"perVirtualKey\":{\"entries\":20000,"),
            figures.json());
    }
}
