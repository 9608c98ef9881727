package io.quotaledger.projector;

import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.argument.Argument;
import org.postgresql.PGConnection;
import org.postgresql.ds.PGSimpleDataSource;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.ToIntFunction;
import java.util.function.ToLongFunction;

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
     * counted. {@code outcomeType} is that outcome's type (null when unknown): what an outcome that belongs to the one
     * before it (a POLICY_APPLIED) follows when it comes first in the next batch.
     */
    public record Checkpoint(long sequence, long outcomeTime, long outcomeCrc, OutcomeType outcomeType)
    {
    }

    private static final String SERVICE_MATCH = "k.virtual_key_id = v.key AND k.service_id = v.service_id";

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
            "SELECT sequence, outcome_time, outcome_crc, outcome_type FROM projector_checkpoint WHERE id = 1")
            .map((rs, ctx) ->
            {
                final OffsetDateTime time = rs.getObject(2, OffsetDateTime.class);
                final long crc = rs.getLong(3);
                final boolean crcKnown = !rs.wasNull();
                final int type = rs.getInt(4);
                return new Checkpoint(rs.getLong(1), time == null ? 0 : time.toInstant().toEpochMilli(),
                    crcKnown ? crc : -1, rs.wasNull() ? null : OutcomeType.fromCode(type));
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
            h.execute("TRUNCATE usage_hourly, accounts, quota_grants, free_quota, money_movements, open_holds, " +
                "virtual_key_usage_hourly, rejections_hourly, virtual_keys, virtual_key_service_budgets, " +
                "price_groups, user_groups, rate_limits, spend_windows, concurrency_limits");
            h.execute("UPDATE projector_checkpoint SET sequence = 0, outcome_time = NULL, outcome_crc = NULL, " +
                "outcome_type = NULL, updated_at = now()");
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
            writeKeyUsage(h, batch);
            writeRejections(h, batch);
            writeVirtualKeys(h, batch);
            writeServiceBudgets(h, batch);
            writePrices(h, batch);
            writeLimits(h, batch);
            final int moved = h.createUpdate(
                "UPDATE projector_checkpoint SET sequence = :last, outcome_time = :time, outcome_crc = :crc, " +
                "outcome_type = :type, updated_at = now() WHERE id = 1 AND sequence = :previous")
                .bind("last", batch.lastSequence())
                .bind("time", time(batch.lastTimestamp()))
                .bind("crc", batch.lastCrc())
                .bind("type", (short)batch.lastType().code())
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
        h.createQuery("SELECT hold_id, user_id, service_id, from_free, from_balance, opened_at, expires_at, " +
            "virtual_key_id FROM open_holds WHERE hold_id = ANY(:ids)")
            .bindArray("ids", UUID.class, ids)
            .map((rs, ctx) -> new ProjectionBatch.Hold(rs.getObject(1, UUID.class), rs.getLong(2), rs.getInt(3),
                rs.getLong(4), rs.getLong(5), millis(rs.getObject(6, OffsetDateTime.class)),
                millis(rs.getObject(7, OffsetDateTime.class)), rs.getLong(8)))
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
        final int keyed = batch.keyedEarlier().size();
        if (keyed > 0)
        {
            final UUID[] id = new UUID[keyed];
            final long[] key = new long[keyed];
            int i = 0;
            for (final Map.Entry<UUID, Long> e : batch.keyedEarlier().entrySet())
            {
                id[i] = e.getKey();
                key[i] = e.getValue();
                i++;
            }
            // holds whose HOLD_OPENED ended the previous batch and whose POLICY_APPLIED came in this one
            h.createUpdate("UPDATE open_holds o SET virtual_key_id = v.key FROM unnest(:id, :key) AS v(hold_id, key) " +
                "WHERE o.hold_id = v.hold_id")
                .bind("id", array("uuid", id))
                .bind("key", array("bigint", key))
                .execute();
        }
        final int n = batch.opened().size();
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
        final long[] key = new long[n];
        int i = 0;
        for (final ProjectionBatch.Hold hold : batch.opened())
        {
            id[i] = hold.holdId();
            user[i] = hold.userId();
            service[i] = hold.serviceId();
            free[i] = hold.fromFree();
            balance[i] = hold.fromBalance();
            opened[i] = hold.openedAt();
            expires[i] = hold.expiresAt();
            key[i] = hold.virtualKeyId();
            i++;
        }
        h.createUpdate(
            "INSERT INTO open_holds (hold_id, user_id, service_id, from_free, from_balance, opened_at, expires_at, " +
            "virtual_key_id) " +
            "SELECT v.hold_id, v.user_id, v.service_id, v.free, v.balance, " + sqlTime("v.opened") + ", " +
            sqlTime("v.expires") + ", v.key " +
            "FROM unnest(:id, :user, :service, :free, :balance, :opened, :expires, :key) " +
            "AS v(hold_id, user_id, service_id, free, balance, opened, expires, key)")
            .bind("id", array("uuid", id))
            .bind("user", array("bigint", user))
            .bind("service", array("integer", service))
            .bind("free", array("bigint", free))
            .bind("balance", array("bigint", balance))
            .bind("opened", array("bigint", opened))
            .bind("expires", array("bigint", expires))
            .bind("key", array("bigint", key))
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

    private static void writeKeyUsage(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.keyUsage().size();
        if (n == 0)
        {
            return;
        }
        final long[] user = new long[n];
        final long[] key = new long[n];
        final int[] service = new int[n];
        final long[] hour = new long[n];
        final long[] requests = new long[n];
        final long[] units = new long[n];
        final long[] amount = new long[n];
        final long[] rejections = new long[n];
        int i = 0;
        for (final Map.Entry<ProjectionBatch.KeyUsageKey, ProjectionBatch.KeyUsage> e : batch.keyUsage().entrySet())
        {
            final ProjectionBatch.KeyUsage u = e.getValue();
            user[i] = e.getKey().userId();
            key[i] = e.getKey().virtualKeyId();
            service[i] = e.getKey().serviceId();
            hour[i] = e.getKey().hourMillis();
            requests[i] = u.requests;
            units[i] = u.units;
            amount[i] = u.amount;
            rejections[i] = u.rejections;
            i++;
        }
        h.createUpdate(
            "INSERT INTO virtual_key_usage_hourly AS t (user_id, virtual_key_id, service_id, hour, requests, units, " +
            "amount, rejections) " +
            "SELECT v.user_id, v.key, v.service_id, " + sqlTime("v.hour") + ", v.requests, v.units, v.amount, " +
            "v.rejections " +
            "FROM unnest(:user, :key, :service, :hour, :requests, :units, :amount, :rejections) " +
            "AS v(user_id, key, service_id, hour, requests, units, amount, rejections) " +
            "ON CONFLICT (user_id, virtual_key_id, service_id, hour) DO UPDATE SET " +
            "requests = t.requests + excluded.requests, units = t.units + excluded.units, " +
            "amount = t.amount + excluded.amount, rejections = t.rejections + excluded.rejections")
            .bind("user", array("bigint", user))
            .bind("key", array("bigint", key))
            .bind("service", array("integer", service))
            .bind("hour", array("bigint", hour))
            .bind("requests", array("bigint", requests))
            .bind("units", array("bigint", units))
            .bind("amount", array("bigint", amount))
            .bind("rejections", array("bigint", rejections))
            .execute();
    }

    private static void writeRejections(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.rejections().size();
        if (n == 0)
        {
            return;
        }
        final long[] user = new long[n];
        final long[] key = new long[n];
        final int[] service = new int[n];
        final long[] hour = new long[n];
        final String[] reason = new String[n];
        final long[] count = new long[n];
        int i = 0;
        for (final Map.Entry<ProjectionBatch.RejectionKey, long[]> e : batch.rejections().entrySet())
        {
            user[i] = e.getKey().userId();
            key[i] = e.getKey().virtualKeyId();
            service[i] = e.getKey().serviceId();
            hour[i] = e.getKey().hourMillis();
            reason[i] = e.getKey().reason().name();
            count[i] = e.getValue()[0];
            i++;
        }
        h.createUpdate(
            "INSERT INTO rejections_hourly AS t (user_id, virtual_key_id, service_id, hour, reason, rejections) " +
            "SELECT v.user_id, v.key, v.service_id, " + sqlTime("v.hour") + ", v.reason, v.count " +
            "FROM unnest(:user, :key, :service, :hour, :reason, :count) " +
            "AS v(user_id, key, service_id, hour, reason, count) " +
            "ON CONFLICT (user_id, virtual_key_id, service_id, hour, reason) DO UPDATE SET " +
            "rejections = t.rejections + excluded.rejections")
            .bind("user", array("bigint", user))
            .bind("key", array("bigint", key))
            .bind("service", array("integer", service))
            .bind("hour", array("bigint", hour))
            .bind("reason", array("text", reason))
            .bind("count", array("bigint", count))
            .execute();
    }

    /**
     * Configurations first, then revocations, then spends: a key's row exists before anything updates it.
     */
    private static void writeVirtualKeys(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.keyConfigs().size();
        if (n > 0)
        {
            final long[] key = new long[n];
            final long[] user = new long[n];
            final boolean[] unlimited = new boolean[n];
            final Long[] budget = new Long[n];
            final String[] reset = new String[n];
            final Long[] every = new Long[n];
            final Long[] expires = new Long[n];
            final String[] services = new String[n];
            final long[] created = new long[n];
            final long[] at = new long[n];
            int i = 0;
            for (final Map.Entry<Long, ProjectionBatch.KeyConfig> e : batch.keyConfigs().entrySet())
            {
                final ProjectionBatch.KeyConfig c = e.getValue();
                key[i] = e.getKey();
                user[i] = c.userId();
                unlimited[i] = c.unlimited();
                budget[i] = c.unlimited() ? null : c.budget();
                reset[i] = reset(c.resetPeriod(), c.resetMillis());
                every[i] = c.resetPeriod() == null && c.resetMillis() > 0 ? c.resetMillis() : null;
                expires[i] = c.expiresAt() == 0 ? null : c.expiresAt();
                services[i] = c.services().length == 0 ? null : intArrayLiteral(c.services());
                created[i] = c.createdAt();
                at[i] = c.at();
                i++;
            }
            h.createUpdate(
                "INSERT INTO virtual_keys AS t (virtual_key_id, user_id, unlimited, budget, reset, reset_every, " +
                "expires_at, services, created_at, updated_at) " +
                "SELECT v.key, v.user_id, v.unlimited, v.budget, v.reset, " + sqlInterval("v.every") + ", " +
                sqlTime("v.expires") + ", v.services::integer[], " + sqlTime("v.created") + ", " + sqlTime("v.at") +
                " FROM unnest(:key, :user, :unlimited, :budget, :reset, :every, :expires, :services, :created, :at) " +
                "AS v(key, user_id, unlimited, budget, reset, every, expires, services, created, at) " +
                "ON CONFLICT (virtual_key_id) DO UPDATE SET user_id = excluded.user_id, " +
                "unlimited = excluded.unlimited, budget = excluded.budget, reset = excluded.reset, " +
                "reset_every = excluded.reset_every, expires_at = excluded.expires_at, " +
                "services = excluded.services, updated_at = excluded.updated_at")
                .bind("key", array("bigint", key))
                .bind("user", array("bigint", user))
                .bind("unlimited", array("boolean", unlimited))
                .bind("budget", array("bigint", budget))
                .bind("reset", array("text", reset))
                .bind("every", array("bigint", every))
                .bind("expires", array("bigint", expires))
                .bind("services", array("text", services))
                .bind("created", array("bigint", created))
                .bind("at", array("bigint", at))
                .execute();
        }
        if (!batch.revocations().isEmpty())
        {
            h.createUpdate("UPDATE virtual_keys k SET revoked = true, revoked_at = " + sqlTime("v.at") + ", " +
                "updated_at = " + sqlTime("v.at") + " FROM unnest(:key, :at) AS v(key, at) " +
                "WHERE k.virtual_key_id = v.key")
                .bindArray("key", Long.class, List.copyOf(batch.revocations().keySet()))
                .bindArray("at", Long.class, List.copyOf(batch.revocations().values()))
                .execute();
        }
        updateSpends(h, "virtual_keys k", "k.virtual_key_id = v.key", batch.keySpends(), key -> key, key -> 0);
    }

    /**
     * Rows removed in the batch go first (a budget removed and set again starts afresh), then the budgets set, then
     * the spends after them on rows that exist.
     */
    private static void writeServiceBudgets(final Handle h, final ProjectionBatch batch)
    {
        final int removed = batch.serviceBudgetsRemoved().size();
        if (removed > 0)
        {
            final long[] key = new long[removed];
            final int[] service = new int[removed];
            int i = 0;
            for (final ProjectionBatch.ServiceKey k : batch.serviceBudgetsRemoved())
            {
                key[i] = k.virtualKeyId();
                service[i] = k.serviceId();
                i++;
            }
            h.createUpdate("DELETE FROM virtual_key_service_budgets b USING unnest(:key, :service) " +
                "AS v(key, service_id) WHERE b.virtual_key_id = v.key AND b.service_id = v.service_id")
                .bind("key", array("bigint", key))
                .bind("service", array("integer", service))
                .execute();
        }
        final int n = batch.serviceBudgets().size();
        if (n > 0)
        {
            final long[] key = new long[n];
            final int[] service = new int[n];
            final long[] user = new long[n];
            final long[] budget = new long[n];
            final long[] at = new long[n];
            final Map<ProjectionBatch.ServiceKey, ProjectionBatch.Spend> spendsIfExisted = new HashMap<>();
            int i = 0;
            for (final Map.Entry<ProjectionBatch.ServiceKey, ProjectionBatch.ServiceBudget> e :
                batch.serviceBudgets().entrySet())
            {
                final ProjectionBatch.ServiceBudget b = e.getValue();
                key[i] = e.getKey().virtualKeyId();
                service[i] = e.getKey().serviceId();
                user[i] = b.userId();
                budget[i] = b.budget();
                at[i] = b.at();
                if (b.spendIfExisted() != null)
                {
                    spendsIfExisted.put(e.getKey(), b.spendIfExisted());
                }
                i++;
            }
            // rows that existed before the batch take the spends seen before their SET; new rows start at nothing
            updateSpends(h, "virtual_key_service_budgets k", SERVICE_MATCH, spendsIfExisted,
                ProjectionBatch.ServiceKey::virtualKeyId, ProjectionBatch.ServiceKey::serviceId);
            h.createUpdate(
                "INSERT INTO virtual_key_service_budgets AS t (virtual_key_id, service_id, user_id, budget, " +
                "updated_at) " +
                "SELECT v.key, v.service_id, v.user_id, v.budget, " + sqlTime("v.at") + " " +
                "FROM unnest(:key, :service, :user, :budget, :at) AS v(key, service_id, user_id, budget, at) " +
                "ON CONFLICT (virtual_key_id, service_id) DO UPDATE SET user_id = excluded.user_id, " +
                "budget = excluded.budget, updated_at = excluded.updated_at")
                .bind("key", array("bigint", key))
                .bind("service", array("integer", service))
                .bind("user", array("bigint", user))
                .bind("budget", array("bigint", budget))
                .bind("at", array("bigint", at))
                .execute();
        }
        updateSpends(h, "virtual_key_service_budgets k", SERVICE_MATCH, batch.serviceSpends(),
            ProjectionBatch.ServiceKey::virtualKeyId, ProjectionBatch.ServiceKey::serviceId);
    }

    /**
     * Sets spent, spent_period and spent_at of the rows that exist.
     */
    private static <K> void updateSpends(
        final Handle h,
        final String table,
        final String match,
        final Map<K, ProjectionBatch.Spend> spends,
        final ToLongFunction<K> keyOf,
        final ToIntFunction<K> serviceOf)
    {
        final int n = spends.size();
        if (n == 0)
        {
            return;
        }
        final long[] key = new long[n];
        final int[] service = new int[n];
        final long[] spent = new long[n];
        final long[] period = new long[n];
        final long[] at = new long[n];
        int i = 0;
        for (final Map.Entry<K, ProjectionBatch.Spend> e : spends.entrySet())
        {
            key[i] = keyOf.applyAsLong(e.getKey());
            service[i] = serviceOf.applyAsInt(e.getKey());
            spent[i] = e.getValue().spent();
            period[i] = e.getValue().periodId();
            at[i] = e.getValue().at();
            i++;
        }
        h.createUpdate("UPDATE " + table + " SET spent = v.spent, spent_period = v.period, spent_at = " +
            sqlTime("v.at") + " FROM unnest(:key, :service, :spent, :period, :at) " +
            "AS v(key, service_id, spent, period, at) WHERE " + match)
            .bind("key", array("bigint", key))
            .bind("service", array("integer", service))
            .bind("spent", array("bigint", spent))
            .bind("period", array("bigint", period))
            .bind("at", array("bigint", at))
            .execute();
    }

    private static void writePrices(final Handle h, final ProjectionBatch batch)
    {
        final int n = batch.prices().size();
        if (n > 0)
        {
            final int[] group = new int[n];
            final int[] service = new int[n];
            final BigDecimal[] multiplier = new BigDecimal[n];
            final long[] at = new long[n];
            int i = 0;
            for (final Map.Entry<ProjectionBatch.PriceKey, ProjectionBatch.Price> e : batch.prices().entrySet())
            {
                group[i] = e.getKey().groupId();
                service[i] = e.getKey().serviceId();
                multiplier[i] = BigDecimal.valueOf(e.getValue().multiplier(), 6); // fixed point, 6 decimals: exact
                at[i] = e.getValue().at();
                i++;
            }
            h.createUpdate(
                "INSERT INTO price_groups AS t (group_id, service_id, multiplier, updated_at) " +
                "SELECT v.group_id, v.service_id, v.multiplier, " + sqlTime("v.at") + " " +
                "FROM unnest(:group, :service, :multiplier, :at) AS v(group_id, service_id, multiplier, at) " +
                "ON CONFLICT (group_id, service_id) DO UPDATE SET multiplier = excluded.multiplier, " +
                "updated_at = excluded.updated_at")
                .bind("group", array("integer", group))
                .bind("service", array("integer", service))
                .bind("multiplier", array("numeric", multiplier))
                .bind("at", array("bigint", at))
                .execute();
        }
        final int g = batch.groups().size();
        if (g > 0)
        {
            final long[] user = new long[g];
            final int[] group = new int[g];
            final long[] at = new long[g];
            int i = 0;
            for (final Map.Entry<Long, ProjectionBatch.GroupChange> e : batch.groups().entrySet())
            {
                user[i] = e.getKey();
                group[i] = e.getValue().groupId();
                at[i] = e.getValue().at();
                i++;
            }
            h.createUpdate(
                "INSERT INTO user_groups AS t (user_id, group_id, updated_at) " +
                "SELECT v.user_id, v.group_id, " + sqlTime("v.at") + " " +
                "FROM unnest(:user, :group, :at) AS v(user_id, group_id, at) " +
                "ON CONFLICT (user_id) DO UPDATE SET group_id = excluded.group_id, updated_at = excluded.updated_at")
                .bind("user", array("bigint", user))
                .bind("group", array("integer", group))
                .bind("at", array("bigint", at))
                .execute();
        }
    }

    /**
     * Rate limits, spend windows and concurrency caps: the last setting of each in the batch. A setting that removes
     * deletes the row, from the same columns the others are upserted from.
     */
    private static void writeLimits(final Handle h, final ProjectionBatch batch)
    {
        final int r = batch.rateLimits().size();
        if (r > 0)
        {
            final long[] user = new long[r];
            final long[] key = new long[r];
            final long[] requests = new long[r];
            final long[] units = new long[r];
            final long[] per = new long[r];
            final long[] at = new long[r];
            int i = 0;
            for (final Map.Entry<ProjectionBatch.SubjectKey, ProjectionBatch.RateLimit> e :
                batch.rateLimits().entrySet())
            {
                user[i] = e.getKey().userId();
                key[i] = e.getKey().virtualKeyId();
                requests[i] = e.getValue().requests();
                units[i] = e.getValue().units();
                per[i] = e.getValue().perMillis();
                at[i] = e.getValue().at();
                i++;
            }
            h.createUpdate("DELETE FROM rate_limits s USING unnest(:user, :key, :requests, :units) " +
                "AS v(user_id, key, requests, units) WHERE v.requests = 0 AND v.units = 0 " +
                "AND s.user_id = v.user_id AND s.virtual_key_id = v.key")
                .bind("user", array("bigint", user))
                .bind("key", array("bigint", key))
                .bind("requests", array("bigint", requests))
                .bind("units", array("bigint", units))
                .execute();
            h.createUpdate(
                "INSERT INTO rate_limits AS t (user_id, virtual_key_id, requests, units, per, updated_at) " +
                "SELECT v.user_id, v.key, v.requests, v.units, " + sqlInterval("v.per") + ", " + sqlTime("v.at") +
                " FROM unnest(:user, :key, :requests, :units, :per, :at) " +
                "AS v(user_id, key, requests, units, per, at) WHERE v.requests <> 0 OR v.units <> 0 " +
                "ON CONFLICT (user_id, virtual_key_id) DO UPDATE SET requests = excluded.requests, " +
                "units = excluded.units, per = excluded.per, updated_at = excluded.updated_at")
                .bind("user", array("bigint", user))
                .bind("key", array("bigint", key))
                .bind("requests", array("bigint", requests))
                .bind("units", array("bigint", units))
                .bind("per", array("bigint", per))
                .bind("at", array("bigint", at))
                .execute();
        }

        final int w = batch.spendWindows().size();
        if (w > 0)
        {
            final long[] user = new long[w];
            final long[] key = new long[w];
            final long[] per = new long[w];
            final long[] max = new long[w];
            final long[] at = new long[w];
            int i = 0;
            for (final Map.Entry<ProjectionBatch.WindowKey, ProjectionBatch.Maximum> e :
                batch.spendWindows().entrySet())
            {
                user[i] = e.getKey().userId();
                key[i] = e.getKey().virtualKeyId();
                per[i] = e.getKey().perMillis();
                max[i] = e.getValue().max();
                at[i] = e.getValue().at();
                i++;
            }
            h.createUpdate("DELETE FROM spend_windows s USING unnest(:user, :key, :per, :max) " +
                "AS v(user_id, key, per, max) WHERE v.max = 0 AND s.user_id = v.user_id AND " +
                "s.virtual_key_id = v.key AND s.per = " + sqlInterval("v.per"))
                .bind("user", array("bigint", user))
                .bind("key", array("bigint", key))
                .bind("per", array("bigint", per))
                .bind("max", array("bigint", max))
                .execute();
            h.createUpdate(
                "INSERT INTO spend_windows AS t (user_id, virtual_key_id, per, max_amount, updated_at) " +
                "SELECT v.user_id, v.key, " + sqlInterval("v.per") + ", v.max, " + sqlTime("v.at") +
                " FROM unnest(:user, :key, :per, :max, :at) AS v(user_id, key, per, max, at) WHERE v.max <> 0 " +
                "ON CONFLICT (user_id, virtual_key_id, per) DO UPDATE SET max_amount = excluded.max_amount, " +
                "updated_at = excluded.updated_at")
                .bind("user", array("bigint", user))
                .bind("key", array("bigint", key))
                .bind("per", array("bigint", per))
                .bind("max", array("bigint", max))
                .bind("at", array("bigint", at))
                .execute();
        }

        final int c = batch.concurrencyCaps().size();
        if (c > 0)
        {
            final long[] user = new long[c];
            final long[] key = new long[c];
            final long[] max = new long[c];
            final long[] at = new long[c];
            int i = 0;
            for (final Map.Entry<ProjectionBatch.SubjectKey, ProjectionBatch.Maximum> e :
                batch.concurrencyCaps().entrySet())
            {
                user[i] = e.getKey().userId();
                key[i] = e.getKey().virtualKeyId();
                max[i] = e.getValue().max();
                at[i] = e.getValue().at();
                i++;
            }
            h.createUpdate("DELETE FROM concurrency_limits s USING unnest(:user, :key, :max) " +
                "AS v(user_id, key, max) WHERE v.max = 0 AND s.user_id = v.user_id AND s.virtual_key_id = v.key")
                .bind("user", array("bigint", user))
                .bind("key", array("bigint", key))
                .bind("max", array("bigint", max))
                .execute();
            h.createUpdate(
                "INSERT INTO concurrency_limits AS t (user_id, virtual_key_id, max_open_holds, updated_at) " +
                "SELECT v.user_id, v.key, v.max, " + sqlTime("v.at") + " " +
                "FROM unnest(:user, :key, :max, :at) AS v(user_id, key, max, at) WHERE v.max <> 0 " +
                "ON CONFLICT (user_id, virtual_key_id) DO UPDATE SET max_open_holds = excluded.max_open_holds, " +
                "updated_at = excluded.updated_at")
                .bind("user", array("bigint", user))
                .bind("key", array("bigint", key))
                .bind("max", array("bigint", max))
                .bind("at", array("bigint", at))
                .execute();
        }
    }

    /**
     * @return virtual_keys.reset for a key's reset: a calendar period, a duration or none.
     */
    private static String reset(final Period period, final long millis)
    {
        return period != null ? period.name() : millis > 0 ? "DURATION" : "NEVER";
    }

    /**
     * @return the PostgreSQL text form of an integer array, cast to {@code integer[]} in SQL: unnest cannot take an
     * array of arrays of different lengths.
     */
    private static String intArrayLiteral(final int[] values)
    {
        final StringBuilder sb = new StringBuilder().append('{');
        for (int i = 0; i < values.length; i++)
        {
            sb.append(i == 0 ? "" : ",").append(values[i]);
        }
        return sb.append('}').toString();
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

    /**
     * @return SQL for the interval of the milliseconds in {@code column} (NULL stays NULL), exact.
     */
    private static String sqlInterval(final String column)
    {
        return "(" + column + " * INTERVAL '1 millisecond')";
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
