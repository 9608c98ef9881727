package io.quotaledger.projector;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
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
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway policy tables against a real PostgreSQL: outcomes built with the core's Outcome API
 * ({@link PolicyOutcomes}), projected in batches of every size, through crashes before commit and restarts, must
 * leave exactly what applying them one by one leaves.
 */
class ProjectorPolicyTest
{
    private static final String[] POLICY_TABLES = {
        "virtual_key_usage_hourly", "rejections_hourly", "virtual_keys", "virtual_key_service_budgets",
        "price_groups", "user_groups", "rate_limits", "spend_windows", "concurrency_limits" };

    @TempDir
    static Path postgresDir;
    private static EmbeddedDatabase postgres;
    private static final AtomicInteger DATABASES = new AtomicInteger();

    @TempDir
    Path dataDir;
    private DataDir dir;
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
        final String name = "policy_" + DATABASES.incrementAndGet();
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

    /**
     * One key's day, by hand: what each table says about it.
     */
    @Test
    void shouldProjectAKeysChargesHoldsRejectionsAndSettings() throws Exception
    {
        final long t = Instant.parse("2026-03-02T10:15:00Z").toEpochMilli();
        final long nextHour = t + 3_600_000L;
        final Outcome o = new Outcome();
        final List<byte[]> journal = new ArrayList<>();
        add(journal, o.reset(OutcomeType.CREDITED, Op.CREDIT, t).requestId(1, 1).userId(42).amount(10_000)
            .balanceAfter(10_000));
        add(journal, o.reset(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY, t).requestId(1, 2).userId(42)
            .virtualKeyId(7).amount(1_000).resetPeriod(Period.DAY).expiresAt(t + 86_400_000L).addService(3)
            .addService(5));
        add(journal, o.reset(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, t)
            .requestId(1, 3).userId(42).virtualKeyId(7).serviceId(3).amount(400));
        add(journal, o.reset(OutcomeType.PRICE_SET, Op.SET_PRICE, t).requestId(1, 4).groupId(2).serviceId(3)
            .multiplier(1_500_000));
        add(journal, o.reset(OutcomeType.GROUP_SET, Op.SET_GROUP, t).requestId(1, 5).userId(42).groupId(2));
        add(journal, o.reset(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT, t).requestId(1, 6).userId(42)
            .virtualKeyId(7).requests(60).units(100_000).perMillis(60_000));
        add(journal, o.reset(OutcomeType.SPEND_WINDOW_SET, Op.SET_SPEND_WINDOW, t).requestId(1, 7).userId(42)
            .amount(5_000).perMillis(5 * 3_600_000L));
        add(journal, o.reset(OutcomeType.CONCURRENCY_SET, Op.SET_CONCURRENCY, t).requestId(1, 8).userId(42)
            .virtualKeyId(7).amount(2));
        // 100 units priced at 1.5: a deduct of 150 through the key
        add(journal, o.reset(OutcomeType.CHARGED, Op.DEDUCT, t + 1).requestId(1, 9).userId(42).serviceId(3)
            .amount(150).fromBalance(150).balanceAfter(9_850));
        add(journal, o.reset(OutcomeType.POLICY_APPLIED, Op.DEDUCT, t + 1).requestId(1, 9).userId(42).serviceId(3)
            .virtualKeyId(7).units(100).amount(150).keySpentAfter(150).keyServiceSpentAfter(150).keyPeriodId(20514));
        // a reserve of 200 through the key, settled at 120 in the next hour
        add(journal, o.reset(OutcomeType.HOLD_OPENED, Op.RESERVE, t + 2).requestId(1, 10).holdId(1, 10).userId(42)
            .serviceId(3).amount(200).fromBalance(200).balanceAfter(9_650).expiresAt(t + 60_000));
        add(journal, o.reset(OutcomeType.POLICY_APPLIED, Op.RESERVE, t + 2).requestId(1, 10).userId(42).serviceId(3)
            .virtualKeyId(7).amount(200).keySpentAfter(350).keyServiceSpentAfter(350).keyPeriodId(20514));
        add(journal, o.reset(OutcomeType.HOLD_SETTLED, Op.SETTLE, nextHour).requestId(1, 11).holdId(1, 10)
            .userId(42).serviceId(3).amount(120).fromBalance(120).returnedBalance(80).balanceAfter(9_730));
        add(journal, o.reset(OutcomeType.POLICY_APPLIED, Op.SETTLE, nextHour).requestId(1, 11).userId(42).serviceId(3)
            .virtualKeyId(7).amount(120).keySpentAfter(270).keyServiceSpentAfter(270).keyPeriodId(20514));
        // rejected twice: rate limited (retry in 1.5 s) and over the key's budget for the service
        add(journal, o.reset(OutcomeType.REJECTED, Op.DEDUCT, nextHour + 5).requestId(1, 12)
            .code(ResultCode.RATE_LIMITED).userId(42).serviceId(3).virtualKeyId(7).units(50).retryAfterMillis(1_500));
        add(journal, o.reset(OutcomeType.REJECTED, Op.DEDUCT, nextHour + 6).requestId(1, 13)
            .code(ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED).userId(42).serviceId(3).virtualKeyId(7).amount(900));
        add(journal, o.reset(OutcomeType.VIRTUAL_KEY_REVOKED, Op.REVOKE_VIRTUAL_KEY, nextHour + 7).requestId(1, 14)
            .userId(42).virtualKeyId(7));
        add(journal, o.reset(OutcomeType.REJECTED, Op.DEDUCT, nextHour + 8).requestId(1, 15)
            .code(ResultCode.VIRTUAL_KEY_REVOKED).userId(42).serviceId(5).virtualKeyId(7).amount(1));
        write(journal);

        final ProjectorStore store = store();
        assertEquals(journal.size(), projector(store, 60_000).catchUp());
        try (Handle h = store.jdbi().open())
        {
            h.execute("SET search_path TO ledger");
            assertEquals(List.of(
                "42 7 3 2026-03-02T10:00Z 2 100 350 0",
                "42 7 3 2026-03-02T11:00Z 0 0 -80 2",
                "42 7 5 2026-03-02T11:00Z 0 0 0 1"), rows(h,
                "SELECT user_id, virtual_key_id, service_id, " + iso("hour") + ", requests, units, amount, " +
                "rejections FROM virtual_key_usage_hourly"));
            assertEquals(List.of(
                "42 7 3 2026-03-02T11:00Z RATE_LIMITED 1",
                "42 7 3 2026-03-02T11:00Z VIRTUAL_KEY_BUDGET_EXCEEDED 1",
                "42 7 5 2026-03-02T11:00Z VIRTUAL_KEY_REVOKED 1"), rows(h,
                "SELECT user_id, virtual_key_id, service_id, " + iso("hour") + ", reason, rejections " +
                "FROM rejections_hourly"));
            assertEquals(List.of("7 42 false 1000 DAY null 2026-03-03T10:15Z {3,5} true 2026-03-02T11:15Z 270 " +
                "20514 2026-03-02T11:15Z 2026-03-02T10:15Z 2026-03-02T11:15Z"), rows(h,
                "SELECT virtual_key_id, user_id, unlimited::text, budget, reset, reset_every, " + iso("expires_at") +
                ", services, revoked::text, " + iso("revoked_at") + ", spent, spent_period, " + iso("spent_at") + ", " +
                iso("created_at") + ", " + iso("updated_at") + " FROM virtual_keys"));
            assertEquals(List.of("7 3 42 400 270 20514"), rows(h,
                "SELECT virtual_key_id, service_id, user_id, budget, spent, spent_period " +
                "FROM virtual_key_service_budgets"));
            assertEquals(List.of("2 3 1.500000"), rows(h, "SELECT group_id, service_id, multiplier FROM price_groups"));
            assertEquals(List.of("42 2"), rows(h, "SELECT user_id, group_id FROM user_groups"));
            assertEquals(List.of("42 7 60 100000 00:01:00"), rows(h,
                "SELECT user_id, virtual_key_id, requests, units, per FROM rate_limits"));
            assertEquals(List.of("42 0 05:00:00 5000"), rows(h,
                "SELECT user_id, virtual_key_id, per, max_amount FROM spend_windows"));
            assertEquals(List.of("42 7 2"), rows(h,
                "SELECT user_id, virtual_key_id, max_open_holds FROM concurrency_limits"));
            assertEquals(List.of("42 9730 0"), rows(h, "SELECT user_id, balance, held FROM accounts"));
            assertEquals(List.of("RATE_LIMITED 1", "VIRTUAL_KEY_BUDGET_EXCEEDED 1", "VIRTUAL_KEY_REVOKED 1"), rows(h,
                "SELECT reason, sum(rejections) FROM rejections_hourly GROUP BY reason"));
            assertEquals(List.of("42 3 2026-03-02T11:00Z 0 2"), rows(h,
                "SELECT user_id, service_id, " + iso("hour") + ", requests, rejections FROM usage_hourly " +
                "WHERE rejections > 0 AND service_id = 3"));
        }
    }

