package io.quotaledger.bench;

import io.quotaledger.client.LedgerClientException;
import io.quotaledger.protocol.ResultCode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code scripts/bench load} end to end against a ledger in this JVM, briefly: every request sent is answered OK,
 * once, in order, through the Java client, in both loops; asserts no figure.
 */
class LoadGeneratorTest
{
    @TempDir
    Path dir;

    private LoadGenerator.Report run(final String... args) throws Exception
    {
        final String[] common = {
            "--embedded", "--dir", dir.toString(), "--users", "2000", "--warmup", "0.3", "--duration", "0.7",
            "--drain-timeout", "10" };
        final String[] all = new String[common.length + args.length];
        System.arraycopy(common, 0, all, 0, common.length);
        System.arraycopy(args, 0, all, common.length, args.length);
        final LoadGenerator.Options options = LoadGenerator.Options.parse(all);
        try (LoadGenerator.Embedded ledger = new LoadGenerator.Embedded(options))
        {
            return LoadGenerator.run(options, "127.0.0.1", ledger.port(), ledger.key);
        }
    }

    private static void assertAllAnswered(final LoadGenerator.Report report)
    {
        assertTrue(report.ok(), report.failures.toString());
        assertTrue(report.sent > 0);
        assertEquals(report.sent, report.received);
        assertEquals(report.sent, report.codes[ResultCode.OK.value()], "every deduct OK");
        assertEquals(0, report.outOfOrder);
        assertTrue(report.recorded > 0 && report.recorded < report.sent, "warm-up not recorded: " + report.recorded);
        assertEquals(report.recorded, report.service.getTotalCount());
    }

    @Test
    void shouldKeepTheWindowInFlightInTheClosedLoop() throws Exception
    {
        final LoadGenerator.Report report = run("--mode", "closed", "-c", "3", "-w", "32", "--threads", "2");
        assertAllAnswered(report);
    }

    @Test
    void shouldSendOnScheduleInTheOpenLoopAndWriteTheHistograms() throws Exception
    {
        final Path hgrm = dir.resolve("open.hgrm");
        final LoadGenerator.Report report = run("--mode", "open", "--rate", "5000", "-c", "2", "--threads", "2",
            "--hgrm", hgrm.toString(), "--json");
        assertAllAnswered(report);
        assertEquals(report.recorded, report.latency.getTotalCount());
        assertTrue(report.sent >= 4_000 && report.sent <= 5_100, "one second at 5000/s: " + report.sent);
        assertTrue(Files.readString(hgrm).contains("Percentile"));
        assertTrue(Files.exists(dir.resolve("open.service.hgrm")));
        assertTrue(report.json().contains("\"ok\":true"), report.json());
    }

    @Test
    void shouldRefuseAWrongKeyWithAClientError() throws Exception
    {
        final LoadGenerator.Options options = LoadGenerator.Options.parse(new String[]{
            "--embedded", "--dir", dir.toString(), "--users", "10" });
        try (LoadGenerator.Embedded ledger = new LoadGenerator.Embedded(options))
        {
            final LedgerClientException refused = assertThrows(LedgerClientException.class,
                () -> LoadGenerator.run(options, "127.0.0.1", ledger.port(), "qlk_wrong"));
            assertTrue(refused.getMessage().contains("UNAUTHENTICATED"), refused.getMessage());
        }
    }
}
