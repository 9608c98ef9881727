package io.quotaledger.core;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fixed 136-byte layout: every type keeps its fields through encode and decode, and records written before
 * gateway policy decode as they did.
 */
class OutcomeTest
{
    private final UnsafeBuffer buffer = new UnsafeBuffer(new byte[Outcome.LENGTH * 2]);

    private Outcome roundTrip(final Outcome outcome)
    {
        buffer.setMemory(0, buffer.capacity(), (byte)0x5A); // stale bytes must not leak into a record
        outcome.encode(buffer, Outcome.LENGTH);
        final Outcome decoded = new Outcome();
        assertTrue(decoded.decode(buffer, Outcome.LENGTH), outcome.toString());
        assertEquals(outcome.toString(), decoded.toString());
        return decoded;
    }

    private static Outcome head(final OutcomeType type, final Op op)
    {
        return new Outcome().reset(type, op, 1_700_000_000_123L).requestId(-5, 6).userId(42).fingerprint(99);
    }

    @Test
    void shouldKeepPolicyAppliedFields()
    {
        final Outcome o = roundTrip(head(OutcomeType.POLICY_APPLIED, Op.DEDUCT).serviceId(7).virtualKeyId(9001)
            .units(400).amount(500).keySpentAfter(1_500).keyServiceSpentAfter(600).keyPeriodId(19_795)
            .userRequestsTat(1L << 52).userUnitsTat((1L << 52) + 1).keyRequestsTat((1L << 52) + 2)
            .keyUnitsTat(Long.MAX_VALUE));
        assertEquals(Long.MAX_VALUE, o.keyUnitsTat());
        assertEquals(19_795, o.keyPeriodId());
        assertEquals(0, o.holdIdHi());
    }

    @Test
    void shouldKeepAVirtualKeysWholeConfiguration()
    {
        final Outcome set = head(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY).virtualKeyId(Long.MAX_VALUE)
            .amount(-1).flags(Outcome.FLAG_UNLIMITED).resetPeriod(Period.MONTH).expiresAt(1_800_000_000_000L);
        for (int s = 1; s <= Command.MAX_SERVICES; s++)
        {
            set.addService(Integer.MAX_VALUE - s);
        }
        final Outcome o = roundTrip(set);
        assertTrue(o.unlimited());
        assertEquals(Command.MAX_SERVICES, o.serviceCount());
        assertEquals(Integer.MAX_VALUE - Command.MAX_SERVICES, o.service(Command.MAX_SERVICES - 1));
        assertEquals(Period.MONTH, o.resetPeriod());
        roundTrip(head(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY).virtualKeyId(3).amount(10)
            .resetMillis(3_600_000L));
    }

    @Test
    void shouldKeepEverySettingsFields()
    {
        roundTrip(head(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).virtualKeyId(3)
            .serviceId(8).amount(-1));
        roundTrip(head(OutcomeType.VIRTUAL_KEY_REVOKED, Op.REVOKE_VIRTUAL_KEY).virtualKeyId(3));
        final Outcome price = roundTrip(new Outcome().reset(OutcomeType.PRICE_SET, Op.SET_PRICE, 5).requestId(1, 2)
            .groupId(Integer.MAX_VALUE).serviceId(0).multiplier(Long.MAX_VALUE).fingerprint(3));
        assertEquals(Long.MAX_VALUE, price.multiplier());
        assertEquals(0, price.amount());
        roundTrip(head(OutcomeType.GROUP_SET, Op.SET_GROUP).groupId(12));
        roundTrip(head(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT).virtualKeyId(3).requests(60).units(1L << 40)
            .perMillis(60_000));
        roundTrip(head(OutcomeType.SPEND_WINDOW_SET, Op.SET_SPEND_WINDOW).amount(5_000).perMillis(18_000_000));
        roundTrip(head(OutcomeType.CONCURRENCY_SET, Op.SET_CONCURRENCY).virtualKeyId(3).amount(4));
    }

    @Test
    void shouldCarryKeyRetryAndUnitsInARejectionWhereItHadNothing()
    {
        final Outcome o = roundTrip(head(OutcomeType.REJECTED, Op.DEDUCT).code(ResultCode.SPEND_WINDOW_EXCEEDED)
            .serviceId(7).amount(0).virtualKeyId(9001).retryAfterMillis(7_000).units(400).holdId(1, 2));
        assertEquals(0, o.fromFree());
        assertEquals(7_000, o.retryAfterMillis());

        // a rejection journaled before policy has zeros there: no key, no retry, no units
        final Outcome old = head(OutcomeType.REJECTED, Op.DEDUCT).code(ResultCode.INSUFFICIENT_FUNDS).amount(5);
        old.encode(buffer, 0);
        final Outcome decoded = new Outcome();
        assertTrue(decoded.decode(buffer, 0));
        assertEquals(0, decoded.virtualKeyId());
        assertEquals(0, decoded.retryAfterMillis());
        assertEquals(5, decoded.amount());
    }

    @Test
    void shouldKeepTheLayoutOfTheTypesBeforePolicy()
    {
        final Outcome charged = roundTrip(head(OutcomeType.CHARGED, Op.DEDUCT).serviceId(7).amount(10).fromFree(3)
            .fromBalance(7).balanceAfter(93).freeUsedAfter(3).periodId(19_795));
        charged.encode(buffer, 0);
        assertEquals(3, buffer.getLong(64, java.nio.ByteOrder.LITTLE_ENDIAN), "fromFree at 64");
        assertEquals(93, buffer.getLong(96, java.nio.ByteOrder.LITTLE_ENDIAN), "balanceAfter at 96");
        assertEquals(0, charged.virtualKeyId());
    }

    @Test
    void shouldRefuseAVirtualKeySetWithMoreServicesThanFit()
    {
        head(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY).virtualKeyId(3).encode(buffer, 0);
        buffer.putByte(41, (byte)(Command.MAX_SERVICES + 1));
        assertFalse(new Outcome().decode(buffer, 0));
    }
}
