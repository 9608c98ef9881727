package io.quotaledger.core;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
