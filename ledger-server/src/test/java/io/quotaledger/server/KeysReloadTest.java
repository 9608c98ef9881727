package io.quotaledger.server;

import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.Role;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The keys file is followed while the server runs: a key added is accepted, a revoked key's open connections are
 * closed and it is refused, and a broken file keeps the keys in force.
 */
class KeysReloadTest
{
    private static final long WAIT_SECONDS = 15; // the server looks once a second; generous for a loaded machine
    private static final int WAIT_MILLIS = (int)TimeUnit.SECONDS.toMillis(WAIT_SECONDS);

    @TempDir
    Path dir;

    private TestServer ledger;

    @AfterEach
    void stop()
    {
        if (ledger != null)
        {
            ledger.close();
        }
    }

    private ResultCode helloOnNewConnection(final String key) throws IOException
    {
        try (Wire wire = new Wire(ledger).timeout(WAIT_MILLIS))
        {
            return wire.send(Frames.hello(key)).read().code();
        }
    }

    private static boolean eventually(final BooleanSupplier condition) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() > deadline)
            {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }

    private String metrics()
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        try
        {
            ledger.metrics.write(out);
        }
        catch (final IOException ex)
        {
            throw new IllegalStateException(ex);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private boolean metricsContain(final String line)
    {
        return metrics().contains(line);
    }

    private void removeLine(final String name) throws IOException
    {
        ApiKeys.edit(dir.resolve("keys"), lines ->
        {
            final List<String> kept = new ArrayList<>(lines);
            assertTrue(kept.removeIf(line -> line.endsWith(" " + name)), "no line for " + name + ": " + lines);
            return kept;
        });
    }

    @Test
    void shouldAcceptAKeyAddedWhileServing() throws Exception
    {
        ledger = new TestServer(Threading.SHARED, dir);
        final String key = ApiKeys.generate();
        assertEquals(ResultCode.UNAUTHENTICATED, helloOnNewConnection(key));

        ApiKeys.append(dir.resolve("keys"), Role.GATEWAY, key, "added-later");

        assertTrue(eventually(() -> metricsContain("ledger_keys 3.0")), "the keys file is not read again");
        assertEquals(ResultCode.OK, helloOnNewConnection(key));
    }

    @Test
    void shouldCloseTheConnectionsOfARevokedKeyAndRefuseItAfterwards() throws Exception
    {
        ledger = new TestServer(Threading.SHARED, dir);
        try (Wire gateway = new Wire(ledger).timeout(WAIT_MILLIS).hello(ledger.gatewayKey);
            Wire admin = new Wire(ledger).timeout(WAIT_MILLIS).hello(ledger.adminKey))
        {
            gateway.assertOpen();

            removeLine("test-gateway");

            gateway.assertClosed(); // the revoked key's connection
            admin.assertOpen(); // other keys' connections stay open
        }
        assertEquals(ResultCode.UNAUTHENTICATED, helloOnNewConnection(ledger.gatewayKey));
        assertEquals(ResultCode.OK, helloOnNewConnection(ledger.adminKey));
        assertTrue(metrics().contains("ledger_keys 1.0"), metrics());
    }

    @Test
    void shouldKeepTheKeysInForceWhileTheFileIsBroken() throws Exception
    {
        ledger = new TestServer(Threading.SHARED, dir);
        final Path keys = dir.resolve("keys");
        final String good = Files.readString(keys);
        Files.writeString(keys, "gateway not-a-hash\n", StandardOpenOption.APPEND);

        assertTrue(eventually(() -> metricsContain("ledger_keys_file_failed 1.0")),
            "a broken keys file is not reported");
        assertEquals(ResultCode.OK, helloOnNewConnection(ledger.gatewayKey));
        assertEquals(ResultCode.OK, helloOnNewConnection(ledger.adminKey));

        Files.writeString(keys, good);
        assertTrue(eventually(() -> metricsContain("ledger_keys_file_failed 0.0")),
            "a repaired keys file is still reported broken");
        assertEquals(ResultCode.OK, helloOnNewConnection(ledger.gatewayKey));
    }

    @Test
    void shouldReadTheKeysFileFormat() throws Exception
    {
        final Path keys = dir.resolve("keys");
        final String gateway = ApiKeys.generate();
        final String admin = ApiKeys.generate();
        Files.writeString(keys, "# comment\n\n  GATEWAY " + ApiKeys.hashHex(gateway).toUpperCase() + "  gw one  \n" +
            "admin " + ApiKeys.hashHex(admin) + "\n");
        final ApiKeys table = ApiKeys.load(keys);
        assertEquals(Role.GATEWAY, table.roleOf(gateway));
        assertEquals(Role.ADMIN, table.roleOf(admin));
        assertEquals(Role.NONE, table.roleOf("qlk_unknown"));
        assertEquals(List.of(new ApiKeys.Key(Role.GATEWAY, ApiKeys.hashHex(gateway), "gw one"),
            new ApiKeys.Key(Role.ADMIN, ApiKeys.hashHex(admin), "")), ApiKeys.read(keys));
        try
        {
            ApiKeys.parseLine("gateway " + "z".repeat(64), "keys:3");
            fail("a hash that is not hex is accepted");
        }
        catch (final IllegalArgumentException ex)
        {
            assertTrue(ex.getMessage().startsWith("keys:3: "), ex.getMessage());
        }
    }
}
