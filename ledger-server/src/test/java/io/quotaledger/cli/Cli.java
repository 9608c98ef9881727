package io.quotaledger.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Runs the {@code ledger} command line in process and keeps what it printed.
 */
final class Cli
{
    String out = "";
    String err = "";

    /**
     * @return the exit code; {@link #out} and {@link #err} hold what the command printed.
     */
    int run(final String... args)
    {
        final PrintStream originalOut = System.out;
        final PrintStream originalErr = System.err;
        final ByteArrayOutputStream capturedOut = new ByteArrayOutputStream();
        final ByteArrayOutputStream capturedErr = new ByteArrayOutputStream();
        System.setOut(new PrintStream(capturedOut, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(capturedErr, true, StandardCharsets.UTF_8));
        try
        {
            return LedgerCli.run(args);
        }
        finally
        {
            System.setOut(originalOut);
            System.setErr(originalErr);
            out = capturedOut.toString(StandardCharsets.UTF_8);
            err = capturedErr.toString(StandardCharsets.UTF_8);
        }
    }
}
