package io.quotaledger.server;

import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.SnapshotReport;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.Period;
import io.quotaledger.protocol.ResultCode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ParameterizedClass
@EnumSource(Threading.class)
class ServerEndToEndTest
{
    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    private TestServer ledger;
    private LedgerClient admin;

    @BeforeEach
    void start() throws Exception
    {
        ledger = new TestServer(threading, dir);
        admin = ledger.client(ledger.adminKey);
    }

    @AfterEach
    void stop()
    {
        admin.close();
        ledger.close();
    }

    @Test
    void shouldServeEveryOperationOverTcp()
    {
        final LedgerClient.Blocking b = admin.blocking();
        assertEquals(ResultCode.OK, b.credit(UUID.randomUUID(), 1, 1_000).code());
        final LedgerResult granted = b.grant(UUID.randomUUID(), 1, 7, 100, Period.DAY);
        assertEquals(100, granted.freeRemaining());

        final LedgerResult deducted = b.deduct(UUID.randomUUID(), 1, 7, 150);
        assertEquals(Op.DEDUCT, deducted.op());
        assertEquals(100, deducted.fromFree());
        assertEquals(50, deducted.fromBalance());
        assertEquals(950, deducted.balance());

        final UUID hold = UUID.randomUUID();
        final LedgerResult reserved = b.reserve(hold, 1, 7, 200, Duration.ofMinutes(1));
        assertEquals(200, reserved.held());
        final LedgerResult settled = b.settle(UUID.randomUUID(), hold, 120);
        assertEquals(80, settled.returned());
        assertEquals(830, settled.balance());
        assertEquals(ResultCode.HOLD_ALREADY_CLOSED, b.release(UUID.randomUUID(), hold).code());
        assertEquals(ResultCode.UNKNOWN_HOLD, b.release(UUID.randomUUID(), UUID.randomUUID()).code());

        assertEquals(500, b.setLimit(UUID.randomUUID(), 1, 500).creditLimit());
        assertEquals(ResultCode.OK, b.deduct(UUID.randomUUID(), 1, 7, 1_000).code());
        assertEquals(ResultCode.INSUFFICIENT_FUNDS, b.deduct(UUID.randomUUID(), 1, 7, 1_000).code());
        assertTrue(b.freeze(UUID.randomUUID(), 1).frozen());
        assertEquals(ResultCode.FROZEN, b.deduct(UUID.randomUUID(), 1, 7, 1).code());
        assertFalse(b.unfreeze(UUID.randomUUID(), 1).frozen());

        final LedgerResult state = b.query(1, 7);
        assertEquals(-170, state.balance());
        assertEquals(0, state.held());
        assertEquals(ResultCode.UNKNOWN_ACCOUNT, b.query(2, 0).code());
        assertEquals(ResultCode.INVALID_AMOUNT, b.deduct(UUID.randomUUID(), 1, 7, 0).code());
    }

    @Test
    void shouldReportTheAccountOnRejectionsOverTcp()
    {
        final LedgerClient.Blocking b = admin.blocking();
        b.credit(UUID.randomUUID(), 4, 100);
        b.setLimit(UUID.randomUUID(), 4, 10);
        final UUID hold = UUID.randomUUID();
        assertEquals(ResultCode.OK, b.reserve(hold, 4, 1, 1, Duration.ofMinutes(1)).code());

        final LedgerResult funds = b.deduct(UUID.randomUUID(), 4, 1, 1_000);
        assertEquals(ResultCode.INSUFFICIENT_FUNDS, funds.code());
        assertEquals(99, funds.balance());
        assertEquals(1, funds.held());
        assertEquals(10, funds.creditLimit());

        final LedgerResult capped = b.settle(UUID.randomUUID(), hold, 9_000_000_000_000_000_000L);
        assertEquals(ResultCode.INVALID_AMOUNT, capped.code(), "beyond the default settle cap");
        assertEquals(99, capped.balance());
        assertEquals(1, capped.held());
        assertEquals(ResultCode.OK, b.settle(UUID.randomUUID(), hold, 2).code());
    }

    @Test
    void shouldAnswerARetryWithTheOriginalResult()
    {
        final UUID id = UUID.randomUUID();
        admin.blocking().credit(UUID.randomUUID(), 3, 100);
        final LedgerResult first = admin.blocking().deduct(id, 3, 1, 30);
        final LedgerResult again = admin.blocking().deduct(id, 3, 1, 30);
        assertFalse(first.duplicate());
        assertTrue(again.duplicate());
        assertEquals(first.balance(), again.balance());
        assertEquals(70, admin.blocking().query(3, 0).balance());
        assertEquals(ResultCode.REQUEST_ID_CONFLICT, admin.blocking().deduct(id, 3, 1, 31).code());
    }

    @Test
    void shouldKeepTenThousandRequestsInFlightOnOneConnection() throws Exception
    {
        admin.blocking().credit(UUID.randomUUID(), 5, 1_000_000);
        final List<CompletableFuture<LedgerResult>> futures = new ArrayList<>();
        for (int i = 0; i < 10_000; i++)
        {
            futures.add(admin.deduct(5, 1, 1));
        }
        CompletableFuture.allOf(futures.toArray(new CompletableFuture[0])).get(30, TimeUnit.SECONDS);
        for (final CompletableFuture<LedgerResult> f : futures)
        {
            assertEquals(ResultCode.OK, f.get().code());
        }
        assertEquals(1_000_000 - 10_000, admin.blocking().query(5, 0).balance());
    }

    @Test
    void shouldSnapshotARunningLedgerForAnAdminOnly() throws Exception
    {
        admin.blocking().credit(UUID.randomUUID(), 11, 500);
        final SnapshotReport report = admin.snapshot().get(30, TimeUnit.SECONDS);
        assertEquals(ResultCode.OK, report.code());
        assertTrue(report.sequence() >= 1 && report.bytes() > 0, report.toString());
        try (LedgerClient gateway = ledger.client(ledger.gatewayKey))
        {
            assertEquals(ResultCode.FORBIDDEN, gateway.snapshot().get(10, TimeUnit.SECONDS).code());
        }
    }

    @Test
    void shouldRefuseBadKeysAndForbiddenOperations()
    {
        final LedgerClientException refused = assertThrows(LedgerClientException.class,
            () -> ledger.client("qlk_not-a-key"));
        assertTrue(refused.getMessage().contains("UNAUTHENTICATED"), refused.getMessage());

        try (LedgerClient gateway = ledger.client(ledger.gatewayKey))
        {
            assertEquals(ResultCode.FORBIDDEN, gateway.blocking().credit(UUID.randomUUID(), 9, 10).code());
            assertEquals(ResultCode.UNKNOWN_ACCOUNT, gateway.blocking().deduct(UUID.randomUUID(), 9, 1, 1).code());
            admin.blocking().credit(UUID.randomUUID(), 9, 10);
            assertEquals(ResultCode.OK, gateway.blocking().deduct(UUID.randomUUID(), 9, 1, 1).code());
        }
        assertTrue(ledger.metrics.badFrames(ServerMetrics.BadFrame.FORBIDDEN) >= 1);
    }
}
