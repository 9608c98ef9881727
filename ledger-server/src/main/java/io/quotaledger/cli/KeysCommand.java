package io.quotaledger.cli;

import io.quotaledger.journal.OwnerOnly;
import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/**
 * {@code ledger keys add|list|revoke}: manages the keys file that {@code ledger serve} reads, so that each gateway
 * gets a key of its own instead of the admin key. A running ledger reads the file again within a second: a key added
 * works for new connections, a revoked key's connections are closed.
 */
@Command(
    name = "keys",
    mixinStandardHelpOptions = true,
    description = {
        "Manages the API keys of `ledger serve` (the keys file, DIR/keys unless serve runs with --keys FILE).",
        "The file holds only SHA-256 hashes, one line per key: <gateway|admin> <sha256 hex> [name].",
        "A running ledger picks up changes within a second; a revoked key's open connections are closed." },
    subcommands = { KeysCommand.AddKey.class, KeysCommand.ListKeys.class, KeysCommand.RevokeKey.class })
final class KeysCommand
{
    /** A name that fits on a keys file line and in a shell without quoting. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._@-]{0,63}");
    /** Shortest hash prefix that {@code revoke} accepts: 8 hex digits make a mistaken match unlikely. */
    private static final int MIN_PREFIX = 8;
    /** Hash digits that {@code list} shows: enough to tell keys apart, not the whole hash. */
    private static final int SHOWN_PREFIX = 12;

    /**
     * Which keys file: the one {@code serve} uses with the same options.
     */
    static final class FileOptions
    {
        @Option(names = "--data", defaultValue = "data", paramLabel = "DIR",
            description = "The ledger's data directory (default: ${DEFAULT-VALUE}).")
        Path data;

        @Option(names = "--keys", paramLabel = "FILE",
            description = "Keys file (default: DIR/keys), as given to serve.")
        Path keysFile;

        Path file()
        {
            return keysFile != null ? keysFile : data.resolve("keys");
        }

