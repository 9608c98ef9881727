package io.quotaledger.bench.compare;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code scripts/bench compare --quick} end to end, against real systems: a ledger server in its own JVM (both
 * durabilities), an embedded PostgreSQL (both designs, fsync on and off) and Redis when this machine has it. Proves
 * that the suite runs, that every system passes its correctness checks and that the report is complete; asserts no
 * figure. The virtual-key scenario needs the core's gateway-policy rules and the client's virtual-key operations.
 */
class CompareQuickTest
{
    private static final byte[] PNG_MAGIC = { (byte)0x89, 'P', 'N', 'G' };

    @Test
    void shouldRunEverySystemCheckItAndWriteTheReport(@TempDir final Path out, @TempDir final Path work)
        throws Exception
    {
        System.setProperty("java.awt.headless", "true");

        final int status = CompareCommand.run("--quick", "--out", out.toString(), "--work", work.toString());

        final String report = Files.readString(out.resolve("REPORT.md"));
        assertEquals(0, status, report);
        for (final String section : List.of("## Verdict", "## Machine", "## Systems", "## Throughput",
            "## Latency: uniform-10k", "## Correctness checks", "PostgreSQL FOR UPDATE (fsync on)",
            "PostgreSQL conditional UPDATE (fsync off)", "ledger (fsync)", "fsync = on", "fsync = off"))
        {
            assertTrue(report.contains(section), "REPORT.md lacks " + section);
        }
        assertTrue(report.contains("Redis + Lua"), "Redis run or its skip reported");
        // the virtual-key scenario: checked for every system that runs it, the conditional UPDATE says why it does not
        assertTrue(report.contains("| ledger (process) | virtual-key | closed loop | pass | "), report);
        assertTrue(report.contains("| PostgreSQL FOR UPDATE (fsync on) | virtual-key | closed loop | pass | "), report);
        assertTrue(report.contains("- PostgreSQL conditional UPDATE (fsync on), virtual-key: not run: "), report);
        // how each system is driven: the pipelined ones over the same 2 connections, 50 in flight on each
        assertTrue(report.contains("### How each system is driven"), report);
        assertTrue(report.contains("| ledger (process) | Java LedgerClient"), report);
        assertTrue(report.contains(" | 2 | 50 | yes | "), report);
        assertTrue(report.contains("| PostgreSQL FOR UPDATE (fsync on) | JDBC: "), report);
        if (!report.contains("Redis + Lua: skipped"))
        {
            assertTrue(report.contains("| Redis + Lua | Lettuce "), report);
            assertTrue(report.lines().anyMatch(l -> l.startsWith("| Redis + Lua | Lettuce ") &&
                l.contains(" | 2 | 50 | yes | ")), "Redis driven as the ledger is: " + report);
            assertTrue(report.contains("redis-benchmark"), "its ceiling measured or its absence reported");
        }
        final String json = Files.readString(out.resolve("results.json"));
        assertTrue(json.contains("\"allChecksPassed\":true"), json);
        assertTrue(json.contains("\"driving\":{\"ledger (process)\":{\"client\":"), json);
        final byte[] png = Files.readAllBytes(out.resolve("latency-uniform-10k-equal.png"));
        assertArrayEquals(PNG_MAGIC, java.util.Arrays.copyOf(png, 4));
        try (var files = Files.list(out))
        {
            assertTrue(files.filter(f -> f.toString().endsWith(".hgrm")).count() >= 4, "one .hgrm per open loop");
        }
    }
}
