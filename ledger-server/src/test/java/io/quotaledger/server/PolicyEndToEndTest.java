package io.quotaledger.server;

import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gateway policy through the whole stack (Java client, protocol, server, ledger): what a gateway sees for each rule,
 * as docs/protocol.md and docs/semantics.md ("Gateway policy") say. Needs the ledger's policy rules (ledger-core,
 * issue 12): without them the admin operations are refused with INVALID_ARGUMENT and these tests fail.
 */
class PolicyEndToEndTest
{
    private static final long USER = 1;
    private static final int SERVICE = 7;

    @TempDir
    Path dir;

    private TestServer ledger;
    private LedgerClient admin;
    private LedgerClient.Blocking b;

    @BeforeEach
    void start() throws Exception
    {
        ledger = new TestServer(Threading.SHARED, dir);
        admin = ledger.client(ledger.adminKey);
        b = admin.blocking();
        assertEquals(ResultCode.OK, b.credit(UUID.randomUUID(), USER, 1_000).code());
    }

    @AfterEach
    void stop()
    {
        admin.close();
        ledger.close();
    }

    private static UUID id()
    {
        return UUID.randomUUID();
    }

    private LedgerResult deduct(final long amount, final long virtualKeyId, final long units)
    {
        return b.deduct(id(), USER, SERVICE, amount, virtualKeyId, units);
    }

    @Test
    void shouldChargeAVirtualKeyWithinItsBudgetAndRefuseBeyondIt()
    {
        final LedgerResult set = b.setVirtualKey(id(), USER, 11, 100, false, null, 0, 0, null);
        assertEquals(ResultCode.OK, set.code());
        assertEquals(Op.SET_VIRTUAL_KEY, set.op());

        final LedgerResult charged = deduct(60, 11, 0);
        assertEquals(ResultCode.OK, charged.code());
        assertEquals(11, charged.virtualKeyId());
        assertEquals(60, charged.amount());
        assertEquals(60, charged.keySpent());
        assertEquals(40, charged.keyBudgetRemaining());
        assertEquals(940, charged.balance());

        final LedgerResult over = deduct(50, 11, 0);
        assertEquals(ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED, over.code());
        assertEquals(940, b.query(USER, 0).balance(), "a rejection charges nothing");

        final LedgerResult key = b.query(USER, SERVICE, 11);
        assertEquals(ResultCode.OK, key.code());
        assertEquals(100, key.amount(), "QUERY by key: its budget");
        assertEquals(60, key.keySpent());
        assertEquals(40, key.keyBudgetRemaining());
        assertFalse(key.keyRevoked());

        assertEquals(ResultCode.OK, b.setVirtualKey(id(), USER, 12, 0, true, null, 0, 0, null).code());
        assertEquals(-1, b.query(USER, 0, 12).keyBudgetRemaining(), "unlimited");
    }

    @Test
    void shouldRefuseUnknownRevokedExpiredKeysAndServicesTheKeyDoesNotAllow()
    {
        assertEquals(ResultCode.UNKNOWN_VIRTUAL_KEY, deduct(1, 99, 0).code());
        assertEquals(ResultCode.OK, b.credit(id(), 2, 100).code());
        assertEquals(ResultCode.OK, b.setVirtualKey(id(), 2, 21, 0, true, null, 0, 0, null).code());
        assertEquals(ResultCode.UNKNOWN_VIRTUAL_KEY, deduct(1, 21, 0).code(), "another user's key");

        assertEquals(ResultCode.OK, b.setVirtualKey(id(), USER, 22, 0, true, null, 0, 0, new int[]{ 8 }).code());
        assertEquals(ResultCode.SERVICE_NOT_ALLOWED, deduct(1, 22, 0).code());

        assertEquals(ResultCode.OK, b.setVirtualKey(id(), USER, 23, 0, true, null, 0, 1, null).code());
        assertEquals(ResultCode.VIRTUAL_KEY_EXPIRED, deduct(1, 23, 0).code(), "expired at epoch ms 1");
        assertTrue(b.query(USER, 0, 23).keyExpired());

        assertEquals(ResultCode.OK, b.setVirtualKey(id(), USER, 24, 0, true, null, 0, 0, null).code());
        assertEquals(ResultCode.OK, b.revokeVirtualKey(id(), USER, 24).code());
        assertEquals(ResultCode.VIRTUAL_KEY_REVOKED, deduct(1, 24, 0).code());
        assertTrue(b.query(USER, 0, 24).keyRevoked());
        assertEquals(ResultCode.VIRTUAL_KEY_REVOKED, b.setVirtualKey(id(), USER, 24, 5, false, null, 0, 0, null).code(),
            "revocation is final");
        assertEquals(1_000, b.query(USER, 0).balance(), "nothing charged");
    }

    @Test
    void shouldPriceUnitsWithTheUsersGroup()
    {
        assertEquals(ResultCode.OK, b.setPrice(id(), 3, SERVICE, 1_500_000).code());
        assertEquals(ResultCode.OK, b.setGroup(id(), USER, 3).code());
        final LedgerResult priced = deduct(0, 0, 101);
        assertEquals(ResultCode.OK, priced.code());
        assertEquals(101, priced.units());
        assertEquals(152, priced.amount(), "ceil(101 * 1.5)");
        assertEquals(848, priced.balance());
    }

    @Test
    void shouldRateLimitAndSayWhenToRetry()
    {
        assertEquals(ResultCode.OK, b.setRateLimit(id(), USER, 0, 2, 0, Duration.ofHours(1)).code());
        assertEquals(ResultCode.OK, deduct(1, 0, 0).code());
        assertEquals(ResultCode.OK, deduct(1, 0, 0).code());
        final LedgerResult limited = deduct(1, 0, 0);
        assertEquals(ResultCode.RATE_LIMITED, limited.code());
        assertTrue(limited.retryAfterMillis() > 0 && limited.retryAfterMillis() <= 3_600_000,
            "retry after " + limited.retryAfterMillis());
        assertEquals(998, b.query(USER, 0).balance());
    }

    @Test
    void shouldCapOpenHolds()
    {
        assertEquals(ResultCode.OK, b.setConcurrency(id(), USER, 0, 1).code());
        final UUID first = id();
        assertEquals(ResultCode.OK, b.reserve(first, USER, SERVICE, 10, Duration.ofMinutes(1), 0, 0).code());
        assertEquals(ResultCode.CONCURRENCY_LIMITED,
            b.reserve(id(), USER, SERVICE, 10, Duration.ofMinutes(1), 0, 0).code());
        assertEquals(ResultCode.OK, b.release(id(), first).code());
        assertEquals(ResultCode.OK, b.reserve(id(), USER, SERVICE, 10, Duration.ofMinutes(1), 0, 0).code());
    }

    @Test
    void shouldRefuseASpendWindowsExcessAndSayWhenToRetry()
    {
        assertEquals(ResultCode.OK, b.setSpendWindow(id(), USER, 0, 100, Duration.ofHours(5)).code());
        assertEquals(ResultCode.OK, deduct(80, 0, 0).code());
        final LedgerResult over = deduct(30, 0, 0);
        assertEquals(ResultCode.SPEND_WINDOW_EXCEEDED, over.code());
        assertTrue(over.retryAfterMillis() > 0, "retry after " + over.retryAfterMillis());
        assertEquals(-1, deduct(101, 0, 0).retryAfterMillis(), "more than the window's maximum: never");
    }
}