    @Test
    void shouldProjectRandomPolicyOutcomesExactly() throws Exception
    {
        final PolicyOutcomes outcomes = journal(21, 6_000);
        assertTrue(outcomes.policyApplied > 500 && outcomes.keyedCloses > 50,
            outcomes.policyApplied + " POLICY_APPLIED, " + outcomes.keyedCloses + " keyed closes");
        final ProjectorStore store = store();
        assertEquals(outcomes.count(), projector(store, 997).catchUp());
        assertPolicyMatches(outcomes, store);
        assertEquals(outcomes.outcome(outcomes.count()).type(), store.checkpoint().outcomeType());
    }

    /**
     * Batches of a row or two put nearly every POLICY_APPLIED first in its batch, after the charge or hold it belongs
     * to; transactions die before commit, projectors die with them and new ones start from the stored checkpoint
     * (whose outcome type says what the next outcome follows), while the journal grows: every outcome counts once.
     */
    @Test
    void shouldCountPolicyOutcomesExactlyOnceAcrossSplitBatchesCrashesAndRestarts() throws Exception
    {
        final PolicyOutcomes outcomes = new PolicyOutcomes(22);
        final ProjectorStore store = store();
        store.migrate();
        final AtomicInteger attempts = new AtomicInteger();
        store.beforeCommit(last ->
        {
            if (attempts.incrementAndGet() % 3 == 0)
            {
                throw new IllegalStateException("crash before commit at " + last);
            }
        });
        int crashes = 0;
        int batch = 1;
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            Projector projector = projector(store, batch);
            for (int target = 200; target <= 800; target += 200)
            {
                outcomes.produceUntil(target);
                outcomes.appendNew(appender, 7);
                while (true)
                {
                    try
                    {
                        projector.catchUp();
                        break;
                    }
                    catch (final IllegalStateException ex)
                    {
                        assertTrue(ex.getMessage().startsWith("crash before commit"), ex.getMessage());
                        crashes++;
                        if (crashes % 2 == 0)
                        {
                            batch = 1 + batch % 4;
                            projector = projector(store, batch); // a new projector: context from PostgreSQL
                        }
                    }
                }
            }
        }
        assertTrue(crashes >= 20, "crashes " + crashes);
        store.beforeCommit(null);
        assertPolicyMatches(outcomes, store);
    }

    @Test
    void shouldLetAnalystsReadThePolicyTables() throws Exception
    {
        journal(23, 3_000);
        final ProjectorStore store = store();
        projector(store, 5_000).catchUp();
        try (Handle h = Jdbi.create(jdbcUrl, postgres.analyst().user(), postgres.analyst().password()).open())
        {
            for (final String table : POLICY_TABLES)
            {
                assertTrue(h.createQuery("SELECT count(*) FROM " + table).mapTo(Long.class).one() > 0, table);
            }
            h.execute("SET default_transaction_read_only = off");
            for (final String table : POLICY_TABLES)
            {
                final RuntimeException ex = assertThrows(RuntimeException.class,
                    () -> h.execute("DELETE FROM " + table), table);
                assertEquals("42501", sqlState(ex), table); // insufficient_privilege
            }
        }
    }

    /**
     * Needs the core rules (skipped while the ledger refuses policy operations): a real ledger's policy workload,
     * projected, agrees with what the ledger answers for every key (keys that never reset: the spend is what their
     * usage rows add up to) and with the results its requests got.
     */
    @Test
    void shouldAgreeWithTheLedgerOnEveryKey() throws Exception
    {
        final ExpandableArrayBuffer journal = new ExpandableArrayBuffer(1 << 20);
        final int[] count = { 0 };
        final Ledger ledger = new Ledger(new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(64),
            o -> o.encode(journal, count[0]++ * Outcome.LENGTH));
        final Command c = new Command();
        final Result r = new Result();
        long time = PolicyOutcomes.START_TIME;
        long request = 0;
        for (long user = 1; user <= 4; user++)
        {
            ledger.process(c.reset().op(Op.CREDIT).requestId(4, ++request).userId(user).amount(100_000)
                .timestamp(time), r);
        }
        final int keys = 8;
        for (int i = 0; i < keys; i++)
        {
            c.reset().op(Op.SET_VIRTUAL_KEY).requestId(4, ++request).userId(1 + i % 4).virtualKeyId(10 + i)
                .timestamp(time);
            if (i % 3 == 0)
            {
                c.unlimited(true);
            }
            else
            {
                c.amount(2_000 + 500 * i);
            }
            ledger.process(c, r);
            assertEquals(ResultCode.OK, r.code(), "policy set-up refused");
        }
        final Command[] settings = {
            new Command().op(Op.SET_PRICE).groupId(1).serviceId(2).multiplier(1_500_000),
            new Command().op(Op.SET_GROUP).userId(1).groupId(1),
            new Command().op(Op.SET_GROUP).userId(2).groupId(1),
            new Command().op(Op.SET_RATE_LIMIT).userId(1).virtualKeyId(10).requests(2).perMillis(300_000),
            new Command().op(Op.SET_CONCURRENCY).userId(2).virtualKeyId(11).amount(1),
            new Command().op(Op.SET_SPEND_WINDOW).userId(3).amount(3_000).perMillis(5 * 3_600_000L),
            new Command().op(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).userId(3).virtualKeyId(12).serviceId(2).amount(500) };
        for (final Command setting : settings)
        {
            ledger.process(setting.requestId(4, ++request).timestamp(time), r);
            assertEquals(ResultCode.OK, r.code(), setting.toString());
        }
        final Random random = new Random(26);
        final Map<Long, Long> admitted = new TreeMap<>();
        final Map<String, Long> rejectedByCode = new TreeMap<>();
        final List<long[]> holds = new ArrayList<>();
        for (int i = 0; i < 3_000; i++)
        {
            time += random.nextInt(10_000);
            final long user = 1 + random.nextInt(4);
            final long key = random.nextInt(4) == 0 ? 0 : 10 + (user - 1) + 4L * random.nextInt(2); // the user's
            c.reset().requestId(4, ++request).timestamp(time);
            final int dice = random.nextInt(100);
            if (i == 1_500)
            {
                c.op(Op.REVOKE_VIRTUAL_KEY).userId(2).virtualKeyId(15);
            }
            else if (dice < 45)
            {
                c.op(Op.DEDUCT).userId(user).serviceId(1 + random.nextInt(2)).virtualKeyId(key);
                if (random.nextBoolean())
                {
                    c.units(1 + random.nextInt(40));
                }
                else
                {
                    c.amount(1 + random.nextInt(40));
                }
            }
            else if (dice < 70)
            {
                c.op(Op.RESERVE).userId(user).serviceId(2).virtualKeyId(key).amount(1 + random.nextInt(60))
                    .ttlMillis(60_000 + random.nextInt(240_000));
            }
            else if (dice < 90 && !holds.isEmpty())
            {
                final long[] hold = holds.remove(random.nextInt(holds.size()));
                if (random.nextBoolean())
                {
                    c.op(Op.SETTLE).holdId(4, hold[0]).amount(random.nextInt(90));
                }
                else
                {
                    c.op(Op.RELEASE).holdId(4, hold[0]);
                }
            }
            else
            {
                c.reset().op(Op.TICK).timestamp(time);
            }
            ledger.process(c, r);
            if (c.op() == Op.TICK)
            {
                continue;
            }
            if (r.code() != ResultCode.OK)
            {
                rejectedByCode.merge(r.code().name(), 1L, Long::sum);
            }
            else if ((c.op() == Op.DEDUCT || c.op() == Op.RESERVE) && key != 0)
            {
                admitted.merge(key, 1L, Long::sum);
            }
            if (r.code() == ResultCode.OK && c.op() == Op.RESERVE)
            {
                holds.add(new long[] { request });
            }
        }
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            for (int i = 0; i < count[0]; i += 100)
            {
                appender.append(i + 1, journal, i * Outcome.LENGTH, Math.min(100, count[0] - i));
                appender.flush();
            }
        }
        final ProjectorStore store = store();
        assertEquals(count[0], projector(store, 250).catchUp());
        assertTrue(rejectedByCode.keySet().containsAll(List.of("RATE_LIMITED", "CONCURRENCY_LIMITED",
            "VIRTUAL_KEY_REVOKED")), rejectedByCode.toString());

        final List<String> expected = new ArrayList<>();
        for (long key = 10; key < 10 + keys; key++)
        {
            final long owner = 1 + (key - 10) % 4;
            ledger.process(c.reset().op(Op.QUERY).requestId(4, 0).userId(owner).virtualKeyId(key).timestamp(time), r);
            assertEquals(ResultCode.OK, r.code());
            expected.add(key + " " + owner + " " + (r.amount() < 0 ? "null" : r.amount()) + " " + r.keySpent() + " " +
                r.keyRevoked() + " " + r.keySpent() + " " + admitted.getOrDefault(key, 0L));
        }
        try (Handle h = store.jdbi().open())
        {
            h.execute("SET search_path TO ledger");
            assertEquals(expected, rows(h, "SELECT k.virtual_key_id, k.user_id, k.budget, k.spent, k.revoked::text, " +
                "coalesce(sum(u.amount), 0), coalesce(sum(u.requests), 0) FROM virtual_keys k " +
                "LEFT JOIN virtual_key_usage_hourly u ON u.virtual_key_id = k.virtual_key_id " +
                "GROUP BY k.virtual_key_id ORDER BY k.virtual_key_id"));
            final List<String> reasons = new ArrayList<>();
            rejectedByCode.forEach((code, n) -> reasons.add(code + " " + n));
            assertEquals(reasons, rows(h, "SELECT reason, sum(rejections) FROM rejections_hourly GROUP BY reason"));
            assertEquals(List.of("1 2 1.500000"), rows(h, "SELECT group_id, service_id, multiplier FROM price_groups"));
            assertEquals(List.of("1 1", "2 1"), rows(h, "SELECT user_id, group_id FROM user_groups"));
            assertEquals(List.of("1 10 2 0 00:05:00"), rows(h,
                "SELECT user_id, virtual_key_id, requests, units, per FROM rate_limits"));
            assertEquals(List.of("2 11 1"), rows(h,
                "SELECT user_id, virtual_key_id, max_open_holds FROM concurrency_limits"));
            assertEquals(List.of("3 0 05:00:00 3000"), rows(h,
                "SELECT user_id, virtual_key_id, per, max_amount FROM spend_windows"));
            assertEquals(List.of("12 2 3 500"), rows(h,
                "SELECT virtual_key_id, service_id, user_id, budget FROM virtual_key_service_budgets"));
        }
    }

    /**
     * Every example query of docs/analytics.md runs, as the analysts' role, on tables that hold policy rows.
     */
    @Test
    void shouldRunTheExampleQueriesOfTheAnalyticsGuide() throws Exception
    {
        journal(25, 1_000);
        projector(store(), 5_000).catchUp();
        final String guide = Files.readString(Path.of("..", "docs", "analytics.md"));
        final List<String> statements = new ArrayList<>();
        final Matcher block = Pattern.compile("```sql\n(.*?)```", Pattern.DOTALL)
            .matcher(guide.substring(guide.indexOf("## Example queries")));
        while (block.find())
        {
            final String code = block.group(1).lines().filter(line -> !line.startsWith("--"))
                .reduce("", (a, b) -> a + b + "\n");
            for (final String statement : code.split(";"))
            {
                if (!statement.isBlank())
                {
                    statements.add(statement.strip());
                }
            }
        }
        assertTrue(statements.size() >= 15, statements.toString());
        assertTrue(statements.stream().anyMatch(q -> q.contains("FROM virtual_key_usage_hourly")), "top keys");
        assertTrue(statements.stream().anyMatch(q -> q.contains("FROM rejections_hourly")), "rejections by reason");
        try (Handle h = Jdbi.create(jdbcUrl, postgres.analyst().user(), postgres.analyst().password()).open())
        {
            for (final String statement : statements)
            {
                if (statement.startsWith("SET "))
                {
                    h.execute(statement);
                }
                else
                {
                    h.createQuery(statement).mapToMap().list();
                }
            }
        }
    }

    /**
     * Emptied by a rebuild with the rest, and projected again to the same rows.
     */
    @Test
    void shouldRebuildThePolicyTables() throws Exception
    {
        final PolicyOutcomes outcomes = journal(24, 2_000);
        final ProjectorStore store = store();
        projector(store, 300).catchUp();
        store.clear();
        try (Handle h = store.jdbi().open())
        {
            for (final String table : POLICY_TABLES)
            {
                assertEquals(0, h.createQuery("SELECT count(*) FROM ledger." + table).mapTo(Long.class).one(), table);
            }
        }
        assertEquals(null, store.checkpoint().outcomeType());
        assertEquals(outcomes.count(), projector(store, 300).catchUp());
        assertPolicyMatches(outcomes, store);
    }

    private PolicyOutcomes journal(final long seed, final int count) throws Exception
    {
        final PolicyOutcomes outcomes = new PolicyOutcomes(seed);
        outcomes.produceUntil(count);
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            outcomes.appendNew(appender, 64);
        }
        return outcomes;
    }

    private static void add(final List<byte[]> journal, final Outcome outcome)
    {
        final byte[] bytes = new byte[Outcome.LENGTH];
        outcome.encode(new org.agrona.concurrent.UnsafeBuffer(bytes), 0);
        journal.add(bytes);
    }

    private void write(final List<byte[]> journal) throws Exception
    {
        final ExpandableArrayBuffer buffer = new ExpandableArrayBuffer(journal.size() * Outcome.LENGTH);
        for (int i = 0; i < journal.size(); i++)
        {
            buffer.putBytes(i * Outcome.LENGTH, journal.get(i));
        }
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            appender.append(1, buffer, 0, journal.size());
            appender.flush();
        }
    }

    private ProjectorStore store()
    {
        final ProjectorStore store = new ProjectorStore(jdbcUrl, postgres.projector().user(),
            postgres.projector().password());
        closeables.add(store);
        return store;
    }

    private Projector projector(final ProjectorStore store, final int batch)
    {
        return new Projector(dir, store, new Projector.Settings(batch, 10, 10, 100), null);
    }

    private static String iso(final String column)
    {
        return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"')";
    }

    private static String millis(final String column)
    {
        return "(extract(epoch FROM " + column + ") * 1000)::bigint";
    }

    /**
     * @return every row as its columns joined by spaces (NULL as "null"), sorted.
     */
    private static List<String> rows(final Handle h, final String sql)
    {
        return h.createQuery(sql).map((rs, ctx) ->
        {
            final StringBuilder row = new StringBuilder();
            for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++)
            {
                row.append(i == 1 ? "" : " ").append(rs.getString(i));
            }
            return row.toString();
        }).list().stream().sorted().toList();
    }

    private static void assertPolicyMatches(final PolicyOutcomes outcomes, final ProjectorStore store)
    {
        try (Handle h = store.jdbi().open())
        {
            h.execute("SET search_path TO ledger");
            assertEquals(outcomes.count(), store.checkpoint().sequence(), "checkpoint");
            final List<String> usage = new ArrayList<>();
            outcomes.keyUsage.forEach((k, v) ->
            {
                if (v[0] != 0 || v[1] != 0 || v[2] != 0 || v[3] != 0)
                {
                    usage.add(k.replace('/', ' ') + " " + v[0] + " " + v[1] + " " + v[2] + " " + v[3]);
                }
            });
            assertEquals(sorted(usage), rows(h, "SELECT user_id, virtual_key_id, service_id, " + millis("hour") +
                ", requests, units, amount, rejections FROM virtual_key_usage_hourly " +
                "WHERE requests <> 0 OR units <> 0 OR amount <> 0 OR rejections <> 0"), "virtual_key_usage_hourly");

            final List<String> rejections = new ArrayList<>();
            outcomes.rejections.forEach((k, v) -> rejections.add(k.replace('/', ' ') + " " + v));
            assertEquals(sorted(rejections), rows(h, "SELECT user_id, virtual_key_id, service_id, " +
                millis("hour") + ", reason, rejections FROM rejections_hourly"), "rejections_hourly");

            final List<String> keys = new ArrayList<>();
            outcomes.keys.forEach((k, v) -> keys.add(k + " " + v));
            assertEquals(sorted(keys), rows(h, "SELECT virtual_key_id, user_id, unlimited::text, budget, reset, " +
                millis("reset_every") + ", " + millis("expires_at") + ", services, revoked::text, " +
                millis("revoked_at") + ", spent, spent_period, " + millis("spent_at") + ", " +
                millis("created_at") + ", " + millis("updated_at") + " FROM virtual_keys"), "virtual_keys");

            final List<String> budgets = new ArrayList<>();
            outcomes.serviceBudgets.forEach((k, v) -> budgets.add(k.replace('/', ' ') + " " + v[0] + " " + v[1] +
                " " + v[2] + " " + v[3] + " " + (v[4] < 0 ? "null" : v[4]) + " " + v[5]));
            assertEquals(sorted(budgets), rows(h, "SELECT virtual_key_id, service_id, user_id, budget, spent, " +
                "spent_period, " + millis("spent_at") + ", " + millis("updated_at") +
                " FROM virtual_key_service_budgets"), "virtual_key_service_budgets");

            assertEquals(entries(outcomes.prices), rows(h, "SELECT group_id || '/' || service_id, multiplier, " +
                millis("updated_at") + " FROM price_groups"), "price_groups");
            assertEquals(entries(outcomes.groups), rows(h, "SELECT user_id, group_id, " + millis("updated_at") +
                " FROM user_groups"), "user_groups");
            assertEquals(entries(outcomes.rateLimits), rows(h, "SELECT user_id || '/' || virtual_key_id, requests, " +
                "units, " + millis("per") + ", " + millis("updated_at") + " FROM rate_limits"), "rate_limits");
            assertEquals(entries(outcomes.spendWindows), rows(h, "SELECT user_id || '/' || virtual_key_id || '/' || " +
                millis("per") + ", max_amount, " + millis("updated_at") + " FROM spend_windows"), "spend_windows");
            assertEquals(entries(outcomes.concurrency), rows(h, "SELECT user_id || '/' || virtual_key_id, " +
                "max_open_holds, " + millis("updated_at") + " FROM concurrency_limits"), "concurrency_limits");

            final List<String> holds = new ArrayList<>();
            outcomes.openHoldKeys().forEach((id, key) -> holds.add(id + " " + key));
            assertEquals(sorted(holds), rows(h, "SELECT hold_id, virtual_key_id FROM open_holds"), "open_holds");
            for (final String table : POLICY_TABLES)
            {
                assertTrue(h.createQuery("SELECT count(*) FROM " + table).mapTo(Long.class).one() > 0, table);
            }
        }
    }

    private static List<String> entries(final Map<?, String> map)
    {
        final List<String> rows = new ArrayList<>();
        map.forEach((k, v) -> rows.add(k + " " + v));
        return sorted(rows);
    }

    private static List<String> sorted(final List<String> rows)
    {
        return rows.stream().sorted().toList();
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
}
