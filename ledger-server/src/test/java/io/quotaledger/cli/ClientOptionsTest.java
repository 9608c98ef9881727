package io.quotaledger.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Client commands' options: values out of range are refused with exit code 2 before anything is sent, and the API
 * key comes from --key, --key-file, LEDGER_KEY or DIR/admin.key, in that order. No ledger runs here: a command that
 * gets past its options fails to connect (also exit code 2), so each check looks at the message too.
 */
class ClientOptionsTest
{
    @TempDir
    Path dir;

    private final Cli cli = new Cli();

    private static String freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return Integer.toString(socket.getLocalPort());
        }
    }

    private void assertRefused(final String expected, final String... args)
    {
        assertEquals(2, cli.run(args), cli.err);
        assertTrue(cli.err.contains(expected), "expected '" + expected + "', got:\n" + cli.err);
        assertFalse(cli.err.contains("cannot connect"), "the options were accepted:\n" + cli.err);
        assertFalse(cli.err.contains("Exception"), cli.err);
    }

    @Test
    void shouldRefuseOutOfRangeValuesWithExitCodeTwo() throws Exception
    {
        final String port = freePort();
        final String[] reserve = { "reserve", "--port", port, "--key", "k", "--user", "1", "--service", "1",
            "--amount", "5", "--ttl" };
        assertRefused("Invalid value for option '--ttl': 'PT2562047788015215H' is too long",
            concat(reserve, "PT2562047788015215H"));
        assertRefused("Invalid value for option '--ttl': 'PT0S' is not positive", concat(reserve, "PT0S"));
        assertRefused("Invalid value for option '--ttl': 'PT-5M' is not positive", concat(reserve, "PT-5M"));
        assertRefused("Invalid value for option '--ttl': '5 minutes' is not a duration such as 500ms, 30s, 5m",
            concat(reserve, "5 minutes"));
        assertRefused("Invalid value for option '--timeout-ms'",
            "credit", "--port", port, "--key", "k", "--user", "1", "--amount", "1", "--timeout-ms", "0");
        assertRefused("Invalid value for option '--timeout-ms'", "credit", "--port", port, "--key", "k",
            "--user", "1", "--amount", "1", "--timeout-ms", "9223372036854775807");
        assertRefused("Invalid value for option '--port': '70000' is not a port",
            "balance", "--port", "70000", "--key", "k", "--user", "1");
        assertRefused("Invalid value for option '--metrics-port': '70000' is not a port",
            "status", "--metrics-port", "70000");
        assertRefused("Invalid value for option '--port': '0' is not a port",
            "snapshot", "--running", "--data", dir.toString(), "--port", "0");
    }

    @Test
    void shouldReadTheKeyFromAFileOrTheEnvironmentAndSayWhenTheFileIsExposed() throws Exception
    {
        final Path keyFile = Files.writeString(dir.resolve("gateway.key"), "\nqlk_from_file\n");
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
        Files.writeString(dir.resolve(ServeCommand.ADMIN_KEY_FILE), "qlk_admin\n");
        Files.setPosixFilePermissions(dir.resolve(ServeCommand.ADMIN_KEY_FILE),
            PosixFilePermissions.fromString("rw-------"));

        final KeyOptions options = new KeyOptions();
        assertEquals("qlk_admin", options.apiKey("balance", dir, null));
        assertEquals("qlk_admin", options.apiKey("balance", dir, " "));
        assertEquals("qlk_from_env", options.apiKey("balance", dir, "qlk_from_env"));
        options.keyFile = keyFile;
        assertEquals("qlk_from_file", options.apiKey("balance", dir, "qlk_from_env"));
        options.keyFile = null;
        options.key = "qlk_given";
        assertEquals("qlk_given", options.apiKey("balance", dir, "qlk_from_env"));
        options.key = null;
        assertThrows(Tools.ToolException.class, () -> options.apiKey("balance", dir.resolve("nowhere"), null));

        final String port = freePort();
        assertRefused("give --key or --key-file, not both",
            "balance", "--port", port, "--user", "1", "--key", "k", "--key-file", keyFile.toString());
        assertRefused("cannot read --key-file " + dir.resolve("none") + ": no such file",
            "balance", "--port", port, "--user", "1", "--key-file", dir.resolve("none").toString());
        final Path empty = Files.writeString(dir.resolve("empty.key"), "\n");
        assertRefused("the file holds no key",
            "balance", "--port", port, "--user", "1", "--key-file", empty.toString());

        // a key file others may read still works, with a warning (it gets as far as connecting)
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(2, cli.run("balance", "--port", port, "--user", "1", "--timeout-ms", "300",
            "--key-file", keyFile.toString()));
        assertTrue(cli.err.contains("warning: " + keyFile + " is rw-r--r--: other users may read the key"), cli.err);
        assertTrue(cli.err.contains("cannot connect"), cli.err);
        Files.setPosixFilePermissions(dir.resolve(ServeCommand.ADMIN_KEY_FILE),
            PosixFilePermissions.fromString("rw-r-----"));
        assertEquals(2, cli.run("balance", "--port", port, "--user", "1", "--timeout-ms", "300",
            "--data", dir.toString()));
        assertTrue(cli.err.contains("warning: " + dir.resolve(ServeCommand.ADMIN_KEY_FILE) + " is rw-r-----"),
            cli.err);
    }

    @Test
    void shouldSayInTheHelpThatAKeyOnTheCommandLineIsVisible()
    {
        assertEquals(0, cli.run("deduct", "--help"));
        assertTrue(cli.out.contains("--key-file") && cli.out.contains("LEDGER_KEY") &&
            cli.out.contains("can see it"), cli.out);
    }

    private static String[] concat(final String[] head, final String last)
    {
        final String[] all = java.util.Arrays.copyOf(head, head.length + 1);
        all[head.length] = last;
        return all;
    }
}
