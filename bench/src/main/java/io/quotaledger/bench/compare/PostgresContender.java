package io.quotaledger.bench.compare;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;

/**
 * Quota charged in PostgreSQL, one of two ways gateways do it today.
 * <ul>
 * <li>{@link Design#FOR_UPDATE}: the billing service's DeductQuota, one transaction: {@code SELECT ... FOR UPDATE} on
 * the free-quota row, UPDATE it, {@code SELECT ... FOR UPDATE} on the balance row, UPDATE it, INSERT one or two
 * billing records (free and paid part), COMMIT. Locks are taken in the same order, so it cannot deadlock.</li>
 * <li>{@link Design#CONDITIONAL}: one autocommit {@code UPDATE ... WHERE balance >= ... RETURNING}, free units and
 * balance in one row: the best a single SQL statement does.</li>
 * </ul>
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
        lines.add(design == Design.FOR_UPDATE
            ? "one transaction per request: SELECT free_quota FOR UPDATE, UPDATE free_quota, SELECT user_balance FOR " +
              "UPDATE, UPDATE user_balance, INSERT billing_record (1-2 rows), COMMIT (READ COMMITTED)"
            : "one autocommit UPDATE quota SET free_used = ..., balance = ... WHERE user_id = ? AND balance >= ? " +
              "RETURNING balance");
        try
        {
            lines.addAll(server.settings());
        }
        catch (final java.sql.SQLException ex)
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
                s.execute("DROP TABLE IF EXISTS free_quota, user_balance, billing_record");
                s.execute("CREATE TABLE free_quota (user_id bigint, service_name text, reset_month text, " +
                    "total_quota bigint NOT NULL, used_quota bigint NOT NULL, " +
                    "PRIMARY KEY (user_id, service_name, reset_month))");
                s.execute("CREATE TABLE user_balance (user_id bigint PRIMARY KEY, balance bigint NOT NULL)");
                s.execute("CREATE TABLE billing_record (id bigserial PRIMARY KEY, user_id bigint NOT NULL, " +
                    "service_name text NOT NULL, amount bigint NOT NULL, source text NOT NULL, " +
                    "created_at timestamptz NOT NULL DEFAULT now())");
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
                s.execute("TRUNCATE free_quota, user_balance, billing_record");
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

    @Override
    protected Session session() throws Exception
    {
        return design == Design.FOR_UPDATE ? new ForUpdateSession(server.connect(), month)
            : new ConditionalSession(server.connect());
    }

    @Override
    public State read(final Scenario scenario) throws Exception
    {
        final State state = State.of(scenario.users());
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

    /** The DeductQuota transaction of the billing service. */
    private static final class ForUpdateSession implements Session
    {
        private final Connection connection;
        private final String month;
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
            lockFree = connection.prepareStatement("SELECT total_quota - used_quota FROM free_quota " +
                "WHERE user_id = ? AND service_name = ? AND reset_month = ? FOR UPDATE");
            useFree = connection.prepareStatement("UPDATE free_quota SET used_quota = used_quota + ? " +
                "WHERE user_id = ? AND service_name = ? AND reset_month = ?");
            lockBalance = connection.prepareStatement("SELECT balance FROM user_balance WHERE user_id = ? FOR UPDATE");
            charge = connection.prepareStatement("UPDATE user_balance SET balance = balance - ? WHERE user_id = ?");
            bill = connection.prepareStatement("INSERT INTO billing_record (user_id, service_name, amount, source) " +
                "VALUES (?, ?, ?, ?)");
        }

        @Override
        public int deduct(final long userId, final long amount) throws Exception
        {
            try
            {
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
                if (fromFree > 0)
                {
                    bill(userId, fromFree, "free");
                }
                if (fromBalance > 0)
                {
                    bill(userId, fromBalance, "balance");
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

        private void bill(final long userId, final long amount, final String source) throws Exception
        {
            bill.setLong(1, userId);
            bill.setString(2, SERVICE);
            bill.setLong(3, amount);
            bill.setString(4, source);
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
        public int deduct(final long userId, final long amount) throws Exception
        {
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
