package io.quotaledger.bench.compare;

import io.quotaledger.journal.Durability;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ledger contender in the virtual-key scenario, briefly, against {@code ledger serve} in a JVM of its own: keys
 * set up through the client's SetVirtualKey and SetRateLimit, every DEDUCT through its key, and each key admits
 * exactly what its budget and rate limit allow, refusing the rest for the right reason. Needs the core's
 * gateway-policy rules and the client's virtual-key operations (issue 12).
 */
class LedgerContenderTest
{
    @ParameterizedTest(name = "{0} member(s)")
    @ValueSource(ints = { 1, 3 })
    void shouldAdmitExactlyWhatEachVirtualKeyAllows(final int members, @TempDir final Path dir) throws Exception
    {
        final List<String> flags = new ArrayList<>(CompareCommand.jvmFlags());
        flags.add(members == 1 ? "-Xmx512m" : "-Xmx384m");
        final int base = CompareCommand.freePorts(7 * members);
        try (LedgerContender ledger = new LedgerContender(Durability.PROCESS, dir.resolve("ledger"), base,
            base + members, base + 2 * members, 2, flags, 1_000, List.of("--dedupe-window", "65536"), members))
        {
            ledger.start();
            final Scenario keyed = Scenario.virtualKeys(10, 7); // 20 keys: 2 with a tight budget, 2 rate-limited
            ledger.populate(keyed);
            final Tally tally = new Tally(keyed.targets());

            final Measurement closed = ledger.closedLoop(new Phase(keyed, tally, 8, 0, 0, 300_000_000L));
            final Measurement open = ledger.openLoop(new Phase(keyed, tally, 8, 2_000, 0, 200_000_000L));
            final Check check = Check.of(keyed, tally, ledger.read(keyed));

            assertTrue(check.passed(), check.summary() + " " + check.problems());
            assertEquals(0, closed.errors() + open.errors());
            assertTrue(tally.rejected(Tally.KEY_BUDGET) > 0, check.summary());
            assertTrue(tally.rejected(Tally.RATE_LIMITED) > 0, check.summary());
        }
    }
}
