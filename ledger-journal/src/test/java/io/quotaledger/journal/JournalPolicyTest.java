package io.quotaledger.journal;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import net.openhft.chronicle.queue.RollCycles;
import org.agrona.ExpandableArrayBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gateway policy outcomes through the journal: every type, with every field at its extremes, written and read back
 * byte for byte, a charge and its POLICY_APPLIED split across documents; an outcome of a type this version does not
 * know is named as such; and a policy workload replayed (journal alone, and snapshot plus journal) to the live state.
 */
class JournalPolicyTest
{
    private static final int MAX = JournalAppender.MAX_OUTCOMES_PER_DOCUMENT;
    private static final long T = 1_767_225_600_123L;

    @TempDir
    Path temp;

    @Test
    void shouldJournalEveryPolicyOutcomeTypeWithAllItsFields() throws Exception
    {
        final ExpandableArrayBuffer written = new ExpandableArrayBuffer();
        final Outcome o = new Outcome();
        int n = 0;
        // fill the first document up to one short of its end: the next charge's POLICY_APPLIED starts document two
        for (; n < MAX - 1; n++)
        {
            o.reset(OutcomeType.CREDITED, Op.CREDIT, T).requestId(1, n).userId(1).amount(1).balanceAfter(n + 1)
                .fingerprint(n);
            o.encode(written, n * Outcome.LENGTH);
        }
        final List<Outcome> policy = new ArrayList<>();
        policy.add(new Outcome().reset(OutcomeType.CHARGED, Op.DEDUCT, T).requestId(-1, -2).userId(Long.MAX_VALUE)
            .serviceId(Integer.MAX_VALUE).amount(Long.MAX_VALUE).fromFree(1).fromBalance(Long.MAX_VALUE - 1)
            .balanceAfter(Long.MIN_VALUE).fingerprint(-3));
        policy.add(new Outcome().reset(OutcomeType.POLICY_APPLIED, Op.DEDUCT, T).requestId(-1, -2)
            .userId(Long.MAX_VALUE).serviceId(Integer.MAX_VALUE).virtualKeyId(Long.MAX_VALUE).units(Long.MAX_VALUE)
            .amount(Long.MAX_VALUE).keySpentAfter(Long.MAX_VALUE - 1).keyServiceSpentAfter(Long.MAX_VALUE - 2)
            .keyPeriodId(-4).userRequestsTat(Long.MAX_VALUE).userUnitsTat(Long.MAX_VALUE - 5)
            .keyRequestsTat(Long.MAX_VALUE - 6).keyUnitsTat(Long.MAX_VALUE - 7).fingerprint(-3));
        final Outcome keySet = new Outcome().reset(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY, T)
            .requestId(2, 1).userId(9).virtualKeyId(Long.MAX_VALUE).amount(Long.MAX_VALUE).resetPeriod(Period.MONTH)
            .expiresAt(Long.MAX_VALUE).fingerprint(5);
        for (int s = 0; s < Command.MAX_SERVICES; s++)
        {
            keySet.addService(s == 0 ? Integer.MIN_VALUE : Integer.MAX_VALUE - s);
        }
        policy.add(keySet);
        policy.add(new Outcome().reset(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY, T).requestId(2, 2)
            .userId(9).virtualKeyId(1).flags(Outcome.FLAG_UNLIMITED).amount(-1).resetMillis(Long.MAX_VALUE));
        policy.add(new Outcome().reset(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET,
            Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, T).requestId(2, 3).userId(9).virtualKeyId(1).serviceId(-1).amount(-1));
        policy.add(new Outcome().reset(OutcomeType.VIRTUAL_KEY_REVOKED, Op.REVOKE_VIRTUAL_KEY, T).requestId(2, 4)
            .userId(9).virtualKeyId(1));
        policy.add(new Outcome().reset(OutcomeType.PRICE_SET, Op.SET_PRICE, T).requestId(2, 5)
            .groupId(Integer.MAX_VALUE).serviceId(0).multiplier(Long.MAX_VALUE));
        policy.add(new Outcome().reset(OutcomeType.GROUP_SET, Op.SET_GROUP, T).requestId(2, 6).userId(9)
            .groupId(Integer.MAX_VALUE));
        policy.add(new Outcome().reset(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT, T).requestId(2, 7).userId(9)
            .virtualKeyId(1).requests(Long.MAX_VALUE).units(Long.MAX_VALUE - 1).perMillis(Long.MAX_VALUE - 2));
        policy.add(new Outcome().reset(OutcomeType.SPEND_WINDOW_SET, Op.SET_SPEND_WINDOW, T).requestId(2, 8)
            .userId(9).amount(Long.MAX_VALUE).perMillis(7 * 86_400_000L));
        policy.add(new Outcome().reset(OutcomeType.CONCURRENCY_SET, Op.SET_CONCURRENCY, T).requestId(2, 9)
            .userId(9).virtualKeyId(1).amount(Long.MAX_VALUE));
        policy.add(new Outcome().reset(OutcomeType.REJECTED, Op.RESERVE, T).requestId(2, 10)
            .code(ResultCode.SPEND_WINDOW_EXCEEDED).userId(9).serviceId(3).holdId(2, 10).virtualKeyId(Long.MAX_VALUE)
            .units(Long.MAX_VALUE - 1).retryAfterMillis(-1).amount(0).fingerprint(11));
        final Set<OutcomeType> covered = EnumSet.noneOf(OutcomeType.class);
        for (final Outcome p : policy)
        {
            p.encode(written, n++ * Outcome.LENGTH);
            covered.add(p.type());
        }
        assertTrue(covered.containsAll(EnumSet.range(OutcomeType.POLICY_APPLIED, OutcomeType.CONCURRENCY_SET)),
            "every policy type: " + covered);

        final DataDir dir = new DataDir(temp.resolve("data"));
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            appender.append(1, written, 0, n);
            appender.flush();
            assertEquals(2, appender.documentsWritten(), "the charge ends document one, its POLICY_APPLIED starts two");
        }
        final ExpandableArrayBuffer read = new ExpandableArrayBuffer();
        final List<String> decoded = new ArrayList<>();
        try (JournalReader reader = JournalReader.open(dir))
        {
            assertEquals(n, reader.read(0, (sequence, outcome) ->
            {
                outcome.encode(read, (int)(sequence - 1) * Outcome.LENGTH);
                if (sequence >= MAX)
                {
                    decoded.add(outcome.toString());
                }
                return true;
            }).outcomes());
        }
        final byte[] expected = new byte[n * Outcome.LENGTH];
        final byte[] actual = new byte[expected.length];
        written.getBytes(0, expected);
        read.getBytes(0, actual);
        assertArrayEquals(expected, actual, "read back byte for byte");
        assertEquals(policy.stream().map(Outcome::toString).toList(), decoded, "every field decoded");
        final Outcome back = new Outcome();
        assertTrue(back.decode(read, MAX * Outcome.LENGTH)); // the POLICY_APPLIED, first of document two
        assertEquals(Long.MAX_VALUE - 7, back.keyUnitsTat());
        assertTrue(back.decode(read, (MAX + 1) * Outcome.LENGTH));
        assertEquals(Integer.MIN_VALUE, back.service(0));
        assertEquals(Integer.MAX_VALUE - 11, back.service(Command.MAX_SERVICES - 1));
    }

    @Test
    void shouldNameACodeThisVersionDoesNotKnow() throws Exception
    {
        final ExpandableArrayBuffer written = new ExpandableArrayBuffer();
        final Outcome o = new Outcome();
        for (int i = 0; i < 3; i++)
        {
            o.reset(OutcomeType.CREDITED, Op.CREDIT, T).requestId(1, i).userId(1).amount(1).balanceAfter(i + 1);
            o.encode(written, i * Outcome.LENGTH);
        }
        written.putByte(2 * Outcome.LENGTH, (byte)99); // a type a later version may add
        final DataDir dir = new DataDir(temp.resolve("data"));
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            appender.append(1, written, 0, 3);
            appender.flush();
        }
        try (JournalReader reader = JournalReader.open(dir))
        {
            final JournalCorruptedException ex = assertThrows(JournalCorruptedException.class,
                () -> reader.read(0, (sequence, outcome) -> true));
            assertEquals("undecodable outcome 3 with a good checksum (type 99, op 5, result code 0): a code this " +
                "version does not know; was the journal written by a newer version of the ledger?", ex.getMessage());
        }
    }

    /**
     * Needs the core rules (skipped while the ledger refuses policy operations): a policy workload journaled, then
     * recovered from the journal alone and from a snapshot plus the journal, ends in the live state; a key that never
     * resets has spent exactly what was charged through it.
     */
    @Test
    void shouldReplayAPolicyWorkloadToTheLiveState() throws Exception
    {
        final LedgerConfig config = new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(64);
        final ExpandableArrayBuffer outcomes = new ExpandableArrayBuffer(1 << 20);
        final int[] count = { 0 };
        final Ledger live = new Ledger(config, o -> o.encode(outcomes, count[0]++ * Outcome.LENGTH));
        final Command c = new Command();
        final Result r = new Result();
        live.process(c.reset().op(Op.CREDIT).requestId(3, 1).userId(1).amount(1_000_000).timestamp(T), r);
        live.process(c.reset().op(Op.SET_VIRTUAL_KEY).requestId(3, 2).userId(1).virtualKeyId(11).amount(500_000)
            .timestamp(T), r);
        assertEquals(ResultCode.OK, r.code(), "policy set-up refused");

        final DataDir dir = new DataDir(temp.resolve("data"));
        final SnapshotStore snapshots = new SnapshotStore(dir);
        final Random random = new Random(5);
        long time = T;
        long request = 2;
        long chargedThroughKey = 0;
        final List<Long> holds = new ArrayList<>();
        int journaled = 0;
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            for (int i = 0; i < 4_000; i++)
            {
                time += random.nextInt(2_000);
                c.reset().requestId(3, ++request).timestamp(time);
                final int dice = random.nextInt(100);
                if (i == 0)
                {
                    c.op(Op.SET_RATE_LIMIT).userId(1).virtualKeyId(11).requests(50).perMillis(60_000);
                }
                else if (i == 1)
                {
                    c.op(Op.SET_SPEND_WINDOW).userId(1).amount(200_000).perMillis(5 * 3_600_000L);
                }
                else if (i == 2)
                {
                    c.op(Op.SET_CONCURRENCY).userId(1).virtualKeyId(11).amount(3);
                }
                else if (i == 3)
                {
                    c.op(Op.SET_PRICE).groupId(1).serviceId(2).multiplier(1_250_000);
                }
                else if (i == 4)
                {
                    c.op(Op.SET_GROUP).userId(1).groupId(1);
                }
                else if (dice < 40)
                {
                    c.op(Op.DEDUCT).userId(1).serviceId(2).virtualKeyId(11);
                    if (random.nextBoolean())
                    {
                        c.units(1 + random.nextInt(100));
                    }
                    else
                    {
                        c.amount(1 + random.nextInt(100));
                    }
                }
                else if (dice < 60)
                {
                    c.op(Op.RESERVE).userId(1).serviceId(2).virtualKeyId(11).amount(1 + random.nextInt(100))
                        .ttlMillis(1_000 + random.nextInt(60_000));
                }
                else if (dice < 80 && !holds.isEmpty())
                {
                    final long hold = holds.remove(random.nextInt(holds.size()));
                    if (random.nextBoolean())
                    {
                        c.op(Op.SETTLE).holdId(3, hold).amount(random.nextInt(150));
                    }
                    else
                    {
                        c.op(Op.RELEASE).holdId(3, hold);
                    }
                }
                else if (dice < 85)
                {
                    c.reset().op(Op.TICK).timestamp(time);
                }
                else
                {
                    c.op(Op.DEDUCT).userId(1).serviceId(1).amount(1 + random.nextInt(50)); // no key
                }
                live.process(c, r);
                if (r.code() == ResultCode.OK && c.virtualKeyId() == 11 && c.op() == Op.RESERVE)
                {
                    holds.add(request);
                }
                if (i == 2_000)
                {
                    appender.append(journaled + 1, outcomes, journaled * Outcome.LENGTH, count[0] - journaled);
                    appender.flush();
                    journaled = count[0];
                    final UnsafeBuffer payload = new UnsafeBuffer(new byte[live.snapshotLength()]);
                    snapshots.write(journaled, time, live.checksum(), payload, live.writeSnapshot(payload, 0));
                }
            }
            // a hold left open through the key (or, at the cap, the ones already open)
            live.process(c.reset().op(Op.RESERVE).requestId(3, ++request).userId(1).serviceId(2).virtualKeyId(11)
                .amount(70).ttlMillis(3_600_000).timestamp(time), r);
            appender.append(journaled + 1, outcomes, journaled * Outcome.LENGTH, count[0] - journaled);
            appender.flush();
        }
        // what the key was charged, from the outcomes: deducts, holds still open at what they hold, closed holds at
        // their final charge (the key never resets, so every return goes back to it)
        final java.util.Map<Long, Long> heldThroughKey = new java.util.HashMap<>();
        final Outcome before = new Outcome();
        for (int i = 0; i < count[0]; i++)
        {
            final Outcome o = new Outcome();
            assertTrue(o.decode(outcomes, i * Outcome.LENGTH));
            if (o.type() == OutcomeType.POLICY_APPLIED && o.virtualKeyId() == 11)
            {
                switch (before.type())
                {
                    case CHARGED -> chargedThroughKey += o.amount();
                    case HOLD_OPENED ->
                    {
                        chargedThroughKey += o.amount();
                        heldThroughKey.put(before.holdIdLo(), o.amount());
                    }
                    default -> chargedThroughKey += o.amount() - heldThroughKey.remove(before.holdIdLo());
                }
            }
            before.decode(outcomes, i * Outcome.LENGTH);
        }
        assertTrue(chargedThroughKey > 0 && !heldThroughKey.isEmpty(), "charges and open holds through the key");

        final Recovery.Result journalOnly = Recovery.recover(dir, () -> new Ledger(config, OutcomeSink.NONE), false,
            Recovery.Limit.END, Recovery.Progress.NONE);
        final Recovery.Result withSnapshot = Recovery.recover(dir, () -> new Ledger(config, OutcomeSink.NONE));
        assertTrue(withSnapshot.snapshot() != null, "the snapshot was used");
        for (final Recovery.Result recovered : List.of(journalOnly, withSnapshot))
        {
            assertEquals(live.checksum(), recovered.ledger().checksum());
            assertEquals(query(live, time), query(recovered.ledger(), time));
        }
        final Result key = new Result();
        live.process(new Command().op(Op.QUERY).requestId(3, 0).userId(1).virtualKeyId(11).timestamp(time), key);
        assertEquals(chargedThroughKey, key.keySpent(), "a key that never resets: spent = what was charged through it");
        assertEquals(500_000 - key.keySpent(), key.keyBudgetRemaining());
    }

    private static String query(final Ledger ledger, final long now)
    {
        final Result r = new Result();
        ledger.process(new Command().op(Op.QUERY).requestId(3, 0).userId(1).virtualKeyId(11).serviceId(2)
            .timestamp(now), r);
        return r.code() + " balance=" + r.balance() + " keySpent=" + r.keySpent() + " remaining=" +
            r.keyBudgetRemaining() + " flags=" + r.flags();
    }
}
