package io.quotaledger.cli;

import io.quotaledger.projector.EmbeddedDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code ledger serve} as an operator runs it: a child JVM (serve blocks until its shutdown hook runs, which only a
 * signal triggers), client commands in-process against it, SIGTERM, and a restart that recovers the state.
 */
class ServeCommandTest
{
    private static final Pattern SERVING =
        Pattern.compile("ledger serving (\\S+):(\\d+) \\(metrics http://\\S+:(\\d+)/metrics");

    @TempDir
    Path dir;

    private Serve serve;
    private String out;
    private String err;

    @AfterEach
    void stop()
    {
        if (serve != null)
        {
            serve.process.destroyForcibly();
        }
    }

    /**
     * A running {@code ledger serve} child and the ports it printed.
     */
    private static final class Serve
    {
        final Process process;
        final StringBuffer output = new StringBuffer();
        final CompletableFuture<Matcher> serving = new CompletableFuture<>();
        int port;
        int metricsPort;

        Serve(final Path data, final String... options) throws IOException
        {
            final String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            final List<String> command = new ArrayList<>(List.of(java,
                "@" + projectRoot().resolve("scripts").resolve("jvm.options"),
                "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                LedgerCli.class.getName(), "serve", "--data", data.toString(), "--port", "0", "--metrics-port", "0"));
            command.addAll(List.of(options));
            process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .start();
            // one thread reads everything, so the child never blocks on a full pipe
            final Thread reader = new Thread(() ->
            {
                try (BufferedReader lines = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)))
                {
                    String line;
                    while ((line = lines.readLine()) != null)
                    {
                        output.append(line).append('\n');
                        final Matcher matcher = SERVING.matcher(line);
                        if (matcher.find())
                        {
                            serving.complete(matcher);
                        }
                    }
                }
                catch (final IOException ex)
                {
                    // the child is gone
                }
                serving.completeExceptionally(new IllegalStateException("serve ended without serving"));
            }, "serve-output");
            reader.setDaemon(true);
            reader.start();
        }

        Serve awaitServing() throws Exception
        {
            try
            {
                final Matcher matcher = serving.get(30, TimeUnit.SECONDS);
                port = Integer.parseInt(matcher.group(2));
                metricsPort = Integer.parseInt(matcher.group(3));
            }
            catch (final Exception ex)
            {
                fail("no 'ledger serving' line: " + ex + "\n" + output);
            }
            return this;
        }

        int terminate() throws Exception
        {
            process.destroy(); // SIGTERM, as systemd or docker stop send it
            assertTrue(process.waitFor(20, TimeUnit.SECONDS), "serve did not stop on SIGTERM\n" + output);
            return process.exitValue();
        }
    }

