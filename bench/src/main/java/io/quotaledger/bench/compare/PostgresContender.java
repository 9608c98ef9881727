package io.quotaledger.bench.compare;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Quota charged in PostgreSQL, one of two ways gateways do it today.
 * <ul>
 * <li>{@link Design#FOR_UPDATE}: the billing service's DeductQuota, one transaction: {@code SELECT ... FOR UPDATE} on
 * the free-quota row, UPDATE it, {@code SELECT ... FOR UPDATE} on the balance row, UPDATE it, INSERT one or two
 * billing records (free and paid part), COMMIT. Locks are taken in the same order, so it cannot deadlock.</li>
 * <li>{@link Design#CONDITIONAL}: one autocommit {@code UPDATE ... WHERE balance >= ... RETURNING}, free units and
 * balance in one row: the best a single SQL statement does.</li>
 * </ul>
 * In the virtual-key scenario the FOR UPDATE transaction first locks the key's row ({@code SELECT ... FOR UPDATE}),
 * checks it as the ledger does (this user's, not revoked, not expired, GCRA rate limit, budget in the current
 * period; the gateway's clock), then charges the user as above and updates the key's row in the same transaction.
 * The conditional design does not run it: see {@link #unsupported}.
 */
final class PostgresContender extends PooledContender
{
    enum Design
    {
        FOR_UPDATE("PostgreSQL FOR UPDATE"),
        CONDITIONAL("PostgreSQL conditional UPDATE");

        final String label;

        Design(final String label)
        {
            this.label = label;
        }
    }

    private static final String SERVICE = "chat";
    /** Why the conditional design does not run the virtual-key scenario. */
    static final String NO_KEYS_IN_ONE_STATEMENT = "not run: the key's budget and rate limit are another row than " +
        "the user's funds (two keys per user), and one UPDATE changes one table; a statement over both (a " +
        "data-modifying CTE) re-checks under READ COMMITTED only the row it is updating, so it can charge the key " +
        "and not the user, and it cannot say which check refused";

    private final PostgresServer server;
    private final Design design;
    private final boolean fsync;
    private final String month = YearMonth.now(java.time.ZoneOffset.UTC).toString();
    private String driver = "?";

    PostgresContender(final PostgresServer server, final Design design, final boolean fsync)
    {
        this.server = server;
        this.design = design;
        this.fsync = fsync;
    }

    @Override
    public String name()
    {
        return design.label + " (fsync " + (fsync ? "on" : "off") + ")";
    }

    @Override
    public List<String> settings()
    {
        final List<String> lines = new ArrayList<>();
        if (design == Design.FOR_UPDATE)
        {
            lines.add("one transaction per request: SELECT free_quota FOR UPDATE, UPDATE free_quota, SELECT " +
                "user_balance FOR UPDATE, UPDATE user_balance, INSERT billing_record (1-2 rows), COMMIT (READ " +
                "COMMITTED)");
            lines.add("virtual-key scenario: SELECT virtual_key FOR UPDATE first, its checks (user, revoked, expiry, " +
                "GCRA rate limit, budget in the current period; the gateway's clock) in the gateway, then the " +
                "above and UPDATE virtual_key in the same transaction");
        }
        else
        {
            lines.add("one autocommit UPDATE quota SET free_used = ..., balance = ... WHERE user_id = ? AND " +
                "balance >= ? RETURNING balance");
            lines.add("virtual-key scenario " + NO_KEYS_IN_ONE_STATEMENT);
        }
        try
        {
            lines.addAll(server.settings());
        }
        catch (final SQLException ex)
        {
            lines.add("settings unreadable: " + ex.getMessage());
        }
        return lines;
    }

    @Override
    protected String client()
    {
        return "JDBC: " + driver;
    }

    @Override
    public void start() throws Exception
    {
        server.ensure(fsync);
        try (Connection c = server.connect(); Statement s = c.createStatement())
        {
            driver = c.getMetaData().getDriverName() + " " + c.getMetaData().getDriverVersion();
            if (design == Design.FOR_UPDATE)
            {
                s.execute("DROP TABLE IF EXISTS free_quota, user_balance, billing_record, virtual_key");
                s.execute("CREATE TABLE free_quota (user_id bigint, service_name text, reset_month text, " +
                    "total_quota bigint NOT NULL, used_quota bigint NOT NULL, " +
                    "PRIMARY KEY (user_id, service_name, reset_month))");
                s.execute("CREATE TABLE user_balance (user_id bigint PRIMARY KEY, balance bigint NOT NULL)");
                s.execute("CREATE TABLE billing_record (id bigserial PRIMARY KEY, user_id bigint NOT NULL, " +
                    "service_name text NOT NULL, amount bigint NOT NULL, source text NOT NULL, " +
                    "virtual_key_id bigint, created_at timestamptz NOT NULL DEFAULT now())");
                // times in epoch milliseconds, the rate limiter's in microseconds, as the ledger keeps them
                s.execute("CREATE TABLE virtual_key (key_id bigint PRIMARY KEY, user_id bigint NOT NULL, " +
                    "revoked boolean NOT NULL, expires_at bigint NOT NULL, budget bigint NOT NULL, " +
                    "reset_ms bigint NOT NULL, anchor bigint NOT NULL, period bigint NOT NULL, " +
                    "spent bigint NOT NULL, emission_us bigint NOT NULL, limit_us bigint NOT NULL, " +
                    "tat_us bigint NOT NULL)");
                s.execute("CREATE INDEX billing_record_user ON billing_record (user_id, created_at)");
            }
            else
            {
                s.execute("DROP TABLE IF EXISTS quota");
                s.execute("CREATE TABLE quota (user_id bigint PRIMARY KEY, balance bigint NOT NULL, " +
                    "free_total bigint NOT NULL, free_used bigint NOT NULL)");
            }
        }
    }

    @Override
    public Optional<String> unsupported(final Scenario scenario)
    {
        return design == Design.CONDITIONAL && scenario.keyed() ? Optional.of(NO_KEYS_IN_ONE_STATEMENT)
            : Optional.empty();
    }

    @Override
    public void populate(final Scenario scenario) throws Exception
    {
        final int n = scenario.users();
        final Long[] ids = new Long[n];
        final Long[] free = new Long[n];
        final Long[] balance = new Long[n];
        for (int i = 0; i < n; i++)
        {
            ids[i] = scenario.userId(i);
            free[i] = scenario.free(i);
            balance[i] = scenario.balance(i);
        }
        try (Connection c = server.connect(); Statement s = c.createStatement())
        {
            final Array idArray = c.createArrayOf("bigint", ids);
            final Array freeArray = c.createArrayOf("bigint", free);
            final Array balanceArray = c.createArrayOf("bigint", balance);
            if (design == Design.FOR_UPDATE)
            {
                s.execute("TRUNCATE free_quota, user_balance, billing_record, virtual_key");
                try (PreparedStatement p = c.prepareStatement("INSERT INTO free_quota " +
                    "SELECT u, ?, ?, f, 0 FROM unnest(?::bigint[], ?::bigint[]) AS t(u, f)"))
                {
                    p.setString(1, SERVICE);
                    p.setString(2, month);
                    p.setArray(3, idArray);
                    p.setArray(4, freeArray);
                    p.execute();
                }
                try (PreparedStatement p = c.prepareStatement("INSERT INTO user_balance " +
                    "SELECT u, b FROM unnest(?::bigint[], ?::bigint[]) AS t(u, b)"))
                {
                    p.setArray(1, idArray);
                    p.setArray(2, balanceArray);
                    p.execute();
                }
                populateKeys(c, scenario);
            }
            else
            {
                s.execute("TRUNCATE quota");
                try (PreparedStatement p = c.prepareStatement("INSERT INTO quota " +
                    "SELECT u, b, f, 0 FROM unnest(?::bigint[], ?::bigint[], ?::bigint[]) AS t(u, b, f)"))
                {
                    p.setArray(1, idArray);
                    p.setArray(2, balanceArray);
                    p.setArray(3, freeArray);
                    p.execute();
                }
            }
            s.execute("VACUUM ANALYZE");
            s.execute("CHECKPOINT"); // the run starts without a backlog of dirty pages
        }
    }

    private static void populateKeys(final Connection c, final Scenario scenario) throws SQLException
    {
        final int n = scenario.keys();
        final Long[] keys = new Long[n];
        final Long[] users = new Long[n];
        final Long[] budgets = new Long[n];
        final Long[] emissions = new Long[n];
        for (int key = 0; key < n; key++)
        {
            keys[key] = scenario.keyId(key);
            users[key] = scenario.userIdOfTarget(key);
            budgets[key] = scenario.keyBudget(key);
            emissions[key] = scenario.keyEmissionMicros(key);
        }
        try (PreparedStatement p = c.prepareStatement("INSERT INTO virtual_key SELECT k, u, false, 0, b, ?, ?, 0, " +
            "0, e, ?, 0 FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) AS t(k, u, b, e)"))
        {
            p.setLong(1, Scenario.KEY_RESET_MILLIS);
            p.setLong(2, System.currentTimeMillis()); // the budget periods count from the key's creation
            p.setLong(3, Scenario.KEY_RATE_MICROS);
            p.setArray(4, c.createArrayOf("bigint", keys));
            p.setArray(5, c.createArrayOf("bigint", users));
            p.setArray(6, c.createArrayOf("bigint", budgets));
            p.setArray(7, c.createArrayOf("bigint", emissions));
            p.execute();
        }
    }

    @Override
    protected Session session() throws Exception
    {
        return design == Design.FOR_UPDATE ? new ForUpdateSession(server.connect(), month)
            : new ConditionalSession(server.connect());
    }

    @Override
    public State read(final Scenario scenario) throws Exception
    {
        final State state = State.of(scenario);
        final long first = scenario.firstUserId();
        try (Connection c = server.connect(); Statement s = c.createStatement())
        {
            if (design == Design.FOR_UPDATE)
            {
                try (ResultSet rs = s.executeQuery("SELECT user_id, balance FROM user_balance"))
                {
                    while (rs.next())
                    {
                        state.balance()[(int)(rs.getLong(1) - first)] = rs.getLong(2);
                    }
                }
                try (ResultSet rs = s.executeQuery("SELECT user_id, used_quota FROM free_quota"))
                {
                    while (rs.next())
                    {
                        state.freeUsed()[(int)(rs.getLong(1) - first)] = rs.getLong(2);
                    }
                }
                try (ResultSet rs = s.executeQuery("SELECT key_id, spent FROM virtual_key"))
                {
                    while (rs.next())
                    {
                        state.keySpent()[(int)(rs.getLong(1) - scenario.keyId(0))] = rs.getLong(2);
                    }
                }
                try (ResultSet rs = s.executeQuery("SELECT coalesce(sum(amount), 0) FROM billing_record"))
                {
                    rs.next();
                    return state.withBilled(rs.getLong(1));
                }
            }
            try (ResultSet rs = s.executeQuery("SELECT user_id, balance, free_used FROM quota"))
            {
                while (rs.next())
                {
                    final int i = (int)(rs.getLong(1) - first);
                    state.balance()[i] = rs.getLong(2);
                    state.freeUsed()[i] = rs.getLong(3);
                }
            }
            return state;
        }
    }

    @Override
    public void close()
    {
        // the server is shared by the designs; the suite closes it
    }

    /** The DeductQuota transaction of the billing service, after the virtual key's when the request has one. */
    private static final class ForUpdateSession implements Session
    {
        private final Connection connection;
        private final String month;
        private final PreparedStatement lockKey;
        private final PreparedStatement chargeKey;
        private final PreparedStatement lockFree;
        private final PreparedStatement useFree;
        private final PreparedStatement lockBalance;
        private final PreparedStatement charge;
        private final PreparedStatement bill;

        ForUpdateSession(final Connection connection, final String month) throws Exception
        {
            this.connection = connection;
            this.month = month;
            connection.setAutoCommit(false);
            lockKey = connection.prepareStatement("SELECT user_id, revoked, expires_at, budget, reset_ms, anchor, " +
                "period, spent, emission_us, limit_us, tat_us FROM virtual_key WHERE key_id = ? FOR UPDATE");
            chargeKey = connection.prepareStatement("UPDATE virtual_key SET period = ?, spent = ?, tat_us = ? " +
                "WHERE key_id = ?");
            lockFree = connection.prepareStatement("SELECT total_quota - used_quota FROM free_quota " +
                "WHERE user_id = ? AND service_name = ? AND reset_month = ? FOR UPDATE");
            useFree = connection.prepareStatement("UPDATE free_quota SET used_quota = used_quota + ? " +
                "WHERE user_id = ? AND service_name = ? AND reset_month = ?");
            lockBalance = connection.prepareStatement("SELECT balance FROM user_balance WHERE user_id = ? FOR UPDATE");
            charge = connection.prepareStatement("UPDATE user_balance SET balance = balance - ? WHERE user_id = ?");
            bill = connection.prepareStatement("INSERT INTO billing_record (user_id, service_name, amount, source, " +
                "virtual_key_id) VALUES (?, ?, ?, ?, ?)");
        }

        @Override
        public int deduct(final long userId, final long virtualKeyId, final long amount) throws Exception
        {
            try
            {
                long period = 0;
                long spent = 0;
                long tat = 0;
                if (virtualKeyId != 0)
                {
                    lockKey.setLong(1, virtualKeyId);
                    try (ResultSet rs = lockKey.executeQuery())
                    {
                        // no scenario sends an unknown, revoked or expired key: that is an error, not a refusal
                        if (!rs.next() || rs.getLong(1) != userId || rs.getBoolean(2))
                        {
                            connection.rollback();
                            return Tally.ERROR;
                        }
                        final long now = System.currentTimeMillis();
                        final long expiresAt = rs.getLong(3);
                        if (expiresAt != 0 && now >= expiresAt)
                        {
                            connection.rollback();
                            return Tally.ERROR;
                        }
                        final long emission = rs.getLong(9);
                        tat = rs.getLong(11);
                        if (emission > 0)
                        {
                            final long nowMicros = now * 1000;
                            tat = Math.max(tat, nowMicros) + emission;
                            if (tat - nowMicros > rs.getLong(10))
                            {
                                connection.rollback();
                                return Tally.RATE_LIMITED;
                            }
                        }
                        final long reset = rs.getLong(5);
                        period = reset > 0 ? Math.floorDiv(now - rs.getLong(6), reset) : 0;
                        spent = (period == rs.getLong(7) ? rs.getLong(8) : 0) + amount;
                        final long budget = rs.getLong(4);
                        if (budget >= 0 && spent > budget)
                        {
                            connection.rollback();
                            return Tally.KEY_BUDGET;
                        }
                    }
                }
                long freeLeft = 0;
                lockFree.setLong(1, userId);
                lockFree.setString(2, SERVICE);
                lockFree.setString(3, month);
                try (ResultSet rs = lockFree.executeQuery())
                {
                    if (rs.next())
                    {
                        freeLeft = Math.max(0, rs.getLong(1));
                    }
                }
                final long fromFree = Math.min(amount, freeLeft);
                final long fromBalance = amount - fromFree;
                if (fromFree > 0)
                {
                    useFree.setLong(1, fromFree);
                    useFree.setLong(2, userId);
                    useFree.setString(3, SERVICE);
                    useFree.setString(4, month);
                    useFree.executeUpdate();
                }
                if (fromBalance > 0)
                {
                    lockBalance.setLong(1, userId);
                    final long balance;
                    try (ResultSet rs = lockBalance.executeQuery())
                    {
                        if (!rs.next())
                        {
                            connection.rollback();
                            return Tally.ERROR;
                        }
                        balance = rs.getLong(1);
                    }
                    if (balance < fromBalance)
                    {
                        connection.rollback();
                        return Tally.REJECTED;
                    }
                    charge.setLong(1, fromBalance);
                    charge.setLong(2, userId);
                    charge.executeUpdate();
                }
                if (virtualKeyId != 0)
                {
                    chargeKey.setLong(1, period);
                    chargeKey.setLong(2, spent);
                    chargeKey.setLong(3, tat);
                    chargeKey.setLong(4, virtualKeyId);
                    chargeKey.executeUpdate();
                }
                if (fromFree > 0)
                {
                    bill(userId, virtualKeyId, fromFree, "free");
                }
                if (fromBalance > 0)
                {
                    bill(userId, virtualKeyId, fromBalance, "balance");
                }
                connection.commit();
                return Tally.OK;
            }
            catch (final Exception ex)
            {
                connection.rollback();
                throw ex;
            }
        }

        private void bill(final long userId, final long virtualKeyId, final long amount, final String source)
            throws Exception
        {
            bill.setLong(1, userId);
            bill.setString(2, SERVICE);
            bill.setLong(3, amount);
            bill.setString(4, source);
            if (virtualKeyId != 0)
            {
                bill.setLong(5, virtualKeyId);
            }
            else
            {
                bill.setNull(5, Types.BIGINT);
            }
            bill.executeUpdate();
        }

        @Override
        public void close() throws Exception
        {
            connection.close();
        }
    }

    /** The single conditional UPDATE: free units first, then the balance, in one row, or nothing. */
    private static final class ConditionalSession implements Session
    {
        private final Connection connection;
        private final PreparedStatement deduct;

        ConditionalSession(final Connection connection) throws Exception
        {
            this.connection = connection;
            deduct = connection.prepareStatement("UPDATE quota SET " +
                "free_used = free_used + LEAST(?, free_total - free_used), " +
                "balance = balance - (? - LEAST(?, free_total - free_used)) " +
                "WHERE user_id = ? AND balance >= ? - LEAST(?, free_total - free_used) RETURNING balance");
        }

        @Override
        public int deduct(final long userId, final long virtualKeyId, final long amount) throws Exception
        {
            if (virtualKeyId != 0)
            {
                throw new IllegalStateException(NO_KEYS_IN_ONE_STATEMENT);
            }
            deduct.setLong(1, amount);
            deduct.setLong(2, amount);
            deduct.setLong(3, amount);
            deduct.setLong(4, userId);
            deduct.setLong(5, amount);
            deduct.setLong(6, amount);
            try (ResultSet rs = deduct.executeQuery())
            {
                return rs.next() ? Tally.OK : Tally.REJECTED;
            }
        }

        @Override
        public void close() throws Exception
        {
            connection.close();
        }
    }
}
