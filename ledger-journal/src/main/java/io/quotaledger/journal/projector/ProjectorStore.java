package io.quotaledger.journal.projector;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.PreparedBatch;
import org.postgresql.ds.PGSimpleDataSource;

import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
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
     * time (epoch ms, 0 when nothing was projected).
     */
    public record Checkpoint(long sequence, long outcomeTime)
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
        dataSource.setReWriteBatchedInserts(true); // a batch of upserts goes as a few multi-row statements
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
        return handle().createQuery("SELECT sequence, outcome_time FROM projector_checkpoint WHERE id = 1")
            .map((rs, ctx) ->
            {
                final OffsetDateTime time = rs.getObject(2, OffsetDateTime.class);
                return new Checkpoint(rs.getLong(1), time == null ? 0 : time.toInstant().toEpochMilli());
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
            h.execute("UPDATE projector_checkpoint SET sequence = 0, outcome_time = NULL, updated_at = now()");
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
                "UPDATE projector_checkpoint SET sequence = :last, outcome_time = :time, updated_at = now() " +
                "WHERE id = 1 AND sequence = :previous")
                .bind("last", batch.lastSequence())
                .bind("time", time(batch.lastTimestamp()))
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
        if (batch.usage().isEmpty())
        {
            return;
        }
        final PreparedBatch upsert = h.prepareBatch(
            "INSERT INTO usage_hourly AS t (user_id, service_id, hour, requests, free_units, paid_units, rejections) " +
            "VALUES (:user, :service, :hour, :requests, :free, :paid, :rejections) " +
            "ON CONFLICT (user_id, service_id, hour) DO UPDATE SET " +
            "requests = t.requests + excluded.requests, free_units = t.free_units + excluded.free_units, " +
            "paid_units = t.paid_units + excluded.paid_units, rejections = t.rejections + excluded.rejections");
        for (final Map.Entry<ProjectionBatch.UsageKey, ProjectionBatch.Usage> e : batch.usage().entrySet())
        {
            final ProjectionBatch.Usage u = e.getValue();
            upsert.bind("user", e.getKey().userId())
                .bind("service", e.getKey().serviceId())
                .bind("hour", time(e.getKey().hourMillis()))
                .bind("requests", u.requests)
                .bind("free", u.freeUnits)
                .bind("paid", u.paidUnits)
                .bind("rejections", u.rejections)
                .add();
        }
        upsert.execute();
    }

    private static void writeQuotas(final Handle h, final ProjectionBatch batch)
    {
        // first the use of quotas whose GRANT came in an earlier batch: their type is the one PostgreSQL holds now
        final PreparedBatch earlier = h.prepareBatch(
            "INSERT INTO free_quota AS t (user_id, service_id, period_type, period_start, allowance, used, updated_at) " +
            "SELECT g.user_id, g.service_id, g.period_type, " +
            "CASE g.period_type WHEN 'MONTH' THEN make_date(:period / 12, :period % 12 + 1, 1) " +
            "ELSE DATE '1970-01-01' + :period END, g.allowance, :used, :at " +
            "FROM quota_grants g WHERE g.user_id = :user AND g.service_id = :service " +
            "ON CONFLICT (user_id, service_id, period_type, period_start) DO UPDATE SET " +
            "allowance = excluded.allowance, used = excluded.used, updated_at = excluded.updated_at");
        final PreparedBatch known = h.prepareBatch(
            "INSERT INTO free_quota AS t (user_id, service_id, period_type, period_start, allowance, used, updated_at) " +
            "VALUES (:user, :service, :type, :start, :allowance, :used, :at) " +
            "ON CONFLICT (user_id, service_id, period_type, period_start) DO UPDATE SET " +
            "allowance = excluded.allowance, used = excluded.used, updated_at = excluded.updated_at");
        for (final Map.Entry<ProjectionBatch.QuotaUseKey, ProjectionBatch.QuotaUse> e : batch.quotaUse().entrySet())
        {
            final ProjectionBatch.QuotaUseKey key = e.getKey();
            final ProjectionBatch.QuotaUse use = e.getValue();
            if (key.type() == null)
            {
                earlier.bind("user", key.userId())
                    .bind("service", key.serviceId())
                    .bind("period", key.periodId())
                    .bind("used", use.used)
                    .bind("at", time(use.at))
                    .add();
            }
            else
            {
                known.bind("user", key.userId())
                    .bind("service", key.serviceId())
                    .bind("type", key.type().name())
                    .bind("start", periodStart(key.type(), key.periodId()))
                    .bind("allowance", use.allowance)
                    .bind("used", use.used)
                    .bind("at", time(use.at))
                    .add();
            }
        }
        if (earlier.size() > 0)
        {
            earlier.execute();
        }
        if (!batch.grants().isEmpty())
        {
            final PreparedBatch grants = h.prepareBatch(
                "INSERT INTO quota_grants AS t (user_id, service_id, period_type, allowance, granted_at) " +
                "VALUES (:user, :service, :type, :allowance, :at) " +
                "ON CONFLICT (user_id, service_id) DO UPDATE SET period_type = excluded.period_type, " +
                "allowance = excluded.allowance, granted_at = excluded.granted_at");
            for (final Map.Entry<ProjectionBatch.QuotaKey, ProjectionBatch.Grant> e : batch.grants().entrySet())
            {
                grants.bind("user", e.getKey().userId())
                    .bind("service", e.getKey().serviceId())
                    .bind("type", e.getValue().type().name())
                    .bind("allowance", e.getValue().allowance())
                    .bind("at", time(e.getValue().at()))
                    .add();
            }
            grants.execute();
        }
        if (known.size() > 0)
        {
            known.execute();
        }
    }

    private static void writeAccounts(final Handle h, final ProjectionBatch batch)
    {
        if (batch.accounts().isEmpty())
        {
            return;
        }
        // new accounts start with the defaults; settings changed in the batch are written after, as they are rare
        final PreparedBatch upsert = h.prepareBatch(
            "INSERT INTO accounts AS t (user_id, balance, held, credit_limit, frozen, updated_at) " +
            "VALUES (:user, :balance, :held, 0, false, :at) " +
            "ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance, held = t.held + excluded.held, " +
            "updated_at = excluded.updated_at");
        final PreparedBatch limits = h.prepareBatch("UPDATE accounts SET credit_limit = :limit WHERE user_id = :user");
        final PreparedBatch frozen = h.prepareBatch("UPDATE accounts SET frozen = :frozen WHERE user_id = :user");
        for (final Map.Entry<Long, ProjectionBatch.AccountChange> e : batch.accounts().entrySet())
        {
            final ProjectionBatch.AccountChange a = e.getValue();
            upsert.bind("user", e.getKey())
                .bind("balance", a.balance)
                .bind("held", a.heldDelta)
                .bind("at", time(a.updatedAt))
                .add();
            if (a.creditLimit != null)
            {
                limits.bind("limit", a.creditLimit.longValue()).bind("user", e.getKey()).add();
            }
            if (a.frozen != null)
            {
                frozen.bind("frozen", a.frozen.booleanValue()).bind("user", e.getKey()).add();
            }
        }
        upsert.execute();
        if (limits.size() > 0)
        {
            limits.execute();
        }
        if (frozen.size() > 0)
        {
            frozen.execute();
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
        final PreparedBatch insert = h.prepareBatch(
            "INSERT INTO open_holds (hold_id, user_id, service_id, from_free, from_balance, opened_at, expires_at) " +
            "VALUES (:id, :user, :service, :free, :balance, :opened, :expires)");
        for (final ProjectionBatch.Hold hold : batch.opened())
        {
            insert.bind("id", hold.holdId())
                .bind("user", hold.userId())
                .bind("service", hold.serviceId())
                .bind("free", hold.fromFree())
                .bind("balance", hold.fromBalance())
                .bind("opened", time(hold.openedAt()))
                .bind("expires", time(hold.expiresAt()))
                .add();
        }
        if (insert.size() > 0)
        {
            insert.execute();
        }
    }

    private static void writeMovements(final Handle h, final ProjectionBatch batch)
    {
        if (batch.movements().isEmpty())
        {
            return;
        }
        final PreparedBatch insert = h.prepareBatch(
            "INSERT INTO money_movements (sequence, at, user_id, service_id, kind, request_id, hold_id, amount, " +
            "balance_change, free_returned, balance_after) " +
            "VALUES (:sequence, :at, :user, :service, :kind, :request, CAST(:hold AS uuid), :amount, :change, :free, :after)");
        for (final ProjectionBatch.Movement m : batch.movements())
        {
            insert.bind("sequence", m.sequence())
                .bind("at", time(m.at()))
                .bind("user", m.userId())
                .bind("service", m.serviceId())
                .bind("kind", m.kind())
                .bind("request", m.requestId())
                .bindByType("hold", m.holdId(), UUID.class)
                .bind("amount", m.amount())
                .bind("change", m.balanceChange())
                .bind("free", m.freeReturned())
                .bind("after", m.balanceAfter())
                .add();
        }
        insert.execute();
    }

    static LocalDate periodStart(final io.quotaledger.core.Period type, final int periodId)
    {
        return type == io.quotaledger.core.Period.MONTH ?
            LocalDate.of(periodId / 12, periodId % 12 + 1, 1) : LocalDate.ofEpochDay(periodId);
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