    /**
     * The project root (the folder holding scripts/jvm.options), for the child's JVM flags.
     */
    private static Path projectRoot()
    {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("scripts").resolve("jvm.options")))
        {
            dir = dir.getParent();
        }
        if (dir == null)
        {
            throw new IllegalStateException("scripts/jvm.options not found above " + System.getProperty("user.dir"));
        }
        return dir;
    }

    private int run(final String... args)
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

    private int client(final String command, final int port, final String... args)
    {
        final String[] all = new String[5 + args.length];
        all[0] = command;
        all[1] = "--data";
        all[2] = dir.toString();
        all[3] = "--port";
        all[4] = Integer.toString(port);
        System.arraycopy(args, 0, all, 5, args.length);
        return run(all);
    }

    private static String permissions(final Path path) throws IOException
    {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path));
    }

    /**
     * A client command in a JVM of its own, with the key in its environment only.
     */
    private static Process child(final List<String> args, final String ledgerKey) throws IOException
    {
        final String java = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final List<String> command = new ArrayList<>(List.of(java,
            "@" + projectRoot().resolve("scripts").resolve("jvm.options"), "-XX:TieredStopAtLevel=1",
            "-cp", System.getProperty("java.class.path"), LedgerCli.class.getName()));
        command.addAll(args);
        final ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("LEDGER_KEY", ledgerKey);
        return builder.start();
    }

    private static HttpResponse<String> get(final int port, final String path) throws Exception
    {
        return HttpClient.newHttpClient().send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
    }

    /**
     * serve prints the analysts' read-only connection in psql form; with the password from the file it names they
     * read the projection, and nobody connects without a password.
     */
    private static void assertAnalystsReadTheProjection(final String output, final long balance) throws Exception
    {
        final Matcher psql = Pattern.compile("psql 'postgresql://(\\w+)@127\\.0\\.0\\.1:(\\d+)/(\\w+)' " +
            "\\(read-only role; its password is in (\\S+)\\)").matcher(output);
        assertTrue(psql.find(), output);
        assertEquals(EmbeddedDatabase.ANALYST, psql.group(1));
        final String url = "jdbc:postgresql://127.0.0.1:" + psql.group(2) + "/" + psql.group(3);
        final String password = Files.readString(Path.of(psql.group(4))).strip();
        try (Connection connection = DriverManager.getConnection(url, psql.group(1), password);
            Statement statement = connection.createStatement();
            ResultSet rs = statement.executeQuery("SELECT balance FROM accounts WHERE user_id = 1"))
        {
            assertTrue(rs.next());
            assertEquals(balance, rs.getLong(1));
        }
        assertThrows(SQLException.class, () -> DriverManager.getConnection(url, EmbeddedDatabase.SUPERUSER, null));
    }

    private static boolean sleep() throws InterruptedException
    {
        Thread.sleep(200);
        return true;
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }

    @Test
    void shouldServeClientCommandsStopOnSigtermAndRecoverOnRestart() throws Exception
    {
        serve = new Serve(dir).awaitServing();
        assertTrue(serve.port > 0 && serve.port != 7070, "the real port is printed, not 0: " + serve.output);
        assertTrue(Files.isReadable(dir.resolve(ServeCommand.ADMIN_KEY_FILE)), "an admin key was generated");
        // the data directory is its owner's only: other users can open neither the journal nor the keys
        assertEquals("rwx------", permissions(dir.resolve("journal")));
        assertEquals("rwx------", permissions(dir.resolve("snapshots")));
        assertEquals("rw-------", permissions(dir.resolve("keys")));
        assertEquals("rw-------", permissions(dir.resolve(ServeCommand.ADMIN_KEY_FILE)));

        assertEquals(0, client("credit", serve.port, "--user", "1", "--amount", "100"), err);
        assertTrue(out.contains("CREDIT OK"), out);
        assertEquals(1, client("deduct", serve.port, "--user", "1", "--service", "1", "--amount", "1000"), out);
        assertTrue(err.contains("INSUFFICIENT_FUNDS"), err);
        assertEquals(0, client("deduct", serve.port, "--user", "1", "--service", "1", "--amount", "30",
            "--request-id", "00000000-0000-0000-0000-000000000007"), err);
        assertEquals(0, client("deduct", serve.port, "--user", "1", "--service", "1", "--amount", "30",
            "--request-id", "00000000-0000-0000-0000-000000000007", "--json"), err);
        assertTrue(out.contains("\"duplicate\":true") && out.contains("\"balance\":70"), out);

        // an option value out of range is refused before anything is sent
        assertEquals(2, client("reserve", serve.port, "--user", "1", "--service", "1", "--amount", "5",
            "--ttl", "PT2562047788015215H"), out);
        assertTrue(err.contains("--ttl") && !err.contains("Exception"), err);

        // a gateway key of its own, working without a restart, read from a file or the environment
        assertEquals(0, run("keys", "add", "--data", dir.toString(), "--role", "gateway", "--name", "gw1"), err);
        final String gatewayKey = out.strip();
        final Path keyFile = Files.writeString(dir.resolve("gw1.key"), gatewayKey + "\n");
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
        final long added = System.nanoTime();
        while (client("balance", serve.port, "--user", "1", "--key-file", keyFile.toString()) != 0 &&
            System.nanoTime() - added < TimeUnit.SECONDS.toNanos(15) && sleep())
        {
            assertTrue(err.contains("UNAUTHENTICATED"), err);
        }
        assertTrue(out.contains("QUERY OK") && out.contains("balance      70"), out + err);
        assertEquals(1, client("credit", serve.port, "--user", "1", "--amount", "1", "--key-file", keyFile.toString()));
        assertTrue(err.contains("FORBIDDEN"), "a gateway key may not credit: " + err);
        final Process withEnvironment = child(List.of("balance", "--port", Integer.toString(serve.port),
            "--user", "1", "--data", dir.resolve("no-such-dir").toString()), gatewayKey);
        final String environmentOutput = new String(withEnvironment.getInputStream().readAllBytes(),
            StandardCharsets.UTF_8);
        assertTrue(withEnvironment.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, withEnvironment.exitValue(), environmentOutput);
        assertTrue(environmentOutput.contains("QUERY OK"), environmentOutput);

        // revoked: refused within seconds, no restart
        assertEquals(0, run("keys", "revoke", "gw1", "--data", dir.toString()), err);
        final long revoked = System.nanoTime();
        while (client("balance", serve.port, "--user", "1", "--key-file", keyFile.toString(), "--timeout-ms",
            "500") == 0 && System.nanoTime() - revoked < TimeUnit.SECONDS.toNanos(15) && sleep())
        {
            assertTrue(out.contains("QUERY OK"), out);
        }
        assertTrue(err.contains("UNAUTHENTICATED"), "a revoked key is still accepted: " + out + err);

        final HttpResponse<String> health = get(serve.metricsPort, "/health");
        assertEquals(200, health.statusCode());
        assertTrue(health.body().contains("\"status\":\"ok\""), health.body());
        final HttpResponse<String> metrics = get(serve.metricsPort, "/metrics");
        assertTrue(metrics.body().contains("ledger_requests_total{op=\"credit\",result=\"ok\"} "), metrics.body());
        assertTrue(metrics.body().contains("ledger_journal_failed 0.0"), metrics.body());

        // the embedded PostgreSQL projector catches up with the journal, and `ledger status` says so
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        do
        {
            assertEquals(0, run("status", "--metrics-port", Integer.toString(serve.metricsPort), "--json"), err);
        }
        while (!out.contains("\"lagEvents\":0,") && System.nanoTime() < deadline && sleep());
        assertTrue(out.contains("\"projector\":{") && out.contains("\"lagEvents\":0,"), out);
        assertEquals(0, run("status", "--metrics-port", Integer.toString(serve.metricsPort)), err);
        assertTrue(out.contains("projector        checkpoint"), out);
        assertAnalystsReadTheProjection(serve.output.toString(), 70);

        final int exitCode = serve.terminate();
        assertTrue(exitCode == 0 || exitCode == 143, "exit code " + exitCode + "\n" + serve.output);
        System.out.println("serve exit code on SIGTERM: " + exitCode);

        // no server: the client cannot ask
        assertEquals(2, client("balance", freePort(), "--user", "1", "--timeout-ms", "500"), out);
        assertTrue(err.contains("cannot connect"), err);

        // made readable by others (by hand, or by an older version): a warning at start, and nothing changed
        Files.setPosixFilePermissions(dir.resolve("journal"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(dir.resolve(ServeCommand.ADMIN_KEY_FILE),
            PosixFilePermissions.fromString("rw-r--r--"));

        serve = new Serve(dir).awaitServing();
        assertTrue(serve.output.toString().contains("recovered 1 accounts"), serve.output.toString());
        assertTrue(serve.output.toString().contains(dir.resolve("journal") + " is rwxr-xr-x"), serve.output.toString());
        assertTrue(serve.output.toString().contains(dir.resolve(ServeCommand.ADMIN_KEY_FILE) + " is rw-r--r--"),
            serve.output.toString());
        assertEquals("rwxr-xr-x", permissions(dir.resolve("journal")));
        assertEquals(0, client("balance", serve.port, "--user", "1", "--json"), err);
        assertTrue(out.contains("\"balance\":70"), out);
        final int secondExit = serve.terminate();
        assertTrue(secondExit == 0 || secondExit == 143, "exit code " + secondExit + "\n" + serve.output);
    }

    @Test
    void shouldEnforceTheLimitsGivenToServe() throws Exception
    {
        serve = new Serve(dir, "--no-projector", "--max-accounts", "2", "--max-free-quotas", "1",
            "--max-open-holds", "1", "--max-hold-ttl-seconds", "60", "--max-settle-excess", "5").awaitServing();
        final String hold = "00000000-0000-0000-0000-0000000000aa";

        assertEquals(0, client("credit", serve.port, "--user", "1", "--amount", "100"), err);
        assertEquals(0, client("credit", serve.port, "--user", "2", "--amount", "100"), err);
        assertEquals(1, client("credit", serve.port, "--user", "3", "--amount", "100"), out);
        assertTrue(err.contains("CAPACITY_EXCEEDED"), err);
        assertEquals(0, client("grant", serve.port, "--user", "1", "--service", "1", "--allowance", "1",
            "--period", "DAY"), err);
        assertEquals(1, client("grant", serve.port, "--user", "2", "--service", "1", "--allowance", "1",
            "--period", "DAY"), out);
        assertTrue(err.contains("CAPACITY_EXCEEDED"), err);

        assertEquals(1, client("reserve", serve.port, "--user", "2", "--service", "1", "--amount", "10",
            "--ttl", "PT61S"), out);
        assertTrue(err.contains("INVALID_ARGUMENT"), err);
        assertEquals(0, client("reserve", serve.port, "--user", "2", "--service", "1", "--amount", "10",
            "--ttl", "PT60S", "--request-id", hold), err);
        assertEquals(1, client("reserve", serve.port, "--user", "1", "--service", "1", "--amount", "10",
            "--ttl", "PT10S"), out);
        assertTrue(err.contains("CAPACITY_EXCEEDED"), err);

        // 10 + max(10, 5) = 20 at most; the rejection still shows the account
        assertEquals(1, client("settle", serve.port, "--hold", hold, "--amount", "21", "--json"), out);
        assertTrue(err.contains("INVALID_AMOUNT"), err);
        assertTrue(out.contains("\"balance\":90") && out.contains("\"held\":10"), out);
        assertEquals(0, client("settle", serve.port, "--hold", hold, "--amount", "20"), err);

        final int exitCode = serve.terminate();
        assertTrue(exitCode == 0 || exitCode == 143, "exit code " + exitCode + "\n" + serve.output);
    }
}
