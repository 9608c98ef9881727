package io.quotaledger.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ledger serve} with a bad option: a message naming it and exit code 2, no stack trace, and nothing done
 * first (no data directory created, no journal recovered, no port bound). In process: serve returns at once when it
 * refuses, and would block (failing the timeout) if it did not.
 */
class ServeOptionsTest
{
    @TempDir
    Path temp;

    private final Cli cli = new Cli();

    private Path data()
    {
        return temp.resolve("data");
    }

    /**
     * Runs serve with the options (and a fresh --data, free ports unless they are among them) and checks the refusal.
     */
    private void assertRefused(final String expected, final String... options)
    {
        final List<String> args = new ArrayList<>(List.of("serve", "--no-projector"));
        args.addAll(List.of(options));
        for (final String[] fallback : new String[][] {
            { "--data", data().toString() }, { "--port", "0" }, { "--metrics-port", "0" } })
        {
            if (!args.contains(fallback[0]))
            {
                args.addAll(List.of(fallback));
            }
        }
        final int code = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> cli.run(args.toArray(String[]::new)),
            "serve started with " + args);
        assertEquals(2, code, args + "\n" + cli.out + cli.err);
        assertTrue(cli.err.contains(expected), "expected '" + expected + "' for " + args + ", got:\n" + cli.err);
        assertFalse(cli.err.contains("Exception") || cli.err.contains("\tat "), "a stack trace:\n" + cli.err);
        assertFalse(Files.exists(data()), "serve created " + data() + " before refusing " + args);
    }

    @Test
    void shouldRefuseBadValuesBeforeDoingAnything()
    {
        assertRefused("'70000' is not a port", "--port", "70000");
        assertRefused("'-1' is not a port", "--metrics-port", "-1");
        assertRefused("--port and --metrics-port must differ", "--port", "7171", "--metrics-port", "7171");
        assertRefused("--durability must be process or fsync, not sometimes", "--durability", "sometimes");
        assertRefused("--roll must be daily or hourly, not weekly", "--roll", "weekly");
        assertRefused("ringSize must be a power of two", "--ring-size", "1000");
        assertRefused("maxInFlight must be positive", "--max-in-flight", "0");
        assertRefused("--threading must be shared or dedicated, not pooled", "--threading", "pooled");
        assertRefused("--io-threads applies to --threading dedicated", "--threading", "shared", "--io-threads", "2");
        assertRefused("--dedupe-hours", "--dedupe-hours", "9223372036854775807");
        assertRefused("--snapshot-every must be 0 (off) or more", "--snapshot-every", "-1");
        assertRefused("--keep-snapshots must be 1 or more", "--keep-snapshots", "0");
        assertRefused("expectedAccounts must be > 0", "--expected-accounts", "0");
        assertRefused("--jdbc-url must start with jdbc:postgresql:", "--jdbc-url", "postgres://localhost/db");
    }

    @Test
    void shouldRefuseBadClusterOptionsBeforeDoingAnything() throws Exception
    {
        assertRefused("a cluster member needs both --cluster-members and --cluster-member-id",
            "--cluster-members", "localhost:23000,localhost:23010,localhost:23020");
        assertRefused("--cluster-member-id 3 is not one of the 3 members",
            "--cluster-members", "localhost:23000,localhost:23010,localhost:23020", "--cluster-member-id", "3");
        assertRefused("share ports", "--cluster-members", "localhost:23000,localhost:23002", "--cluster-member-id", "0");
        assertRefused("is not host:port", "--cluster-members", "localhost", "--cluster-member-id", "0");
        assertRefused("--aeron-dir applies to a cluster member", "--aeron-dir", temp.toString());
        assertRefused("--cluster-timeout-ms must be 100 to 600000", "--cluster-members", "localhost:23000",
            "--cluster-member-id", "0", "--cluster-timeout-ms", "5");
        try (java.net.DatagramSocket taken = new java.net.DatagramSocket(0, InetAddress.getLoopbackAddress()))
        {
            assertRefused("cannot listen on UDP 127.0.0.1:" + taken.getLocalPort(),
                "--cluster-members", "127.0.0.1:" + taken.getLocalPort(), "--cluster-member-id", "0");
        }
    }

    @Test
    void shouldRefuseMissingOrUnusableFiles() throws Exception
    {
        final Path missing = temp.resolve("missing.pem");
        assertRefused("--tls-cert " + missing + ": no such file", "--tls-cert", missing.toString(),
            "--tls-key", missing.toString());
        final Path garbage = Files.writeString(temp.resolve("garbage.pem"), "not a certificate\n");
        assertRefused("cannot use the TLS certificate", "--tls-cert", garbage.toString(),
            "--tls-key", garbage.toString());
        assertRefused("TLS needs both a certificate and a key", "--tls-cert", garbage.toString());

        final Path file = Files.writeString(temp.resolve("a-file"), "x");
        assertRefused("--data " + file + " is not a directory", "--data", file.toString());

        final Path keys = Files.writeString(temp.resolve("keys"), "gateway 1234\n");
        assertRefused("bad keys file: " + keys + ":1: expected", "--keys", keys.toString());
    }

    @Test
    void shouldRefusePortsItCannotListenOnBeforeRecovery() throws Exception
    {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            final String port = Integer.toString(taken.getLocalPort());
            assertRefused("--metrics-port " + port + ": cannot listen on 127.0.0.1:" + port, "--metrics-port", port);
            assertRefused("--port " + port + ": cannot listen on 127.0.0.1:" + port, "--port", port);
        }
        assertRefused("cannot listen on 192.0.2.1", "--bind", "192.0.2.1"); // TEST-NET-1: not this machine's
    }
}
