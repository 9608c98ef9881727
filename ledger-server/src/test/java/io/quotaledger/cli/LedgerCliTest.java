package io.quotaledger.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LedgerCliTest
{
    private final Cli cli = new Cli();

    @Test
    void shouldRunTheDemoAndReportAMatchingReplicaAsJson()
    {
        assertEquals(0, cli.run("demo", "--users", "200", "--requests", "20000", "--json"));
        assertTrue(cli.out.startsWith("{") && cli.out.trim().endsWith("}"), cli.out);
        assertTrue(cli.out.contains("\"stateMatches\":true"), cli.out);
        assertTrue(cli.out.contains("\"errors\":0"), cli.out);
        assertTrue(cli.out.contains("\"DEDUCT OK\":"), cli.out);
    }

    @Test
    void shouldFailOnBadArguments()
    {
        assertNotEquals(0, cli.run("demo", "--users", "0"));
        assertNotEquals(0, cli.run("demo", "--ring-size", "1000"));
        assertNotEquals(0, cli.run("demo", "--no-such-option"));
        assertNotEquals(0, cli.run("no-such-command"));
    }

    @Test
    void shouldPrintHelpEverywhere()
    {
        assertEquals(0, cli.run("--help"));
        assertTrue(cli.out.contains("demo"), cli.out);
        assertEquals(0, cli.run("demo", "--help"));
        assertTrue(cli.out.contains("--requests"), cli.out);
    }
}
