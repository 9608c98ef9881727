package io.quotaledger.projector;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.JournalTampering;
import io.quotaledger.journal.Recovery;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import net.openhft.chronicle.queue.RollCycles;
import org.agrona.ExpandableArrayBuffer;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The projector against a real PostgreSQL (embedded, started once for the class; a fresh database per test): after
 * random workloads, crashes in the middle of a batch and a PostgreSQL restart under load, every table holds exactly
 * what the journal says.
 */
class ProjectorTest
{
    private static final int TOTAL = 20_000;
    /** About what an accepted journal loss keeps of the journal in the tests of a loss. */
    private static final int KEPT = 1_500;

    @TempDir
    static Path postgresDir;
    private static EmbeddedDatabase postgres;
    private static final AtomicInteger DATABASES = new AtomicInteger();

    @TempDir
    Path dataDir;
    private DataDir dir;
    private int kept; // what the accepted journal loss kept, exactly
    private String jdbcUrl;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeAll
    static void startPostgres() throws Exception
    {
        postgres = EmbeddedDatabase.start(postgresDir.resolve("postgres"), 0);
    }

    @AfterAll
    static void stopPostgres() throws Exception
    {
        if (postgres != null)
        {
            postgres.close();
        }
    }

    @BeforeEach
    void newDatabase() throws Exception
    {
        final String name = "projector_" + DATABASES.incrementAndGet();
        postgres.createDatabase(name);
        jdbcUrl = postgres.jdbcUrl(name);
        dir = new DataDir(dataDir);
    }

    @AfterEach
    void close() throws Exception
    {
        for (final AutoCloseable c : closeables)
        {
            c.close();
        }
    }

    @Test
    void shouldProjectRandomWorkloadExactly() throws Exception
    {
        final Workload workload = journal(1, TOTAL);
        final ProjectorStore store = store();
        assertEquals(4, store.migrate());
        final Projector projector = projector(store, 997);
        assertEquals(workload.count(), projector.catchUp());
        assertEquals(0, projector.catchUp(), "nothing new");
        assertProjectionMatches(workload, store);
        assertEquals(0, projector.lagEvents());
    }

    @Test
    void shouldCountExactlyOnceWhenBatchesCrashBeforeCommit() throws Exception
    {
        final Workload workload = journal(2, TOTAL);
        final ProjectorStore store = store();
        store.migrate();
        final AtomicInteger attempts = new AtomicInteger();
        // every third transaction dies after all its rows are written, just before the commit
        store.beforeCommit(last ->
        {
            if (attempts.incrementAndGet() % 3 == 0)
            {
                throw new IllegalStateException("crash before commit at " + last);
            }
        });
        Projector projector = projector(store, 1_500);
        int crashes = 0;
        while (true)
        {
            try
            {
                projector.catchUp();
                break;
            }
            catch (final IllegalStateException ex)
            {
                crashes++;
                if (crashes % 2 == 0)
                {
                    // half of the time the whole projector dies too: a new one starts from the stored checkpoint
                    projector = projector(store, 1_500);
                }
            }
        }
        assertTrue(crashes >= 3, "crashes " + crashes);
        store.beforeCommit(null);
        assertProjectionMatches(workload, store);
    }

    @Test
    void shouldFollowTheJournalAndCatchUpAfterPostgresRestart() throws Exception
    {
        final Workload workload = new Workload(3);
        final JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0);
        closeables.add(appender);
        workload.produceUntil(2_000);
        workload.appendNew(appender, 50);
        final ProjectorStore store = store();
        store.migrate();
        final Projector projector = new Projector(dir, store, new Projector.Settings(500, 20, 20, 200),
            appender::lastSequence);
        closeables.add(0, projector);
        projector.start();
        awaitCheckpoint(projector, workload.count());

