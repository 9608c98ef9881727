package io.quotaledger.cli;

import io.quotaledger.engine.ChildJvm;
import io.quotaledger.projector.EmbeddedDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ledger serve} as an operator runs it: a child JVM (serve blocks until its shutdown hook runs, which only a
 * signal triggers), client commands in-process against it, SIGTERM, and a restart that recovers the state.
 */
class ServeCommandTest
{
    @TempDir
    Path dir;

    private final Cli cli = new Cli();
    private ServeJvm serve;

    @AfterEach
    void stop() throws InterruptedException
    {
        if (serve != null)
        {
            serve.close();
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
        return cli.run(all);
    }

    private static String permissions(final Path path) throws IOException
    {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path));
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
        serve = new ServeJvm(dir).awaitServing();
        assertTrue(serve.port > 0 && serve.port != 7070, "the real port is printed, not 0: " + serve.output());
        assertTrue(Files.isReadable(dir.resolve(ServeCommand.ADMIN_KEY_FILE)), "an admin key was generated");
        // the data directory is its owner's only: other users can open neither the journal nor the keys
        assertEquals("rwx------", permissions(dir.resolve("journal")));
        assertEquals("rwx------", permissions(dir.resolve("snapshots")));
        assertEquals("rw-------", permissions(dir.resolve("keys")));
        assertEquals("rw-------", permissions(dir.resolve(ServeCommand.ADMIN_KEY_FILE)));

        assertEquals(0, client("credit", serve.port, "--user", "1", "--amount", "100"), cli.err);
        assertTrue(cli.out.contains("CREDIT OK"), cli.out);
        assertEquals(1, client("deduct", serve.port, "--user", "1", "--service", "1", "--amount", "1000"), cli.out);
        assertTrue(cli.err.contains("INSUFFICIENT_FUNDS"), cli.err);
        assertEquals(0, client("deduct", serve.port, "--user", "1", "--service", "1", "--amount", "30",
            "--request-id", "00000000-0000-0000-0000-000000000007"), cli.err);
        assertEquals(0, client("deduct", serve.port, "--user", "1", "--service", "1", "--amount", "30",
            "--request-id", "00000000-0000-0000-0000-000000000007", "--json"), cli.err);
        assertTrue(cli.out.contains("\"duplicate\":true") && cli.out.contains("\"balance\":70"), cli.out);

        // an option value cli.out of range is refused before anything is sent
        assertEquals(2, client("reserve", serve.port, "--user", "1", "--service", "1", "--amount", "5",
            "--ttl", "PT2562047788015215H"), cli.out);
        assertTrue(cli.err.contains("--ttl") && !cli.err.contains("Exception"), cli.err);

        // a gateway key of its own, working without a restart, read from a file or the environment
        assertEquals(0, cli.run("keys", "add", "--data", dir.toString(), "--role", "gateway", "--name", "gw1"),
            cli.err);
        final String gatewayKey = cli.out.strip();
        final Path keyFile = Files.writeString(dir.resolve("gw1.key"), gatewayKey + "\n");
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
        final long added = System.nanoTime();
        while (client("balance", serve.port, "--user", "1", "--key-file", keyFile.toString()) != 0 &&
            System.nanoTime() - added < TimeUnit.SECONDS.toNanos(15) && sleep())
        {
            assertTrue(cli.err.contains("UNAUTHENTICATED"), cli.err);
        }
        assertTrue(cli.out.contains("QUERY OK") && cli.out.contains("balance      70"), cli.out + cli.err);
        assertEquals(1, client("credit", serve.port, "--user", "1", "--amount", "1", "--key-file", keyFile.toString()));
        assertTrue(cli.err.contains("FORBIDDEN"), "a gateway key may not credit: " + cli.err);
        try (ChildJvm withEnvironment = ChildJvm.start(List.of("-XX:TieredStopAtLevel=1"), LedgerCli.class,
            List.of("balance", "--port", Integer.toString(serve.port), "--user", "1",
                "--data", dir.resolve("no-such-dir").toString()), Map.of("LEDGER_KEY", gatewayKey)))
        {
            assertEquals(0, withEnvironment.await(30_000), withEnvironment.output());
            assertTrue(withEnvironment.output().contains("QUERY OK"), withEnvironment.output());
        }

