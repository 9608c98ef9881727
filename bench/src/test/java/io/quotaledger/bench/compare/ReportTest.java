package io.quotaledger.bench.compare;

import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The report of a run where one system did not run one scenario (the conditional UPDATE and virtual-key): the
 * system keeps its bars for the others, the report says why it skipped, and the ratio is left blank, not made up.
 */
class ReportTest
{
    @Test
    void shouldKeepASystemThatSkippedAScenarioAndSayWhy(@TempDir final Path out) throws Exception
    {
        System.setProperty("java.awt.headless", "true");
        final Scenario mixed = Scenario.mixed(30, 1);
        final Scenario keyed = Scenario.virtualKeys(10, 1);
        final Results results = new Results("scripts/bench compare --quick", true, 100);
        results.run(Report.LEDGER, mixed, "closed", closed(500_000));
        results.run(Report.LEDGER, keyed, "closed", closed(400_000));
        results.run(Report.CONDITIONAL, mixed, "closed", closed(10_000));
        results.skipped(Report.CONDITIONAL + ", virtual-key: " + PostgresContender.NO_KEYS_IN_ONE_STATEMENT);

        final Report report = new Report(results, out);
        final var chart = report.throughputChart();
        report.write();

        assertEquals(List.of(Report.LEDGER, Report.CONDITIONAL),
            chart.getSeriesCollection().stream().map(s -> s.getName()).toList());
        final String md = Files.readString(out.resolve("REPORT.md"));
        assertTrue(md.contains("- " + Report.CONDITIONAL + ", virtual-key: not run: the key's budget"), md);
        assertTrue(md.contains("| virtual-key | 400,000 | - | - |"), md);
        assertTrue(md.contains("| mixed | 500,000 | 10,000 | 50× |"), md);
        assertTrue(Files.size(out.resolve("throughput.png")) > 0);
    }

    private static Measurement closed(final long answers)
    {
        return new Measurement("closed", 0, 100, 1.0, answers, 0, 0, 0, answers, new Histogram(3));
    }
}
