package io.quotaledger.bench;

import io.quotaledger.core.ResultCode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The policy benchmark measures what it says, on a small ledger and without timing anything: every invocation is
 * accepted, and the policy one goes through the user's key, priced from its units. The policy test needs the core's
 * gateway-policy rules (docs/semantics.md): without them the ledger refuses the set-up.
 */
class PolicyBenchmarkTest
{
    private static final int INVOCATIONS = 200_000;

    @Test
    void shouldChargeEveryPlainDeduct()
    {
        final PolicyBenchmark benchmark = benchmark();
        benchmark.setUp(false);

        for (int i = 0; i < INVOCATIONS; i++)
        {
            assertEquals(ResultCode.OK, benchmark.plainDeduct());
        }
        benchmark.checkNothingRejected();
        assertEquals(0, benchmark.lastResult().virtualKeyId());
    }

    @Test
    void shouldChargeEveryPolicyDeductThroughItsKeyPricedFromItsUnits()
    {
        final PolicyBenchmark benchmark = benchmark();
        benchmark.setUp(true);

        for (int i = 0; i < INVOCATIONS; i++) // the zipfian stream's hot key included: no limit refuses
        {
            assertEquals(ResultCode.OK, benchmark.policyDeduct(), () -> benchmark.lastResult().toString());
        }
        benchmark.checkNothingRejected();
        final var last = benchmark.lastResult();
        assertEquals(Workload.UNITS, last.units());
        assertEquals(Workload.UNITS * Workload.MULTIPLIER / 1_000_000, last.amount(), "1.5 x 100 units");
        assertTrue(last.virtualKeyId() > 0, last.toString());
        assertTrue(last.keySpent() >= last.amount() && last.keySpent() % last.amount() == 0, last.toString());
        assertEquals(Workload.KEY_BUDGET - last.keySpent(), last.keyBudgetRemaining(), last.toString());
    }

    private static PolicyBenchmark benchmark()
    {
        final PolicyBenchmark benchmark = new PolicyBenchmark();
        benchmark.accounts = 1_000;
        benchmark.dedupeWindow = 1_024;
        benchmark.distribution = "zipfian";
        return benchmark;
    }
}
