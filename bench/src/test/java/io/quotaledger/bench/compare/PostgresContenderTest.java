package io.quotaledger.bench.compare;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The PostgreSQL designs in the virtual-key scenario: the FOR UPDATE transaction checks and charges the key and the
 * user exactly, refusing in the ledger's order and changing nothing when it refuses; the conditional UPDATE says why
 * it does not run the scenario. Runs the embedded PostgreSQL (fsync off: only correctness is asserted).
 */
class PostgresContenderTest
{
    private static final long HOUR = 3_600_000L;

    @Test
    void shouldChargeKeyAndUserInOneTransactionAndRefuseInTheLedgersOrder(@TempDir final Path dir) throws Exception
    {
        try (PostgresServer server = new PostgresServer(dir.resolve("postgres"), 20))
        {
            final PostgresContender forUpdate = new PostgresContender(server, PostgresContender.Design.FOR_UPDATE,
                false);
            forUpdate.start();
            final Scenario keyed = Scenario.virtualKeys(5, 7); // 10 keys: key 9 pays for 5 requests, key 10 admits 5
            forUpdate.populate(keyed);
            final Tally tally = new Tally(keyed.targets());

            final Measurement closed = forUpdate.closedLoop(new Phase(keyed, tally, 4, 0, 0, 1_000_000_000L));
            final Check check = Check.of(keyed, tally, forUpdate.read(keyed));

            assertTrue(check.passed(), check.problems().toString());
            assertEquals(0, closed.errors());
            assertTrue(tally.rejected(Tally.KEY_BUDGET) > 0, check.summary());
            assertTrue(tally.rejected(Tally.RATE_LIMITED) > 0, check.summary());
            assertTrue(check.summary().endsWith("billing records checked"), check.summary());

            forUpdate.populate(keyed); // afresh: users 1 to 5, keys 1 to 10 (keys 1 and 2 are user 1's)
            try (PooledContender.Session session = forUpdate.session(); Connection c = server.connect();
                Statement s = c.createStatement())
            {
                final long now = System.currentTimeMillis();
                assertEquals(Tally.ERROR, session.deduct(1, 99, Scenario.AMOUNT), "no such key");
                assertEquals(Tally.ERROR, session.deduct(2, 1, Scenario.AMOUNT), "user 1's key, named by user 2");
                s.execute("UPDATE virtual_key SET revoked = true WHERE key_id = 1");
                assertEquals(Tally.ERROR, session.deduct(1, 1, Scenario.AMOUNT), "revoked");
                s.execute("UPDATE virtual_key SET revoked = false, expires_at = " + (now - 1) + " WHERE key_id = 1");
                assertEquals(Tally.ERROR, session.deduct(1, 1, Scenario.AMOUNT), "expired");
                s.execute("UPDATE virtual_key SET expires_at = " + (now + HOUR) + " WHERE key_id = 1");
                assertEquals(Tally.OK, session.deduct(1, 1, Scenario.AMOUNT), "not expired yet");

                // GCRA, 2 a day (T = 12 h): a TAT a minute short of T ahead admits one more, then nothing
                s.execute("UPDATE virtual_key SET emission_us = " + 12 * HOUR * 1000 + ", limit_us = " +
                    24 * HOUR * 1000 + ", tat_us = " + (now + 12 * HOUR - 60_000) * 1000 + " WHERE key_id = 1");
                assertEquals(Tally.OK, session.deduct(1, 1, Scenario.AMOUNT));
                final String afterAdmit = row(s, "SELECT * FROM virtual_key WHERE key_id = 1");
                assertTrue(afterAdmit.contains(Long.toString((now + 24 * HOUR - 60_000) * 1000)), afterAdmit);
                assertEquals(Tally.RATE_LIMITED, session.deduct(1, 1, Scenario.AMOUNT));
                assertEquals(afterAdmit, row(s, "SELECT * FROM virtual_key WHERE key_id = 1"), "nothing changed");

                // a budget of 1 request per hour from the anchor: spent in the current period refuses, an old not
                s.execute("UPDATE virtual_key SET emission_us = 0, budget = " + Scenario.AMOUNT + ", reset_ms = " +
                    HOUR + ", anchor = " + (now - 5 * HOUR - HOUR / 2) + ", period = 5, spent = " + Scenario.AMOUNT +
                    " WHERE key_id = 1");
                final String spentUp = row(s, "SELECT * FROM virtual_key WHERE key_id = 1");
                final String userBefore = row(s, "SELECT * FROM user_balance WHERE user_id = 1") +
                    row(s, "SELECT * FROM free_quota WHERE user_id = 1");
                assertEquals(Tally.KEY_BUDGET, session.deduct(1, 1, Scenario.AMOUNT));
                assertEquals(spentUp, row(s, "SELECT * FROM virtual_key WHERE key_id = 1"));
                assertEquals(userBefore, row(s, "SELECT * FROM user_balance WHERE user_id = 1") +
                    row(s, "SELECT * FROM free_quota WHERE user_id = 1"));
                s.execute("UPDATE virtual_key SET period = 4 WHERE key_id = 1");
                assertEquals(Tally.OK, session.deduct(1, 1, Scenario.AMOUNT), "a new period, a new budget");
                assertEquals("5|" + Scenario.AMOUNT, row(s, "SELECT period, spent FROM virtual_key WHERE key_id = 1"));

                // funds are checked last: a key with room and a user without money
                s.execute("UPDATE user_balance SET balance = 0 WHERE user_id = 1");
                s.execute("UPDATE free_quota SET used_quota = total_quota WHERE user_id = 1");
                final String otherBefore = row(s, "SELECT * FROM virtual_key WHERE key_id = 2");
                assertEquals(Tally.REJECTED, session.deduct(1, 2, Scenario.AMOUNT));
                assertEquals(otherBefore, row(s, "SELECT * FROM virtual_key WHERE key_id = 2"));
                // three charges through key 1: two from the free quota, the third 1 free and 1 from the balance
                assertEquals("4|" + 3 * Scenario.AMOUNT, row(s, "SELECT count(*), sum(amount) FROM billing_record " +
                    "WHERE virtual_key_id = 1"));
            }

            final PostgresContender conditional = new PostgresContender(server,
                PostgresContender.Design.CONDITIONAL, false);
            assertEquals(PostgresContender.NO_KEYS_IN_ONE_STATEMENT, conditional.unsupported(keyed).orElseThrow());
            assertTrue(conditional.unsupported(Scenario.mixed(30, 1)).isEmpty());
            assertTrue(forUpdate.unsupported(keyed).isEmpty());
        }
    }

    /** The first row of a query, its columns joined with "|". */
    private static String row(final Statement s, final String query) throws Exception
    {
        try (ResultSet rs = s.executeQuery(query))
        {
            assertTrue(rs.next(), query);
            final StringBuilder row = new StringBuilder();
            for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++)
            {
                row.append(i == 1 ? "" : "|").append(rs.getString(i));
            }
            return row.toString();
        }
    }
}
