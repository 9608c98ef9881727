package io.quotaledger.server;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.quotaledger.journal.OwnerOnly;
import io.quotaledger.protocol.Role;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * API keys and their roles, kept hashed in a keys file: one line per key, {@code <role> <sha256 hex> [name]}, '#'
 * starts a comment. Keys are 256-bit random strings, so a plain SHA-256 suffices (there is nothing to brute-force);
 * comparison is constant-time.
 *
 * <p>The table is live: {@link #reload()} reads the file again and replaces the whole table at once, so a key added
 * or revoked with {@code ledger keys} takes effect without a restart. A connection remembers the key it
 * authenticated with ({@link #authenticate}), so that the server can close it once that key is revoked
 * ({@link #revoked}).
 */
public final class ApiKeys
{
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String PREFIX = "qlk_";
    private static final AttributeKey<Credential> CREDENTIAL = AttributeKey.valueOf("ledger.credential");

    /**
     * One line of the keys file.
     *
     * @param role the key's role.
     * @param hash the SHA-256 of the key, lowercase hex.
     * @param name what the operator called it; empty when the line has none.
     */
    public record Key(Role role, String hash, String name)
    {
        /**
         * @return the line of the keys file that holds this key.
         */
        public String line()
        {
            return role.name().toLowerCase(Locale.ROOT) + " " + hash + (name.isEmpty() ? "" : " " + name);
        }
    }

    private record Entry(Role role, byte[] hash)
    {
    }

    private record Credential(byte[] hash, Role role)
    {
    }

    private final Path file;
    private volatile List<Entry> entries;
    private byte[] inForce; // the file's bytes behind the table; touched by the reloading thread only

    private ApiKeys(final Path file, final byte[] bytes)
    {
        this.file = file;
        this.entries = entries(parse(file, bytes));
        this.inForce = bytes;
    }

    /**
     * @throws IOException              when the file cannot be read.
     * @throws IllegalArgumentException naming the line that is not {@code role hash [name]}.
     */
    public static ApiKeys load(final Path file) throws IOException
    {
        return new ApiKeys(file, Files.readAllBytes(file));
    }

    /**
     * Reads the keys file again; when it changed, replaces the whole table at once. A file that cannot be read or
     * parsed changes nothing: the keys in force stay.
     *
     * @return true when the file changed and its keys are now in force.
     * @throws IOException              when the file cannot be read.
     * @throws IllegalArgumentException naming the line that is not {@code role hash [name]}.
     */
    public synchronized boolean reload() throws IOException
    {
        final byte[] bytes = Files.readAllBytes(file);
        if (Arrays.equals(bytes, inForce))
        {
            return false;
        }
        entries = entries(parse(file, bytes));
        inForce = bytes;
        return true;
    }

    /**
     * @return the keys file this table comes from.
     */
    public Path file()
    {
        return file;
    }

    /**
     * @return the keys in the file.
     * @throws IOException              when the file cannot be read.
     * @throws IllegalArgumentException naming the line that is not {@code role hash [name]}.
     */
    public static List<Key> read(final Path file) throws IOException
    {
        return parse(file, Files.readAllBytes(file));
    }

    /**
     * @param line  a line of a keys file.
     * @param where file and line number, for the message.
     * @return the key on that line, or null for a blank line or a comment.
     * @throws IllegalArgumentException when the line is neither.
     */
    public static Key parseLine(final String line, final String where)
    {
        final String text = line.strip();
        if (text.isEmpty() || text.startsWith("#"))
        {
            return null;
        }
        final String[] parts = text.split("\\s+", 3);
        if (parts.length < 2 || parts[1].length() != 64 || !parts[1].chars().allMatch(ApiKeys::isHexDigit))
        {
            throw new IllegalArgumentException(where + ": expected '<gateway|admin> <sha256 hex> [name]'");
        }
        return new Key(role(parts[0], where), parts[1].toLowerCase(Locale.ROOT), parts.length > 2 ? parts[2] : "");
    }

    /**
     * @return a new random key: give it to the gateway, store only its hash.
     */
    public static String generate()
    {
        final byte[] secret = new byte[32];
        RANDOM.nextBytes(secret);
        return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    }

    /**
     * @return the SHA-256 of a key, lowercase hex: what the keys file stores.
     */
    public static String hashHex(final String key)
    {
        return HexFormat.of().formatHex(hash(key));
    }

    /**
     * Appends a key's hash to a keys file, creating it readable by its owner only.
     */
    public static void append(final Path file, final Role role, final String key, final String name)
        throws IOException
    {
        final String line = new Key(role, hashHex(key), name).line();
        edit(file, lines ->
        {
            final List<String> changed = new ArrayList<>(lines);
            changed.add(line);
            return changed;
        });
    }

    /**
     * Changes a keys file the way a running ledger can follow: under a lock (so that two edits never lose one
     * another's line), written to a new owner-only file that then replaces the old one atomically (so that a reload
     * sees the old or the new file, never half of one). A symbolic link is followed, not replaced.
     *
     * @param change from the file's lines (empty when it does not exist) to the lines to write; returning the very
     *               list it was given writes nothing.
     */
    public static void edit(final Path file, final UnaryOperator<List<String>> change) throws IOException
    {
        final Path target = Files.exists(file) ? file.toRealPath() : file.toAbsolutePath();
        OwnerOnly.createDirectories(target.getParent());
        final Path lock = target.resolveSibling(target.getFileName() + ".lock");
        try (FileChannel channel = FileChannel.open(lock,
            Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), OwnerOnly.fileAttributes());
            FileLock ignored = channel.lock())
        {
            final List<String> lines = Files.exists(target) ?
                Files.readAllLines(target, StandardCharsets.UTF_8) : List.of();
            final List<String> changed = change.apply(lines);
            if (changed == lines)
            {
                return;
            }
            final Path temporary = target.resolveSibling(target.getFileName() + ".tmp");
            Files.deleteIfExists(temporary); // left by a crash: created anew, so owner-only
            try (FileChannel out = FileChannel.open(temporary,
                Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), OwnerOnly.fileAttributes()))
            {
                final StringBuilder text = new StringBuilder();
                for (final String line : changed)
                {
                    text.append(line).append(System.lineSeparator());
                }
                out.write(StandardCharsets.UTF_8.encode(text.toString()));
                out.force(true);
            }
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Writes a key itself to a file readable by its owner only (the key generated for the operator).
     */
    public static void writeSecret(final Path file, final String key) throws IOException
    {
        Files.deleteIfExists(file);
        OwnerOnly.createDirectories(file.toAbsolutePath().getParent());
        OwnerOnly.createFile(file);
        Files.writeString(file, key + System.lineSeparator(), StandardCharsets.US_ASCII);
    }

    /**
     * @return the role of the key, or {@link Role#NONE} when it is unknown.
     */
    public Role roleOf(final String key)
    {
        return roleOf(hash(key));
    }

    /**
     * Checks a Hello's key and remembers on the connection what it authenticated with, for {@link #revoked}.
     *
     * @return the role of the key, or {@link Role#NONE} when it is unknown.
     */
    public Role authenticate(final Channel channel, final String key)
    {
        final byte[] hash = hash(key);
        final Role role = roleOf(hash);
        channel.attr(CREDENTIAL).set(role == Role.NONE ? null : new Credential(hash, role));
        return role;
    }

    /**
     * @return true when the connection authenticated with a key that the table in force no longer gives the same role
     *     (revoked, or its line changed to another role). Call it on the connection's event loop, after a reload.
     */
    public boolean revoked(final Channel channel)
    {
        final Credential credential = channel.attr(CREDENTIAL).get();
        return credential != null && roleOf(credential.hash()) != credential.role();
    }

    public int size()
    {
        return entries.size();
    }

    private Role roleOf(final byte[] hash)
    {
        Role role = Role.NONE;
        for (final Entry entry : entries)
        {
            if (MessageDigest.isEqual(entry.hash(), hash) && role != Role.ADMIN)
            {
                role = entry.role();
            }
        }
        return role;
    }

    private static List<Key> parse(final Path file, final byte[] bytes)
    {
        final List<Key> keys = new ArrayList<>();
        final String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\\R", -1);
        for (int i = 0; i < lines.length; i++)
        {
            final Key key = parseLine(lines[i], file + ":" + (i + 1));
            if (key != null)
            {
                keys.add(key);
            }
        }
        return List.copyOf(keys);
    }

    private static List<Entry> entries(final List<Key> keys)
    {
        final List<Entry> entries = new ArrayList<>(keys.size());
        for (final Key key : keys)
        {
            entries.add(new Entry(key.role(), HexFormat.of().parseHex(key.hash())));
        }
        return List.copyOf(entries);
    }

    /**
     * @param name  gateway or admin, in any case.
     * @param where what named it, for the message.
     * @throws IllegalArgumentException for any other name.
     */
    public static Role role(final String name, final String where)
    {
        switch (name.toLowerCase(Locale.ROOT))
        {
            case "gateway":
                return Role.GATEWAY;
            case "admin":
                return Role.ADMIN;
            default:
                throw new IllegalArgumentException(where + ": role must be gateway or admin, not " + name);
        }
    }

    private static boolean isHexDigit(final int c)
    {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    private static byte[] hash(final String key)
    {
        try
        {
            return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
        }
        catch (final NoSuchAlgorithmException ex)
        {
            throw new IllegalStateException("every JVM has SHA-256", ex);
        }
    }
}
