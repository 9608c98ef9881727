package io.quotaledger.engine;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

import io.quotaledger.core.Ledger;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import net.openhft.chronicle.queue.RollCycle;
import org.agrona.concurrent.SystemEpochClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * The durable ledger: recovers the state from the data directory (newest good snapshot, then the journal), starts
 * the engine with the journal stage first after the business logic, and takes snapshots. Started and closed as one.
 */
public final class LedgerRuntime implements LedgerHost
{
    private static final Logger LOG = LoggerFactory.getLogger(LedgerRuntime.class);

    /**
     * Where and how the journal and snapshots are kept.
     *
     * @param dir                    the data directory.
     * @param durability             PROCESS or FSYNC.
     * @param rollCycle              how often the journal starts a new file.
     * @param snapshotEveryOutcomes  periodic snapshot after this many outcomes (0: off).
     * @param snapshotEveryMinutes   periodic snapshot after this many minutes with changes (0: off).
     * @param snapshotsToKeep        older snapshots are deleted.
     * @param journalReserve         bytes of disk kept allocated ahead of the journal's end; at least what the ring
     *                               can hold in flight ({@link #minimumJournalReserve}), which 0 asks for.
     * @param acceptJournalLoss      start from what is readable when the journal lost acknowledged changes, instead
     *                               of refusing ({@link Recovery}); for one start, on an operator's decision.
     */
    public record Settings(
        DataDir dir,
        Durability durability,
        RollCycle rollCycle,
        long snapshotEveryOutcomes,
        long snapshotEveryMinutes,
        int snapshotsToKeep,
        long journalReserve,
        boolean acceptJournalLoss)
    {
        /**
         * Settings with the smallest journal reserve that is safe for the ring, refusing a journal that lost
         * acknowledged changes.
         */
        public Settings(
            final DataDir dir,
            final Durability durability,
            final RollCycle rollCycle,
            final long snapshotEveryOutcomes,
            final long snapshotEveryMinutes,
            final int snapshotsToKeep)
        {
            this(dir, durability, rollCycle, snapshotEveryOutcomes, snapshotEveryMinutes, snapshotsToKeep, 0, false);
        }
    }

    private final Recovery.Result recovery;
    private final JournalStage journal;
    private final LedgerEngine engine;
    private final Snapshotter snapshotter;

    private LedgerRuntime(final Settings settings, final EngineConfig config) throws IOException
    {
        settings.dir().create();
        recovery = Recovery.recover(settings.dir(), () -> new Ledger(config.ledger(), OutcomeSink.NONE), true,
            Recovery.Limit.END, Recovery.Progress.NONE, settings.acceptJournalLoss());
        LOG.info("recovered {} accounts at sequence {} in {} ms ({} from snapshot {}, {} outcomes replayed)",
            recovery.ledger().accountCount(), recovery.lastSequence(), TimeUnit.NANOSECONDS.toMillis(recovery.nanos()),
            recovery.snapshot() == null ? "nothing" : "state",
            recovery.snapshot() == null ? "-" : recovery.snapshot().path().getFileName(), recovery.replayed());

        final long minimumReserve = minimumJournalReserve(settings.rollCycle(), config);
        if (settings.journalReserve() != 0 && settings.journalReserve() < minimumReserve)
        {
            LOG.warn("journal reserve of {} bytes raised to {}: what a ring of {} can hold in flight",
                settings.journalReserve(), minimumReserve, config.ringSize());
        }
        journal = new JournalStage(JournalAppender.open(settings.dir(), settings.durability(), settings.rollCycle(),
            recovery.lastSequence(), Math.max(settings.journalReserve(), minimumReserve), SystemEpochClock.INSTANCE));
        final EngineConfig engineConfig = config.copy()
            .ledgerFactory((ledgerConfig, sink) ->
            {
                recovery.ledger().outcomeSink(sink);
                return recovery.ledger();
            })
            .lastSequence(recovery.lastSequence())
            .lastTimestamp(recovery.lastTimestamp())
            .insertStage(0, journal)
            .acceptingChanges(journal::acceptingChanges);
        engine = LedgerEngine.start(engineConfig);
        snapshotter = new Snapshotter(engine, new SnapshotStore(settings.dir()), journal::lastSequence,
            settings.snapshotsToKeep(), recovery.snapshot() == null ? 0 : recovery.snapshot().sequence());
        snapshotter.schedule(settings.snapshotEveryOutcomes(), settings.snapshotEveryMinutes(), journal::lastSequence);
    }

    /**
     * Recovers and starts. The stages already in {@code config} run after the journal.
     */
    public static LedgerRuntime start(final Settings settings, final EngineConfig config) throws IOException
    {
        return new LedgerRuntime(settings, config);
    }

    /**
     * The journal's reserve must hold everything that can be in flight between the business logic and the journal
     * when the journal finds it can no longer keep its reserve: a full ring, each event written as its own document
     * with as many outcomes as an event can carry, plus a new cycle file and the largest document.
     *
     * @return the smallest safe reserve, in bytes.
     */
    public static long minimumJournalReserve(final RollCycle rollCycle, final EngineConfig config)
    {
        return JournalAppender.minimumReserve(rollCycle) +
            config.ringSize() * JournalAppender.documentBytes(config.ledger().maxOutcomesPerCommand());
    }

    public LedgerEngine engine()
    {
        return engine;
    }

    public Snapshotter snapshotter()
    {
        return snapshotter;
    }

    public JournalStage journal()
    {
        return journal;
    }

    public Recovery.Result recovery()
    {
        return recovery;
    }

    public long journalSequence()
    {
        return journal.lastSequence();
    }

    public String journalFailure()
    {
        return journal.failure();
    }

    public String lowOnSpace()
    {
        return journal.lowOnSpace();
    }

    public long journalSpaceAhead()
    {
        return journal.appender().spaceAhead();
    }

    public CompletableFuture<Snapshotter.Snapshot> snapshot()
    {
        return snapshotter.snapshot();
    }

    public long lastSnapshotPauseNanos()
    {
        return snapshotter.lastPauseNanos();
    }

    public String recoveredSummary()
    {
        return String.format(Locale.ROOT, "recovered %,d accounts at journal sequence %,d",
            recovery.ledger().accountCount(), recovery.lastSequence());
    }

    public List<String> acceptedLoss()
    {
        return recovery.acceptedLoss();
    }

    /**
     * Drains the ring (every accepted command is journaled and answered), stops the threads, closes the journal.
     */
    public void close()
    {
        snapshotter.close();
        engine.close();
        journal.close();
    }
}
