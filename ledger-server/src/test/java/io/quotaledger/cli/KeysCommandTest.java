package io.quotaledger.cli;

import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ledger keys add|list|revoke} on a keys file: keys printed once and stored hashed, listed without secrets,
 * revoked by name or hash prefix, and every mistake refused with exit code 2.
 */
class KeysCommandTest
{
    @TempDir
    Path dir;

    private final Cli cli = new Cli();

    private Path keys()
    {
        return dir.resolve("keys");
    }

    private String add(final String... args)
    {
        final String[] all = new String[4 + args.length];
        all[0] = "keys";
        all[1] = "add";
        all[2] = "--data";
        all[3] = dir.toString();
        System.arraycopy(args, 0, all, 4, args.length);
        assertEquals(0, cli.run(all), cli.err);
        final String key = cli.out.strip();
        assertFalse(key.contains("\n"), "stdout holds the key alone: " + cli.out);
        return key;
    }

    @Test
    void shouldAddAKeyPrintItOnceAndStoreOnlyItsHash() throws Exception
    {
        final String gateway = add("--role", "gateway", "--name", "gw-eu.1");
        final String admin = add("--role", "ADMIN");

        final String file = Files.readString(keys());
        assertFalse(file.contains(gateway) || file.contains(admin), "a key itself is in the keys file: " + file);
        assertTrue(file.contains("gateway " + ApiKeys.hashHex(gateway) + " gw-eu.1"), file);
        assertTrue(file.contains("admin " + ApiKeys.hashHex(admin) + " admin-" +
            ApiKeys.hashHex(admin).substring(0, 8)), "the default name is role-hashprefix: " + file);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(keys())));
        assertTrue(cli.err.contains("never again"), cli.err);

        final ApiKeys table = ApiKeys.load(keys());
        assertEquals(Role.GATEWAY, table.roleOf(gateway));
        assertEquals(Role.ADMIN, table.roleOf(admin));
    }

    @Test
    void shouldListNamesRolesAndHashPrefixesButNoSecrets()
    {
        final String gateway = add("--role", "gateway", "--name", "gw1");
        final String hash = ApiKeys.hashHex(gateway);

        assertEquals(0, cli.run("keys", "list", "--data", dir.toString()), cli.err);
        assertTrue(cli.out.contains("gw1") && cli.out.contains("gateway") && cli.out.contains(hash.substring(0, 12)),
            cli.out);
        assertFalse(cli.out.contains(gateway) || cli.out.contains(hash), cli.out);

        assertEquals(0, cli.run("keys", "list", "--keys", keys().toString(), "--json"), cli.err);
        assertTrue(cli.out.contains("{\"name\":\"gw1\",\"role\":\"gateway\",\"hashPrefix\":\"" +
            hash.substring(0, 12) + "\"}"), cli.out);
        assertFalse(cli.out.contains(gateway) || cli.out.contains(hash), cli.out);
    }

    @Test
    void shouldRevokeByNameOrHashPrefixAndKeepTheOtherLines() throws Exception
    {
        Files.writeString(keys(), "# the ledger's keys\n");
        final String first = add("--role", "gateway", "--name", "first");
        final String second = add("--role", "gateway", "--name", "second");
        final String admin = add("--role", "admin", "--name", "ops");

        assertEquals(0, cli.run("keys", "revoke", "first", "--data", dir.toString()), cli.err);
        assertEquals(0, cli.run("keys", "revoke", ApiKeys.hashHex(second).substring(0, 10).toUpperCase(),
            "--data", dir.toString()), cli.err);
        assertTrue(cli.out.contains("revoked gateway key 'second'"), cli.out);

        assertEquals(List.of("# the ledger's keys", "admin " + ApiKeys.hashHex(admin) + " ops"),
            Files.readAllLines(keys()));
        final ApiKeys table = ApiKeys.load(keys());
        assertEquals(Role.NONE, table.roleOf(first));
        assertEquals(Role.NONE, table.roleOf(second));
        assertEquals(Role.ADMIN, table.roleOf(admin));

        assertEquals(0, cli.run("keys", "revoke", "ops", "--data", dir.toString()), cli.err);
        assertTrue(cli.err.contains("no admin key left"), cli.err);
    }

    @Test
    void shouldRefuseMistakesWithExitCodeTwo() throws Exception
    {
        final String data = dir.toString();
        assertEquals(2, cli.run("keys", "list", "--data", data));
        assertTrue(cli.err.contains("no keys file"), cli.err);
        assertEquals(2, cli.run("keys", "add", "--data", data, "--role", "owner"));
        assertTrue(cli.err.contains("--role must be gateway or admin"), cli.err);
        assertEquals(2, cli.run("keys", "add", "--data", data, "--role", "gateway", "--name", "two words"));
        assertTrue(cli.err.contains("--name"), cli.err);

        add("--role", "gateway", "--name", "gw1");
        final String before = Files.readString(keys());
        assertEquals(2, cli.run("keys", "add", "--data", data, "--role", "admin", "--name", "gw1"));
        assertTrue(cli.err.contains("exists already"), cli.err);
        assertEquals(2, cli.run("keys", "revoke", "gw2", "--data", data));
        assertTrue(cli.err.contains("no key named 'gw2'"), cli.err);
        assertEquals(2, cli.run("keys", "revoke", "abc", "--data", data));
        assertEquals(before, Files.readString(keys()), "a refused command changed the file");

        // two keys whose hashes share a prefix: the prefix is ambiguous, a longer one is not
        Files.writeString(keys(),
            "gateway " + "ab".repeat(32) + " a\ngateway " + "abababab" + "cd".repeat(28) + " b\n");
        assertEquals(2, cli.run("keys", "revoke", "abababab", "--data", data));
        assertTrue(cli.err.contains("matches 2 keys"), cli.err);
        assertEquals(0, cli.run("keys", "revoke", "ababababcd", "--data", data), cli.err);

        Files.writeString(keys(), "gateway short-hash\n");
        assertEquals(2, cli.run("keys", "list", "--data", data));
        assertTrue(cli.err.contains(keys() + ":1: expected"), cli.err);
        assertEquals(2, cli.run("keys", "add", "--data", data, "--role", "gateway"));
        assertEquals("gateway short-hash\n", Files.readString(keys()), "a broken file was rewritten");
    }

    @Test
    void shouldWarnWhenOthersMayReadTheKeysFile() throws Exception
    {
        add("--role", "gateway");
        Files.setPosixFilePermissions(keys(), PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(0, cli.run("keys", "list", "--data", dir.toString()), cli.err);
        assertTrue(cli.err.contains("warning: " + keys() + " is rw-r--r--"), cli.err);
    }
}