        /**
         * @return the keys in the file, after a warning when other users may read or change it.
         */
        List<ApiKeys.Key> read(final String command) throws Tools.ToolException
        {
            final Path file = file();
            if (!Files.exists(file))
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "no keys file " + file +
                    " (`ledger serve` creates it on first start, `ledger keys add` too)");
            }
            warnIfExposed(command, file);
            try
            {
                return ApiKeys.read(file);
            }
            catch (final IOException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "cannot read " + file + ": " + Tools.reason(ex));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, ex.getMessage());
            }
        }
    }

    static void warnIfExposed(final String command, final Path file)
    {
        final String permissions = OwnerOnly.exposed(file);
        if (permissions != null)
        {
            System.err.println("ledger " + command + ": warning: " + file + " is " + permissions +
                ": other users may read or change it (chmod 600 " + file + ")");
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
        description = {
            "Generates a key, stores its hash and prints the key once on stdout (nothing else there: " +
                "KEY=$(ledger keys add --role gateway --name gw1)). It cannot be shown again: only its hash is kept." })
    static final class AddKey implements Callable<Integer>
    {
        @Mixin
        FileOptions options;

        @Option(names = "--role", required = true, paramLabel = "ROLE",
            description = "gateway (deduct, reserve, settle, release, balance) or admin (everything).")
        String role;

        @Option(names = "--name", paramLabel = "NAME",
            description = "What to call it in list and revoke: letters, digits, . _ @ -, up to 64 " +
                "(default: <role>-<first 8 hash digits>).")
        String name;

        public Integer call()
        {
            return Tools.run("keys add", () ->
            {
                final Role parsed;
                try
                {
                    parsed = ApiKeys.role(role, "--role");
                }
                catch (final IllegalArgumentException ex)
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, "--role must be gateway or admin, not " + role);
                }
                if (name != null && !NAME.matcher(name).matches())
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, "--name must be letters, digits, . _ @ - " +
                        "(up to 64, starting with a letter or digit), not '" + name + "'");
                }
                final String key = ApiKeys.generate();
                final String hash = ApiKeys.hashHex(key);
                final String keyName = name != null ? name : parsed.name().toLowerCase(Locale.ROOT) + "-" +
                    hash.substring(0, MIN_PREFIX);
                final Path file = options.file();
                warnIfExposed("keys add", file);
                final String[] refusal = new String[1];
                try
                {
                    ApiKeys.edit(file, lines ->
                    {
                        for (int i = 0; i < lines.size(); i++)
                        {
                            final ApiKeys.Key existing = ApiKeys.parseLine(lines.get(i), file + ":" + (i + 1));
                            if (existing != null && existing.name().equals(keyName))
                            {
                                refusal[0] = "a key named '" + keyName + "' exists already (" + file + ":" +
                                    (i + 1) + "): revoke it first, or choose another --name";
                                return lines;
                            }
                        }
                        final List<String> changed = new ArrayList<>(lines);
                        changed.add(new ApiKeys.Key(parsed, hash, keyName).line());
                        return changed;
                    });
                }
                catch (final IOException ex)
                {
                    throw new Tools.ToolException(Tools.EXIT_FAILURE, "cannot write " + file + ": " +
                        Tools.reason(ex));
                }
                catch (final IllegalArgumentException ex)
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, ex.getMessage() + " (fix the file first)");
                }
                if (refusal[0] != null)
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, refusal[0]);
                }
                System.out.println(key);
                System.err.printf("ledger keys add: %s key '%s' (sha256 %s...) added to %s.%n" +
                    "  The key is printed above and never again. A running ledger accepts it within a second.%n",
                    parsed.name().toLowerCase(Locale.ROOT), keyName, hash.substring(0, SHOWN_PREFIX), file);
                return 0;
            });
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
        description = "Lists the keys: name, role and the start of the hash (never a key: only hashes are kept).")
    static final class ListKeys implements Callable<Integer>
    {
        @Mixin
        FileOptions options;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        public Integer call()
        {
            return Tools.run("keys list", () ->
            {
                final List<ApiKeys.Key> keys = options.read("keys list");
                if (json)
                {
                    final StringBuilder out = new StringBuilder("{\"file\":")
                        .append(Tools.quote(options.file().toString())).append(",\"keys\":[");
                    for (int i = 0; i < keys.size(); i++)
                    {
                        final ApiKeys.Key key = keys.get(i);
                        out.append(i == 0 ? "" : ",")
                            .append("{\"name\":").append(Tools.quote(key.name()))
                            .append(",\"role\":\"").append(key.role().name().toLowerCase(Locale.ROOT))
                            .append("\",\"hashPrefix\":\"").append(key.hash(), 0, SHOWN_PREFIX).append("\"}");
                    }
                    System.out.println(out.append("]}"));
                    return 0;
                }
                System.out.printf("%-32s %-8s %s%n", "NAME", "ROLE", "SHA-256");
                for (final ApiKeys.Key key : keys)
                {
                    System.out.printf("%-32s %-8s %s...%n", key.name().isEmpty() ? "-" : key.name(),
                        key.role().name().toLowerCase(Locale.ROOT), key.hash().substring(0, SHOWN_PREFIX));
                }
                System.out.printf("%d key(s) in %s%n", keys.size(), options.file());
                return 0;
            });
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
        description = "Removes a key, by name or by the start of its hash (8 hex digits at least). A running " +
            "ledger refuses it within a second and closes the connections that use it.")
    static final class RevokeKey implements Callable<Integer>
    {
        @Mixin
        FileOptions options;

        @Parameters(paramLabel = "NAME|HASHPREFIX", description = "The key's name, or the start of its hash.")
        String which;

        public Integer call()
        {
            return Tools.run("keys revoke", () ->
            {
                options.read("keys revoke"); // exists, and every line is a key or a comment
                final Path file = options.file();
                final ApiKeys.Key[] revoked = new ApiKeys.Key[1];
                final String[] refusal = new String[1];
                final List<ApiKeys.Key> left = new ArrayList<>();
                ApiKeys.edit(file, lines ->
                {
                    final List<Integer> matches = matches(lines, file);
                    if (matches.size() != 1)
                    {
                        refusal[0] = matches.isEmpty() ?
                            "no key named '" + which + "'" + (isPrefix(which) ? " or whose hash starts with it" : "") +
                                " in " + file + " (ledger keys list shows them; a hash prefix takes " + MIN_PREFIX +
                                " hex digits at least)" :
                            "'" + which + "' matches " + matches.size() + " keys (lines " + matches + " of " + file +
                                "): give more of the hash";
                        return lines;
                    }
                    final List<String> changed = new ArrayList<>(lines);
                    final int line = matches.get(0);
                    revoked[0] = ApiKeys.parseLine(changed.remove(line - 1), file + ":" + line);
                    for (final String remaining : changed)
                    {
                        final ApiKeys.Key key = ApiKeys.parseLine(remaining, file.toString());
                        if (key != null)
                        {
                            left.add(key);
                        }
                    }
                    return changed;
                });
                if (refusal[0] != null)
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, refusal[0]);
                }
                final ApiKeys.Key key = revoked[0];
                System.out.printf("revoked %s key '%s' (sha256 %s...) in %s; a running ledger closes its " +
                    "connections within a second%n", key.role().name().toLowerCase(Locale.ROOT),
                    key.name().isEmpty() ? "-" : key.name(), key.hash().substring(0, SHOWN_PREFIX), file);
                final Path adminKey = options.data.resolve(ServeCommand.ADMIN_KEY_FILE);
                if (Files.isReadable(adminKey) &&
                    ApiKeys.hashHex(Files.readString(adminKey).strip()).equals(key.hash()))
                {
                    System.err.println("ledger keys revoke: " + adminKey + " holds the revoked key: delete it");
                }
                if (left.stream().noneMatch(k -> k.role() == Role.ADMIN))
                {
                    System.err.println("ledger keys revoke: warning: no admin key left in " + file +
                        ": credit, grant, limit, freeze and snapshot are refused until `ledger keys add --role admin`");
                }
                return 0;
            });
        }

        /**
         * @return the line numbers (from 1) of the keys named {@code which}; when none is, of the keys whose hash
         *     starts with it.
         */
        private List<Integer> matches(final List<String> lines, final Path file)
        {
            final List<Integer> byName = new ArrayList<>();
            final List<Integer> byHash = new ArrayList<>();
            final String prefix = which.toLowerCase(Locale.ROOT);
            for (int i = 0; i < lines.size(); i++)
            {
                final ApiKeys.Key key = ApiKeys.parseLine(lines.get(i), file + ":" + (i + 1));
                if (key == null)
                {
                    continue;
                }
                if (key.name().equals(which))
                {
                    byName.add(i + 1);
                }
                else if (isPrefix(which) && key.hash().startsWith(prefix))
                {
                    byHash.add(i + 1);
                }
            }
            return byName.isEmpty() ? byHash : byName;
        }

        private static boolean isPrefix(final String text)
        {
            return text.length() >= MIN_PREFIX && text.length() <= 64 && text.chars().allMatch(c ->
                (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
        }
    }
}
