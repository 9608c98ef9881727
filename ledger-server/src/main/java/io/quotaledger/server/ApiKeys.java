package io.quotaledger.server;

import io.quotaledger.protocol.Role;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * API keys and their roles, kept hashed in a keys file: one line per key, {@code <role> <sha256 hex> [label]}, '#'
 * starts a comment. Keys are 256-bit random strings, so a plain SHA-256 suffices (there is nothing to brute-force);
 * comparison is constant-time.
 */
public final class ApiKeys
{
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String PREFIX = "qlk_";

    private record Entry(Role role, byte[] hash, String label)
    {
    }

    private final List<Entry> entries;

    private ApiKeys(final List<Entry> entries)
    {
        this.entries = entries;
    }

    /**
     * @throws IOException              when the file cannot be read.
     * @throws IllegalArgumentException naming the line that is not {@code role hash [label]}.
     */
    public static ApiKeys load(final Path file) throws IOException
    {
        final List<Entry> entries = new ArrayList<>();
        int lineNumber = 0;
        for (final String raw : Files.readAllLines(file, StandardCharsets.UTF_8))
        {
            lineNumber++;
            final String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#"))
            {
                continue;
            }
            final String[] parts = line.split("\\s+", 3);
            if (parts.length < 2 || parts[1].length() != 64)
            {
                throw new IllegalArgumentException(file + ":" + lineNumber + ": expected '<gateway|admin> <sha256 hex>'");
            }
            entries.add(new Entry(role(parts[0], file + ":" + lineNumber), HexFormat.of().parseHex(parts[1]),
                parts.length > 2 ? parts[2] : ""));
        }
        return new ApiKeys(List.copyOf(entries));
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
     * Appends a key's hash to a keys file, creating it readable by its owner only.
     */
    public static void append(final Path file, final Role role, final String key, final String label)
        throws IOException
    {
        createPrivate(file);
        final String line = role.name().toLowerCase(Locale.ROOT) + " " + HexFormat.of().formatHex(hash(key)) +
            (label.isEmpty() ? "" : " " + label) + System.lineSeparator();
        Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    /**
     * Writes a key itself to a file readable by its owner only (the key generated for the operator).
     */
    public static void writeSecret(final Path file, final String key) throws IOException
    {
        Files.deleteIfExists(file);
        createPrivate(file);
        Files.writeString(file, key + System.lineSeparator(), StandardCharsets.US_ASCII);
    }

    private static void createPrivate(final Path file) throws IOException
    {
        if (Files.exists(file))
        {
            return;
        }
        final Path parent = file.toAbsolutePath().getParent();
        if (parent != null)
        {
            Files.createDirectories(parent);
        }
        Files.createFile(file);
        try
        {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        }
        catch (final UnsupportedOperationException ex)
        {
            // not a POSIX file system: the default permissions stay
        }
    }

    /**
     * @return the role of the key, or {@link Role#NONE} when it is unknown.
     */
    public Role roleOf(final String key)
    {
        final byte[] hash = hash(key);
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

    public int size()
    {
        return entries.size();
    }

    static Role role(final String name, final String where)
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
