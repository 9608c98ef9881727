package io.quotaledger.engine;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import org.agrona.concurrent.CachedEpochClock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bug inside the business logic stops the writer: the failing command's outcomes never reach the journal, it and
 * everything after it are answered UNAVAILABLE (never a result over half-changed state), nothing more is applied,
 * and a restart recovers from the journal. The bug is injected through {@link EngineConfig#ledgerFactory()}: a
 * ledger whose outcome sink fails on the second outcome of one SETTLE (the first, the hold's expiry, already
 * applied).
 */
@ParameterizedClass
@EnumSource(Threading.class)
class FailStopTest
{
    private static final long T0 = 1_767_225_600_000L;
    private static final long USER = 42;
    private static final long POISON = 0xBAD;

    @Parameter
    Threading threading;

    @TempDir
    Path temp;

    private final CachedEpochClock clock = new CachedEpochClock();
    private final LedgerConfig ledgerConfig = new LedgerConfig().dedupeWindowCount(1 << 12).expectedAccounts(16);

    private Result execute(final LedgerEngine engine, final Command command) throws Exception
    {
        return engine.execute(command, 10, TimeUnit.SECONDS);
    }

    private static Command settle(final long amount)
    {
        return new Command().op(Op.SETTLE).requestId(7, POISON).holdId(5, 1).amount(amount);
    }

    @Test
    void shouldStopOnABugJournalNothingOfItAndRecoverOnRestart() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("data"));
        clock.update(T0);
        final ch.qos.logback.classic.Logger logger =
            (ch.qos.logback.classic.Logger)LoggerFactory.getLogger(BusinessLogicHandler.class);
        final ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        logger.addAppender(logged);

        final JournalStage journal = new JournalStage(
            JournalAppender.open(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0));
        final LedgerEngine engine = LedgerEngine.start(new EngineConfig().ledger(ledgerConfig).threading(threading)
            .clock(clock)
            .tickIntervalMillis(3_600_000) // no tick expires the hold first: the SETTLE finds it due
            .ledgerFactory((config, sink) -> new Ledger(config, outcome ->
            {
                if (outcome.requestIdLo() == POISON && outcome.type() == OutcomeType.REJECTED)
                {
                    throw new AssertionError("test: a broken invariant");
                }
                sink.onOutcome(outcome);
            }))
            .addStage(journal)
            .acceptingChanges(journal::acceptingChanges));
        final long journaled;
        try
        {
            assertEquals(ResultCode.OK, execute(engine, new Command().op(Op.CREDIT).requestId(1, 1).userId(USER)
                .amount(1_000)).code());
            assertEquals(ResultCode.OK, execute(engine, new Command().op(Op.RESERVE).requestId(5, 1).userId(USER)
                .serviceId(1).amount(100).ttlMillis(1_000)).code());
            clock.advance(2_000);

            assertEquals(ResultCode.UNAVAILABLE, execute(engine, settle(50)).code(), "never INTERNAL_ERROR");
            assertNotNull(engine.failure());
            assertTrue(engine.failure().contains("SETTLE"), engine.failure());
            assertEquals(1, engine.internalErrors());
            final List<String> errors = new ArrayList<>();
            logged.list.stream().filter(e -> e.getLevel() == Level.ERROR)
                .forEach(e -> errors.add(e.getFormattedMessage()));
            assertEquals(1, errors.size(), errors.toString());
            assertTrue(errors.get(0).contains("STOPPED") && errors.get(0).contains("op=SETTLE"), errors.get(0));

            // nothing more is applied or answered, queries included, and no state is handed out for a snapshot
            assertEquals(ResultCode.UNAVAILABLE, execute(engine, new Command().op(Op.CREDIT).requestId(1, 2)
                .userId(USER).amount(5)).code());
            assertEquals(ResultCode.UNAVAILABLE, execute(engine, new Command().op(Op.QUERY).userId(USER)).code());
            assertThrows(IllegalStateException.class, () -> engine.requestState((ledger, sequence, time) -> { }));
            assertEquals(1, engine.internalErrors(), "one bug, counted once");
            journaled = journal.lastSequence();
            assertEquals(2, journaled, "the credit and the hold");
            assertNull(journal.failure());
        }
        finally
        {
            logger.detachAppender(logged);
            engine.close();
            journal.close();
        }

        final List<String> inJournal = new ArrayList<>();
        try (JournalReader reader = JournalReader.open(dir))
        {
            reader.read(0, (sequence, outcome) -> inJournal.add(outcome.type() + " " + outcome.requestIdLo()));
        }
        assertEquals(List.of("CREDITED 1", "HOLD_OPENED 1"), inJournal, "nothing of the failed SETTLE");

        // a restart recovers the state before the bug (the credit and the open hold, now due: the ticker or the SETTLE
        // itself expires it); the SETTLE, resent, meets a working ledger
        try (LedgerRuntime restarted = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig).threading(threading).clock(clock).tickIntervalMillis(3_600_000)))
        {
            assertEquals(journaled, restarted.recovery().lastSequence());
            final Result settled = execute(restarted.engine(), settle(50));
            assertEquals(ResultCode.HOLD_ALREADY_CLOSED, settled.code(), "the hold expired before the settle");
            assertFalse(settled.duplicate());
            final Result state = execute(restarted.engine(), new Command().op(Op.QUERY).userId(USER));
            assertEquals(1_000, state.balance());
            assertEquals(0, state.held());
            assertNull(restarted.engine().failure());
        }
    }
}
