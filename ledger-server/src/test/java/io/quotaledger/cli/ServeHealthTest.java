package io.quotaledger.cli;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.ResultCode;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.JournalStage;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerHost;
import io.quotaledger.engine.Snapshotter;
import io.quotaledger.engine.Threading;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.Journals;
import io.quotaledger.server.MetricsHttpServer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /health} of {@code ledger serve} once a bug has stopped the ledger: unhealthy (503), with the reason.
 */
class ServeHealthTest
{
    private static final long POISON = 666;

    @TempDir
    Path temp;

    @ParameterizedTest
    @EnumSource(Threading.class)
    void shouldReportTheLedgerStoppedWithItsReason(final Threading threading) throws Exception
    {
        final JournalStage journal = new JournalStage(JournalAppender.open(new DataDir(temp.resolve("data")),
            Durability.PROCESS, Journals.rollCycle("daily"), 0));
        final LedgerEngine engine = LedgerEngine.start(new EngineConfig().threading(threading)
            .ledgerFactory((config, sink) -> new Ledger(config, outcome ->
            {
                if (outcome.amount() == POISON)
                {
                    throw new IllegalStateException("test: a bug");
                }
                sink.onOutcome(outcome);
            }))
            .ledger(new LedgerConfig().expectedAccounts(16).dedupeWindowCount(1 << 10))
            .addStage(journal));
        try
        {
            engine.execute(new Command().op(Op.CREDIT).requestId(1, 1).userId(1).amount(10), 10, TimeUnit.SECONDS);
            final MetricsHttpServer.Health ok = ServeCommand.health(host(engine, journal), 3, null);
            assertTrue(ok.healthy(), ok.json());
            assertTrue(ok.json().startsWith("{\"status\":\"ok\""), ok.json());
            assertTrue(ok.json().contains("\"threading\":\"" + threading.label() + "\""), ok.json());

            assertEquals(ResultCode.UNAVAILABLE, engine.execute(new Command().op(Op.CREDIT).requestId(1, 2).userId(1)
                .amount(POISON), 10, TimeUnit.SECONDS).code());
            final MetricsHttpServer.Health stopped = ServeCommand.health(host(engine, journal), 3, null);
            assertFalse(stopped.healthy());
            assertTrue(stopped.json().startsWith("{\"status\":\"stopped\""), stopped.json());
            assertTrue(stopped.json().contains("\"failure\":\"the ledger failed on Command{op=CREDIT"),
                stopped.json());
            assertTrue(stopped.json().contains("test: a bug"), stopped.json());
        }
        finally
        {
            engine.close();
            journal.close();
        }
    }

    /**
     * The engine and journal as serve sees them.
     */
    private static LedgerHost host(final LedgerEngine engine, final JournalStage journal)
    {
        return new LedgerHost()
        {
            public LedgerEngine engine()
            {
                return engine;
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
                return CompletableFuture.failedFuture(new UnsupportedOperationException());
            }

            public long lastSnapshotPauseNanos()
            {
                return 0;
            }

            public String recoveredSummary()
            {
                return "";
            }

            public List<String> acceptedLoss()
            {
                return List.of();
            }

            public void close()
            {
            }
        };
    }
}
