package io.quotaledger.cli;

import io.quotaledger.journal.DataDir;
import io.quotaledger.projector.Projector;
import io.quotaledger.server.ServerMetrics;

import java.util.function.LongSupplier;

/**
 * The projector inside {@code ledger serve}: PostgreSQL (embedded or external) and a projector thread following the
 * journal, with its lag in the metrics. It only reads the journal, so nothing it does (or fails to do) reaches the
 * ledger's hot path.
 */
final class ServeProjection implements AutoCloseable
{
    private final DatabaseOptions.Opened database;
    private final Projector projector;

    private ServeProjection(final DatabaseOptions.Opened database, final Projector projector)
    {
        this.database = database;
        this.projector = projector;
    }

    /**
     * Starts the database (when embedded) and the projector thread, and registers the projector's gauges.
     *
     * @param lossAccepted true when this start accepted a journal loss: tables that hold lost outcomes are rebuilt
     *                     ({@link Projector#rebuildOnMismatch}) instead of refused.
     */
    static ServeProjection start(
        final DatabaseOptions options,
        final DataDir dir,
        final LongSupplier journalEnd,
        final boolean lossAccepted,
        final ServerMetrics metrics)
        throws Exception
    {
        final DatabaseOptions.Opened database = options.open(dir);
        final Projector projector = new Projector(dir, database.store(), Projector.Settings.defaults(), journalEnd)
            .rebuildOnMismatch(lossAccepted);
        metrics.gauge("ledger_projector_lag_events", "Journal outcomes not yet in PostgreSQL",
            projector::lagEvents);
        metrics.gauge("ledger_projector_lag_seconds",
            "0 when PostgreSQL is caught up, else the age of the newest outcome it holds", projector::lagSeconds);
        metrics.gauge("ledger_projector_checkpoint", "Journal sequence of the last outcome in PostgreSQL",
            projector::checkpoint);
        metrics.gauge("ledger_projector_failures", "Failed projector attempts (each retried with backoff)",
            projector::failures);
        metrics.gauge("ledger_projector_refused",
            "1 while the projected tables do not match the journal (rebuild them: ledger project --rebuild)",
            () -> projector.refused() ? 1 : 0);
        projector.start();
        return new ServeProjection(database, projector);
    }

    /**
     * @return how analysts connect, in psql form: the embedded database's read-only role (and where its password
     * is), or the external database's URL.
     */
    String psql()
    {
        return database.psql();
    }

    /** The projector's checkpoint and lag, for the shutdown log line. */
    String state()
    {
        if (projector.refused())
        {
            return "projector refused tables that do not match the journal (ledger project --rebuild)";
        }
        final long lag = projector.lagEvents();
        return lag == 0 ? String.format(java.util.Locale.ROOT, "projector caught up at %,d", projector.checkpoint())
            : String.format(java.util.Locale.ROOT, "projector at %,d (%,d behind, projected at the next start)",
                projector.checkpoint(), lag);
    }

    boolean embedded()
    {
        return database.embedded() != null;
    }

    Projector projector()
    {
        return projector;
    }

    public void close()
    {
        projector.close();
        try
        {
            database.close();
        }
        catch (final Exception ex)
        {
            System.err.println("ledger serve: stopping PostgreSQL: " + ex);
        }
    }
}
