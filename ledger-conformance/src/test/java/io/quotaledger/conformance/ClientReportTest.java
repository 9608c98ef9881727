package io.quotaledger.conformance;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The harness holds every runner to the contract of conformance/README.md: one line per scenario, exit code 0 iff
 * all passed.
 */
class ClientReportTest
{
    private static final List<String> SCENARIOS = List.of("holds", "duplicates");

    @Test
    void shouldPassWhenEveryScenarioHasAPassLineAndTheExitCodeIsZero()
    {
        final ClientReport report = ClientReport.read("go", SCENARIOS, List.of("go duplicates PASS", "go holds PASS"),
            0, null, List.of());

        assertEquals(ClientReport.Status.PASS, report.status());
        assertNull(report.detail());
        assertEquals(List.of("go holds PASS", "go duplicates PASS"), report.lines());
    }

    @Test
    void shouldFailWithTheRunnersWordsForAFailedScenario()
    {
        final ClientReport report = ClientReport.read("go", SCENARIOS,
            List.of("go holds FAIL 3: balance: expected 880, got 700", "go duplicates PASS"), 1, null, List.of());

        assertEquals(ClientReport.Status.FAIL, report.status());
        assertEquals(List.of("go holds FAIL 3: balance: expected 880, got 700", "go duplicates PASS"),
            report.lines());
    }

    @Test
    void shouldFailAScenarioTheRunnerPrintedNothingFor()
    {
        final ClientReport report = ClientReport.read("python", SCENARIOS, List.of("python holds PASS"), 1, null,
            List.of("Traceback ..."));

        assertEquals(ClientReport.Status.FAIL, report.status());
        assertEquals(List.of("python holds PASS", "python duplicates FAIL -: the runner printed no line for it"),
            report.lines());
        assertEquals(List.of("Traceback ..."), report.stderr());
    }

    @Test
    void shouldBeAnErrorWhenTheRunnerBreaksTheContract()
    {
        assertEquals("unexpected output line 'connecting...'", ClientReport.read("go", SCENARIOS,
            List.of("connecting...", "go holds PASS", "go duplicates PASS"), 0, null, List.of()).detail());
        assertEquals("unexpected output line 'java holds PASS'", ClientReport.read("go", SCENARIOS,
            List.of("java holds PASS", "go holds PASS", "go duplicates PASS"), 0, null, List.of()).detail());
        assertEquals("two lines for holds", ClientReport.read("go", SCENARIOS,
            List.of("go holds PASS", "go holds PASS", "go duplicates PASS"), 0, null, List.of()).detail());
        assertEquals("exit code 1 although every scenario passed", ClientReport.read("go", SCENARIOS,
            List.of("go holds PASS", "go duplicates PASS"), 1, null, List.of()).detail());
        assertEquals("exit code 0 although a scenario did not pass", ClientReport.read("go", SCENARIOS,
            List.of("go holds PASS", "go duplicates FAIL 0: code: expected OK, got FROZEN"), 0, null,
            List.of()).detail());
        final ClientReport stopped = ClientReport.read("go", SCENARIOS, List.of("go holds PASS"), null,
            "stopped after 300 s", List.of());
        assertEquals(ClientReport.Status.ERROR, stopped.status());
        assertEquals("go ERROR (stopped after 300 s)", stopped.lines().get(2));
    }
}
