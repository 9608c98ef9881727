package io.quotaledger.conformance;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The conformance suite as CI runs it (inside {@code mvn test}): every client's runner, every scenario, against a
 * {@code ledger serve} the harness starts. Go and Python must be installed (.ci/run installs Go when it is missing).
 */
class ConformanceTest
{
    @Test
    void shouldPassEveryScenarioWithEveryClient() throws Exception
    {
        final Path root = Harness.findRoot();
        final Harness.Report report = Harness.run(root, root.resolve("conformance/scenarios"), Harness.CLIENTS, null);

        assertTrue(report.passed(), report.text());
        assertEquals(Harness.CLIENTS.size(), report.clients().size(), report.text());
    }

    @Test
    void shouldFailAScenarioWhoseResultDiffersAndEveryClientWithoutARunner(@TempDir final Path project)
        throws Exception
    {
        final Path root = Harness.findRoot();
        Files.createDirectories(project.resolve("scripts"));
        Files.copy(root.resolve("scripts/jvm.options"), project.resolve("scripts/jvm.options"));
        final Path scenarios = Files.createDirectories(project.resolve("conformance/scenarios"));
        Files.copy(root.resolve("conformance/scenarios/holds.json"), scenarios.resolve("holds.json"));
        Files.writeString(scenarios.resolve("wrong-balance.json"), """
            {
              "name": "wrong-balance",
              "description": "expects a balance the ledger does not have",
              "steps": [
                {"op": "CREDIT", "requestId": "c1", "userId": 1, "amount": 100, "expect": {"code": "OK"}},
                {"op": "QUERY", "userId": 1, "expect": {"code": "OK", "balance": 999}}
              ]
            }
            """);

        final Harness.Report report = Harness.run(project, scenarios, Harness.CLIENTS, null);

        assertFalse(report.passed(), report.text());
        final ClientReport java = report.clients().get(0);
        assertEquals(ClientReport.Status.FAIL, java.status(), report.text());
        assertEquals(List.of(
            new ClientReport.Result("holds", true, null),
            new ClientReport.Result("wrong-balance", false, "1: balance: expected 999, got 100")), java.results());
        assertEquals(List.of("go MISSING (no clients/go/cmd/conformance)"), report.clients().get(1).lines());
        assertEquals(List.of("python MISSING (no clients/python/conformance.py)"), report.clients().get(2).lines());
        assertEquals("conformance: FAIL (java 1/2, go MISSING, python MISSING)", report.summary());
    }
}
