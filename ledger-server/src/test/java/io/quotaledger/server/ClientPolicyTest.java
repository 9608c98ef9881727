package io.quotaledger.server;

import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.client.ResultView;
import io.quotaledger.core.Command;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.ResultCode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java client's gateway policy operations against a live server: each form (future, own request id, callback)
 * of each operation sends every field, and every new Result field and result code comes back decoded. A capturing
 * stage records what reached the ledger and stands in for the ledger's policy rules where a result is checked, so
 * this holds whatever those rules decide.
 */
class ClientPolicyTest
{
    private static final long USER = 5;
    private static final long KEY = 9_001;

    @TempDir
    Path dir;

    private final CommandCapture capture = new CommandCapture();
    private TestServer ledger;
    private LedgerClient admin;

    /**
     * The callback form's answer, kept as an immutable copy.
     */
    private static final class Answer extends CompletableFuture<LedgerResult> implements ResultHandler
    {
        volatile long requestIdHi;
        volatile long requestIdLo;

        public void onResult(final ResultView result)
        {
            requestIdHi = result.requestIdHi();
            requestIdLo = result.requestIdLo();
            complete(result.toResult());
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            completeExceptionally(cause);
        }

        LedgerResult await() throws Exception
        {
            return get(10, TimeUnit.SECONDS);
        }
    }

    @BeforeEach
    void start() throws Exception
    {
        ledger = new TestServer(Threading.SHARED, dir, new ServerConfig().port(0), capture);
        admin = ledger.client(ledger.adminKey);
    }

    @AfterEach
    void stop()
    {
        admin.close();
        ledger.close();
    }

    private static LedgerResult await(final CompletableFuture<LedgerResult> future) throws Exception
    {
        return future.get(10, TimeUnit.SECONDS);
    }

    private void assertCharge(final Op op, final long amount, final long units, final long key) throws Exception
    {
        final Command c = capture.next();
        assertEquals(op, c.op());
        assertEquals(USER, c.userId());
        assertEquals(7, c.serviceId());
        assertEquals(amount, c.amount());
        assertEquals(units, c.units());
        assertEquals(key, c.virtualKeyId());
    }

    @Test
    void shouldSendAVirtualKeyAndUnitsWithDeductReserveAndQueryInEveryForm() throws Exception
    {
        await(admin.deduct(USER, 7, 0, KEY, 1_000));
        assertCharge(Op.DEDUCT, 0, 1_000, KEY);
        final UUID id = UUID.randomUUID();
        assertEquals(id, await(admin.deduct(id, USER, 7, 25, KEY, 0)).requestId());
        final Command withId = capture.next();
        assertEquals(id.getLeastSignificantBits(), withId.requestIdLo());
        assertEquals(25, withId.amount());
        assertEquals(KEY, withId.virtualKeyId());
        final Answer callback = new Answer();
        admin.deduct(3, 4, USER, 7, 0, KEY, 77, callback);
        callback.await();
        assertEquals(4, callback.requestIdLo);
        assertCharge(Op.DEDUCT, 0, 77, KEY);
        admin.blocking().deduct(UUID.randomUUID(), USER, 7, 0, 0, 5);
        assertCharge(Op.DEDUCT, 0, 5, 0);
        await(admin.deduct(USER, 7, 12));
        assertCharge(Op.DEDUCT, 12, 0, 0);

        await(admin.reserve(USER, 7, 0, Duration.ofSeconds(30), KEY, 400));
        Command c = capture.next();
        assertEquals(Op.RESERVE, c.op());
        assertEquals(30_000, c.ttlMillis());
        assertEquals(400, c.units());
        assertEquals(KEY, c.virtualKeyId());
        final UUID hold = UUID.randomUUID();
        admin.blocking().reserve(hold, USER, 7, 60, Duration.ofMinutes(1), KEY, 0);
        c = capture.next();
        assertEquals(hold.getMostSignificantBits(), c.requestIdHi());
        assertEquals(60, c.amount());
        assertEquals(KEY, c.virtualKeyId());
        final Answer reserved = new Answer();
        admin.reserve(5, 6, USER, 7, 0, 1_000, KEY, 9, reserved);
        reserved.await();
        assertCharge(Op.RESERVE, 0, 9, KEY);

        admin.blocking().query(USER, 7, KEY);
        c = capture.next();
        assertEquals(Op.QUERY, c.op());
        assertEquals(USER, c.userId());
        assertEquals(KEY, c.virtualKeyId());
    }

