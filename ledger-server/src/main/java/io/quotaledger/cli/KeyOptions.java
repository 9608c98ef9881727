package io.quotaledger.cli;

import io.quotaledger.journal.OwnerOnly;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a client command gets the ledger's API key: {@code --key}, else {@code --key-file}, else the
 * {@code LEDGER_KEY} environment variable, else the admin key that {@code ledger serve} saved in the data directory.
 * A key on the command line is visible to every user of the machine ({@code ps}); the others are not.
 */
final class KeyOptions
{
    /** The environment variable that may hold the key. */
    static final String ENVIRONMENT = "LEDGER_KEY";

    @Option(names = "--key", paramLabel = "KEY",
        description = "API key. Other users of this machine can see it (ps, /proc): prefer --key-file or " +
            ENVIRONMENT + ".")
    String key;

    @Option(names = "--key-file", paramLabel = "FILE",
        description = "Read the API key from FILE (its first line; keep the file 0600). Without --key or " +
            "--key-file: the " + ENVIRONMENT + " environment variable, else DIR/admin.key.")
    Path keyFile;

    /**
     * @param command the command, for messages.
     * @param data    the data directory whose admin key is the last resort.
     * @return the key, by the precedence in the class comment.
     * @throws Tools.ToolException (usage) when both --key and --key-file are given, or the chosen source has no key.
     */
    String apiKey(final String command, final Path data) throws Tools.ToolException
    {
        return apiKey(command, data, System.getenv(ENVIRONMENT));
    }

    String apiKey(final String command, final Path data, final String environment) throws Tools.ToolException
    {
        if (key != null && keyFile != null)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "give --key or --key-file, not both");
        }
        if (key != null)
        {
            return key;
        }
        if (keyFile != null)
        {
            return read(command, keyFile, "--key-file " + keyFile);
        }
        if (environment != null && !environment.isBlank())
        {
            return environment.strip();
        }
        final Path file = data.resolve(ServeCommand.ADMIN_KEY_FILE);
        if (!Files.exists(file))
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "no key: no --key, --key-file or " + ENVIRONMENT +
                ", and no " + file + " (start `ledger serve --data " + data + "` once, or give a key)");
        }
        return read(command, file, file.toString());
    }

    /**
     * @return the first non-blank line of the file, after a warning on stderr when other users may read it.
     */
    private static String read(final String command, final Path file, final String what) throws Tools.ToolException
    {
        final String permissions = OwnerOnly.exposed(file);
        if (permissions != null)
        {
            System.err.println("ledger " + command + ": warning: " + file + " is " + permissions +
                ": other users may read the key (chmod 600 " + file + ")");
        }
        try
        {
            for (final String line : Files.readAllLines(file, StandardCharsets.UTF_8))
            {
                if (!line.isBlank())
                {
                    return line.strip();
                }
            }
            throw new Tools.ToolException(Tools.EXIT_USAGE, what + ": the file holds no key");
        }
        catch (final IOException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "cannot read " + what + ": " + Tools.reason(ex));
        }
    }
}
