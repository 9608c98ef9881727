package io.quotaledger.conformance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a runner is given by the harness through its environment (conformance/README.md): where the ledger is, its
 * two keys, and the base added to every id of the scenarios.
 *
 * @param host       LEDGER_HOST.
 * @param port       LEDGER_PORT.
 * @param adminKey   the key in the file LEDGER_ADMIN_KEY_FILE.
 * @param gatewayKey the key in the file LEDGER_GATEWAY_KEY_FILE.
 * @param base       LEDGER_RUN_BASE: added to every positive user, virtual key and group id of the scenarios.
 */
public record RunnerEnvironment(String host, int port, String adminKey, String gatewayKey, long base)
{
    /** The ledger's host (default 127.0.0.1). */
    public static final String HOST = "LEDGER_HOST";
    /** The ledger's port. */
    public static final String PORT = "LEDGER_PORT";
    /** A file holding a key of role admin. */
    public static final String ADMIN_KEY_FILE = "LEDGER_ADMIN_KEY_FILE";
    /** A file holding a key of role gateway. */
    public static final String GATEWAY_KEY_FILE = "LEDGER_GATEWAY_KEY_FILE";
    /** The positive base added to the scenarios' ids. */
    public static final String RUN_BASE = "LEDGER_RUN_BASE";

    /**
     * A variable missing or wrong: the runner cannot start.
     */
    public static final class Unusable extends Exception
    {
        private static final long serialVersionUID = 1L;

        Unusable(final String message)
        {
            super(message);
        }
    }

    /**
     * @param environment the process's environment.
     * @throws Unusable naming the variable that is missing or wrong.
     */
    public static RunnerEnvironment from(final Map<String, String> environment) throws Unusable
    {
        final String host = environment.getOrDefault(HOST, "127.0.0.1");
        final int port = (int)number(environment, PORT, 1, 65_535);
        final long base = number(environment, RUN_BASE, 1, Long.MAX_VALUE);
        return new RunnerEnvironment(host, port, key(environment, ADMIN_KEY_FILE), key(environment, GATEWAY_KEY_FILE),
            base);
    }

    /**
     * @return the key of a role as a scenario names it: {@code admin}, {@code gateway}, or {@code wrong} (a key the
     * server does not know).
     */
    public String key(final String role)
    {
        return switch (role)
        {
            case "admin" -> adminKey;
            case "gateway" -> gatewayKey;
            case "wrong" -> "qlk_conformance-wrong-key";
            default -> throw new IllegalArgumentException("key must be admin, gateway or wrong, not '" + role + "'");
        };
    }

    private static long number(final Map<String, String> environment, final String name, final long min,
        final long max) throws Unusable
    {
        final String text = environment.get(name);
        if (text == null || text.isBlank())
        {
            throw new Unusable(name + " is not set");
        }
        try
        {
            final long value = Long.parseLong(text.strip());
            if (value < min || value > max)
            {
                throw new Unusable(name + " must be " + min + " to " + max + ", not " + text);
            }
            return value;
        }
        catch (final NumberFormatException ex)
        {
            throw new Unusable(name + " must be a number, not '" + text + "'");
        }
    }

    /**
     * Reads a key file the way the CLI's {@code --key-file} does: its first non-blank line, without surrounding
     * blanks.
     */
    private static String key(final Map<String, String> environment, final String name) throws Unusable
    {
        final String file = environment.get(name);
        if (file == null || file.isBlank())
        {
            throw new Unusable(name + " is not set");
        }
        try
        {
            return Files.readAllLines(Path.of(file), StandardCharsets.UTF_8).stream()
                .filter(line -> !line.isBlank())
                .findFirst()
                .map(String::strip)
                .orElseThrow(() -> new Unusable(name + ": " + file + " holds no key"));
        }
        catch (final IOException ex)
        {
            throw new Unusable(name + ": cannot read " + file + ": " + ex.getMessage());
        }
    }
}