    @Test
    void shouldSendEveryAdminOperationWithEveryField() throws Exception
    {
        final LedgerClient.Blocking b = admin.blocking();
        final UUID id = UUID.randomUUID();
        b.setVirtualKey(id, USER, KEY, 5_000, false, io.quotaledger.protocol.Period.MONTH, 0, 1_900_000_000_000L,
            new int[]{ 7, 8 });
        Command c = capture.next();
        assertEquals(Op.SET_VIRTUAL_KEY, c.op());
        assertEquals(id.getLeastSignificantBits(), c.requestIdLo());
        assertEquals(USER, c.userId());
        assertEquals(KEY, c.virtualKeyId());
        assertEquals(5_000, c.amount());
        assertFalse(c.unlimited());
        assertEquals(Period.MONTH, c.resetPeriod());
        assertEquals(1_900_000_000_000L, c.expiresAt());
        assertEquals(2, c.serviceCount());
        assertEquals(8, c.service(1));
        await(admin.setVirtualKey(USER, KEY, 0, true, null, 3_600_000, 0, null));
        c = capture.next();
        assertTrue(c.unlimited());
        assertNull(c.resetPeriod());
        assertEquals(3_600_000, c.resetMillis());
        assertEquals(0, c.serviceCount());
        final Answer keySet = new Answer();
        admin.setVirtualKey(1, 2, USER, KEY, 10, false, io.quotaledger.protocol.Period.DAY, 0, 0,
            new int[]{ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, keySet);
        keySet.await();
        assertEquals(12, capture.next().serviceCount());

        b.setVirtualKeyServiceBudget(UUID.randomUUID(), USER, KEY, 7, 300);
        c = capture.next();
        assertEquals(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, c.op());
        assertEquals(KEY, c.virtualKeyId());
        assertEquals(7, c.serviceId());
        assertEquals(300, c.amount());

        await(admin.revokeVirtualKey(USER, KEY));
        c = capture.next();
        assertEquals(Op.REVOKE_VIRTUAL_KEY, c.op());
        assertEquals(USER, c.userId());
        assertEquals(KEY, c.virtualKeyId());

        b.setPrice(UUID.randomUUID(), 3, 7, 1_500_000);
        c = capture.next();
        assertEquals(Op.SET_PRICE, c.op());
        assertEquals(3, c.groupId());
        assertEquals(7, c.serviceId());
        assertEquals(1_500_000, c.multiplier());

        final Answer grouped = new Answer();
        admin.setGroup(7, 8, USER, 3, grouped);
        grouped.await();
        c = capture.next();
        assertEquals(Op.SET_GROUP, c.op());
        assertEquals(USER, c.userId());
        assertEquals(3, c.groupId());

        await(admin.setRateLimit(USER, KEY, 60, 90_000, Duration.ofMinutes(1)));
        c = capture.next();
        assertEquals(Op.SET_RATE_LIMIT, c.op());
        assertEquals(KEY, c.virtualKeyId());
        assertEquals(60, c.requests());
        assertEquals(90_000, c.units());
        assertEquals(60_000, c.perMillis());

        b.setSpendWindow(UUID.randomUUID(), USER, 0, 2_000, Duration.ofHours(5));
        c = capture.next();
        assertEquals(Op.SET_SPEND_WINDOW, c.op());
        assertEquals(0, c.virtualKeyId());
        assertEquals(2_000, c.amount());
        assertEquals(18_000_000, c.perMillis());

        b.setConcurrency(UUID.randomUUID(), USER, KEY, 3);
        c = capture.next();
        assertEquals(Op.SET_CONCURRENCY, c.op());
        assertEquals(KEY, c.virtualKeyId());
        assertEquals(3, c.amount());
    }

    @Test
    void shouldRefuseMoreServicesThanAKeyTakesBeforeSendingAnything()
    {
        final IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
            () -> admin.setVirtualKey(USER, KEY, 1, false, null, 0, 0, new int[13]));
        assertTrue(refused.getMessage().contains("at most 12"), refused.getMessage());
        assertEquals(0, admin.inFlight());
    }

