package io.quotaledger.engine;

import java.util.Locale;

/**
 * How the engine maps its work onto threads, as Aeron's media driver does with its {@code ThreadingMode}. The
 * business logic, the journal and the replies are the same code in every mode; only who runs them changes.
 */
public enum Threading
{
    /**
     * One thread does the whole path of a batch: it reads the sockets, decodes, decides, appends the batch to the
     * journal (and msyncs in FSYNC mode), encodes the results and writes them, with no hand-off in between. For small
     * machines, where every extra runnable thread costs latency. Idle, it blocks in epoll and costs no CPU.
     */
    SHARED,
    /**
     * A pipeline: network I/O threads, a ring, then the business logic, the journal and the replies each on a thread
     * of its own, the journal write of one batch overlapping the decisions of the next. For many cores.
     */
    DEDICATED;

    /** From this many cores on, {@link #byDefault()} is {@link #DEDICATED}. */
    public static final int DEDICATED_FROM_CORES = 4;

    /**
     * @return {@link #SHARED} below {@link #DEDICATED_FROM_CORES} cores, {@link #DEDICATED} from there on.
     */
    public static Threading forCores(final int cores)
    {
        return cores < DEDICATED_FROM_CORES ? SHARED : DEDICATED;
    }

    /**
     * @return the mode for the cores this JVM sees.
     */
    public static Threading byDefault()
    {
        return forCores(Runtime.getRuntime().availableProcessors());
    }

    /**
     * @return the mode as the command line and the metrics spell it: shared or dedicated.
     */
    public String label()
    {
        return name().toLowerCase(Locale.ROOT);
    }
}
