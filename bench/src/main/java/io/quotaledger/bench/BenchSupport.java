package io.quotaledger.bench;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.BusySpinWaitStrategy;
import com.lmax.disruptor.PhasedBackoffWaitStrategy;
import com.lmax.disruptor.YieldingWaitStrategy;
import io.quotaledger.engine.EngineConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What the journal benchmarks share: choosing a wait strategy by name and making and removing scratch data
 * directories.
 */
public final class BenchSupport
{
    private BenchSupport()
    {
    }

    /**
     * Sets the ring's wait strategy by name.
     *
     * @param name "yielding", "stage" (the EngineConfig default, left as it is), "phased" (Disruptor's phased
     *             backoff to a lite lock), "busyspin" or "blocking".
     * @return the config.
     */
    static EngineConfig waitStrategy(final EngineConfig config, final String name)
    {
        switch (name)
        {
            case "yielding":
                return config.waitStrategy(new YieldingWaitStrategy());
            case "busyspin":
                return config.waitStrategy(new BusySpinWaitStrategy());
            case "blocking":
                return config.waitStrategy(new BlockingWaitStrategy());
            case "phased":
                return config.waitStrategy(PhasedBackoffWaitStrategy.withLiteLock(100, 1000, TimeUnit.MICROSECONDS));
            case "stage":
                return config;
            default:
                throw new IllegalArgumentException("unknown wait strategy: " + name);
        }
    }

    /**
     * Creates a fresh directory for a ledger's data.
     *
     * @param parent where to create it; empty or null for the system's temporary folder.
     */
    public static Path scratchDir(final String parent, final String prefix)
    {
        try
        {
            if (parent == null || parent.isEmpty())
            {
                return Files.createTempDirectory(prefix);
            }
            final Path base = Path.of(parent);
            Files.createDirectories(base);
            return Files.createTempDirectory(base, prefix);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * Deletes a directory and everything in it; a missing one is fine.
     */
    public static void deleteRecursively(final Path dir)
    {
        if (dir == null || !Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path path : (Iterable<Path>)paths.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.deleteIfExists(path);
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * @return the bytes of all files under a directory.
     */
    static long sizeOf(final Path dir)
    {
        try (Stream<Path> paths = Files.walk(dir))
        {
            return paths.filter(Files::isRegularFile).mapToLong(path ->
            {
                try
                {
                    return Files.size(path);
                }
                catch (final IOException ex)
                {
                    return 0;
                }
            }).sum();
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    public static double micros(final long nanos)
    {
        return nanos / 1_000.0;
    }

    static long gcCount()
    {
        long count = 0;
        for (final java.lang.management.GarbageCollectorMXBean gc :
            java.lang.management.ManagementFactory.getGarbageCollectorMXBeans())
        {
            count += Math.max(0, gc.getCollectionCount());
        }
        return count;
    }

    static long gcMillis()
    {
        long millis = 0;
        for (final java.lang.management.GarbageCollectorMXBean gc :
            java.lang.management.ManagementFactory.getGarbageCollectorMXBeans())
        {
            millis += Math.max(0, gc.getCollectionTime());
        }
        return millis;
    }

    /**
     * @return the value after an option in a plain argument list.
     */
    static String value(final String[] args, final int i, final String option)
    {
        if (i >= args.length)
        {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }
}
