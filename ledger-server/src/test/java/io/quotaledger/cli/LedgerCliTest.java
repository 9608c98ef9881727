package io.quotaledger.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LedgerCliTest
{
    private String captured;

    private int run(final String... args)
    {
        final PrintStream original = System.out;
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try
        {
            return LedgerCli.run(args);
        }
        finally
        {
            System.setOut(original);
            captured = out.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void shouldRunTheDemoAndReportAMatchingReplicaAsJson()
    {
        assertEquals(0, run("demo", "--users", "200", "--requests", "20000", "--json"));
        assertTrue(captured.startsWith("{") && captured.trim().endsWith("}"), captured);
        assertTrue(captured.contains("\"stateMatches\":true"), captured);
        assertTrue(captured.contains("\"errors\":0"), captured);
        assertTrue(captured.contains("\"DEDUCT OK\":"), captured);
    }

    @Test
    void shouldFailOnBadArguments()
    {
        assertNotEquals(0, run("demo", "--users", "0"));
        assertNotEquals(0, run("demo", "--ring-size", "1000"));
        assertNotEquals(0, run("demo", "--no-such-option"));
        assertNotEquals(0, run("no-such-command"));
    }

    @Test
    void shouldPrintHelpEverywhere()
    {
        assertEquals(0, run("--help"));
        assertTrue(captured.contains("demo"), captured);
        assertEquals(0, run("demo", "--help"));
        assertTrue(captured.contains("--requests"), captured);
    }
}
