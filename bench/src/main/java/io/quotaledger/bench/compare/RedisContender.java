package io.quotaledger.bench.compare;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.metrics.CommandLatencyRecorder;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.NettyCustomizer;
import io.lettuce.core.resource.Transports;
import io.netty.channel.Channel;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.quotaledger.bench.BenchSupport;
import io.quotaledger.bench.Workload;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Quota charged in Redis by a Lua script (check the free quota, then the balance, then change both, atomically), the
 * way gateways that moved off SQL do it. A {@code redis-server} of this machine is started on a free port with an
 * append-only file written before each reply and fsynced every second ({@code appendfsync everysec}: survives a
 * crash of Redis, not of the machine, like the ledger's {@code process} durability).
 *
 * <p>Driven exactly as the ledger is ({@link PipelinedContender}): the same connections, the same requests in flight
 * on each, through Lettuce's asynchronous API. Lettuce is, like the ledger's client, a Netty client that completes
 * requests on its I/O thread; the writes a batch of answers triggers are flushed together at the end of the read, as
 * the ledger's client flushes once per batch of queued frames.
 */
final class RedisContender extends PipelinedContender
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

    /**
     * The virtual-key scenario's script: the same checks as the ledger's, in its order, then the charge of the key and
     * the user together. KEYS[1] the user's hash, KEYS[2] the key's hash; ARGV[1] the amount, ARGV[2] the user id.
     * 1 charged; refused: 0 for funds, 2 by the key's budget, 3 by its rate limit; -1 no such user, -2 no such key
     * (or another user's), -3 key revoked, -4 key expired. The clock is Redis's own (TIME), in milliseconds as the
     * ledger's; the rate limit is GCRA in microseconds, as the ledger's (docs/semantics.md): admit iff
     * {@code max(tat, now) + T - now <= P}. Lua's numbers are doubles, exact below 2^53 (microseconds since 1970 are
     * about 2^51); they are written back with %d, never in exponent form.
     */
    static final String KEYED_SCRIPT = """
        local v = redis.call('HMGET', KEYS[1], 'balance', 'free_total', 'free_used')
        if not v[1] then return -1 end
        local k = redis.call('HMGET', KEYS[2], 'user', 'revoked', 'expires_at', 'budget', 'reset_ms', 'anchor',
            'period', 'spent', 'emission_us', 'limit_us', 'tat_us')
        if k[1] ~= ARGV[2] then return -2 end
        if k[2] ~= '0' then return -3 end
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local expires = tonumber(k[3])
        if expires ~= 0 and now >= expires then return -4 end
        local amount = tonumber(ARGV[1])
        local tat = tonumber(k[11])
        local emission = tonumber(k[9])
        if emission > 0 then
            local now_us = now * 1000
            if tat < now_us then tat = now_us end
            tat = tat + emission
            if tat - now_us > tonumber(k[10]) then return 3 end
        end
        local reset = tonumber(k[5])
        local period = 0
        if reset > 0 then period = math.floor((now - tonumber(k[6])) / reset) end
        local spent = 0
        if period == tonumber(k[7]) then spent = tonumber(k[8]) end
        local budget = tonumber(k[4])
        if budget >= 0 and spent + amount > budget then return 2 end
        local free_left = tonumber(v[2]) - tonumber(v[3])
        if free_left < 0 then free_left = 0 end
        local from_free = math.min(amount, free_left)
        local from_balance = amount - from_free
        if tonumber(v[1]) < from_balance then return 0 end
        if from_free > 0 then redis.call('HINCRBY', KEYS[1], 'free_used', from_free) end
        if from_balance > 0 then redis.call('HINCRBY', KEYS[1], 'balance', -from_balance) end
        redis.call('HSET', KEYS[2], 'period', string.format('%d', period), 'spent', string.format('%d', spent + amount),
            'tat_us', string.format('%d', tat))
        return 1
        """;

    /** Keys are "quota:" and the user id in 12 digits: the keys redis-benchmark's {@code __rand_int__} makes. */
    private static final String KEY_PREFIX = "quota:";
    /** A virtual key's hash: "vkey:" and the key id in 12 digits. */
    private static final String VIRTUAL_KEY_PREFIX = "vkey:";
    private static final String ZEROS = "000000000000";
    private static final String AMOUNT = Long.toString(Scenario.AMOUNT);
    /** Not a few seconds: an AOF rewrite or a slow disk stalls Redis, and a timeout would be an error. */
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    /** Set-up and read-back requests in flight at a time. */
    private static final int BATCH = 8192;

    private final Path binary;
    private final Path dir;
    private final int port;
    private final List<StatefulRedisConnection<String, String>> open = new ArrayList<>();
    private final List<RedisAsyncCommands<String, String>> async = new ArrayList<>();
    private ClientResources resources;
    private RedisClient client;
    private Process process;
    private String sha;
    private String keyedSha;
    private String version = "?";

    private RedisContender(final Path binary, final Path dir, final int port, final int connections)
    {
        super(connections);
        this.binary = binary;
        this.dir = dir;
        this.port = port;
    }

    /**
     * @param connections pipelined connections the load uses, as many as the ledger's client gets.
     * @return a contender when a {@code redis-server} binary is on the PATH (or in /usr/bin, /usr/sbin), else empty.
     */
    static Optional<RedisContender> find(final Path dir, final int port, final int connections)
    {
        return locate("redis-server").map(binary -> new RedisContender(binary, dir, port, connections));
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
            "EVALSHA of a check-and-deduct Lua script per request, on a hash per user",
            "virtual-key scenario: EVALSHA of a script that checks the key (this user's, not revoked, not expired), " +
            "its GCRA rate limit and its budget in the current period, then the free quota and the balance, and " +
            "updates the key and the user, on a hash per key and per user; Redis's TIME is the clock");
    }

    @Override
    protected String client()
    {
        return "Lettuce " + Machine.version("io.lettuce", "lettuce-core") + ", asynchronous API (RESP3, Netty " +
            Transports.socketChannelClass().getSimpleName().replace("SocketChannel", "").toLowerCase(Locale.ROOT) +
            "), one I/O thread per connection, the writes of one read's answers flushed together";
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
        resources = DefaultClientResources.builder()
            .ioThreadPoolSize(connections) // one I/O thread per connection, as the ledger's client has
            .computationThreadPoolSize(1)
            .commandLatencyRecorder(CommandLatencyRecorder.disabled())
            .nettyCustomizer(new NettyCustomizer()
            {
                @Override
                public void afterChannelInitialized(final Channel channel)
                {
                    // writes made while a read is handled are flushed once when it ends, others once per task
                    channel.pipeline().addFirst(new FlushConsolidationHandler(
                        FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES, true));
                }
            })
            .build();
        client = RedisClient.create(resources, RedisURI.builder().withHost("127.0.0.1").withPort(port)
            .withTimeout(TIMEOUT).build());
        // no timer per command (Lettuce's default): a phase fails on its own deadline when answers stop coming, as
        // the ledger's client sweeps its requests instead of timing each
        client.setOptions(ClientOptions.builder().autoReconnect(false).timeoutOptions(TimeoutOptions.create())
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (open.isEmpty())
        {
            try
            {
                open.add(client.connect());
            }
            catch (final RedisConnectionException ex)
            {
                if (!process.isAlive() || System.nanoTime() > deadline)
                {
                    throw new IOException("redis-server did not start; its log: " + dir.resolve("redis.log"), ex);
                }
                Thread.sleep(50);
            }
        }
        while (open.size() < connections)
        {
            open.add(client.connect());
        }
        for (final StatefulRedisConnection<String, String> connection : open)
        {
            async.add(connection.async());
        }
        sha = open.get(0).sync().scriptLoad(SCRIPT);
        keyedSha = open.get(0).sync().scriptLoad(KEYED_SCRIPT);
        version = versionOf(open.get(0).sync().info("server"));
    }

    @Override
    public void populate(final Scenario scenario) throws Exception
    {
        final RedisAsyncCommands<String, String> redis = async.get(0);
        redis.flushall().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS); // the script stays loaded
        final List<RedisFuture<?>> pending = new ArrayList<>(BATCH);
        for (int i = 0; i < scenario.users(); i++)
        {
            pending.add(redis.hset(key(scenario.userId(i)), Map.of(
                "balance", Long.toString(scenario.balance(i)),
                "free_total", Long.toString(scenario.free(i)),
                "free_used", "0")));
            if (pending.size() == BATCH)
            {
                awaitAll(pending);
            }
        }
        final long now = System.currentTimeMillis(); // the keys' budget periods count from their creation
        for (int key = 0; key < scenario.keys(); key++)
        {
            pending.add(redis.hset(virtualKey(scenario.keyId(key)), Map.ofEntries(
                Map.entry("user", Long.toString(scenario.userIdOfTarget(key))),
                Map.entry("revoked", "0"),
                Map.entry("expires_at", "0"),
                Map.entry("budget", Long.toString(scenario.keyBudget(key))),
                Map.entry("reset_ms", Long.toString(Scenario.KEY_RESET_MILLIS)),
                Map.entry("anchor", Long.toString(now)),
                Map.entry("period", "0"),
                Map.entry("spent", "0"),
                Map.entry("emission_us", Long.toString(scenario.keyEmissionMicros(key))),
                Map.entry("limit_us", Long.toString(Scenario.KEY_RATE_MICROS)),
                Map.entry("tat_us", "0"))));
            if (pending.size() == BATCH)
            {
                awaitAll(pending);
            }
        }
        awaitAll(pending);
    }

    @Override
    protected void deduct(final int connection, final long userId, final long virtualKeyId, final Answer answer)
    {
        final RedisFuture<Long> reply = virtualKeyId == 0
            ? async.get(connection).evalsha(sha, ScriptOutputType.INTEGER, new String[] { key(userId) }, AMOUNT)
            : async.get(connection).evalsha(keyedSha, ScriptOutputType.INTEGER,
                new String[] { key(userId), virtualKey(virtualKeyId) }, AMOUNT, Long.toString(userId));
        reply.whenComplete((code, ex) ->
        {
            final long now = System.nanoTime();
            answer.answered(ex != null || code == null ? Tally.ERROR : outcome(code), now);
        });
    }

    /**
     * @return what a script's answer means for the tally; an answer no scenario expects is an error.
     */
    static int outcome(final long code)
    {
        return code == 1 ? Tally.OK : code == 0 ? Tally.REJECTED : code == 2 ? Tally.KEY_BUDGET
            : code == 3 ? Tally.RATE_LIMITED : Tally.ERROR;
    }

    @Override
    public State read(final Scenario scenario) throws Exception
    {
        final State state = State.of(scenario);
        final RedisAsyncCommands<String, String> redis = async.get(0);
        final List<RedisFuture<List<KeyValue<String, String>>>> pending = new ArrayList<>(BATCH);
        for (int from = 0; from < scenario.users(); from += BATCH)
        {
            final int to = Math.min(scenario.users(), from + BATCH);
            pending.clear();
            for (int i = from; i < to; i++)
            {
                pending.add(redis.hmget(key(scenario.userId(i)), "balance", "free_used"));
            }
            for (int i = from; i < to; i++)
            {
                final List<KeyValue<String, String>> values = pending.get(i - from).get(TIMEOUT.toSeconds(),
                    TimeUnit.SECONDS);
                if (values.get(0).hasValue())
                {
                    state.balance()[i] = Long.parseLong(values.get(0).getValue());
                    state.freeUsed()[i] = Long.parseLong(values.get(1).getValue());
                }
            }
        }
        final List<RedisFuture<String>> spent = new ArrayList<>(BATCH);
        for (int from = 0; from < scenario.keys(); from += BATCH)
        {
            final int to = Math.min(scenario.keys(), from + BATCH);
            spent.clear();
            for (int key = from; key < to; key++)
            {
                spent.add(redis.hget(virtualKey(scenario.keyId(key)), "spent"));
            }
            for (int key = from; key < to; key++)
            {
                final String value = spent.get(key - from).get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                if (value != null)
                {
                    state.keySpent()[key] = Long.parseLong(value);
                }
            }
        }
        return state;
    }

    /**
     * What {@code redis-benchmark} gets from this server with the same script on {@code users} users of the uniform
     * scenario (ids from 0, which its {@code __rand_int__} draws uniformly): the ceiling of what a client can get.
     * Each of its {@code clients} connections sends {@code pipeline} requests, then waits for all their answers.
     * Leaves those users behind: populate before anything that checks a scenario.
     *
     * @return EVALSHA answered per second, or empty when no {@code redis-benchmark} is installed.
     */
    Optional<Ceiling> ceiling(final int users, final int clients, final int pipeline, final long requests)
        throws Exception
    {
        final Optional<Path> benchmark = locate("redis-benchmark");
        if (benchmark.isEmpty())
        {
            return Optional.empty();
        }
        final Scenario scenario = Scenario.manyUsers(users, Workload.Distribution.UNIFORM, 42);
        scenario.firstUserId(0);
        populate(scenario);
        final List<String> command = List.of(benchmark.get().toString(), "-h", "127.0.0.1",
            "-p", Integer.toString(port), "-c", Integer.toString(clients), "-P", Integer.toString(pipeline),
            "-n", Long.toString(requests), "-r", Integer.toString(users), "--csv",
            "EVALSHA", sha, "1", KEY_PREFIX + "__rand_int__", AMOUNT);
        final Path output = dir.resolve("redis-benchmark.out");
        final Process run = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
            .start();
        // even a busy machine does 10 k/s; far slower is a hang
        final boolean ended = run.waitFor(Math.max(60, requests / 10_000), TimeUnit.SECONDS);
        if (!ended)
        {
            run.destroyForcibly();
        }
        final String printed = Files.readString(output, StandardCharsets.UTF_8).strip();
        if (!ended || run.exitValue() != 0)
        {
            throw new IOException("redis-benchmark " + (ended ? "failed" : "took too long") + ": " + printed);
        }
        for (final String line : printed.split("\r?\n"))
        {
            if (line.startsWith("\"EVALSHA"))
            {
                final String shown = "redis-benchmark " + String.join(" ", command.subList(1, command.size()))
                    .replace("-p " + port, "-p PORT").replace(sha, "SHA");
                return Optional.of(new Ceiling(shown, scenario.name(), clients, pipeline,
                    Double.parseDouble(line.split("\",\"")[1])));
            }
        }
        throw new IOException("no EVALSHA figure in redis-benchmark's output: " + printed);
    }

    /**
     * One {@code redis-benchmark} figure.
     *
     * @param command   the command, with PORT and SHA for the server's port and the script's digest.
     * @param scenario  the scenario whose users and balances it charges, e.g. "uniform-100k".
     * @param perSecond EVALSHA answered per second.
     */
    record Ceiling(String command, String scenario, int clients, int pipeline, double perSecond)
    {
    }

    @Override
    public void close() throws Exception
    {
        for (final StatefulRedisConnection<String, String> connection : open)
        {
            connection.close();
        }
        open.clear();
        async.clear();
        if (client != null)
        {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            client = null;
        }
        if (resources != null)
        {
            resources.shutdown(0, 2, TimeUnit.SECONDS).get();
            resources = null;
        }
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

    /** "quota:000000012345": built by hand, not String.format, which would cost more than the request's encoding. */
    static String key(final long userId)
    {
        return padded(KEY_PREFIX, userId);
    }

    /** "vkey:000000012345", as {@link #key}. */
    static String virtualKey(final long virtualKeyId)
    {
        return padded(VIRTUAL_KEY_PREFIX, virtualKeyId);
    }

    private static String padded(final String prefix, final long id)
    {
        final String digits = Long.toString(id);
        return digits.length() >= ZEROS.length() ? prefix + digits : prefix + ZEROS.substring(digits.length()) + digits;
    }

    private static void awaitAll(final List<RedisFuture<?>> pending) throws Exception
    {
        for (final RedisFuture<?> future : pending)
        {
            future.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        }
        pending.clear();
    }

    /**
     * @return {@code name} on the PATH, or in /usr/bin or /usr/sbin.
     */
    private static Optional<Path> locate(final String name)
    {
        final List<String> places = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        places.add("/usr/bin");
        places.add("/usr/sbin");
        for (final String place : places)
        {
            final Path candidate = Path.of(place.isEmpty() ? "." : place, name);
            if (Files.isExecutable(candidate))
            {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
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
