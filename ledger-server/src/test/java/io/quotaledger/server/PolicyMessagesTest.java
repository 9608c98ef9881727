package io.quotaledger.server;

import io.quotaledger.core.Command;
import io.quotaledger.core.Op;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.engine.Threading;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import static io.quotaledger.server.Frames.REQUEST_HI;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway policy messages of protocol version 2 over a raw socket: every field of every message reaches the
 * ledger's command as sent, and every field of the Result leaves at the offset docs/protocol.md gives it. The ledger's
 * rules are not what is tested here: a stage records the commands and, for the Result, stands in for them.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class PolicyMessagesTest
{
    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    private final CommandCapture capture = new CommandCapture();
    private TestServer ledger;

    @BeforeEach
    void start() throws Exception
    {
        ledger = new TestServer(threading, dir, new ServerConfig().port(0), capture);
    }

    @AfterEach
    void stop()
    {
        ledger.close();
    }

    private static void assertRequestId(final Command command, final long lo)
    {
        assertEquals(REQUEST_HI, command.requestIdHi());
        assertEquals(lo, command.requestIdLo());
    }

    @Test
    void shouldDecodeEveryFieldOfEveryPolicyMessageIntoTheCommand() throws Exception
    {
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            wire.send(Frames.deduct(1, 101, 5, 7, 0, 9_001, 1_234));
            wire.read();
            Command c = capture.next();
            assertEquals(Op.DEDUCT, c.op());
            assertRequestId(c, 101);
            assertEquals(5, c.userId());
            assertEquals(7, c.serviceId());
            assertEquals(0, c.amount());
            assertEquals(9_001, c.virtualKeyId());
            assertEquals(1_234, c.units());

            wire.send(Frames.reserve(2, 102, 5, 7, 300, 60_000, 9_002, 0));
            wire.read();
            c = capture.next();
            assertEquals(Op.RESERVE, c.op());
            assertRequestId(c, 102);
            assertEquals(300, c.amount());
            assertEquals(60_000, c.ttlMillis());
            assertEquals(9_002, c.virtualKeyId());
            assertEquals(0, c.units());

            wire.send(Frames.query(3, 5, 7, 9_003));
            wire.read();
            c = capture.next();
            assertEquals(Op.QUERY, c.op());
            assertEquals(5, c.userId());
            assertEquals(7, c.serviceId());
            assertEquals(9_003, c.virtualKeyId());

            wire.send(Frames.setVirtualKey(4, 104, 5, 9_004, 50_000, true, io.quotaledger.protocol.Period.WEEK,
                3_600_000, 1_900_000_000_000L, 3, 1, 4));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_VIRTUAL_KEY, c.op());
            assertRequestId(c, 104);
            assertEquals(5, c.userId());
            assertEquals(9_004, c.virtualKeyId());
            assertEquals(50_000, c.amount());
            assertTrue(c.unlimited());
            assertEquals(Period.WEEK, c.resetPeriod());
            assertEquals(3_600_000, c.resetMillis());
            assertEquals(1_900_000_000_000L, c.expiresAt());
            assertEquals(3, c.serviceCount());
            assertEquals(3, c.service(0));
            assertEquals(1, c.service(1));
            assertEquals(4, c.service(2));

            wire.send(Frames.setVirtualKey(5, 105, 5, 9_005, 10, false, io.quotaledger.protocol.Period.NONE, 0, 0));
            wire.read();
            c = capture.next();
            assertFalse(c.unlimited());
            assertNull(c.resetPeriod(), "NONE: no calendar period");
            assertEquals(0, c.serviceCount(), "no list: every service");

            wire.send(Frames.setVirtualKeyServiceBudget(6, 106, 5, 9_006, 7, -1));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, c.op());
            assertRequestId(c, 106);
            assertEquals(5, c.userId());
            assertEquals(9_006, c.virtualKeyId());
            assertEquals(7, c.serviceId());
            assertEquals(-1, c.amount());

            wire.send(Frames.revokeVirtualKey(7, 107, 5, 9_007));
            wire.read();
            c = capture.next();
            assertEquals(Op.REVOKE_VIRTUAL_KEY, c.op());
            assertRequestId(c, 107);
            assertEquals(5, c.userId());
            assertEquals(9_007, c.virtualKeyId());

            wire.send(Frames.setPrice(8, 108, 3, 7, 1_500_000));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_PRICE, c.op());
            assertRequestId(c, 108);
            assertEquals(3, c.groupId());
            assertEquals(7, c.serviceId());
            assertEquals(1_500_000, c.multiplier());

            wire.send(Frames.setGroup(9, 109, 5, 3));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_GROUP, c.op());
            assertRequestId(c, 109);
            assertEquals(5, c.userId());
            assertEquals(3, c.groupId());

            wire.send(Frames.setRateLimit(10, 110, 5, 9_010, 60, 100_000, 60_000));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_RATE_LIMIT, c.op());
            assertRequestId(c, 110);
            assertEquals(5, c.userId());
            assertEquals(9_010, c.virtualKeyId());
            assertEquals(60, c.requests());
            assertEquals(100_000, c.units());
            assertEquals(60_000, c.perMillis());

            wire.send(Frames.setSpendWindow(11, 111, 5, 0, 5_000, 18_000_000));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_SPEND_WINDOW, c.op());
            assertRequestId(c, 111);
            assertEquals(5, c.userId());
            assertEquals(0, c.virtualKeyId());
            assertEquals(5_000, c.amount());
            assertEquals(18_000_000, c.perMillis());

            wire.send(Frames.setConcurrency(12, 112, 5, 9_012, 4));
            wire.read();
            c = capture.next();
            assertEquals(Op.SET_CONCURRENCY, c.op());
            assertRequestId(c, 112);
            assertEquals(5, c.userId());
            assertEquals(9_012, c.virtualKeyId());
            assertEquals(4, c.amount());
        }
    }

    @Test
    void shouldLeaveTheVersionTwoFieldsZeroForAVersionOneFrame() throws Exception
    {
        try (Wire wire = new Wire(ledger).hello(ledger.adminKey))
        {
            // the bytes after a version-1 block are not the message's, whatever they hold
            final byte[] deduct = Frames.deduct(1, 201, 5, 7, 40, 9_001, 1_234);
            wire.send(Frames.asVersion1(deduct, 44));
            wire.read();
            final Command c = capture.next();
            assertEquals(40, c.amount());
            assertEquals(0, c.virtualKeyId());
            assertEquals(0, c.units());
        }
    }

    @Test
    void shouldEncodeEveryResultFieldAtItsDocumentedOffsetAndCutItForVersionOne() throws Exception
    {
        capture.rewrite((command, result) -> result.code(io.quotaledger.core.ResultCode.SPEND_WINDOW_EXCEEDED)
            .balance(900).virtualKeyId(command.virtualKeyId()).units(command.units()).amount(1_500)
            .retryAfterMillis(2_500).keySpent(700).keyBudgetRemaining(-1)
            .flags(Result.FLAG_KEY_REVOKED | Result.FLAG_KEY_EXPIRED));
        try (Wire v2 = new Wire(ledger).hello(ledger.adminKey); Wire v1 = new Wire(ledger))
        {
            v2.send(Frames.deduct(51, 301, 5, 7, 0, 9_001, 1_000));
            final ByteBuffer r = ByteBuffer.wrap(v2.readFrame(), 4, 8 + 115).slice().order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(115, r.getShort(0));
            assertEquals(51, r.getLong(8));
            assertEquals(1, r.get(8 + 8), "op DEDUCT");
            assertEquals(30, r.get(8 + 9), "code SPEND_WINDOW_EXCEEDED");
            assertEquals(1 << 3 | 1 << 4, r.get(8 + 10), "flags keyRevoked, keyExpired");
            assertEquals(900, r.getLong(8 + 35), "balance");
            assertEquals(9_001, r.getLong(8 + 67), "virtualKeyId");
            assertEquals(1_000, r.getLong(8 + 75), "units");
            assertEquals(1_500, r.getLong(8 + 83), "amount");
            assertEquals(2_500, r.getLong(8 + 91), "retryAfterMillis");
            assertEquals(700, r.getLong(8 + 99), "keySpent");
            assertEquals(-1, r.getLong(8 + 107), "keyBudgetRemaining");

            // a version-1 client: the same Result cut to its first 67 bytes, the code as it is
            v1.send(Frames.withVersion(Frames.hello(ledger.adminKey), 1));
            v1.readFrame();
            v1.send(Frames.asVersion1(Frames.deduct(52, 302, 5, 7, 10, 0, 0), 44));
            final byte[] cut = v1.readFrame();
            assertEquals(4 + 8 + 67, cut.length);
            final ByteBuffer c = ByteBuffer.wrap(cut, 4, 8 + 67).slice().order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(67, c.getShort(0));
            assertEquals(1, c.getShort(6), "version");
            assertEquals(30, c.get(8 + 9));
            assertEquals(900, c.getLong(8 + 35));
        }
    }
}
