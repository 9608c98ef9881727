package io.quotaledger.projector;

import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalCorruptedException;
import io.quotaledger.journal.JournalReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Projects the journal into PostgreSQL: reads outcomes after the checkpoint, aggregates them in memory until the
 * batch holds {@link Settings#batchRows()} rows (or {@link #MAX_BATCH_OUTCOMES} outcomes, or the end of the journal)
 * and writes them with the checkpoint in one transaction
 * ({@link ProjectorStore#write}). It never touches the ledger's hot path: it only reads the journal, so a slow or dead
 * PostgreSQL makes it lag, never slows a deduct. On any database error it drops the batch, waits (exponential
 * backoff with jitter), reads the checkpoint again and goes on from there: nothing is lost or counted twice.
 *
 * <p>{@link #catchUp} projects to the end of the journal in the caller's thread; {@link #start()} follows the journal
 * in a thread of its own. Lag and state may be read from any thread.
 */
public final class Projector implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(Projector.class);

    /**
     * A batch ends at this many outcomes even when they fold into few rows, so that a lagging projector still commits
     * (and reports progress) every second or two.
     */
    public static final int MAX_BATCH_OUTCOMES = 1_000_000;

    /**
     * @param batchRows      rows per transaction at most. The cost of a batch is its rows (one per account, usage
     *                       hour, quota... it touches), not its outcomes: the more outcomes fold into the same rows,
     *                       the faster the projector goes.
     * @param pollMillis     how often a caught-up projector looks for new outcomes.
     * @param minBackoffMillis first wait after a failure.
     * @param maxBackoffMillis longest wait between retries.
     */
    public record Settings(int batchRows, long pollMillis, long minBackoffMillis, long maxBackoffMillis)
    {
        public static Settings defaults()
        {
            return new Settings(60_000, 200, 100, 10_000);
        }
    }

    /**
     * Told after every committed batch.
     */
    @FunctionalInterface
    public interface Progress
    {
        void onCommitted(long checkpoint, long outcomes);
    }

    private final DataDir dir;
    private final ProjectorStore store;
    private final Settings settings;
    private final LongSupplier journalEnd;
    private final long startedAt = System.currentTimeMillis();
    private JournalReader reader;
    private ProjectionBatch batch = new ProjectionBatch();
    private long checkpoint = -1;
    private boolean firstOfRead;
    private Progress progress = (c, o) -> { };
    private Thread thread;
    private volatile boolean running;
    private volatile boolean closing;
    private volatile long committed = -1;
    private volatile long committedTime;
    private volatile long knownEnd;
    private volatile long projected;
    private volatile long failures;
    private volatile String lastError;

    /**
     * @param journalEnd the journal's last sequence, when the caller knows it (a running ledger); null to read it
     *                   from the journal.
     */
    public Projector(final DataDir dir, final ProjectorStore store, final Settings settings,
        final LongSupplier journalEnd)
    {
        this.dir = dir;
        this.store = store;
        this.settings = settings;
        this.journalEnd = journalEnd;
    }

    public Projector progress(final Progress progress)
    {
        this.progress = progress;
        return this;
    }

    /**
     * Projects every outcome in the journal now, in this thread.
     *
     * @return the outcomes projected.
     * @throws RuntimeException a database or journal failure: what was committed before it stays.
     */
    public long catchUp()
    {
        try
        {
            return project();
        }
        catch (final RuntimeException ex)
        {
            recover();
            throw ex;
        }
    }

    private long project()
    {
        if (checkpoint < 0)
        {
            final ProjectorStore.Checkpoint stored = store.checkpoint();
            checkpoint = stored.sequence();
            committed = checkpoint;
            committedTime = stored.outcomeTime();
        }
        final JournalReader journal = reader();
        knownEnd = journal.lastSequence();
        if (knownEnd < checkpoint)
        {
            throw new IllegalStateException("the projector checkpoint (" + checkpoint + ") is past the end of " +
                "the journal (" + knownEnd + "): these tables belong to another journal; rebuild them");
        }
        if (knownEnd == checkpoint)
        {
            return 0;
        }
        final long before = checkpoint;
        firstOfRead = true;
        journal.follow(checkpoint, (sequence, outcome) ->
        {
            if (firstOfRead && sequence != checkpoint + 1)
            {
                throw new IllegalStateException("the journal goes on at outcome " + sequence + " but the projector " +
                    "needs " + (checkpoint + 1) + " next: were older journal cycles archived or removed?");
            }
            firstOfRead = false;
            batch.add(sequence, outcome);
            if (batch.rows() >= settings.batchRows() || batch.outcomes() >= MAX_BATCH_OUTCOMES)
            {
                flush();
            }
            return !closing; // a lagging projector stops at close() instead of reading on to the end of the journal
        });
        if (closing)
        {
            batch = new ProjectionBatch(); // not written: the next start projects it again from the checkpoint
            return checkpoint - before;
        }
        flush();
        return checkpoint - before;
    }

    /**
     * Follows the journal in a thread of its own until {@link #close()}.
     */
    public synchronized void start()
    {
        if (thread != null)
        {
            throw new IllegalStateException("already started");
        }
        running = true;
        thread = new Thread(this::run, "ledger-projector");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * @return the sequence of the last outcome in PostgreSQL; -1 before the checkpoint was first read.
     */
    public long checkpoint()
    {
        return committed;
    }

    /**
     * @return outcomes in the journal not yet in PostgreSQL.
     */
    public long lagEvents()
    {
        final long end = journalEnd != null ? journalEnd.getAsLong() : knownEnd;
        return Math.max(0, end - Math.max(0, committed));
    }

    /**
     * @return 0 when caught up; otherwise how old the newest projected outcome is (or how long the projector has run,
     * when nothing is projected yet): how stale the tables may be.
     */
    public double lagSeconds()
    {
        if (lagEvents() == 0)
        {
            return 0;
        }
        final long since = committedTime > 0 ? committedTime : startedAt;
        return Math.max(0, System.currentTimeMillis() - since) / 1000.0;
    }

    /**
     * @return outcomes projected by this projector since it started.
     */
    public long projected()
    {
        return projected;
    }

    /**
     * @return failed attempts so far (each followed by a retry).
     */
    public long failures()
    {
        return failures;
    }

    /**
     * @return the last failure's message, null when the last attempt succeeded.
     */
    public String lastError()
    {
        return lastError;
    }

    public void close()
    {
        final Thread t;
        synchronized (this)
        {
            running = false;
            closing = true;
            t = thread;
        }
        if (t != null)
        {
            t.interrupt();
            try
            {
                t.join(TimeUnit.SECONDS.toMillis(30));
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive())
            {
                LOG.warn("projector: still writing a batch 30 s after close; closing its connection (the batch is " +
                    "rolled back and projected again at the next start)");
            }
        }
        closeReader();
        store.close();
    }

    private void run()
    {
        long backoff = settings.minBackoffMillis();
        while (running)
        {
            long wait = settings.pollMillis();
            try
            {
                catchUp();
                lastError = null;
                backoff = settings.minBackoffMillis();
            }
            catch (final RuntimeException ex)
            {
                if (!running)
                {
                    break;
                }
                failures++;
                final String message = ex instanceof JournalCorruptedException ?
                    "journal corrupted: " + ex.getMessage() : String.valueOf(ex.getMessage());
                if (!message.equals(lastError))
                {
                    LOG.warn("projector: {}; retrying from the checkpoint in the background", message);
                }
                lastError = message;
                wait = backoff + ThreadLocalRandom.current().nextLong(backoff / 2 + 1); // jitter: no herd on restart
                backoff = Math.min(settings.maxBackoffMillis(), backoff * 2);
            }
            sleep(wait);
        }
    }

    /**
     * After a failure nothing in memory can be trusted: the batch may be half applied to a rolled back transaction.
     * Start again from whatever PostgreSQL committed.
     */
    private void recover()
    {
        batch = new ProjectionBatch();
        checkpoint = -1;
        store.reset();
        closeReader(); // a journal that was rolled or archived meanwhile is opened afresh
    }

    private void flush()
    {
        if (batch.isEmpty())
        {
            return;
        }
        final ProjectionBatch full = batch;
        batch = new ProjectionBatch();
        store.write(full, checkpoint);
        checkpoint = full.lastSequence();
        committed = checkpoint;
        committedTime = full.lastTimestamp();
        projected += full.outcomes();
        progress.onCommitted(checkpoint, full.outcomes());
    }

    private JournalReader reader()
    {
        if (reader == null)
        {
            reader = JournalReader.open(dir);
        }
        return reader;
    }

    private void closeReader()
    {
        if (reader != null)
        {
            reader.close();
            reader = null;
        }
    }

    private void sleep(final long millis)
    {
        try
        {
            Thread.sleep(millis);
        }
        catch (final InterruptedException ex)
        {
            // close() wakes the thread; running says whether to go on
        }
    }
}