        postgres.stop();
        try
        {
            workload.produceUntil(8_000);
            workload.appendNew(appender, 50); // the ledger goes on journaling while PostgreSQL is down
            final long deadline = System.currentTimeMillis() + 10_000;
            while (projector.lastError() == null && System.currentTimeMillis() < deadline)
            {
                Thread.sleep(20);
            }
            assertNotNull(projector.lastError(), "the projector noticed");
            assertTrue(projector.lagEvents() > 0, "lag " + projector.lagEvents());
            assertTrue(projector.lagSeconds() > 0, "lag seconds " + projector.lagSeconds());
        }
        finally
        {
            postgres.startServer();
        }
        workload.produceUntil(TOTAL);
        workload.appendNew(appender, 50);
        awaitCheckpoint(projector, workload.count());
        assertEquals(0, projector.lagEvents());
        assertTrue(projector.failures() > 0);
        assertProjectionMatches(workload, store);
    }

    /**
     * Many users in one batch (each table is written with one statement per batch), their quotas granted in the
     * batch before (type and allowance come from PostgreSQL), and every time stored to the millisecond.
     */
    @Test
    void shouldWriteManyUsersWhoseQuotasWereGrantedInAnEarlierBatch() throws Exception
    {
        final int users = 3_000;
        final ExpandableArrayBuffer outcomes = new ExpandableArrayBuffer(1 << 20);
        final AtomicInteger count = new AtomicInteger();
        final Ledger ledger = new Ledger(new LedgerConfig().expectedAccounts(2 * users),
            o -> o.encode(outcomes, count.getAndIncrement() * Outcome.LENGTH));
        final Command command = new Command();
        final Result result = new Result();
        final long granted = Workload.START_TIME + 123; // 2025-12-31T22:00:00.123Z
        final long charged = granted + 2 * 3_600_000L + 456; // 2026-01-01T00:00:00.579Z: a new hour and month
        long request = 0;
        for (long user = 1; user <= users; user++)
        {
            ledger.process(command.reset().requestId(7, ++request).timestamp(granted).op(Op.CREDIT).userId(user)
                .amount(1_000), result);
            ledger.process(command.reset().requestId(7, ++request).timestamp(granted).op(Op.GRANT).userId(user)
                .serviceId(1).amount(10).period(Period.MONTH), result);
        }
        for (long user = 1; user <= users; user++)
        {
            ledger.process(command.reset().requestId(7, ++request).timestamp(charged).op(Op.DEDUCT).userId(user)
                .serviceId(1).amount(15), result);
        }
        assertEquals(3 * users, count.get());
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            for (int i = 0; i < count.get(); i += 64)
            {
                appender.append(i + 1, outcomes, i * Outcome.LENGTH, Math.min(64, count.get() - i));
                appender.flush();
            }
        }
        final ProjectorStore store = store();
        store.migrate();
        assertEquals(3 * users, projector(store, 2 * users).catchUp()); // batch 1: credits and grants; 2: deducts
        try (Handle h = store.jdbi().open())
        {
            h.execute("SET search_path TO ledger");
            assertEquals(List.of(users + " 2026-01-01T00:00Z 1 10 5 0"), h.createQuery(
                "SELECT count(*) || ' ' || to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"') || ' ' || " +
                "requests || ' ' || free_units || ' ' || paid_units || ' ' || rejections FROM usage_hourly " +
                "GROUP BY hour, requests, free_units, paid_units, rejections").mapTo(String.class).list());
            // the GRANT's own period (nothing used), then the month the deducts used
            assertEquals(List.of(users + " MONTH 2025-12-01 10 0 " + granted,
                users + " MONTH 2026-01-01 10 10 " + charged),
                h.createQuery(
                "SELECT count(*) || ' ' || period_type || ' ' || period_start || ' ' || allowance || ' ' || used || " +
                "' ' || (extract(epoch FROM updated_at) * 1000)::bigint FROM free_quota " +
                "GROUP BY period_type, period_start, allowance, used, updated_at ORDER BY period_start")
                .mapTo(String.class).list());
            assertEquals(List.of(users + " 995 0 0 false " + charged), h.createQuery(
                "SELECT count(*) || ' ' || balance || ' ' || held || ' ' || credit_limit || ' ' || frozen || ' ' || " +
                "(extract(epoch FROM updated_at) * 1000)::bigint FROM accounts " +
                "GROUP BY balance, held, credit_limit, frozen, updated_at").mapTo(String.class).list());
            assertEquals(List.of(users + " CREDIT 1000 1000 " + granted), h.createQuery(
                "SELECT count(*) || ' ' || kind || ' ' || amount || ' ' || balance_change || ' ' || " +
                "(extract(epoch FROM at) * 1000)::bigint FROM money_movements " +
                "GROUP BY kind, amount, balance_change, at")
                .mapTo(String.class).list());
            assertEquals(users, h.createQuery("SELECT count(DISTINCT user_id) FROM money_movements")
                .mapTo(Integer.class).one());
        }
    }

    @Test
    void shouldStopALaggingProjectorPromptlyOnClose() throws Exception
    {
        final Workload workload = journal(7, TOTAL);
        final ProjectorStore store = store();
        store.migrate();
        final Projector projector = projector(store, 5); // ~4,000 small transactions: it lags for a while
        projector.start();
        final long deadline = System.currentTimeMillis() + 30_000;
        while (projector.checkpoint() < 100)
        {
            assertTrue(System.currentTimeMillis() < deadline, "no progress: " + projector.lastError());
            Thread.sleep(5);
        }
        final long began = System.nanoTime();
        projector.close();
        final long millis = (System.nanoTime() - began) / 1_000_000;
        assertTrue(millis < 5_000, "close took " + millis + " ms");
        final long stopped = store.checkpoint().sequence();
        assertTrue(stopped < workload.count(), "stopped at " + stopped + " of " + workload.count());
        assertEquals(workload.count() - stopped, projector(store, 997).catchUp(), "a new one goes on from there");
        assertProjectionMatches(workload, store);
    }

    @Test
    void shouldRebuildFromTheStartOfTheJournal() throws Exception
    {
        final Workload workload = journal(4, 5_000);
        final ProjectorStore store = store();
        store.migrate();
        projector(store, 2_000).catchUp();
        store.clear();
        assertEquals(0, store.checkpoint().sequence());
        assertEquals(workload.count(), projector(store, 2_000).catchUp());
        assertProjectionMatches(workload, store);
    }

    @Test
    void shouldMigrateEmptyAndExistingDatabases() throws Exception
    {
        final ProjectorStore store = store();
        try (Handle h = connect(postgres.superuser()))
        {
            // an existing database with tables of its own, in the default schema
            h.execute("CREATE TABLE public.customers (id BIGINT PRIMARY KEY, name TEXT)");
            h.execute("INSERT INTO public.customers VALUES (1, 'acme')");
        }
        assertEquals(4, store.migrate(), "every version on a database whose schema is empty");
        final Workload workload = journal(5, 3_000);
        projector(store, 1_000).catchUp();
        assertEquals(0, store.migrate(), "nothing to do at the newest version");
        assertEquals(0, store(/* a second process */).migrate());
        assertProjectionMatches(workload, store);
        try (Handle h = connect(postgres.superuser()))
        {
            assertEquals("acme", h.createQuery("SELECT name FROM public.customers").mapTo(String.class).one());
            assertEquals(4, h.createQuery("SELECT count(*) FROM ledger.projector_schema_history WHERE success AND type = 'SQL'")
                .mapTo(Integer.class).one());
        }
    }

    @Test
    void shouldRefuseTablesOfAnotherJournal() throws Exception
    {
        journal(6, 1_000);
        final ProjectorStore store = store();
        store.migrate();
        try (Handle h = store.jdbi().open())
        {
            h.execute("UPDATE ledger.projector_checkpoint SET sequence = 1000000");
        }
        final IllegalStateException ex = assertThrows(IllegalStateException.class,
            () -> projector(store, 1_000).catchUp());
        assertTrue(ex.getMessage().contains("past the end of the journal"), ex.getMessage());
    }

    /**
     * A journal loss accepted after the projector had committed outcomes past the journal's new end, then new
     * outcomes past the old checkpoint: the projector used to go on from its checkpoint, skipping the new outcomes
     * under the old sequence numbers and keeping the lost ones. It must refuse, whether the journal ends at the
     * checkpoint or past it, and leave the tables alone until they are rebuilt.
     */
    @Test
    void shouldRefuseTablesHoldingOutcomesTheJournalLostUntilRebuilt() throws Exception
    {
        final ProjectorStore store = store();
        final Workload lost = projectThenLoseTheEnd(store, 12);
        final long counted = lost.count();

        final Workload now = new Workload(12);
        now.produceUntil(KEPT);
        assertEquals(kept, now.count(), "the same outcomes up to the journal's new end");
        now.goOnDifferently(99);
        now.produceUntil(lost.count() + 300);
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, kept))
        {
            now.appendNew(appender, 50, lost.count()); // the journal ends at the checkpoint again
            final ProjectionMismatchException atEnd = assertThrows(ProjectionMismatchException.class,
                () -> projector(store, 500).catchUp(), "refused, not taken as caught up");
            assertTrue(atEnd.getMessage().contains("outcome " + counted + " (") &&
                atEnd.getMessage().contains("is not the one the projector checkpoint counted") &&
                atEnd.getMessage().contains("ledger project --data DIR --rebuild"), atEnd.getMessage());
            now.appendNew(appender, 50);
        }
        final Projector refusing = projector(store, 500);
        assertThrows(ProjectionMismatchException.class, refusing::catchUp, "refused, not skipped");
        assertTrue(refusing.refused());
        assertEquals(counted, store.checkpoint().sequence(), "the tables are left alone");

        // in its own thread: the refusal is its error, and retrying does not lift it
        refusing.start();
        final long deadline = System.currentTimeMillis() + 30_000;
        while (refusing.failures() < 3)
        {
            assertTrue(System.currentTimeMillis() < deadline, "no retries: " + refusing.lastError());
            Thread.sleep(10);
        }
        assertTrue(refusing.refused());
        assertTrue(refusing.lastError().contains("is not the one the projector checkpoint counted"),
            refusing.lastError());
        refusing.close();

        // tables projected by an older version have no CRC with their checkpoint: the outcome's time alone tells
        try (Handle h = store.jdbi().open())
        {
            h.execute("UPDATE ledger.projector_checkpoint SET outcome_crc = NULL");
        }
        assertThrows(ProjectionMismatchException.class, () -> projector(store, 500).catchUp());

        store.clear(); // ledger project --rebuild
        assertEquals(now.count(), projector(store, 500).catchUp());
        assertProjectionMatches(now, store);
        assertEquals(0, projector(store, 500).catchUp(), "the rebuilt tables match the journal");
    }

    /**
     * Told that this start accepted the journal loss (serve --accept-journal-loss), the projector rebuilds tables
     * that hold lost outcomes by itself, once; tables the loss did not reach are kept.
     */
    @Test
    void shouldRebuildByItselfAfterALossAcceptedAtThisStart() throws Exception
    {
        final ProjectorStore store = store();
        final Workload lost = projectThenLoseTheEnd(store, 13);
        final Workload now = new Workload(13);
        now.produceUntil(KEPT);
        assertEquals(kept, now.count(), "the same outcomes up to the journal's new end");
        now.goOnDifferently(98);
        now.produceUntil(lost.count() + 300);
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, kept))
        {
            now.appendNew(appender, 50);
        }
        final Projector projector = projector(store, 500).rebuildOnMismatch(true);
        assertEquals(now.count(), projector.catchUp(), "the whole journal projected again");
        assertFalse(projector.refused());
        assertProjectionMatches(now, store);

        final long[] written = { 0 };
        assertEquals(0, projector(store, 500).rebuildOnMismatch(true)
            .progress((checkpoint, outcomes) -> written[0] += outcomes).catchUp());
        assertEquals(0, written[0], "matching tables are not rebuilt");
        assertProjectionMatches(now, store);
    }

    /**
     * Projects {@code seed}'s workload (the 300-odd outcomes after {@link #kept} in one document), then damages that
     * document and accepts the loss, as {@code serve --accept-journal-loss} does: the journal ends at {@link #kept},
     * the tables at the workload's end. The same seed's workload produced until {@link #KEPT} is what the journal
     * keeps.
     *
     * @return the workload the tables hold.
     */
    private Workload projectThenLoseTheEnd(final ProjectorStore store, final long seed) throws Exception
    {
        final Workload workload = new Workload(seed);
        workload.produceUntil(KEPT);
        kept = workload.count();
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            workload.appendNew(appender, 50);
            workload.produceUntil(KEPT + 300);
            workload.appendNew(appender, JournalAppender.MAX_OUTCOMES_PER_DOCUMENT);
        }
        assertEquals(workload.count(), projector(store, 500).catchUp());

        JournalTampering.flipBitInLastDocument(dir);
        final Recovery.Result accepted = Recovery.recover(dir,
            () -> new Ledger(new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(256), OutcomeSink.NONE),
            true, Recovery.Limit.END, Recovery.Progress.NONE, true);
        assertEquals(kept, accepted.lastSequence());
        assertEquals(1, accepted.acceptedLoss().size());
        final ProjectionMismatchException shorter = assertThrows(ProjectionMismatchException.class,
            () -> projector(store, 500).catchUp());
        assertTrue(shorter.getMessage().contains("past the end of the journal (" + kept + ")"),
            shorter.getMessage());
        return workload;
    }

    /**
     * The embedded server trusted every local connection, superuser included, so any local user could run programs
     * as the ledger and read its admin key ({@code COPY ... TO PROGRAM}): now no role gets in without its password.
     */
    @Test
    void shouldRefuseConnectionsWithoutTheRightPassword() throws Exception
    {
        for (final String user : List.of(EmbeddedDatabase.SUPERUSER, EmbeddedDatabase.PROJECTOR,
            EmbeddedDatabase.ANALYST))
        {
            assertThrows(SQLException.class, () -> DriverManager.getConnection(jdbcUrl, user, null).close(), user);
            final SQLException wrong = assertThrows(SQLException.class,
                () -> DriverManager.getConnection(jdbcUrl, user, "not-the-password").close(), user);
            assertEquals("28P01", wrong.getSQLState(), user + ": " + wrong.getMessage()); // invalid_password
        }
        final String rules = Files.readString(postgres.dataDirectory().resolve("pg_hba.conf"));
        assertEquals(EmbeddedDatabase.ACCESS_RULES, rules);
        assertFalse(EmbeddedDatabase.trusts(rules), rules);
        assertTrue(EmbeddedDatabase.trusts("# a comment\nhost all all 127.0.0.1/32 trust # old\n"));
        assertFalse(EmbeddedDatabase.trusts("# host all all 127.0.0.1/32 trust\n"));
    }

    @Test
    void shouldKeepEveryPasswordInAFileOnlyItsOwnerCanRead() throws Exception
    {
        final List<EmbeddedDatabase.Login> logins = List.of(postgres.superuser(), postgres.projector(),
            postgres.analyst());
        for (final EmbeddedDatabase.Login login : logins)
        {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(login.file())),
                login.toString());
            assertEquals(login.password(), Files.readString(login.file()).strip());
            assertTrue(login.password().length() >= 32, "a generated password");
            assertFalse(login.toString().contains(login.password()), "toString never shows it");
            try (Handle h = connect(login))
            {
                assertEquals(login.user(), h.createQuery("SELECT current_user").mapTo(String.class).one());
            }
        }
        assertEquals(3, logins.stream().map(EmbeddedDatabase.Login::password).distinct().count());
        assertEquals("rwx------", PosixFilePermissions.toString(
            Files.getPosixFilePermissions(postgres.superuser().file().getParent())));
    }

    @Test
    void shouldProjectAsAnOrdinaryRoleThatOwnsTheSchema() throws Exception
    {
        final Workload workload = journal(8, 2_000);
        final ProjectorStore store = store();
        assertEquals(4, store.migrate());
        projector(store, 500).catchUp();
        assertProjectionMatches(workload, store);
        try (Handle h = store.jdbi().open())
        {
            assertEquals(EmbeddedDatabase.PROJECTOR, h.createQuery("SELECT current_user").mapTo(String.class).one());
            assertEquals(List.of(false), h.createQuery("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .mapTo(Boolean.class).list());
            assertEquals(0, h.createQuery("SELECT count(*) FROM pg_tables WHERE schemaname = 'ledger' " +
                "AND tableowner <> current_user").mapTo(Integer.class).one(), "it owns every table it migrated");
            assertEquals("42501", failure(h, "COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'"));
            assertEquals("42501", failure(h, "SELECT pg_read_file('postgresql.conf')"));
            assertEquals("42501", failure(h, "SET ROLE " + EmbeddedDatabase.SUPERUSER));
        }
    }

    @Test
    void shouldLetAnalystsReadEveryTableAndWriteNothing() throws Exception
    {
        final Workload workload = journal(9, 2_000);
        final ProjectorStore store = store();
        store.migrate();
        projector(store, 500).catchUp();
        try (Handle h = store.jdbi().open())
        {
            // a table a later migration adds: default privileges let analysts read it too
            h.execute("CREATE TABLE ledger.added_later (x INT)");
            h.execute("INSERT INTO ledger.added_later VALUES (42)");
        }
        final long[] accounts = new long[1];
        workload.ledger.forEachAccount((user, balance, held, limit, frozen) -> accounts[0]++);
        try (Handle h = connect(postgres.analyst()))
        {
            // the ledger's schema is on the search path: unqualified names work
            assertEquals(accounts[0], h.createQuery("SELECT count(*) FROM accounts").mapTo(Long.class).one());
            assertEquals(42, h.createQuery("SELECT x FROM added_later").mapTo(Integer.class).one());
            for (final String table : h.createQuery("SELECT tablename FROM pg_tables WHERE schemaname = 'ledger'")
                .mapTo(String.class).list())
            {
                h.createQuery("SELECT count(*) FROM " + table).mapTo(Long.class).one();
            }
            assertEquals("25006", failure(h, "UPDATE accounts SET balance = 0"), "read-only by default");
            h.execute("SET default_transaction_read_only = off"); // privileges, not that default, must stop writes
            for (final String statement : List.of(
                "INSERT INTO accounts VALUES (-1, 0, 0, 0, false, now())",
                "UPDATE accounts SET balance = 0",
                "DELETE FROM money_movements",
                "TRUNCATE usage_hourly",
                "DROP TABLE accounts",
                "UPDATE projector_checkpoint SET sequence = 0",
                "CREATE TABLE ledger.mine (x INT)",
                "CREATE TABLE public.mine (x INT)",
                "COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'",
                "COPY accounts TO '/tmp/ledger-analyst-copy'",
                "SELECT pg_read_file('postgresql.conf')",
                "CREATE ROLE intruder SUPERUSER",
                "SET ROLE " + EmbeddedDatabase.PROJECTOR,
                "SET ROLE " + EmbeddedDatabase.SUPERUSER))
            {
                assertEquals("42501", failure(h, statement), statement); // insufficient_privilege
            }
        }
        assertProjectionMatches(workload, store);
    }

    /**
     * A data directory made by the older version: initdb's trust rules, the projector connected as the superuser
     * and owns nothing. The next start makes it need passwords, creates the roles and hands the tables over, and the
     * projector goes on from its checkpoint.
     */
    @Test
    void shouldUpgradeAnOlderDataDirectoryThatTrustedEveryLocalConnection(@TempDir final Path older)
        throws Exception
    {
        final Path folder = older.resolve("postgres");
        final Workload workload = new Workload(10);
        final JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0);
        closeables.add(appender);
        workload.produceUntil(2_000);
        workload.appendNew(appender, 64);
        final long projectedBefore = workload.count();
        try (EmbeddedPostgres before = EmbeddedPostgres.builder().setDataDirectory(folder.resolve("data"))
            .setCleanDataDirectory(false).setRegisterShutdownHook(false).start())
        {
            Files.writeString(folder.resolve("port"), before.getPort() + "\n");
            try (ProjectorStore store = new ProjectorStore(before.getJdbcUrl("postgres", "postgres"), null, null))
            {
                store.migrate();
                projector(store, 500).catchUp();
            }
        }
        assertTrue(EmbeddedDatabase.trusts(Files.readString(folder.resolve("data").resolve("pg_hba.conf"))));

        workload.produceUntil(4_000);
        workload.appendNew(appender, 64);
        try (EmbeddedDatabase upgraded = EmbeddedDatabase.start(folder, 0))
        {
            assertEquals(EmbeddedDatabase.ACCESS_RULES,
                Files.readString(upgraded.dataDirectory().resolve("pg_hba.conf")));
            assertThrows(SQLException.class,
                () -> DriverManager.getConnection(upgraded.jdbcUrl(), EmbeddedDatabase.SUPERUSER, null).close());
            final ProjectorStore store = store(upgraded.jdbcUrl(), upgraded.projector());
            assertEquals(projectedBefore, store.checkpoint().sequence(), "the older projector's checkpoint");
            projector(store, 500).catchUp();
            assertProjectionMatches(workload, store);
            try (Handle h = store.jdbi().open())
            {
                assertEquals(0, h.createQuery("SELECT count(*) FROM pg_tables WHERE schemaname = 'ledger' " +
                    "AND tableowner <> current_user").mapTo(Integer.class).one());
            }
            try (Handle h = Jdbi.create(upgraded.jdbcUrl(), upgraded.analyst().user(), upgraded.analyst().password())
                .open())
            {
                assertTrue(h.createQuery("SELECT count(*) FROM accounts").mapTo(Long.class).one() > 0);
            }
        }
        try (EmbeddedDatabase again = EmbeddedDatabase.start(folder, 0);
            Connection connection = DriverManager.getConnection(again.jdbcUrl(), again.analyst().user(),
                again.analyst().password()))
        {
            assertTrue(connection.isValid(5), "the next start keeps the passwords");
        }
    }

    private Workload journal(final long seed, final int outcomes) throws Exception
    {
        final Workload workload = new Workload(seed);
        workload.produceUntil(outcomes);
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            workload.appendNew(appender, 64);
        }
        return workload;
    }

    private ProjectorStore store()
    {
        return store(jdbcUrl, postgres.projector());
    }

    private ProjectorStore store(final String url, final EmbeddedDatabase.Login login)
    {
        final ProjectorStore store = new ProjectorStore(url, login.user(), login.password());
        closeables.add(store);
        return store;
    }

    private Handle connect(final EmbeddedDatabase.Login login)
    {
        return Jdbi.create(jdbcUrl, login.user(), login.password()).open();
    }

    /**
     * @return the SQLSTATE {@code statement} fails with.
     */
    private static String failure(final Handle handle, final String statement)
    {
        final RuntimeException ex = assertThrows(RuntimeException.class, () -> handle.execute(statement), statement);
        return sqlState(ex);
    }

    private static String sqlState(final Throwable failure)
    {
        for (Throwable t = failure; t != null; t = t.getCause())
        {
            if (t instanceof SQLException)
            {
                return ((SQLException)t).getSQLState();
            }
        }
        throw new AssertionError("not an SQL failure", failure);
    }

    private Projector projector(final ProjectorStore store, final int batch)
    {
        return new Projector(dir, store, new Projector.Settings(batch, 10, 10, 100), null);
    }

    private static void awaitCheckpoint(final Projector projector, final long sequence) throws InterruptedException
    {
        final long deadline = System.currentTimeMillis() + 30_000;
        while (projector.checkpoint() != sequence)
        {
            assertTrue(System.currentTimeMillis() < deadline,
                "checkpoint " + projector.checkpoint() + ", want " + sequence + ", error " + projector.lastError());
            Thread.sleep(20);
        }
    }

    /**
     * Compares every table with what the outcomes and the ledger's final state say.
     */
    private static void assertProjectionMatches(final Workload workload, final ProjectorStore store)
    {
        final Map<Long, long[]> expectedAccounts = new TreeMap<>();
        workload.ledger.forEachAccount((user, balance, held, limit, frozen) ->
            expectedAccounts.put(user, new long[] { balance, held, limit, frozen ? 1 : 0 }));

        // per user: credits, paid charges; per (user, service): requests, free units, rejections
        final Map<Long, Long> credits = new HashMap<>();
        final Map<Long, Long> paidTaken = new HashMap<>();
        final Map<String, long[]> perService = new TreeMap<>();
        final Map<String, Long> movementsByKind = new TreeMap<>();
        final Map<UUID, long[]> holds = new HashMap<>();
        for (long s = 1; s <= workload.count(); s++)
        {
            final Outcome o = workload.outcome(s);
            final String key = o.userId() + "/" + o.serviceId();
            final long[] svc = perService.computeIfAbsent(key, k -> new long[3]);
            final UUID holdId = new UUID(o.holdIdHi(), o.holdIdLo());
            switch (o.type())
            {
                case CREDITED ->
                {
                    credits.merge(o.userId(), o.amount(), Long::sum);
                    movementsByKind.merge("CREDIT", 1L, Long::sum);
                }
                case CHARGED ->
                {
                    svc[0]++;
                    svc[1] += o.fromFree();
                    paidTaken.merge(o.userId(), o.fromBalance(), Long::sum);
                }
                case HOLD_OPENED ->
                {
                    svc[0]++;
                    svc[1] += o.fromFree();
                    paidTaken.merge(o.userId(), o.fromBalance(), Long::sum);
                    holds.put(holdId, new long[] { o.fromFree(), o.fromBalance() });
                }
                case HOLD_SETTLED, HOLD_RELEASED, HOLD_EXPIRED ->
                {
                    final long[] hold = holds.remove(holdId);
                    // the final charge's free part, or what stayed used of a rolled period's free units
                    svc[1] += o.fromFree() - hold[0] + (hold[0] - Math.min(hold[0], o.fromFree()) - o.returnedFree());
                    paidTaken.merge(o.userId(), o.fromBalance() - hold[1], Long::sum);
                    if (o.type() != OutcomeType.HOLD_SETTLED || o.fromBalance() != hold[1] || o.returnedFree() != 0)
                    {
                        movementsByKind.merge(o.type() == OutcomeType.HOLD_SETTLED ? "SETTLE" :
                            o.type() == OutcomeType.HOLD_RELEASED ? "RELEASE" : "EXPIRY", 1L, Long::sum);
                    }
                }
                case LIMIT_SET -> movementsByKind.merge("LIMIT", 1L, Long::sum);
                case REJECTED -> svc[2]++;
                default ->
                {
                }
            }
        }
        perService.values().removeIf(v -> v[0] == 0 && v[1] == 0 && v[2] == 0);
        for (final Map.Entry<Long, long[]> e : expectedAccounts.entrySet())
        {
            // the invariant: credits - charges + returns = balance
            assertEquals(e.getValue()[0], credits.getOrDefault(e.getKey(), 0L) - paidTaken.getOrDefault(e.getKey(), 0L),
                "balance invariant of user " + e.getKey());
        }

        final Jdbi jdbi = store.jdbi();
        try (Handle h = jdbi.open())
        {
            h.execute("SET search_path TO ledger");
            assertEquals(workload.count(), store.checkpoint().sequence(), "checkpoint");
            final Map<Long, long[]> accounts = new TreeMap<>();
            h.createQuery("SELECT user_id, balance, held, credit_limit, frozen FROM accounts")
                .map((rs, ctx) -> accounts.put(rs.getLong(1),
                    new long[] { rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getBoolean(5) ? 1 : 0 }))
                .list();
            assertEquals(expectedAccounts.keySet(), accounts.keySet(), "accounts");
            for (final Map.Entry<Long, long[]> e : expectedAccounts.entrySet())
            {
                assertEquals(java.util.Arrays.toString(e.getValue()), java.util.Arrays.toString(accounts.get(e.getKey())),
                    "account " + e.getKey() + " (balance, held, limit, frozen)");
            }

            final Map<Long, Long> paid = new TreeMap<>();
            final Map<String, long[]> usage = new TreeMap<>();
            h.createQuery("SELECT user_id, service_id, sum(requests), sum(free_units), sum(paid_units), " +
                "sum(rejections) FROM usage_hourly GROUP BY user_id, service_id")
                .map((rs, ctx) ->
                {
                    paid.merge(rs.getLong(1), rs.getLong(5), Long::sum);
                    usage.put(rs.getLong(1) + "/" + rs.getInt(2),
                        new long[] { rs.getLong(3), rs.getLong(4), rs.getLong(6) });
                    return 0;
                })
                .list();
            usage.values().removeIf(v -> v[0] == 0 && v[1] == 0 && v[2] == 0);
            assertEquals(toString(perService), toString(usage), "usage per (user, service): requests, free, rejected");
            for (final Map.Entry<Long, long[]> e : expectedAccounts.entrySet())
            {
                assertEquals(credits.getOrDefault(e.getKey(), 0L) - e.getValue()[0], paid.getOrDefault(e.getKey(), 0L),
                    "paid units of user " + e.getKey() + " = credits - balance");
            }

            // every movement's balance change, with the charges, adds up to the balance
            final Map<Long, Long> changes = new TreeMap<>();
            h.createQuery("SELECT user_id, sum(balance_change) FROM money_movements GROUP BY user_id")
                .map((rs, ctx) -> changes.put(rs.getLong(1), rs.getLong(2))).list();
            final Map<Long, Long> charged = new HashMap<>();
            for (long s = 1; s <= workload.count(); s++)
            {
                final Outcome o = workload.outcome(s);
                if (o.type() == OutcomeType.CHARGED || o.type() == OutcomeType.HOLD_OPENED)
                {
                    charged.merge(o.userId(), o.fromBalance(), Long::sum);
                }
            }
            for (final Map.Entry<Long, long[]> e : expectedAccounts.entrySet())
            {
                assertEquals(e.getValue()[0],
                    changes.getOrDefault(e.getKey(), 0L) - charged.getOrDefault(e.getKey(), 0L),
                    "movements and charges of user " + e.getKey() + " add up to the balance");
            }
            final Map<String, Long> kinds = new TreeMap<>();
            h.createQuery("SELECT kind, count(*) FROM money_movements GROUP BY kind")
                .map((rs, ctx) -> kinds.put(rs.getString(1), rs.getLong(2))).list();
            assertEquals(movementsByKind, kinds, "movements by kind");

            assertEquals(workload.ledger.openHoldCount(),
                h.createQuery("SELECT count(*) FROM open_holds").mapTo(Integer.class).one(), "open holds");

            // free quota: the current period's row agrees with what the ledger answers now
            final long now = workload.time();
            final Command query = new Command();
            final Result result = new Result();
            h.createQuery("SELECT g.user_id, g.service_id, g.allowance, q.used FROM quota_grants g " +
                "LEFT JOIN free_quota q ON q.user_id = g.user_id AND q.service_id = g.service_id " +
                "AND q.period_type = g.period_type AND q.period_start = (CASE g.period_type " +
                "WHEN 'DAY' THEN date_trunc('day', :now) WHEN 'WEEK' THEN date_trunc('week', :now) " +
                "ELSE date_trunc('month', :now) END)::date")
                .bind("now", java.time.OffsetDateTime.ofInstant(java.time.Instant.ofEpochMilli(now),
                    java.time.ZoneOffset.UTC))
                .map((rs, ctx) ->
                {
                    final long user = rs.getLong(1);
                    final int service = rs.getInt(2);
                    final long allowance = rs.getLong(3);
                    final long used = rs.getLong(4);
                    workload.ledger.process(query.reset().op(Op.QUERY).userId(user).serviceId(service)
                        .requestId(1, 1).timestamp(now), result);
                    assertEquals(result.freeRemaining(), Math.max(0, allowance - used),
                        "free remaining of user " + user + " service " + service);
                    return 0;
                })
                .list();
            assertTrue(h.createQuery("SELECT count(*) FROM free_quota").mapTo(Integer.class).one() > 0);
        }
    }

    private static String toString(final Map<String, long[]> map)
    {
        final StringBuilder out = new StringBuilder();
        map.forEach((k, v) -> out.append(k).append('=').append(java.util.Arrays.toString(v)).append('\n'));
        return out.toString();
    }
}
