package io.quotaledger.bench.compare;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
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

    @Test
    void shouldAdmitExactlyWhatEachVirtualKeyAllows(@TempDir final Path dir) throws Exception
    {
        final Optional<RedisContender> found = RedisContender.find(dir.resolve("redis"), CompareCommand.freePort(), 2);
        assumeTrue(found.isPresent(), "no redis-server on this machine: the Redis contender is not tested");
        try (RedisContender redis = found.get())
        {
            redis.start();
            final Scenario keyed = Scenario.virtualKeys(10, 7); // 20 keys: 2 with a tight budget, 2 rate-limited
            redis.populate(keyed);
            final Tally tally = new Tally(keyed.targets());

            final Measurement closed = redis.closedLoop(new Phase(keyed, tally, 8, 0, 0, 300_000_000L));
            final Measurement open = redis.openLoop(new Phase(keyed, tally, 8, 2_000, 0, 200_000_000L));
            final Check check = Check.of(keyed, tally, redis.read(keyed));

            assertTrue(check.passed(), check.problems().toString());
            assertEquals(0, closed.errors() + open.errors());
            assertTrue(tally.rejected(Tally.KEY_BUDGET) > 0, check.summary());
            assertTrue(tally.rejected(Tally.RATE_LIMITED) > 0, check.summary());
            assertEquals(0, tally.rejected(Tally.REJECTED), check.summary());
        }
    }

    @Test
    void shouldCheckTheKeyInTheLedgersOrderAndChangeNothingWhenItRefuses(@TempDir final Path dir) throws Exception
    {
        final int port = CompareCommand.freePort();
        final Optional<RedisContender> found = RedisContender.find(dir.resolve("redis"), port, 1);
        assumeTrue(found.isPresent(), "no redis-server on this machine: the Redis contender is not tested");
        final RedisClient client = RedisClient.create(RedisURI.create("127.0.0.1", port));
        try (RedisContender redis = found.get())
        {
            redis.start();
            final Scenario keyed = Scenario.virtualKeys(2, 1); // users 1, 2; keys 1, 2 of user 1, keys 3, 4 of user 2
            redis.populate(keyed);
            try (StatefulRedisConnection<String, String> connection = client.connect())
            {
                final RedisCommands<String, String> r = connection.sync();
                final String user = RedisContender.key(1);
                final String key = RedisContender.virtualKey(1);
                final long nowMillis = Long.parseLong(r.time().get(0)) * 1000;
                final long hour = 3_600_000L;

                assertEquals(-2, deduct(r, user, RedisContender.virtualKey(99), 1), "no such key");
                assertEquals(-2, deduct(r, RedisContender.key(2), key, 2), "user 1's key, named by user 2");
                assertEquals(-1, deduct(r, RedisContender.key(9), key, 9), "no such user");

                r.hset(key, "revoked", "1");
                assertEquals(-3, deduct(r, user, key, 1));
                r.hset(key, "revoked", "0");
                r.hset(key, "expires_at", Long.toString(nowMillis - 1));
                assertEquals(-4, deduct(r, user, key, 1));
                r.hset(key, "expires_at", Long.toString(nowMillis + hour));
                assertEquals(1, deduct(r, user, key, 1), "not expired yet");

                // GCRA, 2 a day (T = 12 h): a TAT a minute short of T ahead admits one more, then nothing
                r.hset(key, Map.of("emission_us", Long.toString(12 * hour * 1000), "limit_us",
                    Long.toString(24 * hour * 1000), "tat_us", Long.toString((nowMillis + 12 * hour - 60_000) * 1000)));
                assertEquals(1, deduct(r, user, key, 1));
                final Map<String, String> afterAdmit = r.hgetall(key);
                assertEquals(Long.toString((nowMillis + 24 * hour - 60_000) * 1000), afterAdmit.get("tat_us"),
                    "moved by T, written in full digits");
                assertEquals(3, deduct(r, user, key, 1));
                assertEquals(afterAdmit, r.hgetall(key), "a refusal changes nothing");

                // budget of 1 request per hour from the anchor: spent in the current period refuses, an old period not
                r.hset(key, Map.of("emission_us", "0", "budget", Long.toString(Scenario.AMOUNT), "reset_ms",
                    Long.toString(hour), "anchor", Long.toString(nowMillis - 5 * hour - hour / 2), "period", "5",
                    "spent", Long.toString(Scenario.AMOUNT)));
                final Map<String, String> spentUp = r.hgetall(key);
                final Map<String, String> userBefore = r.hgetall(user);
                assertEquals(2, deduct(r, user, key, 1));
                assertEquals(spentUp, r.hgetall(key));
                assertEquals(userBefore, r.hgetall(user));
                r.hset(key, "period", "4");
                assertEquals(1, deduct(r, user, key, 1), "a new period, a new budget");
                assertEquals("5", r.hget(key, "period"));
                assertEquals(Long.toString(Scenario.AMOUNT), r.hget(key, "spent"));

                // funds are checked last: a key with room and a user without money
                final String other = RedisContender.virtualKey(2);
                r.hset(user, Map.of("balance", "0", "free_used", r.hget(user, "free_total")));
                final Map<String, String> otherBefore = r.hgetall(other);
                assertEquals(0, deduct(r, user, other, 1));
                assertEquals(otherBefore, r.hgetall(other));
            }
        }
        finally
        {
            client.shutdown();
        }
    }

    private static long deduct(final RedisCommands<String, String> redis, final String user, final String key,
        final long userId)
    {
        return redis.<Long>eval(RedisContender.KEYED_SCRIPT, ScriptOutputType.INTEGER, new String[] { user, key },
            Long.toString(Scenario.AMOUNT), Long.toString(userId));
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
