package io.quotaledger.bench.compare;

import io.quotaledger.bench.BenchSupport;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Quota charged in Redis by a Lua script (check the free quota, then the balance, then change both, atomically), the
 * way gateways that moved off SQL do it. A {@code redis-server} of this machine is started on a free port with an
 * append-only file written before each reply and fsynced every second ({@code appendfsync everysec}: survives a
 * crash of Redis, not of the machine, like the ledger's {@code process} durability).
 */
final class RedisContender extends PooledContender
{
    /** KEYS[1] the user's hash; ARGV[1] the amount. 1 charged, 0 refused, -1 no such user. */
    static final String SCRIPT = """
        local v = redis.call('HMGET', KEYS[1], 'balance', 'free_total', 'free_used')
        if not v[1] then return -1 end
        local amount = tonumber(ARGV[1])
        local free_left = tonumber(v[2]) - tonumber(v[3])
        if free_left < 0 then free_left = 0 end
        local from_free = math.min(amount, free_left)
        local from_balance = amount - from_free
        if tonumber(v[1]) < from_balance then return 0 end
        if from_free > 0 then redis.call('HINCRBY', KEYS[1], 'free_used', from_free) end
        if from_balance > 0 then redis.call('HINCRBY', KEYS[1], 'balance', -from_balance) end
        return 1
        """;

    private static final int TIMEOUT_MILLIS = 60_000;

    private final Path binary;
    private final Path dir;
    private final int port;
    private Process process;
    private String sha;
    private String version = "?";

    private RedisContender(final Path binary, final Path dir, final int port)
    {
        this.binary = binary;
        this.dir = dir;
        this.port = port;
    }

    /**
     * @return a contender when a {@code redis-server} binary is on the PATH (or in /usr/bin, /usr/sbin), else empty.
     */
    static Optional<RedisContender> find(final Path dir, final int port)
    {
        final List<String> places = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        places.add("/usr/bin");
        places.add("/usr/sbin");
        for (final String place : places)
        {
            final Path candidate = Path.of(place.isEmpty() ? "." : place, "redis-server");
            if (Files.isExecutable(candidate))
            {
                return Optional.of(new RedisContender(candidate, dir, port));
            }
        }
        return Optional.empty();
    }

    @Override
    public String name()
    {
        return "Redis + Lua";
    }

    @Override
    public List<String> settings()
    {
        return List.of(
            "redis-server " + version + " (" + binary + "), appendonly yes, appendfsync everysec, no RDB snapshots",
            "EVALSHA of a check-and-deduct Lua script per request; Jedis, one connection per worker thread");
    }

    @Override
    public void start() throws Exception
    {
        Files.createDirectories(dir);
        process = new ProcessBuilder(binary.toString(), "--port", Integer.toString(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", dir.toString(),
            "--maxclients", "10000", "--daemonize", "no")
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("redis.log").toFile())
            .start();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true)
        {
            try (Jedis jedis = new Jedis("127.0.0.1", port))
            {
                jedis.ping();
                sha = jedis.scriptLoad(SCRIPT);
                version = versionOf(jedis.info("server"));
                return;
            }
            catch (final RuntimeException ex)
            {
                if (!process.isAlive() || System.nanoTime() > deadline)
                {
                    throw new IOException("redis-server did not start; its log: " + dir.resolve("redis.log"), ex);
                }
                Thread.sleep(50);
            }
        }
    }

    @Override
    public void populate(final Scenario scenario) throws Exception
    {
        try (Jedis jedis = new Jedis("127.0.0.1", port))
        {
            jedis.flushAll();
            final Pipeline pipeline = jedis.pipelined();
            for (int i = 0; i < scenario.users(); i++)
            {
                pipeline.hset(key(scenario.userId(i)), Map.of(
                    "balance", Long.toString(scenario.balance(i)),
                    "free_total", Long.toString(scenario.free(i)),
                    "free_used", "0"));
            }
            pipeline.sync();
        }
    }

    @Override
    protected Session session()
    {
        final Jedis jedis = new Jedis("127.0.0.1", port, TIMEOUT_MILLIS); // not Jedis's 2 s: an AOF stall is slow
        final String amount = Long.toString(Scenario.AMOUNT);
        return new Session()
        {
            @Override
            public int deduct(final long userId, final long ignored)
            {
                final long answer = (Long)jedis.evalsha(sha, 1, key(userId), amount);
                return answer == 1 ? Tally.OK : answer == 0 ? Tally.REJECTED : Tally.ERROR;
            }

            @Override
            public void close()
            {
                jedis.close();
            }
        };
    }

    @Override
    public State read(final Scenario scenario)
    {
        final State state = State.of(scenario.users());
        try (Jedis jedis = new Jedis("127.0.0.1", port))
        {
            final Pipeline pipeline = jedis.pipelined();
            final List<Response<List<String>>> answers = new ArrayList<>(scenario.users());
            for (int i = 0; i < scenario.users(); i++)
            {
                answers.add(pipeline.hmget(key(scenario.userId(i)), "balance", "free_used"));
            }
            pipeline.sync();
            for (int i = 0; i < scenario.users(); i++)
            {
                final List<String> values = answers.get(i).get();
                if (values.get(0) != null)
                {
                    state.balance()[i] = Long.parseLong(values.get(0));
                    state.freeUsed()[i] = Long.parseLong(values.get(1));
                }
            }
        }
        return state;
    }

    @Override
    public void close() throws Exception
    {
        if (process != null)
        {
            process.destroy();
            if (!process.waitFor(20, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
            }
            process = null;
        }
        BenchSupport.deleteRecursively(dir);
    }

    private static String key(final long userId)
    {
        return "quota:" + userId;
    }

    private static String versionOf(final String info)
    {
        for (final String line : info.split("\r?\n"))
        {
            if (line.startsWith("redis_version:"))
            {
                return line.substring("redis_version:".length()).strip();
            }
        }
        return "?";
    }
}
