package io.quotaledger.engine;

import io.quotaledger.core.Ledger;
import io.quotaledger.journal.SnapshotStore;
import org.agrona.concurrent.UnsafeBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;

/**
 * Takes snapshots of a running engine: the business-logic thread copies the state into a buffer kept from one
 * snapshot to the next and takes the state checksum for the header (the pause, which is measured). A background
 * thread waits until the journal holds every outcome the copy includes, then writes the file and prunes old ones.
 * One snapshot at a time; periodic snapshots every N outcomes or M minutes. Memory: the state plus the copy, never a
 * second ledger (one would not fit the default heap at a million users with keys). That the copy loads back into the
 * checksum is checked where a ledger is built anyway: at recovery, which passes over a snapshot that does not and
 * falls back to an older one or the journal, and by {@code ledger verify} and {@code ledger archive}. So that a
 * fallback always has somewhere to go, pruning keeps the snapshot this run recovered from: it loaded and checked out.
 */
public final class Snapshotter implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(Snapshotter.class);

    /**
     * A snapshot written.
     *
     * @param file        the snapshot file.
     * @param sequence    last outcome it includes.
     * @param bytes       payload size.
     * @param pauseNanos  how long the business-logic thread was held copying the state and taking its checksum.
     * @param totalNanos  from request to a durable file.
     */
    public record Snapshot(Path file, long sequence, long bytes, long pauseNanos, long totalNanos)
    {
    }

    private final LedgerEngine engine;
    private final SnapshotStore store;
    private final LongSupplier journaledSequence;
    private final int keep;
    private final ScheduledExecutorService writer;
    private final AtomicBoolean inProgress = new AtomicBoolean();
    private final long recoveredFrom;
    private volatile long lastSnapshotSequence;
    private volatile long lastSnapshotNanos = System.nanoTime();
    private volatile long lastPauseNanos;
    private byte[] buffer = new byte[0]; // reused; only one snapshot is ever in progress

    /**
     * @param journaledSequence    the journal's last durable sequence: a snapshot is final only once it is reached.
     * @param keep                 snapshots to keep; older ones are deleted after each new one, except the one the
     *                             state was recovered from.
     * @param lastSnapshotSequence the sequence of the snapshot the state was recovered from (0 for none): periodic
     *                             snapshots count outcomes from there, replayed ones included, and it is kept.
     */
    public Snapshotter(
        final LedgerEngine engine,
        final SnapshotStore store,
        final LongSupplier journaledSequence,
        final int keep,
        final long lastSnapshotSequence)
    {
        this.engine = engine;
        this.store = store;
        this.journaledSequence = journaledSequence;
        this.keep = keep;
        this.lastSnapshotSequence = lastSnapshotSequence;
        this.recoveredFrom = lastSnapshotSequence;
        this.writer = Executors.newSingleThreadScheduledExecutor(runnable ->
        {
            final Thread thread = new Thread(runnable, "ledger-snapshot");
            thread.setDaemon(true);
            return thread;
        });
    }

    /**
     * Takes a snapshot now, unless one is in progress (then the returned future completes with null).
     */
    public CompletableFuture<Snapshot> snapshot()
    {
        final CompletableFuture<Snapshot> result = new CompletableFuture<>();
        if (!inProgress.compareAndSet(false, true))
        {
            result.complete(null);
            return result;
        }
        final long requested = System.nanoTime();
        try
        {
            engine.requestState((ledger, sequence, timestamp) ->
                copyAndWrite(ledger, sequence, timestamp, requested, result));
        }
        catch (final RuntimeException ex)
        {
            inProgress.set(false);
            result.completeExceptionally(ex);
        }
        return result;
    }

    /**
     * Starts periodic snapshots: whenever {@code everyOutcomes} outcomes or {@code everyMinutes} minutes have passed
     * since the last one (with at least one new outcome). A value of 0 turns that trigger off. Outcomes replayed at
     * recovery count from the snapshot recovery started from, so a restart snapshots only when that many are due.
     *
     * @param currentSequence the engine's latest outcome sequence, read from any thread.
     */
    public void schedule(final long everyOutcomes, final long everyMinutes, final LongSupplier currentSequence)
    {
        writer.scheduleWithFixedDelay(() ->
        {
            if (due(currentSequence.getAsLong(), everyOutcomes, everyMinutes, System.nanoTime()) && !inProgress.get() &&
                engine.failure() == null) // stopped: nothing to keep
            {
                snapshot().exceptionally(ex ->
                {
                    LOG.error("periodic snapshot failed", ex);
                    return null;
                });
            }
        }, 1, 1, TimeUnit.SECONDS);
    }

    /**
     * @return whether a periodic snapshot is due at {@code sequence} and time {@code nowNanos}.
     */
    boolean due(final long sequence, final long everyOutcomes, final long everyMinutes, final long nowNanos)
    {
        return isDue(sequence - lastSnapshotSequence, nowNanos - lastSnapshotNanos, everyOutcomes, everyMinutes);
    }

    /**
     * The rule for periodic snapshots, also the cluster's.
     *
     * @param outcomesSince outcomes applied since the last snapshot.
     * @param nanosSince    time since the last snapshot.
     * @param everyOutcomes snapshot after this many outcomes; 0: off.
     * @param everyMinutes  snapshot after this many minutes, when there was any outcome; 0: off.
     * @return whether a snapshot is due.
     */
    public static boolean isDue(
        final long outcomesSince, final long nanosSince, final long everyOutcomes, final long everyMinutes)
    {
        final boolean byCount = everyOutcomes > 0 && outcomesSince >= everyOutcomes;
        final boolean byTime = everyMinutes > 0 && outcomesSince > 0 &&
            nanosSince >= TimeUnit.MINUTES.toNanos(everyMinutes);
        return byCount || byTime;
    }

    /**
     * @return how long the last snapshot held the business-logic thread, in nanoseconds.
     */
    public long lastPauseNanos()
    {
        return lastPauseNanos;
    }

    /**
     * @return the sequence of the last snapshot written, or of the one recovery started from until then.
     */
    public long lastSnapshotSequence()
    {
        return lastSnapshotSequence;
    }

    public void close()
    {
        writer.shutdown();
        try
        {
            if (!writer.awaitTermination(60, TimeUnit.SECONDS))
            {
                LOG.warn("snapshot writer did not finish within 60 s");
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * On the business-logic thread: the only part that pauses the ledger.
     */
    private void copyAndWrite(
        final Ledger ledger,
        final long sequence,
        final long timestamp,
        final long requested,
        final CompletableFuture<Snapshot> result)
    {
        if (recoveredFrom > 0 && sequence == recoveredFrom)
        {
            writer.execute(() -> keepRecoveredFrom(requested, result));
            return;
        }
        final long start = System.nanoTime();
        final UnsafeBuffer copy;
        final int length;
        final long checksum;
        final long copied;
        try
        {
            final int needed = ledger.snapshotLength();
            if (buffer.length < needed)
            {
                buffer = new byte[needed + needed / 8]; // room to grow before the next snapshot reallocates
            }
            copy = new UnsafeBuffer(buffer, 0, needed);
            length = ledger.writeSnapshot(copy, 0);
            copied = System.nanoTime();
            checksum = ledger.checksum();
        }
        catch (final RuntimeException | OutOfMemoryError ex)
        {
            inProgress.set(false);
            result.completeExceptionally(ex);
            return;
        }
        final long end = System.nanoTime();
        final long pause = end - start;
        lastPauseNanos = pause;
        writer.execute(() ->
        {
            try
            {
                awaitJournal(sequence);
                final Path file = store.write(sequence, timestamp, checksum, copy, length);
                store.prune(keep, recoveredFrom);
                lastSnapshotSequence = sequence;
                lastSnapshotNanos = System.nanoTime();
                LOG.info("snapshot {} at sequence {}: {} MiB, business thread paused {} ms ({} ms copying, {} ms " +
                    "taking the state checksum)", file.getFileName(), sequence, length >> 20,
                    TimeUnit.NANOSECONDS.toMillis(pause), TimeUnit.NANOSECONDS.toMillis(copied - start),
                    TimeUnit.NANOSECONDS.toMillis(end - copied));
                finish(result, new Snapshot(file, sequence, length, pause, System.nanoTime() - requested), null);
            }
            catch (final Exception | OutOfMemoryError ex)
            {
                finish(result, null, ex);
            }
        });
    }

    /**
     * Ends the snapshot in progress, then answers: whoever hears the answer may ask for the next one at once.
     */
    private void finish(final CompletableFuture<Snapshot> result, final Snapshot snapshot, final Throwable failure)
    {
        inProgress.set(false);
        if (failure != null)
        {
            result.completeExceptionally(failure);
        }
        else
        {
            result.complete(snapshot);
        }
    }

    /**
     * Nothing has changed since the snapshot the state was recovered from: that file, which loaded and checked out,
     * is the snapshot, rather than a new copy (not checked) written over it.
     */
    private void keepRecoveredFrom(final long requested, final CompletableFuture<Snapshot> result)
    {
        try
        {
            for (final SnapshotStore.Info info : store.list())
            {
                if (info.sequence() == recoveredFrom)
                {
                    finish(result, new Snapshot(info.path(), recoveredFrom, info.payloadLength(), 0,
                        System.nanoTime() - requested), null);
                    return;
                }
            }
            finish(result, null, new IllegalStateException("the snapshot the state was recovered from, at " +
                "sequence " + recoveredFrom + ", is gone from " + store.folder()));
        }
        catch (final Exception ex)
        {
            finish(result, null, ex);
        }
    }

    private void awaitJournal(final long sequence) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (journaledSequence.getAsLong() < sequence)
        {
            if (System.nanoTime() > deadline)
            {
                throw new IllegalStateException("journal did not reach sequence " + sequence + " within 30 s");
            }
            Thread.sleep(1);
        }
    }
}
