package io.quotaledger.cli;

import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Recovery;
import io.quotaledger.projector.ProjectionMismatchException;
import io.quotaledger.projector.Projector;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code ledger project}: the PostgreSQL projector on its own, for a ledger served with {@code --no-projector} or for
 * re-projecting: catches up with a progress bar, then follows the journal until stopped (or exits with --once).
 */
@Command(
    name = "project",
    mixinStandardHelpOptions = true,
    description = {
        "Projects the journal into PostgreSQL (usage per hour, accounts, free quotas, money movements).",
        "Catches up from the projector's checkpoint, then follows the journal until stopped; --once exits when " +
            "caught up. The embedded PostgreSQL under DIR/postgres is used unless --jdbc-url names another; " +
            "a running 'ledger serve' on the same DIR already projects into it (stop it first, or use --once " +
            "against its --jdbc-url).",
        "" })
final class ProjectCommand implements Callable<Integer>
{
    @Option(names = "--data", required = true, paramLabel = "DIR", description = "The ledger's data directory.")
    Path data;

    @Mixin
    DatabaseOptions database;

    @Option(names = "--rebuild", description = "Empty the projected tables and project the journal from its start.")
    boolean rebuild;

    @Option(names = "--once", description = "Exit once caught up instead of following the journal.")
    boolean once;

    @Option(names = "--batch", paramLabel = "ROWS", defaultValue = "60000",
        description = "Rows per transaction at most (one per account, usage hour, quota, movement a batch touches; " +
            "outcomes on the same rows fold into them) (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    public Integer call()
    {
        return Tools.run("project", this::project);
    }

    private int project() throws Exception
    {
        if (batch < 1)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--batch must be at least 1");
        }
        final DataDir dir = Tools.existingDataDir(data);
        Recovery.check(dir); // a journal that lost acknowledged changes is not projected either
        final long end;
        try (JournalReader reader = JournalReader.open(dir))
        {
            end = reader.lastSequence();
        }
        try (DatabaseOptions.Opened db = database.open(dir))
        {
            if (rebuild)
            {
                db.store().clear();
            }
            final long start = db.store().checkpoint().sequence();
            final Projector.Settings defaults = Projector.Settings.defaults();
            final Projector projector = new Projector(dir, db.store(), new Projector.Settings(batch,
                defaults.pollMillis(), defaults.minBackoffMillis(), defaults.maxBackoffMillis()), null);
            final long began = System.nanoTime();
            try (ProgressBar bar = Tools.progressBar("project", Math.max(0, end - start), " outcomes"))
            {
                projector.progress((checkpoint, outcomes) ->
                {
                    bar.maxHint(Math.max(end, checkpoint) - start);
                    bar.stepTo(checkpoint - start);
                });
                projector.catchUp();
            }
            catch (final ProjectionMismatchException ex)
            {
                projector.close();
                throw new Tools.ToolException(Tools.EXIT_FAILURE, ex.getMessage());
            }
            final long nanos = System.nanoTime() - began;
            final long checkpoint = projector.checkpoint();
            if (json)
            {
                System.out.printf("{\"checkpoint\":%d,\"projected\":%d,\"outcomesPerSecond\":%d,\"database\":%s}%n",
                    checkpoint, checkpoint - start, Tools.perSecond(checkpoint - start, nanos),
                    Tools.quote(db.connectionString()));
            }
            else
            {
                System.out.printf("projected %,d outcomes (%,d/s): PostgreSQL is at journal sequence %,d%n",
                    checkpoint - start, Tools.perSecond(checkpoint - start, nanos), checkpoint);
                System.out.printf("  %s%n", db.psql());
            }
            System.out.flush();
            if (!once)
            {
                follow(projector, db);
            }
            projector.close();
        }
        return 0;
    }

    private static void follow(final Projector projector, final DatabaseOptions.Opened db)
        throws InterruptedException
    {
        final CountDownLatch stopped = new CountDownLatch(1);
        final Thread hook = new Thread(() ->
        {
            projector.close();
            try
            {
                db.close(); // the JVM ends with the hooks: the embedded server must be stopped here
            }
            catch (final Exception ex)
            {
                System.err.println("ledger project: stopping PostgreSQL: " + ex);
            }
            stopped.countDown();
        }, "ledger-project-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        System.err.println("following the journal; Ctrl-C stops");
        projector.start();
        stopped.await();
    }
}