        // revoked: refused within seconds, no restart
        assertEquals(0, cli.run("keys", "revoke", "gw1", "--data", dir.toString()), cli.err);
        final long revoked = System.nanoTime();
        while (client("balance", serve.port, "--user", "1", "--key-file", keyFile.toString(), "--timeout-ms",
            "500") == 0 && System.nanoTime() - revoked < TimeUnit.SECONDS.toNanos(15) && sleep())
        {
            assertTrue(cli.out.contains("QUERY OK"), cli.out);
        }
        assertTrue(cli.err.contains("UNAUTHENTICATED"), "a revoked key is still accepted: " + cli.out + cli.err);

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
            assertEquals(0, cli.run("status", "--metrics-port", Integer.toString(serve.metricsPort), "--json"),
                cli.err);
        }
        while (!cli.out.contains("\"lagEvents\":0,") && System.nanoTime() < deadline && sleep());
        assertTrue(cli.out.contains("\"projector\":{") && cli.out.contains("\"lagEvents\":0,"), cli.out);
        assertEquals(0, cli.run("status", "--metrics-port", Integer.toString(serve.metricsPort)), cli.err);
        assertTrue(cli.out.contains("projector        checkpoint"), cli.out);
        assertAnalystsReadTheProjection(serve.output(), 70);

        final int exitCode = serve.terminate();
        assertTrue(exitCode == 0 || exitCode == 143, "exit code " + exitCode + "\n" + serve.output());
        System.out.println("serve exit code on SIGTERM: " + exitCode);

        // no server: the client cannot ask
        assertEquals(2, client("balance", freePort(), "--user", "1", "--timeout-ms", "500"), cli.out);
        assertTrue(cli.err.contains("cannot connect"), cli.err);

        // made readable by others (by hand, or by an older version): a warning at start, and nothing changed
        Files.setPosixFilePermissions(dir.resolve("journal"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(dir.resolve(ServeCommand.ADMIN_KEY_FILE),
            PosixFilePermissions.fromString("rw-r--r--"));

        serve = new ServeJvm(dir).awaitServing();
        assertTrue(serve.output().contains("recovered 1 accounts"), serve.output());
        assertTrue(serve.output().contains(dir.resolve("journal") + " is rwxr-xr-x"), serve.output());
        assertTrue(serve.output().contains(dir.resolve(ServeCommand.ADMIN_KEY_FILE) + " is rw-r--r--"),
            serve.output());
        assertEquals("rwxr-xr-x", permissions(dir.resolve("journal")));
        assertEquals(0, client("balance", serve.port, "--user", "1", "--json"), cli.err);
        assertTrue(cli.out.contains("\"balance\":70"), cli.out);
        final int secondExit = serve.terminate();
        assertTrue(secondExit == 0 || secondExit == 143, "exit code " + secondExit + "\n" + serve.output());
    }

    @Test
    void shouldEnforceTheLimitsGivenToServe() throws Exception
    {
        serve = new ServeJvm(dir, "--no-projector", "--max-accounts", "2", "--max-free-quotas", "1",
            "--max-open-holds", "1", "--max-hold-ttl-seconds", "60", "--max-settle-excess", "5").awaitServing();
        final String hold = "00000000-0000-0000-0000-0000000000aa";

        assertEquals(0, client("credit", serve.port, "--user", "1", "--amount", "100"), cli.err);
        assertEquals(0, client("credit", serve.port, "--user", "2", "--amount", "100"), cli.err);
        assertEquals(1, client("credit", serve.port, "--user", "3", "--amount", "100"), cli.out);
        assertTrue(cli.err.contains("CAPACITY_EXCEEDED"), cli.err);
        assertEquals(0, client("grant", serve.port, "--user", "1", "--service", "1", "--allowance", "1",
            "--period", "DAY"), cli.err);
        assertEquals(1, client("grant", serve.port, "--user", "2", "--service", "1", "--allowance", "1",
            "--period", "DAY"), cli.out);
        assertTrue(cli.err.contains("CAPACITY_EXCEEDED"), cli.err);

        assertEquals(1, client("reserve", serve.port, "--user", "2", "--service", "1", "--amount", "10",
            "--ttl", "PT61S"), cli.out);
        assertTrue(cli.err.contains("INVALID_ARGUMENT"), cli.err);
        assertEquals(0, client("reserve", serve.port, "--user", "2", "--service", "1", "--amount", "10",
            "--ttl", "PT60S", "--request-id", hold), cli.err);
        assertEquals(1, client("reserve", serve.port, "--user", "1", "--service", "1", "--amount", "10",
            "--ttl", "PT10S"), cli.out);
        assertTrue(cli.err.contains("CAPACITY_EXCEEDED"), cli.err);

        // 10 + max(10, 5) = 20 at most; the rejection still shows the account
        assertEquals(1, client("settle", serve.port, "--hold", hold, "--amount", "21", "--json"), cli.out);
        assertTrue(cli.err.contains("INVALID_AMOUNT"), cli.err);
        assertTrue(cli.out.contains("\"balance\":90") && cli.out.contains("\"held\":10"), cli.out);
        assertEquals(0, client("settle", serve.port, "--hold", hold, "--amount", "20"), cli.err);

        final int exitCode = serve.terminate();
        assertTrue(exitCode == 0 || exitCode == 143, "exit code " + exitCode + "\n" + serve.output());
    }
}