    @Test
    void shouldRefuseEveryAdminOperationToAGateway() throws Exception
    {
        try (LedgerClient gateway = ledger.client(ledger.gatewayKey))
        {
            final LedgerClient.Blocking b = gateway.blocking();
            assertEquals(ResultCode.FORBIDDEN,
                b.setVirtualKey(UUID.randomUUID(), USER, KEY, 1, false, null, 0, 0, null).code());
            assertEquals(ResultCode.FORBIDDEN, b.setVirtualKeyServiceBudget(UUID.randomUUID(), USER, KEY, 1, 1).code());
            assertEquals(ResultCode.FORBIDDEN, b.revokeVirtualKey(UUID.randomUUID(), USER, KEY).code());
            assertEquals(ResultCode.FORBIDDEN, b.setPrice(UUID.randomUUID(), 1, 1, 1).code());
            assertEquals(ResultCode.FORBIDDEN, b.setGroup(UUID.randomUUID(), USER, 1).code());
            assertEquals(ResultCode.FORBIDDEN,
                b.setRateLimit(UUID.randomUUID(), USER, KEY, 1, 0, Duration.ofSeconds(1)).code());
            assertEquals(ResultCode.FORBIDDEN,
                b.setSpendWindow(UUID.randomUUID(), USER, KEY, 1, Duration.ofSeconds(1)).code());
            assertEquals(ResultCode.FORBIDDEN, b.setConcurrency(UUID.randomUUID(), USER, KEY, 1).code());
        }
    }

    @Test
    void shouldDecodeEveryNewResultFieldAndCode() throws Exception
    {
        // stands in for the ledger: the result code is the deduct's amount, the key fields fixed values
        capture.rewrite((command, result) ->
        {
            if (command.op() == Op.DEDUCT)
            {
                result.code(io.quotaledger.core.ResultCode.fromCode((int)command.amount()));
            }
            result.virtualKeyId(command.virtualKeyId()).units(command.units()).amount(4_321).retryAfterMillis(-1)
                .keySpent(1_200).keyBudgetRemaining(3_800).flags(Result.FLAG_KEY_REVOKED);
        });
        final LedgerResult query = admin.blocking().query(USER, 7, KEY);
        assertEquals(KEY, query.virtualKeyId());
        assertEquals(4_321, query.amount());
        assertEquals(-1, query.retryAfterMillis());
        assertEquals(1_200, query.keySpent());
        assertEquals(3_800, query.keyBudgetRemaining());
        assertTrue(query.keyRevoked());
        assertFalse(query.keyExpired());

        final ResultCode[] codes = { ResultCode.UNKNOWN_VIRTUAL_KEY, ResultCode.VIRTUAL_KEY_REVOKED,
            ResultCode.VIRTUAL_KEY_EXPIRED, ResultCode.SERVICE_NOT_ALLOWED, ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED,
            ResultCode.RATE_LIMITED, ResultCode.CONCURRENCY_LIMITED, ResultCode.SPEND_WINDOW_EXCEEDED };
        for (final ResultCode code : codes)
        {
            final Answer answer = new Answer();
            admin.deduct(admin.requestIds().hi(), admin.requestIds().nextLo(), USER, 7, code.value(), KEY, 0, answer);
            final LedgerResult result = answer.await();
            assertEquals(code, result.code());
            assertFalse(result.ok());
            assertEquals(KEY, result.virtualKeyId());
        }
    }
}
