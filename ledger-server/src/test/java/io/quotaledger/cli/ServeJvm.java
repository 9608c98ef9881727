package io.quotaledger.cli;

import io.quotaledger.engine.ChildJvm;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ledger serve} as an operator runs it, in a JVM of its own (serve blocks until its shutdown hook runs, which
 * only a signal triggers), and the ports it printed.
 */
final class ServeJvm implements AutoCloseable
{
    private static final Pattern SERVING =
        Pattern.compile("ledger serving (\\S+):(\\d+) \\(metrics http://\\S+:(\\d+)/metrics");

    private final ChildJvm jvm;
    int port;
    int metricsPort;

    /**
     * Starts {@code ledger serve --data DATA --port 0 --metrics-port 0} with the options.
     */
    ServeJvm(final Path data, final String... options) throws IOException
    {
        final List<String> args = new ArrayList<>(List.of("serve", "--data", data.toString(), "--port", "0",
            "--metrics-port", "0"));
        args.addAll(List.of(options));
        // serve with its default 1M-id dedupe window (184 MB preallocated) and the embedded PostgreSQL's unpacking
        jvm = ChildJvm.start(List.of("-Xmx384m", "-XX:TieredStopAtLevel=1"), LedgerCli.class, args);
    }

    /**
     * Waits for the "ledger serving" line, takes the ports from it, and waits for the rest of what serve prints on
     * start (its last line is "  try: ...").
     */
    ServeJvm awaitServing() throws Exception
    {
        final String serving = jvm.awaitLine("ledger serving", 60_000);
        final Matcher matcher = SERVING.matcher(serving);
        assertTrue(matcher.find(), serving);
        port = Integer.parseInt(matcher.group(2));
        metricsPort = Integer.parseInt(matcher.group(3));
        jvm.awaitLine("  try: ", 10_000);
        return this;
    }

    /**
     * @return what it printed so far, standard output and error.
     */
    String output()
    {
        return jvm.output();
    }

    /**
     * SIGTERM, as systemd or docker stop send it.
     *
     * @return the exit code.
     */
    int terminate() throws InterruptedException
    {
        return jvm.terminate(20_000);
    }

    public void close() throws InterruptedException
    {
        jvm.close();
    }
}
