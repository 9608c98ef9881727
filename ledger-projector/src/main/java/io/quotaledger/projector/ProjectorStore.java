package io.quotaledger.projector;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.argument.Argument;
import org.postgresql.PGConnection;
import org.postgresql.ds.PGSimpleDataSource;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The projector's side of PostgreSQL: the versioned schema (Flyway migrations in {@code db/projector}, schema
 * {@value #SCHEMA}), the checkpoint, and writing one {@link ProjectionBatch} in one transaction: deltas are added to
 * what the tables hold, state is overwritten, and the checkpoint moves to the batch's last sequence, all or nothing.
 * A crash anywhere before the commit leaves the tables and the checkpoint as they were, so the batch is simply
 * projected again: every outcome counts exactly once.
 *
 * <p>Each table is written with one set-based statement per batch ({@code INSERT ... SELECT FROM unnest(column
 * arrays) ON CONFLICT ...}), not one statement or VALUES row per row, whose parsing and executor start-up were a
 * large share of PostgreSQL's work. An upsert may not touch a row twice, so the rows of one statement must have
 * distinct keys: they come from the batch's maps, keyed by the table's key.
 *
 * <p>Not thread-safe: one connection, used by the projector thread.
 */
public final class ProjectorStore implements AutoCloseable
{
    /** Every table lives in this schema, so that an existing database's own tables are never touched. */
    public static final String SCHEMA = "ledger";

    /**
     * Called inside the transaction after every row is written, before the commit: a test throws here to crash a
     * batch half way.
     */
    @FunctionalInterface
    public interface BeforeCommit
    {
        void beforeCommit(long lastSequence);
    }

    /**
     * The checkpoint: every outcome up to {@code sequence} is in the tables; {@code outcomeTime} is that outcome's
     * time (epoch ms, 0 when nothing was projected) and {@code outcomeCrc} the CRC32C of its bytes as
     * {@link io.quotaledger.core.Outcome#encode} writes them (-1 when unknown: nothing projected, or projected before
     * it was kept). Time and CRC tell whether the journal's outcome at {@code sequence} is still the one the tables
     * counted.
     */
    public record Checkpoint(long sequence, long outcomeTime, long outcomeCrc)
    {
    }

    private final PGSimpleDataSource dataSource;
    private final Jdbi jdbi;
    private Handle handle;
    private boolean migrated;
    private volatile BeforeCommit beforeCommit;

    /**
     * @param jdbcUrl  a {@code jdbc:postgresql://} URL.
     * @param user     may be null when the URL names it.
     * @param password may be null.
     */
    public ProjectorStore(final String jdbcUrl, final String user, final String password)
    {
        dataSource = new PGSimpleDataSource();
        dataSource.setUrl(jdbcUrl);
        if (user != null)
        {
            dataSource.setUser(user);
        }
        if (password != null)
        {
            dataSource.setPassword(password);
        }
        dataSource.setConnectTimeout(10);
        dataSource.setSocketTimeout(60); // a hung server fails the batch, which is retried, instead of the projector
        dataSource.setApplicationName("quota-ledger-projector");
        jdbi = Jdbi.create(dataSource);
    }

    /**
     * Brings the schema to the newest version (creating it in an empty database).
     *
     * @return the number of migrations applied now.
     */
    public int migrate()
    {
        final MigrateResult result = Flyway.configure()
            .dataSource(dataSource)
            .schemas(SCHEMA)
            .defaultSchema(SCHEMA)
            .locations("classpath:db/projector")
            .table("projector_schema_history")
            .load()
            .migrate();
        migrated = true;
        return result.migrationsExecuted;
    }

    /**
     * @return the checkpoint; the first call brings the schema up to date first ({@link #migrate()}), so that a
     * database that is down at start-up is migrated once it is up.
     */
    public Checkpoint checkpoint()
    {
        if (!migrated)
        {
            migrate();
        }
        return handle().createQuery(
            "SELECT sequence, outcome_time, outcome_crc FROM projector_checkpoint WHERE id = 1")
            .map((rs, ctx) ->
            {
                final OffsetDateTime time = rs.getObject(2, OffsetDateTime.class);
                final long crc = rs.getLong(3);
                return new Checkpoint(rs.getLong(1), time == null ? 0 : time.toInstant().toEpochMilli(),
                    rs.wasNull() ? -1 : crc);
            })
            .one();
    }

    /**
     * Empties every projected table and moves the checkpoint back to the start of the journal, in one transaction.
     */
    public void clear()
    {
        checkpoint(); // the schema exists
        handle().useTransaction(h ->
        {
            h.execute("TRUNCATE usage_hourly, accounts, quota_grants, free_quota, money_movements, open_holds");
            h.execute("UPDATE projector_checkpoint SET sequence = 0, outcome_time = NULL, outcome_crc = NULL, " +
                "updated_at = now()");
        });
    }

    /**
     * Test hook, see {@link BeforeCommit}; null for none.
     */
    public void beforeCommit(final BeforeCommit hook)
    {
        beforeCommit = hook;
    }

    /**
     * Writes the batch and moves the checkpoint from {@code previous} to its last sequence, in one transaction.
     *
     * @throws IllegalStateException when the checkpoint is no longer {@code previous}: another projector writes to
     *                               the same tables, and counting on would count twice.
     */
    public void write(final ProjectionBatch batch, final long previous)
    {
        handle().useTransaction(h ->
        {
            batch.resolveCloses(openHolds(h, batch.pendingCloses()));
            writeUsage(h, batch);
            writeQuotas(h, batch);
            writeAccounts(h, batch);
            writeHolds(h, batch);
            writeMovements(h, batch);
            final int moved = h.createUpdate(
                "UPDATE projector_checkpoint SET sequence = :last, outcome_time = :time, outcome_crc = :crc, " +
                "updated_at = now() WHERE id = 1 AND sequence = :previous")
                .bind("last", batch.lastSequence())
                .bind("time", time(batch.lastTimestamp()))
                .bind("crc", batch.lastCrc())
                .bind("previous", previous)
                .execute();
            if (moved != 1)
            {
                throw new IllegalStateException("the projector checkpoint is no longer " + previous +
                    ": is another projector writing to the same database?");
            }
            final BeforeCommit hook = beforeCommit;
            if (hook != null)
            {
                hook.beforeCommit(batch.lastSequence());
            }
        });
    }

    /**
     * Drops the connection (after a failure: the next use opens a new one).
     */
    public void reset()
    {
        final Handle h = handle;
        handle = null;
        if (h != null)
        {
            try
            {
                h.close();
            }
            catch (final RuntimeException ignored)
            {
                // the connection is already broken; nothing to keep
            }
        }
    }

    public void close()
    {
        reset();
    }

    /**
     * @return a Jdbi on the same database, for tests and tools that read the tables (search path: the schema).
     */
    public Jdbi jdbi()
    {
        return jdbi;
    }

    private Handle handle()
    {
        if (handle == null)
        {
            final Handle h = jdbi.open();
            try
            {
                h.execute("SET search_path TO " + SCHEMA);
            }
            catch (final RuntimeException ex)
            {
                h.close();
                throw ex;
            }
            handle = h;
        }
        return handle;
    }

    private static Map<UUID, ProjectionBatch.Hold> openHolds(final Handle h, final List<UUID> ids)
    {
        final Map<UUID, ProjectionBatch.Hold> holds = new HashMap<>();
        if (ids.isEmpty())
        {
            return holds;
        }
        h.createQuery("SELECT hold_id, user_id, service_id, from_free, from_balance, opened_at, expires_at " +
            "FROM open_holds WHERE hold_id = ANY(:ids)")
            .bindArray("ids", UUID.class, ids)
            .map((rs, ctx) -> new ProjectionBatch.Hold(rs.getObject(1, UUID.class), rs.getLong(2), rs.getInt(3),
                rs.getLong(4), rs.getLong(5), millis(rs.getObject(6, OffsetDateTime.class)),
                millis(rs.getObject(7, OffsetDateTime.class))))
            .forEach(hold -> holds.put(hold.holdId(), hold));
        return holds;
    }

    private static void writeUsage(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.usage().size();
        if (n == 0)
        {
            return;
        }
        final long[] user = new long[n];
        final int[] service = new int[n];
        final long[] hour = new long[n];
        final long[] requests = new long[n];
        final long[] free = new long[n];
        final long[] paid = new long[n];
        final long[] rejections = new long[n];
        int i = 0;
        for (final Map.Entry<ProjectionBatch.UsageKey, ProjectionBatch.Usage> e : batch.usage().entrySet())
        {
            final ProjectionBatch.Usage u = e.getValue();
            user[i] = e.getKey().userId();
            service[i] = e.getKey().serviceId();
            hour[i] = e.getKey().hourMillis();
            requests[i] = u.requests;
            free[i] = u.freeUnits;
            paid[i] = u.paidUnits;
            rejections[i] = u.rejections;
            i++;
        }
        h.createUpdate(
            "INSERT INTO usage_hourly AS t (user_id, service_id, hour, requests, free_units, paid_units, rejections) " +
            "SELECT v.user_id, v.service_id, " + sqlTime("v.hour") + ", v.requests, v.free, v.paid, v.rejections " +
            "FROM unnest(:user, :service, :hour, :requests, :free, :paid, :rejections) " +
            "AS v(user_id, service_id, hour, requests, free, paid, rejections) " +
            "ON CONFLICT (user_id, service_id, hour) DO UPDATE SET " +
            "requests = t.requests + excluded.requests, free_units = t.free_units + excluded.free_units, " +
            "paid_units = t.paid_units + excluded.paid_units, rejections = t.rejections + excluded.rejections")
            .bind("user", array("bigint", user))
            .bind("service", array("integer", service))
            .bind("hour", array("bigint", hour))
            .bind("requests", array("bigint", requests))
            .bind("free", array("bigint", free))
            .bind("paid", array("bigint", paid))
            .bind("rejections", array("bigint", rejections))
            .execute();
    }

    private static void writeQuotas(final Handle h, final ProjectionBatch batch)
    {
        // the use of quotas whose GRANT came in an earlier batch (type null) and of those granted in this batch
        int earlierCount = 0;
        for (final ProjectionBatch.QuotaUseKey key : batch.quotaUse().keySet())
        {
            if (key.type() == null)
            {
                earlierCount++;
            }
        }
        final int knownCount = batch.quotaUse().size() - earlierCount;
        final QuotaColumns earlier = new QuotaColumns(earlierCount);
        final QuotaColumns known = new QuotaColumns(knownCount);
        for (final Map.Entry<ProjectionBatch.QuotaUseKey, ProjectionBatch.QuotaUse> e : batch.quotaUse().entrySet())
        {
            (e.getKey().type() == null ? earlier : known).add(e.getKey(), e.getValue());
        }
        // first the earlier ones: their type and allowance are those PostgreSQL holds now, before this batch's GRANTs.
        // Keys are unique: (user, service, period) maps to one (type, period_start) through the one grant row.
        if (earlierCount > 0)
        {
            h.createUpdate(
                "INSERT INTO free_quota AS t (user_id, service_id, period_type, period_start, allowance, used, " +
                "updated_at) " +
                "SELECT g.user_id, g.service_id, g.period_type, " + sqlPeriodStart("g.period_type", "v.period") + ", " +
                "g.allowance, v.used, " + sqlTime("v.at") + " " +
                "FROM unnest(:user, :service, :period, :used, :at) AS v(user_id, service_id, period, used, at) " +
                "JOIN quota_grants g ON g.user_id = v.user_id AND g.service_id = v.service_id " +
                "ON CONFLICT (user_id, service_id, period_type, period_start) DO UPDATE SET " +
                "allowance = excluded.allowance, used = excluded.used, updated_at = excluded.updated_at")
                .bind("user", array("bigint", earlier.user))
                .bind("service", array("integer", earlier.service))
                .bind("period", array("integer", earlier.period))
                .bind("used", array("bigint", earlier.used))
                .bind("at", array("bigint", earlier.at))
                .execute();
        }
        final int grantCount = batch.grants().size();
        if (grantCount > 0)
        {
            final long[] user = new long[grantCount];
            final int[] service = new int[grantCount];
            final String[] type = new String[grantCount];
            final long[] allowance = new long[grantCount];
            final long[] at = new long[grantCount];
            int i = 0;
            for (final Map.Entry<ProjectionBatch.QuotaKey, ProjectionBatch.Grant> e : batch.grants().entrySet())
            {
                user[i] = e.getKey().userId();
                service[i] = e.getKey().serviceId();
                type[i] = e.getValue().type().name();
                allowance[i] = e.getValue().allowance();
                at[i] = e.getValue().at();
                i++;
            }
            h.createUpdate(
                "INSERT INTO quota_grants AS t (user_id, service_id, period_type, allowance, granted_at) " +
                "SELECT v.user_id, v.service_id, v.period_type, v.allowance, " + sqlTime("v.at") + " " +
                "FROM unnest(:user, :service, :type, :allowance, :at) " +
                "AS v(user_id, service_id, period_type, allowance, at) " +
                "ON CONFLICT (user_id, service_id) DO UPDATE SET period_type = excluded.period_type, " +
                "allowance = excluded.allowance, granted_at = excluded.granted_at")
                .bind("user", array("bigint", user))
                .bind("service", array("integer", service))
                .bind("type", array("text", type))
                .bind("allowance", array("bigint", allowance))
                .bind("at", array("bigint", at))
                .execute();
        }
        if (knownCount > 0)
        {
            // distinct keys: the type is part of the batch's key, and a period id is one period_start per type
            h.createUpdate(
                "INSERT INTO free_quota AS t (user_id, service_id, period_type, period_start, allowance, used, " +
                "updated_at) " +
                "SELECT v.user_id, v.service_id, v.period_type, " + sqlPeriodStart("v.period_type", "v.period") + ", " +
                "v.allowance, v.used, " + sqlTime("v.at") + " " +
                "FROM unnest(:user, :service, :type, :period, :allowance, :used, :at) " +
                "AS v(user_id, service_id, period_type, period, allowance, used, at) " +
                "ON CONFLICT (user_id, service_id, period_type, period_start) DO UPDATE SET " +
                "allowance = excluded.allowance, used = excluded.used, updated_at = excluded.updated_at")
                .bind("user", array("bigint", known.user))
                .bind("service", array("integer", known.service))
                .bind("type", array("text", known.type))
                .bind("period", array("integer", known.period))
                .bind("allowance", array("bigint", known.allowance))
                .bind("used", array("bigint", known.used))
                .bind("at", array("bigint", known.at))
                .execute();
        }
    }

    /**
     * Quota use rows as columns, for one unnest.
     */
    private static final class QuotaColumns
    {
        final long[] user;
        final int[] service;
        final String[] type;
        final int[] period;
        final long[] allowance;
        final long[] used;
        final long[] at;
        int size;

        QuotaColumns(final int capacity)
        {
            user = new long[capacity];
            service = new int[capacity];
            type = new String[capacity];
            period = new int[capacity];
            allowance = new long[capacity];
            used = new long[capacity];
            at = new long[capacity];
        }

        void add(final ProjectionBatch.QuotaUseKey key, final ProjectionBatch.QuotaUse use)
        {
            user[size] = key.userId();
            service[size] = key.serviceId();
            type[size] = key.type() == null ? null : key.type().name();
            period[size] = key.periodId();
            allowance[size] = use.allowance;
            used[size] = use.used;
            at[size] = use.at;
            size++;
        }
    }

    private static void writeAccounts(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.accounts().size();
        if (n == 0)
        {
            return;
        }
        final long[] user = new long[n];
        final long[] balance = new long[n];
        final long[] held = new long[n];
        final long[] at = new long[n];
        final List<Long> limitUsers = new ArrayList<>();
        final List<Long> limits = new ArrayList<>();
        final List<Long> frozenUsers = new ArrayList<>();
        final List<Boolean> frozen = new ArrayList<>();
        int i = 0;
        for (final Map.Entry<Long, ProjectionBatch.AccountChange> e : batch.accounts().entrySet())
        {
            final ProjectionBatch.AccountChange a = e.getValue();
            user[i] = e.getKey();
            balance[i] = a.balance;
            held[i] = a.heldDelta;
            at[i] = a.updatedAt;
            i++;
            if (a.creditLimit != null)
            {
                limitUsers.add(e.getKey());
                limits.add(a.creditLimit);
            }
            if (a.frozen != null)
            {
                frozenUsers.add(e.getKey());
                frozen.add(a.frozen);
            }
        }
        // new accounts start with the defaults; settings changed in the batch are written after, as they are rare
        h.createUpdate(
            "INSERT INTO accounts AS t (user_id, balance, held, credit_limit, frozen, updated_at) " +
            "SELECT v.user_id, v.balance, v.held, 0, false, " + sqlTime("v.at") + " " +
            "FROM unnest(:user, :balance, :held, :at) AS v(user_id, balance, held, at) " +
            "ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance, held = t.held + excluded.held, " +
            "updated_at = excluded.updated_at")
            .bind("user", array("bigint", user))
            .bind("balance", array("bigint", balance))
            .bind("held", array("bigint", held))
            .bind("at", array("bigint", at))
            .execute();
        if (!limits.isEmpty())
        {
            h.createUpdate("UPDATE accounts a SET credit_limit = v.credit_limit " +
                "FROM unnest(:user, :limit) AS v(user_id, credit_limit) WHERE a.user_id = v.user_id")
                .bindArray("user", Long.class, limitUsers)
                .bindArray("limit", Long.class, limits)
                .execute();
        }
        if (!frozen.isEmpty())
        {
            h.createUpdate("UPDATE accounts a SET frozen = v.frozen " +
                "FROM unnest(:user, :frozen) AS v(user_id, frozen) WHERE a.user_id = v.user_id")
                .bindArray("user", Long.class, frozenUsers)
                .bindArray("frozen", Boolean.class, frozen)
                .execute();
        }
    }

    private static void writeHolds(final Handle h, final ProjectionBatch batch)
    {
        if (!batch.pendingCloses().isEmpty())
        {
            h.createUpdate("DELETE FROM open_holds WHERE hold_id = ANY(:ids)")
                .bindArray("ids", UUID.class, batch.pendingCloses())
                .execute();
        }
        final List<ProjectionBatch.Hold> holds = new ArrayList<>();
        batch.opened().forEach(holds::add);
        final int n = holds.size();
        if (n == 0)
        {
            return;
        }
        final UUID[] id = new UUID[n];
        final long[] user = new long[n];
        final int[] service = new int[n];
        final long[] free = new long[n];
        final long[] balance = new long[n];
        final long[] opened = new long[n];
        final long[] expires = new long[n];
        for (int i = 0; i < n; i++)
        {
            final ProjectionBatch.Hold hold = holds.get(i);
            id[i] = hold.holdId();
            user[i] = hold.userId();
            service[i] = hold.serviceId();
            free[i] = hold.fromFree();
            balance[i] = hold.fromBalance();
            opened[i] = hold.openedAt();
            expires[i] = hold.expiresAt();
        }
        h.createUpdate(
            "INSERT INTO open_holds (hold_id, user_id, service_id, from_free, from_balance, opened_at, expires_at) " +
            "SELECT v.hold_id, v.user_id, v.service_id, v.free, v.balance, " + sqlTime("v.opened") + ", " +
            sqlTime("v.expires") + " " +
            "FROM unnest(:id, :user, :service, :free, :balance, :opened, :expires) " +
            "AS v(hold_id, user_id, service_id, free, balance, opened, expires)")
            .bind("id", array("uuid", id))
            .bind("user", array("bigint", user))
            .bind("service", array("integer", service))
            .bind("free", array("bigint", free))
            .bind("balance", array("bigint", balance))
            .bind("opened", array("bigint", opened))
            .bind("expires", array("bigint", expires))
            .execute();
    }

    private static void writeMovements(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.movements().size();
        if (n == 0)
        {
            return;
        }
        final long[] sequence = new long[n];
        final long[] at = new long[n];
        final long[] user = new long[n];
        final int[] service = new int[n];
        final String[] kind = new String[n];
        final UUID[] request = new UUID[n];
        final UUID[] hold = new UUID[n];
        final long[] amount = new long[n];
        final long[] change = new long[n];
        final long[] free = new long[n];
        final long[] after = new long[n];
        for (int i = 0; i < n; i++)
        {
            final ProjectionBatch.Movement m = batch.movements().get(i);
            sequence[i] = m.sequence();
            at[i] = m.at();
            user[i] = m.userId();
            service[i] = m.serviceId();
            kind[i] = m.kind();
            request[i] = m.requestId();
            hold[i] = m.holdId(); // null for credits and limits
            amount[i] = m.amount();
            change[i] = m.balanceChange();
            free[i] = m.freeReturned();
            after[i] = m.balanceAfter();
        }
        h.createUpdate(
            "INSERT INTO money_movements (sequence, at, user_id, service_id, kind, request_id, hold_id, amount, " +
            "balance_change, free_returned, balance_after) " +
            "SELECT v.sequence, " + sqlTime("v.at") + ", v.user_id, v.service_id, v.kind, v.request_id, v.hold_id, " +
            "v.amount, v.change, v.free, v.after " +
            "FROM unnest(:sequence, :at, :user, :service, :kind, :request, :hold, :amount, :change, :free, :after) " +
            "AS v(sequence, at, user_id, service_id, kind, request_id, hold_id, amount, change, free, after)")
            .bind("sequence", array("bigint", sequence))
            .bind("at", array("bigint", at))
            .bind("user", array("bigint", user))
            .bind("service", array("integer", service))
            .bind("kind", array("text", kind))
            .bind("request", array("uuid", request))
            .bind("hold", array("uuid", hold))
            .bind("amount", array("bigint", amount))
            .bind("change", array("bigint", change))
            .bind("free", array("bigint", free))
            .bind("after", array("bigint", after))
            .execute();
    }

    /**
     * @return a parameter holding {@code elements} (a Java array, primitive or not) as one PostgreSQL array of
     * {@code type}: every table is written with one statement per batch that unnests such column arrays, instead of
     * one statement (or one VALUES row) per row.
     */
    private static Argument array(final String type, final Object elements)
    {
        return (position, statement, ctx) -> statement.setArray(position,
            statement.getConnection().unwrap(PGConnection.class).createArrayOf(type, elements));
    }

    /**
     * @return SQL for the timestamp of the epoch milliseconds in {@code column}, exact (integer arithmetic).
     */
    private static String sqlTime(final String column)
    {
        return "(TIMESTAMPTZ 'epoch' + " + column + " * INTERVAL '1 millisecond')";
    }

    /**
     * @return SQL for the first day of a period: {@code period} (the outcome's period id) counts months since year 0
     * for MONTH quotas, days since 1970-01-01 otherwise (the Monday of a WEEK quota).
     */
    private static String sqlPeriodStart(final String type, final String period)
    {
        return "CASE " + type + " WHEN 'MONTH' THEN make_date(" + period + " / 12, " + period + " % 12 + 1, 1) " +
            "ELSE DATE '1970-01-01' + " + period + " END";
    }

    private static OffsetDateTime time(final long epochMillis)
    {
        return OffsetDateTime.ofInstant(Instant.ofEpochMilli(epochMillis), ZoneOffset.UTC);
    }

    private static long millis(final OffsetDateTime time)
    {
        return time.toInstant().toEpochMilli();
    }
}
