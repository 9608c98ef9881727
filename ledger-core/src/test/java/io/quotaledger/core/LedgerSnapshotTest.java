package io.quotaledger.core;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LedgerSnapshotTest
{
    private static Ledger restore(final Ledger from, final LedgerConfig config)
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[from.snapshotLength()]);
        assertEquals(buffer.capacity(), from.writeSnapshot(buffer, 0));
        final Ledger restored = new Ledger(config, OutcomeSink.NONE);
        restored.loadSnapshot(buffer, 0, buffer.capacity());
        return restored;
    }

    @Test
    void shouldContinueExactlyLikeTheLedgerItWasTakenFrom()
    {
        final long seed = System.nanoTime();
        final LedgerConfig config = LedgerRandomizedTest.smallConfig();
        final RandomCommandGenerator generator = new RandomCommandGenerator(seed, config);
        final Ledger live = new Ledger(config, OutcomeSink.NONE);
        final Command command = new Command();
        final Result expected = new Result();
        final Result actual = new Result();
        for (int round = 0; round < 8; round++)
        {
            for (int i = 0; i < 20_000; i++)
            {
                generator.next(command);
                live.process(command, expected);
            }
            final Ledger restored = restore(live, config);
            assertEquals(live.checksum(), restored.checksum(), "seed " + seed + " round " + round);
            assertEquals(live.accountCount(), restored.accountCount());
            assertEquals(live.openHoldCount(), restored.openHoldCount());
            assertEquals(live.rememberedRequestCount(), restored.rememberedRequestCount());
            assertEquals(live.virtualKeyCount(), restored.virtualKeyCount());
            assertEquals(live.serviceBudgetCount(), restored.serviceBudgetCount());
            assertEquals(live.priceCount(), restored.priceCount());
            assertEquals(live.rateLimitCount(), restored.rateLimitCount());
            assertEquals(live.spendWindowCount(), restored.spendWindowCount());

            // the copy must behave identically from here on, duplicates and expiries included
            final Ledger shadow = restored;
            for (int i = 0; i < 5_000; i++)
            {
                generator.next(command);
                live.process(command, expected);
                shadow.process(command, actual);
                assertEquals(expected.toString(), actual.toString(), "seed " + seed + " after " + command);
            }
            assertEquals(live.checksum(), shadow.checksum(), "seed " + seed);
        }
        assertTrue(live.virtualKeyCount() > 0 && live.rateLimitCount() > 0 && live.spendWindowCount() > 0 &&
            live.priceCount() > 0 && live.serviceBudgetCount() > 0, "the snapshots carried gateway policy");
    }

    /**
     * A snapshot written before gateway policy (version 1: no policy word per account, eight longs per hold, twelve
     * per remembered request, no policy section) loads as the same ledger without policy.
     */
    @Test
    void shouldLoadAVersion1SnapshotAsTheSameLedgerWithoutPolicy()
    {
        final long seed = System.nanoTime();
        final LedgerConfig config = LedgerRandomizedTest.smallConfig();
        final RandomCommandGenerator generator =
            new RandomCommandGenerator(seed, config, RandomCommandGenerator.START, false);
        final Ledger live = new Ledger(config, OutcomeSink.NONE);
        final Command command = new Command();
        final Result expected = new Result();
        final Result actual = new Result();
        for (int i = 0; i < 30_000 || (live.openHoldCount() == 0 && i < 100_000); i++)
        {
            generator.next(command); // until holds are open, so that their layout is converted too
            live.process(command, expected);
        }
        final UnsafeBuffer current = new UnsafeBuffer(new byte[live.snapshotLength()]);
        live.writeSnapshot(current, 0);
        final UnsafeBuffer version1 = toVersion1(current);

        final Ledger restored = new Ledger(config, OutcomeSink.NONE);
        restored.loadSnapshot(version1, 0, version1.capacity());
        assertEquals(live.checksum(), restored.checksum(), "seed " + seed);
        assertTrue(live.openHoldCount() > 0 && live.rememberedRequestCount() > 0, "seed " + seed);
        for (int i = 0; i < 5_000; i++)
        {
            generator.next(command);
            live.process(command, expected);
            restored.process(command, actual);
            assertEquals(expected.toString(), actual.toString(), "seed " + seed + " after " + command);
        }
        assertEquals(live.checksum(), restored.checksum(), "seed " + seed);
    }

    private static UnsafeBuffer toVersion1(final UnsafeBuffer snapshot)
    {
        final ByteOrder order = ByteOrder.LITTLE_ENDIAN;
        final UnsafeBuffer out = new UnsafeBuffer(new byte[snapshot.capacity()]);
        int in = 0;
        int at = 0;
        out.putInt(at, snapshot.getInt(in, order), order);
        out.putInt(at + 4, 1, order);
        in += 8;
        at += 8;
        final int[][] sections = { { 5, 4 }, { 4, 4 }, { 12, 8 }, { 17, 12 } }; // accounts, quotas, holds, dedupe
        for (final int[] longs : sections)
        {
            final int n = snapshot.getInt(in, order);
            out.putInt(at, n, order);
            in += 4;
            at += 4;
            for (int i = 0; i < n; i++)
            {
                out.putBytes(at, snapshot, in, longs[1] * Long.BYTES);
                in += longs[0] * Long.BYTES;
                at += longs[1] * Long.BYTES;
            }
        }
        return new UnsafeBuffer(out.byteArray(), 0, at);
    }

    /**
     * The limits decide only new commands: a ledger rebuilt under lower ones (from its outcomes or a snapshot) has
     * exactly the state it had, keeps what lies beyond them, and refuses only what is new.
     */
    @Test
    void shouldRebuildTheSameStateUnderLowerLimits()
    {
        final long hour = 3_600_000L;
        final LedgerConfig generous = new LedgerConfig().expectedAccounts(16).maxHoldTtlMillis(hour);
        final List<Outcome> journal = new ArrayList<>();
        final Ledger live = new Ledger(generous, outcome ->
        {
            final UnsafeBuffer copy = new UnsafeBuffer(new byte[Outcome.LENGTH]);
            outcome.encode(copy, 0);
            final Outcome decoded = new Outcome();
            assertTrue(decoded.decode(copy, 0));
            journal.add(decoded);
        });
        final Command command = new Command();
        final Result result = new Result();
        long id = 0;
        for (long user = 1; user <= 5; user++)
        {
            live.process(command.reset().op(Op.CREDIT).requestId(1, ++id).userId(user).amount(1_000), result);
            live.process(command.reset().op(Op.GRANT).requestId(1, ++id).userId(user).serviceId(1).amount(10)
                .period(Period.DAY), result);
            live.process(command.reset().op(Op.RESERVE).requestId(2, user).userId(user).serviceId(2).amount(1)
                .ttlMillis(hour), result);
            assertTrue(result.accepted(), result.toString());
        }
        live.process(command.reset().op(Op.SETTLE).requestId(1, ++id).holdId(2, 1).amount(500), result);
        assertTrue(result.accepted(), "a settle far beyond what the lower limits allow: " + result);

        final LedgerConfig lower = new LedgerConfig().expectedAccounts(16).maxAccounts(1).maxFreeQuotas(1)
            .maxOpenHolds(1).maxHoldTtlMillis(1).maxSettleExcess(0);
        final Ledger replayed = new Ledger(lower, OutcomeSink.NONE);
        journal.forEach(replayed::apply);
        final Ledger restored = restore(live, lower);
        for (final Ledger rebuilt : List.of(replayed, restored))
        {
            assertEquals(live.checksum(), rebuilt.checksum());
            assertEquals(5, rebuilt.accountCount());
            assertEquals(5, rebuilt.freeQuotaCount());
            assertEquals(4, rebuilt.openHoldCount());

            rebuilt.process(command.reset().op(Op.CREDIT).requestId(3, 1).userId(6).amount(1), result);
            assertEquals(ResultCode.CAPACITY_EXCEEDED, result.code());
            rebuilt.process(command.reset().op(Op.RESERVE).requestId(3, 2).userId(1).serviceId(2).amount(1)
                .ttlMillis(1), result);
            assertEquals(ResultCode.CAPACITY_EXCEEDED, result.code());
            rebuilt.process(command.reset().op(Op.SETTLE).requestId(3, 3).holdId(2, 2).amount(3), result);
            assertEquals(ResultCode.INVALID_AMOUNT, result.code(), "the settle cap of now, 2 units for this hold");
            rebuilt.process(command.reset().op(Op.SETTLE).requestId(3, 4).holdId(2, 2).amount(2), result);
            assertEquals(ResultCode.OK, result.code());
            rebuilt.process(command.reset().op(Op.DEDUCT).requestId(3, 5).userId(5).serviceId(1).amount(3), result);
            assertEquals(ResultCode.OK, result.code(), "what is beyond the limits keeps working");
        }
    }

    @Test
    void shouldListEveryAccount()
    {
        final Ledger ledger = new Ledger(new LedgerConfig(), OutcomeSink.NONE);
        final Command command = new Command();
        final Result result = new Result();
        for (long user = 1; user <= 3; user++)
        {
            ledger.process(command.reset().op(Op.CREDIT).requestId(1, user).userId(user).amount(user * 10), result);
        }
        ledger.process(command.reset().op(Op.FREEZE).requestId(2, 1).userId(2), result);
        final List<String> seen = new ArrayList<>();
        ledger.forEachAccount((user, balance, held, limit, frozen) -> seen.add(user + ":" + balance + ":" + frozen));
        assertEquals(List.of("1:10:false", "2:20:true", "3:30:false"), seen);
    }

    @Test
    void shouldRefuseWhatIsNotASnapshotOfThisVersion()
    {
        final Ledger ledger = new Ledger(new LedgerConfig(), OutcomeSink.NONE);
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[ledger.snapshotLength()]);
        ledger.writeSnapshot(buffer, 0);

        assertThrows(IllegalArgumentException.class, () ->
            new Ledger(new LedgerConfig(), OutcomeSink.NONE).loadSnapshot(buffer, 0, buffer.capacity() - 1));
        buffer.putInt(4, Ledger.SNAPSHOT_VERSION + 1, java.nio.ByteOrder.LITTLE_ENDIAN);
        assertThrows(IllegalArgumentException.class, () ->
            new Ledger(new LedgerConfig(), OutcomeSink.NONE).loadSnapshot(buffer, 0, buffer.capacity()));
        buffer.putInt(0, 0x12345678);
        assertThrows(IllegalArgumentException.class, () ->
            new Ledger(new LedgerConfig(), OutcomeSink.NONE).loadSnapshot(buffer, 0, buffer.capacity()));
    }
}
