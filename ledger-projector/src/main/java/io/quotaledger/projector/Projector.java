package io.quotaledger.projector;

import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalCorruptedException;
import io.quotaledger.journal.JournalReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
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
 * <p>Whenever it reads the checkpoint (at start, after each failure) it first checks that the journal's outcome at
 * the checkpoint is the one the tables counted (its time and the CRC kept with the checkpoint): a journal that lost
 * its end ({@code --accept-journal-loss}) and grew again has other outcomes under the same sequence numbers, which
 * going on from the checkpoint would skip while the tables keep the lost ones. It refuses such tables
 * ({@link ProjectionMismatchException}) until they are rebuilt, or, when told the loss was accepted at this start
 * ({@link #rebuildOnMismatch}), rebuilds them itself.
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
    private ProjectionBatch batch = new ProjectionBatch(null);
    private long checkpoint = -1;
    private OutcomeType checkpointType; // the type of the outcome at the checkpoint: what the next batch follows
    private ProjectorStore.Checkpoint unverified; // read from PostgreSQL, not yet compared with the journal
    private ProjectorStore.Checkpoint refusedAt; // a stored checkpoint found not to match the journal, and why:
    private String refusal; // retries refuse it again without reading the journal (its outcome there cannot change)
    private boolean rebuildOnMismatch;
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
    private volatile boolean refused;

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
     * For a ledger that accepted a journal loss at this start: tables that do not match the journal are emptied and
     * projected again from the journal's start (once), instead of refused. Not when the journal no longer starts at
     * outcome 1 (archived cycles): the rebuild could not complete, so the tables are refused and kept as they are.
     * Call before {@link #start()}.
     */
    public Projector rebuildOnMismatch(final boolean rebuild)
    {
        this.rebuildOnMismatch = rebuild;
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
            final long outcomes = projectOrRebuild();
            refused = false;
            return outcomes;
        }
        catch (final RuntimeException ex)
        {
            refused = ex instanceof ProjectionMismatchException;
            recover();
            throw ex;
        }
    }

    private long projectOrRebuild()
    {
        try
        {
            return project();
        }
        catch (final ProjectionMismatchException ex)
        {
            if (!rebuildOnMismatch)
            {
                throw ex;
            }
            rebuild(ex);
            return project();
        }
    }

    private long project()
    {
        if (checkpoint < 0)
        {
            final ProjectorStore.Checkpoint stored = store.checkpoint();
            if (stored.equals(refusedAt))
            {
                throw new ProjectionMismatchException(refusal);
            }
            checkpoint = stored.sequence();
            checkpointType = stored.outcomeType();
            batch = new ProjectionBatch(checkpointType);
            committed = checkpoint;
            committedTime = stored.outcomeTime();
            unverified = checkpoint > 0 ? stored : null;
        }
        final JournalReader journal = reader();
        knownEnd = journal.lastSequence();
        if (knownEnd < checkpoint)
        {
            throw mismatch("the projector checkpoint (" + checkpoint + ") is past the end of the journal (" +
                knownEnd + "): the journal lost outcomes these tables hold (an accepted journal loss?), or the " +
                "tables were projected from another journal");
        }
        if (knownEnd == checkpoint && unverified == null)
        {
            return 0;
        }
        final long before = checkpoint;
        firstOfRead = true;
        // an unverified checkpoint is read again first: the journal's outcome at it must be the one counted
        journal.follow(unverified == null ? checkpoint : checkpoint - 1, (sequence, outcome) ->
        {
            if (unverified != null)
            {
                if (sequence == checkpoint)
                {
                    verify(sequence, outcome);
                    return !closing;
                }
                if (sequence == checkpoint + 1)
                {
                    LOG.warn("projector: cannot check the tables against the journal, which now starts right " +
                        "after the checkpoint's outcome {} (older cycles archived); going on from the checkpoint",
                        checkpoint);
                }
                unverified = null;
            }
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
            batch = new ProjectionBatch(checkpointType); // not written: projected again from the checkpoint
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

    /**
     * @return true while the projector refuses tables that do not match the journal
     * ({@link ProjectionMismatchException}): it projects nothing until they are rebuilt.
     */
    public boolean refused()
    {
        return refused;
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
                    if (ex instanceof ProjectionMismatchException)
                    {
                        LOG.error("projector: {}", message);
                    }
                    else
                    {
                        LOG.warn("projector: {}; retrying from the checkpoint in the background", message);
                    }
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
        batch = new ProjectionBatch(null);
        checkpoint = -1;
        checkpointType = null;
        unverified = null;
        store.reset();
        closeReader(); // a journal that was rolled or archived meanwhile is opened afresh
    }

    /**
     * Compares the journal's outcome at an unverified checkpoint with the one the tables counted.
     */
    private void verify(final long sequence, final Outcome outcome)
    {
        final ProjectorStore.Checkpoint counted = unverified;
        final long crc = ProjectionBatch.crc(outcome);
        final boolean sameTime = counted.outcomeTime() == 0 || counted.outcomeTime() == outcome.timestamp();
        final boolean sameCrc = counted.outcomeCrc() < 0 || counted.outcomeCrc() == crc; // unknown: older tables
        if (!sameTime || !sameCrc)
        {
            throw mismatch("the journal's outcome " + sequence + " (" + Instant.ofEpochMilli(outcome.timestamp()) +
                ", CRC " + Long.toHexString(crc) + ") is not the one the projector checkpoint counted (" +
                Instant.ofEpochMilli(counted.outcomeTime()) + ", CRC " +
                (counted.outcomeCrc() < 0 ? "unknown" : Long.toHexString(counted.outcomeCrc())) + "): the journal " +
                "lost outcomes these tables hold (an accepted journal loss?) and others took their sequence numbers, " +
                "or the tables were projected from another journal");
        }
        unverified = null;
    }

    /**
     * @return the refusal; when it concerns the checkpoint just read, it is kept, so that retries refuse that same
     * checkpoint without reading the journal again (its outcome at the checkpoint cannot change).
     */
    private ProjectionMismatchException mismatch(final String reason)
    {
        final ProjectionMismatchException ex = new ProjectionMismatchException(reason);
        if (unverified != null)
        {
            refusedAt = unverified;
            refusal = reason;
        }
        return ex;
    }

    /**
     * Empties the tables so that the journal is projected again from its start, unless its start is archived.
     */
    private void rebuild(final ProjectionMismatchException why)
    {
        recover();
        final long first = reader().read(0, (sequence, outcome) -> false).lastSequence();
        if (first > 1)
        {
            throw new ProjectionMismatchException(why.reason() + "; not rebuilt by itself after the accepted " +
                "journal loss, as the journal now starts at outcome " + first + ": restore the archived cycles " +
                "before it first");
        }
        LOG.error("projector: {}; the journal loss was accepted at this start: emptying the tables to project the " +
            "journal again from its start", why.reason());
        store.clear();
        rebuildOnMismatch = false;
        refusedAt = null;
    }

    private void flush()
    {
        if (batch.isEmpty())
        {
            return;
        }
        final ProjectionBatch full = batch;
        batch = new ProjectionBatch(full.lastType());
        store.write(full, checkpoint);
        checkpoint = full.lastSequence();
        checkpointType = full.lastType();
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
