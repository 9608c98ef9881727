package io.quotaledger.bench.compare;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Redis + Lua contender is driven as the ledger is: its few pipelined connections and nothing else reach Redis,
 * and every charge and rejection is still exact. Needs a redis-server on this machine; skipped, with a message,
 * without one (CI has none; CompareQuickTest reports the skip).
 */
class RedisContenderTest
{
    @Test
    void shouldChargeExactlyOverItsPipelinedConnectionsAndNoOthers(@TempDir final Path dir) throws Exception
    {
        final int port = CompareCommand.freePort();
        final Optional<RedisContender> found = RedisContender.find(dir.resolve("redis"), port, 2);
        assumeTrue(found.isPresent(), "no redis-server on this machine: the Redis contender is not tested");
        try (RedisContender redis = found.get())
        {
            redis.start();
            final Scenario mixed = Scenario.mixed(30, 7); // 10 poor users: most of their requests are refused
            redis.populate(mixed);
            final Tally tally = new Tally(mixed.users());

            final Measurement closed = redis.closedLoop(new Phase(mixed, tally, 8, 0, 0, 300_000_000L));
            final Measurement open = redis.openLoop(new Phase(mixed, tally, 8, 2_000, 0, 200_000_000L));
            final Check check = Check.of(mixed, tally, redis.read(mixed));

            assertTrue(check.passed(), check.problems().toString());
            assertTrue(tally.rejected() > 0, check.summary());
            assertEquals(0, closed.errors() + open.errors());
            assertEquals(2, connectionsReceived(port) - 1, "the contender's 2 connections, and this probe's");
            final Driving driving = redis.driving(8);
            assertEquals(2, driving.connections());
            assertEquals("4", driving.perConnection());
            assertTrue(driving.pipelined());
            assertTrue(driving.client().startsWith("Lettuce 7."), driving.client());

            final Optional<RedisContender.Ceiling> ceiling = redis.ceiling(100, 2, 4, 2_000);
            ceiling.ifPresent(c ->
            {
                assertTrue(c.perSecond() > 0, c.toString());
                assertTrue(c.command().contains("-c 2 -P 4 -n 2000 -r 100"), c.command());
                assertEquals("uniform-100", c.scenario());
            });
        }
    }

    /** Connections Redis has accepted since it started, this one included, read from INFO over a raw socket. */
    private static long connectionsReceived(final int port) throws IOException
    {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port))
        {
            socket.getOutputStream().write("INFO stats\r\n".getBytes(StandardCharsets.US_ASCII));
            final InputStream in = socket.getInputStream();
            final StringBuilder info = new StringBuilder();
            final byte[] buffer = new byte[8192];
            while (!info.toString().contains("total_connections_received:") ||
                info.indexOf("\r\n", info.indexOf("total_connections_received:")) < 0)
            {
                final int n = in.read(buffer);
                if (n < 0)
                {
                    break;
                }
                info.append(new String(buffer, 0, n, StandardCharsets.US_ASCII));
            }
            final int at = info.indexOf("total_connections_received:") + "total_connections_received:".length();
            return Long.parseLong(info.substring(at, info.indexOf("\r\n", at)).strip());
        }
    }
}
