package io.quotaledger.bench.compare;

import io.quotaledger.bench.BenchSupport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code scripts/bench redis-ceiling}: what {@code redis-benchmark} (C, no client cost to speak of) gets from the
 * compare suite's Redis with the same check-and-deduct script, the figure the Redis + Lua contender of
 * {@code compare} should approach on the same machine.
 */
@Command(name = "redis-ceiling", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Starts redis-server as `scripts/bench compare` does (appendonly yes, appendfsync everysec), gives it the " +
        "users of the uniform scenario and the same check-and-deduct Lua script, and runs redis-benchmark's " +
        "EVALSHA against it: the ceiling of the Redis + Lua figure of compare on this machine.",
        "Needs redis-server and redis-benchmark (Debian: apt-get install redis-server). Exit status: 0 when " +
        "measured, 1 when they are missing or fail, 2 on bad options." })
public final class RedisCeiling implements Callable<Integer>
{
    @Option(names = "--users", description = "Users, drawn uniformly (default: 100000, as compare's uniform " +
        "scenario).")
    int users = 100_000;

    @Option(names = "--runs", split = ",", paramLabel = "CLIENTSxPIPELINE", description = "redis-benchmark runs: " +
        "connections x requests each sends before it waits for their answers (default: 100x16 (the usual " +
        "reference), 2x50 (compare's 2 connections x 50 in flight), 100x1 (unpipelined)).")
    List<String> runs = List.of("100x16", "2x50", "100x1");

    @Option(names = "--requests", description = "Requests of each run (default: 1000000).")
    long requests = 1_000_000;

    @Option(names = "--work", paramLabel = "DIR", description = "Scratch folder for Redis's data (default: the " +
        "system's temporary folder); deleted afterwards.")
    String work;

    private RedisCeiling()
    {
    }

    public static void main(final String[] args)
    {
        System.exit(run(args));
    }

    /**
     * @return the exit status.
     */
    public static int run(final String... args)
    {
        return new CommandLine(new RedisCeiling()).execute(args);
    }

    @Override
    public Integer call() throws Exception
    {
        final List<int[]> shapes = new ArrayList<>();
        for (final String run : runs)
        {
            final String[] parts = run.toLowerCase(Locale.ROOT).split("x");
            if (parts.length != 2 || !parts[0].matches("[1-9][0-9]{0,4}") || !parts[1].matches("[1-9][0-9]{0,4}"))
            {
                throw new CommandLine.ParameterException(new CommandLine(this), "--runs takes CLIENTSxPIPELINE " +
                    "pairs such as 100x16, not '" + run + "'");
            }
            shapes.add(new int[] { Integer.parseInt(parts[0]), Integer.parseInt(parts[1]) });
        }
        if (users < 1 || requests < 1)
        {
            throw new CommandLine.ParameterException(new CommandLine(this), "--users and --requests must be at " +
                "least 1");
        }
        final Path scratch = BenchSupport.scratchDir(work, "redis-ceiling-");
        try
        {
            final Optional<RedisContender> found = RedisContender.find(scratch.resolve("redis"),
                CompareCommand.freePort(), 1);
            if (found.isEmpty())
            {
                System.err.println("redis-ceiling: no redis-server binary on this machine (Debian: apt-get install " +
                    "redis-server)");
                return 1;
            }
            try (RedisContender redis = found.get())
            {
                redis.start();
                System.out.println("EVALSHA of compare's check-and-deduct script, " + String.format(Locale.ROOT,
                    "%,d", users) + " users drawn uniformly; PORT and SHA stand for the server's port and the " +
                    "script's digest");
                for (final int[] shape : shapes)
                {
                    final Optional<RedisContender.Ceiling> ceiling = redis.ceiling(users, shape[0], shape[1],
                        requests);
                    if (ceiling.isEmpty())
                    {
                        System.err.println("redis-ceiling: no redis-benchmark binary on this machine (Debian: " +
                            "apt-get install redis-tools)");
                        return 1;
                    }
                    System.out.printf(Locale.ROOT, "%,12.0f EVALSHA/s  %s%n", ceiling.get().perSecond(),
                        ceiling.get().command());
                }
            }
            return 0;
        }
        catch (final Exception ex) // Redis did not start or redis-benchmark failed: say so, no stack trace
        {
            System.err.println("redis-ceiling: " + ex.getMessage());
            return 1;
        }
        finally
        {
            BenchSupport.deleteRecursively(scratch);
        }
    }
}
