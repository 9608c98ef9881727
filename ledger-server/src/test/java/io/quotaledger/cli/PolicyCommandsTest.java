package io.quotaledger.cli;

import io.quotaledger.core.Command;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.engine.Threading;
import io.quotaledger.server.CommandCapture;
import io.quotaledger.server.ServerConfig;
import io.quotaledger.server.TestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway policy commands ({@code virtual-key}, {@code price}, {@code group}, {@code rate}, {@code window},
 * {@code concurrency}) and the policy options of {@code deduct}, {@code reserve} and {@code balance}: bad input is
 * refused with exit code 2 before anything is sent; good input reaches the ledger field by field (a capturing engine
 * stage in an in-process server), and the answer is printed with its policy fields, exit code 0 or 1 as it was
 * accepted or not (the stage stands in for the ledger's policy rules).
 */
class PolicyCommandsTest
{
    @TempDir
    Path dir;

    private final Cli cli = new Cli();
    private final CommandCapture capture = new CommandCapture();
    private TestServer ledger;

    @AfterEach
    void stop()
    {
        if (ledger != null)
        {
            ledger.close();
        }
    }

    private static String freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return Integer.toString(socket.getLocalPort());
        }
    }

    /**
     * Runs a command against the in-process ledger with its admin key.
     */
    private int run(final String... args) throws Exception
    {
        if (ledger == null)
        {
            ledger = new TestServer(Threading.SHARED, dir, new ServerConfig().port(0), capture);
        }
        final List<String> all = new ArrayList<>(List.of(args));
        final int at = args[0].equals("deduct") || args[0].equals("reserve") || args[0].equals("balance") ? 1 : 2;
        all.addAll(at, List.of("--port", Integer.toString(ledger.port()), "--key", ledger.adminKey));
        return cli.run(all.toArray(new String[0]));
    }

    private void assertRefused(final String expected, final String... args) throws Exception
    {
        final List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--port", freePort(), "--key", "k"));
        assertEquals(2, cli.run(all.toArray(new String[0])), cli.err);
        assertTrue(cli.err.contains(expected), "expected '" + expected + "', got:\n" + cli.err);
        assertFalse(cli.err.contains("cannot connect"), "the options were accepted:\n" + cli.err);
        assertFalse(cli.err.contains("Exception"), cli.err);
    }

    @Test
    void shouldRefuseBadInputWithExitCodeTwo() throws Exception
    {
        final String[] price = { "price", "set", "--group", "1", "--service", "1", "--multiplier" };
        assertRefused("'1.2345678' is not a multiplier", concat(price, "1.2345678"));
        assertRefused("'-1.5' is not a multiplier", concat(price, "-1.5"));
        assertRefused("'1e3' is not a multiplier", concat(price, "1e3"));
        assertRefused("'99999999999999.5' is too large a multiplier", concat(price, "99999999999999.5"));
        assertRefused("'5x' is not a duration such as 500ms",
            "rate", "set", "--user", "1", "--requests", "5", "--per", "5x");
        assertRefused("'0s' is not positive", "window", "set", "--user", "1", "--max", "5", "--per", "0s");
        assertRefused("'9999999999999d' is too long", "window", "set", "--user", "1", "--max", "5",
            "--per", "9999999999999d");
        assertRefused("'YEAR' is neither DAY, WEEK, MONTH nor a duration",
            "virtual-key", "set", "--user", "1", "--virtual-key", "2", "--unlimited", "--reset", "YEAR");
        assertRefused("give --budget N or --unlimited",
            "virtual-key", "set", "--user", "1", "--virtual-key", "2", "--budget", "5", "--unlimited");
        assertRefused("give --budget N or --unlimited", "virtual-key", "set", "--user", "1", "--virtual-key", "2");
        assertRefused("a key takes at most 12", "virtual-key", "set", "--user", "1", "--virtual-key", "2",
            "--unlimited", "--services", "1,2,3,4,5,6,7,8,9,10,11,12,13");
        assertRefused("is neither an ISO-8601 instant", "virtual-key", "set", "--user", "1", "--virtual-key", "2",
            "--unlimited", "--expires", "tomorrow");
        assertRefused("give --amount or --units", "deduct", "--user", "1", "--service", "1");
        assertRefused("give --amount or --units", "reserve", "--user", "1", "--service", "1", "--amount", "5",
            "--units", "5");
        assertRefused("Missing required option: '--virtual-key=K'", "virtual-key", "revoke", "--user", "1");
        assertEquals(2, cli.run("virtual-key"));
        assertTrue(cli.err.contains("Missing required subcommand"), cli.err);
    }

    @Test
    void shouldSendEveryFieldOfEveryPolicyCommand() throws Exception
    {
        run("virtual-key", "set", "--user", "5", "--virtual-key", "9", "--budget", "5000", "--reset", "week",
            "--expires", "2030-01-01T00:00:00Z", "--services", "7,8");
        Command c = capture.next();
        assertEquals(Op.SET_VIRTUAL_KEY, c.op());
        assertEquals(5, c.userId());
        assertEquals(9, c.virtualKeyId());
        assertEquals(5_000, c.amount());
        assertFalse(c.unlimited());
        assertEquals(Period.WEEK, c.resetPeriod());
        assertEquals(1_893_456_000_000L, c.expiresAt());
        assertEquals(2, c.serviceCount());
        assertEquals(8, c.service(1));

        run("virtual-key", "set", "--user", "5", "--virtual-key", "9", "--unlimited", "--reset", "12h");
        c = capture.next();
        assertTrue(c.unlimited());
        assertNull(c.resetPeriod());
        assertEquals(43_200_000, c.resetMillis());
        assertEquals(0, c.expiresAt());
        assertEquals(0, c.serviceCount());

        run("virtual-key", "budget", "--user", "5", "--virtual-key", "9", "--service", "7", "--budget", "-1");
        c = capture.next();
        assertEquals(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, c.op());
        assertEquals(7, c.serviceId());
        assertEquals(-1, c.amount());

        run("virtual-key", "revoke", "--user", "5", "--virtual-key", "9");
        c = capture.next();
        assertEquals(Op.REVOKE_VIRTUAL_KEY, c.op());
        assertEquals(9, c.virtualKeyId());

        run("price", "set", "--group", "3", "--service", "7", "--multiplier", "1.5");
        c = capture.next();
        assertEquals(Op.SET_PRICE, c.op());
        assertEquals(3, c.groupId());
        assertEquals(1_500_000, c.multiplier());
        run("price", "set", "--group", "3", "--service", "0", "--multiplier", "0.000001");
        assertEquals(1, capture.next().multiplier());

        run("group", "set", "--user", "5", "--group", "3");
        c = capture.next();
        assertEquals(Op.SET_GROUP, c.op());
        assertEquals(3, c.groupId());

        run("rate", "set", "--user", "5", "--virtual-key", "9", "--requests", "60", "--units", "90000", "--per", "1m");
        c = capture.next();
        assertEquals(Op.SET_RATE_LIMIT, c.op());
        assertEquals(9, c.virtualKeyId());
        assertEquals(60, c.requests());
        assertEquals(90_000, c.units());
        assertEquals(60_000, c.perMillis());

        run("window", "set", "--user", "5", "--max", "2000", "--per", "5h");
        c = capture.next();
        assertEquals(Op.SET_SPEND_WINDOW, c.op());
        assertEquals(0, c.virtualKeyId());
        assertEquals(2_000, c.amount());
        assertEquals(18_000_000, c.perMillis());

        run("concurrency", "set", "--user", "5", "--virtual-key", "9", "--max", "3");
        c = capture.next();
        assertEquals(Op.SET_CONCURRENCY, c.op());
        assertEquals(3, c.amount());

        run("deduct", "--user", "5", "--service", "7", "--units", "1200", "--virtual-key", "9");
        c = capture.next();
        assertEquals(Op.DEDUCT, c.op());
        assertEquals(0, c.amount());
        assertEquals(1_200, c.units());
        assertEquals(9, c.virtualKeyId());

        run("reserve", "--user", "5", "--service", "7", "--amount", "40", "--virtual-key", "9", "--ttl", "30s");
        c = capture.next();
        assertEquals(Op.RESERVE, c.op());
        assertEquals(40, c.amount());
        assertEquals(30_000, c.ttlMillis());
        assertEquals(9, c.virtualKeyId());

        run("balance", "--user", "5", "--virtual-key", "9");
        c = capture.next();
        assertEquals(Op.QUERY, c.op());
        assertEquals(9, c.virtualKeyId());
    }

    @Test
    void shouldTakeEveryDurationUnit() throws Exception
    {
        final String[] durations = { "500ms", "30s", "1m", "5h", "7d", "PT2H" };
        final long[] millis = { 500, 30_000, 60_000, 18_000_000, 604_800_000, 7_200_000 };
        for (int i = 0; i < durations.length; i++)
        {
            run("window", "set", "--user", "5", "--max", "1", "--per", durations[i]);
            assertEquals(millis[i], capture.next().perMillis(), durations[i]);
        }
    }

    @Test
    void shouldPrintThePolicyFieldsAndExitAsAccepted() throws Exception
    {
        // stands in for the ledger: a key of budget 100 with 60 spent, the deduct priced at 152
        capture.rewrite((command, result) -> result.code(ResultCode.OK).virtualKeyId(command.virtualKeyId())
            .units(command.units()).amount(command.op() == io.quotaledger.core.Op.QUERY ? 100 : 152)
            .keySpent(60).keyBudgetRemaining(40).balance(848));
        assertEquals(0, run("deduct", "--user", "1", "--service", "7", "--units", "101", "--virtual-key", "11"),
            cli.err);
        assertTrue(cli.out.contains("units        101, priced 152"), cli.out);
        assertTrue(cli.out.contains("virtual key  11") && cli.out.contains("key spent    60") &&
            cli.out.contains("key left     40"), cli.out);
        assertEquals(0, run("balance", "--user", "1", "--virtual-key", "11", "--json"), cli.err);
        assertTrue(cli.out.contains("\"virtualKeyId\":11") && cli.out.contains("\"amount\":100") &&
            cli.out.contains("\"keySpent\":60") && cli.out.contains("\"keyBudgetRemaining\":40") &&
            cli.out.contains("\"keyRevoked\":false"), cli.out);

        capture.rewrite((command, result) -> result.code(ResultCode.RATE_LIMITED).retryAfterMillis(1_500)
            .flags(Result.FLAG_KEY_REVOKED).virtualKeyId(command.virtualKeyId()).keyBudgetRemaining(-1));
        assertEquals(1, run("deduct", "--user", "1", "--service", "7", "--amount", "5", "--virtual-key", "11"));
        assertTrue(cli.err.contains("rejected: RATE_LIMITED"), cli.err);
        assertTrue(cli.out.contains("retry after  1500 ms") && cli.out.contains("virtual key  11 (revoked)") &&
            cli.out.contains("key left     unlimited"), cli.out);
        assertEquals(1, run("rate", "set", "--user", "1", "--requests", "1", "--per", "1s", "--json"));
        assertTrue(cli.out.contains("\"code\":\"RATE_LIMITED\"") && cli.out.contains("\"retryAfterMillis\":1500"),
            cli.out);
    }

    private static String[] concat(final String[] head, final String last)
    {
        final String[] all = java.util.Arrays.copyOf(head, head.length + 1);
        all[head.length] = last;
        return all;
    }
}
