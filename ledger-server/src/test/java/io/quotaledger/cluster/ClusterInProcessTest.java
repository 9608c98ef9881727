package io.quotaledger.cluster;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three members in this JVM (each with its own media driver, archive and consensus module): requests through any
 * member's engine are applied once on every member, in the same order, and survive the leader's loss.
 */
class ClusterInProcessTest
{
    @TempDir
    Path dir;

    private final ClusterNode[] nodes = new ClusterNode[3];
    private final ClusterEngine[] engines = new ClusterEngine[3];
    private static final long POISON = 666;
    private int poisoned = -1;
    private int dedupeWindow = 1 << 12;
    private java.util.function.Consumer<String> onFatal = why -> { throw new AssertionError(why); };
    private ClusterMembers members;

    @AfterEach
    void tearDown()
    {
        for (int i = 0; i < 3; i++)
        {
            close(i);
        }
    }

    @Test
    void shouldApplyOnEveryMemberAndSurviveTheLeadersLoss() throws Exception
    {
        members = LoopbackMembers.three();
        for (int i = 0; i < 3; i++)
        {
            start(i);
        }
        final Result credit = execute(0, new Command().op(Op.CREDIT).requestId(1, 1).userId(7).amount(1_000));
        assertEquals(ResultCode.OK, credit.code(), credit.toString());
        for (int n = 0; n < 50; n++)
        {
            final Result deduct = execute(n % 3,
                new Command().op(Op.DEDUCT).requestId(2, n).userId(7).serviceId(1).amount(10));
            assertEquals(ResultCode.OK, deduct.code(), deduct.toString());
        }
        // a retry is answered from the dedupe window, on any member
        final Result retry = execute(2, new Command().op(Op.DEDUCT).requestId(2, 0).userId(7).serviceId(1).amount(10));
        assertTrue(retry.duplicate(), retry.toString());
        assertEquals(500, execute(1, new Command().op(Op.QUERY).userId(7)).balance());

        int leader = -1;
        for (int i = 0; i < 3; i++)
        {
            if ("leader".equals(nodes[i].status().role))
            {
                leader = i;
            }
        }
        assertTrue(leader >= 0);
        close(leader);
        final int survivor = (leader + 1) % 3;
        final Result after = execute(survivor,
            new Command().op(Op.DEDUCT).requestId(3, 1).userId(7).serviceId(1).amount(100));
        assertEquals(ResultCode.OK, after.code(), after.toString());
        assertEquals(400, after.balance());

        start(leader); // rejoins and catches up
        final Result query = execute(leader, new Command().op(Op.QUERY).userId(7));
        assertEquals(400, query.balance());
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (nodes[leader].service().appliedSequence() != nodes[survivor].service().appliedSequence() &&
            System.nanoTime() < deadline)
        {
            Thread.sleep(20);
        }
        assertEquals(nodes[survivor].service().appliedSequence(), nodes[leader].service().appliedSequence());
        for (int i = 0; i < 3; i++)
        {
            close(i);
        }
        long expected = -1;
        for (int i = 0; i < 3; i++)
        {
            final DataDir data = new DataDir(dir.resolve("node" + i));
            Journals.refreshListing(data);
            try (JournalReader reader = JournalReader.open(data))
            {
                final long last = reader.lastSequence();
                if (expected < 0)
                {
                    expected = last;
                }
                assertEquals(expected, last, "journal of member " + i);
            }
        }
    }

    @Test
    void shouldWriteTheSameSnapshotBytesOnEveryMemberAlsoAfterOneLoadedASnapshot() throws Exception
    {
        members = LoopbackMembers.three();
        for (int i = 0; i < 3; i++)
        {
            start(i);
        }
        long id = 0;
        for (int round = 0; round < 2; round++)
        {
            // every table: accounts, free quotas, holds, prices, groups, keys, limits, windows
            for (int u = 1; u <= 40; u++)
            {
                final int node = u % 3;
                run(node, new Command().op(Op.CREDIT).requestId(9, ++id).userId(u).amount(10_000));
                run(node, new Command().op(Op.GRANT).requestId(9, ++id).userId(u).serviceId(u % 7 + 1).amount(50)
                    .period(io.quotaledger.core.Period.DAY));
                run(node, new Command().op(Op.SET_PRICE).requestId(9, ++id).groupId(u % 5 + 1 + round * 10)
                    .serviceId(u % 7 + 1).multiplier(1_500_000));
                run(node, new Command().op(Op.SET_GROUP).requestId(9, ++id).userId(u).groupId(u % 5 + 1));
                run(node, new Command().op(Op.SET_VIRTUAL_KEY).requestId(9, ++id).userId(u)
                    .virtualKeyId(1_000L * u + round).amount(5_000).resetPeriod(io.quotaledger.core.Period.MONTH));
                run(node, new Command().op(Op.SET_RATE_LIMIT).requestId(9, ++id).userId(u)
                    .virtualKeyId(1_000L * u + round).requests(1_000).units(1_000_000).perMillis(60_000));
                run(node, new Command().op(Op.SET_SPEND_WINDOW).requestId(9, ++id).userId(u)
                    .virtualKeyId(1_000L * u + round).amount(100_000).perMillis(3_600_000));
                run(node, new Command().op(Op.RESERVE).requestId(9, ++id).userId(u).serviceId(1).amount(10)
                    .ttlMillis(60_000)); // the hold's id is the reserve's request id
                if (u % 2 == 0)
                {
                    run(node, new Command().op(Op.SETTLE).requestId(9, ++id).userId(u).holdId(9, id - 1).amount(5));
                }
                run(node, new Command().op(Op.DEDUCT).requestId(9, ++id).userId(u).serviceId(u % 7 + 1)
                    .virtualKeyId(1_000L * u + round).units(30));
            }
            final long[] crcs = snapshotEverywhere();
            assertEquals(crcs[0], crcs[1], "members 0 and 1 wrote different snapshot bytes");
            assertEquals(crcs[1], crcs[2], "members 1 and 2 wrote different snapshot bytes");
            if (round == 0)
            {
                close(0);
                start(0); // loads the snapshot just taken, then the log after it
            }
        }
    }

    @Test
    void shouldStopAMemberWhoseLedgerFailsAndGoOnWithTheOthers() throws Exception
    {
        members = LoopbackMembers.three();
        final java.util.concurrent.CompletableFuture<String> stopped = new java.util.concurrent.CompletableFuture<>();
        poisoned = 0;
        onFatal = why ->
        {
            stopped.complete(why);
            new Thread(() -> close(0)).start(); // what serve does: the member leaves at once
        };
        for (int i = 0; i < 3; i++)
        {
            start(i);
        }
        run(1, new Command().op(Op.CREDIT).requestId(5, 1).userId(3).amount(1_000));
        // member 0's ledger fails on this amount (a bug on one member): it stops, the others apply it
        final Result result = execute(2, new Command().op(Op.CREDIT).requestId(5, 2).userId(3).amount(POISON));
        assertEquals(ResultCode.OK, result.code(), result.toString());
        assertTrue(stopped.get(30, TimeUnit.SECONDS).contains("test: a bug"), stopped.get());
        assertEquals(1_000 + POISON, execute(1, new Command().op(Op.QUERY).userId(3)).balance());
        final DataDir data = new DataDir(dir.resolve("node0"));
        Journals.refreshListing(data);
        try (JournalReader reader = JournalReader.open(data))
        {
            assertEquals(1, reader.lastSequence(), "member 0's journal holds nothing of the failed command");
        }
    }

    @Test
    void shouldExpireHoldsOnAClusterTimerAndRefuseASnapshotOfOtherSettings() throws Exception
    {
        members = LoopbackMembers.three();
        for (int i = 0; i < 3; i++)
        {
            start(i);
        }
        run(0, new Command().op(Op.CREDIT).requestId(6, 1).userId(4).amount(1_000));
        run(1, new Command().op(Op.RESERVE).requestId(6, 2).userId(4).serviceId(1).amount(300).ttlMillis(300));
        assertEquals(300, execute(2, new Command().op(Op.QUERY).userId(4)).held());
        // no request comes: the cluster's timer expires the hold on every member, at the same log position
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (nodes[0].service().appliedSequence() < 3 || nodes[1].service().appliedSequence() < 3 ||
            nodes[2].service().appliedSequence() < 3)
        {
            assertTrue(System.nanoTime() < deadline, "the hold did not expire on every member");
            Thread.sleep(20);
        }
        final Result after = execute(2, new Command().op(Op.QUERY).userId(4));
        assertEquals(0, after.held(), after.toString());
        assertEquals(1_000, after.balance(), after.toString());
        snapshotEverywhere();

        close(0);
        final java.util.concurrent.CompletableFuture<String> refused = new java.util.concurrent.CompletableFuture<>();
        onFatal = refused::complete;
        dedupeWindow = 1 << 13;
        start(0); // the cluster's snapshot says 4096
        assertTrue(refused.get(30, TimeUnit.SECONDS).contains("dedupe-window = 4096 but this node is set to 8192"),
            refused.get());
    }

    /**
     * @return each member's CRC of the snapshot the cluster takes now, once all three have taken it.
     */
    private long[] snapshotEverywhere() throws Exception
    {
        final long before = nodes[1].service().snapshotSequence();
        assertEquals("OK", engines[1].requestSnapshot().get(30, TimeUnit.SECONDS));
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        final long[] crcs = new long[3];
        for (int i = 0; i < 3; i++)
        {
            while (nodes[i].service().snapshotSequence() == before ||
                nodes[i].service().snapshotSequence() != nodes[1].service().snapshotSequence())
            {
                assertTrue(System.nanoTime() < deadline, "member " + i + " took no snapshot");
                Thread.sleep(10);
            }
            crcs[i] = nodes[i].service().snapshotCrc();
        }
        return crcs;
    }

    private void run(final int node, final Command command) throws Exception
    {
        final Result result = execute(node, command);
        assertTrue(result.accepted(), command + " -> " + result);
    }

    private Result execute(final int node, final Command command) throws Exception
    {
        return engines[node].execute(command, 30, TimeUnit.SECONDS);
    }

    private void start(final int i)
    {
        nodes[i] = ClusterNode.launch(new ClusterNode.Context()
            .memberId(i)
            .members(members)
            .dataDir(new DataDir(dir.resolve("node" + i)))
            .ledger(new LedgerConfig().expectedAccounts(1024).dedupeWindowCount(dedupeWindow))
            .rollCycle(Journals.rollCycle("DAILY"))
            .onFatal(onFatal)
            .ledgerFactory((config, sink) -> i != poisoned ? new Ledger(config, sink) : new Ledger(config, outcome ->
            {
                if (outcome.amount() == POISON)
                {
                    throw new IllegalStateException("test: a bug");
                }
                sink.onOutcome(outcome);
            })));
        engines[i] = ClusterRuntime.gatewaySide(nodes[i].context(), 1024, () -> { }, TimeUnit.SECONDS.toNanos(1),
            TimeUnit.SECONDS.toNanos(20));
    }

    private void close(final int i)
    {
        if (engines[i] != null)
        {
            engines[i].close();
            engines[i] = null;
        }
        if (nodes[i] != null)
        {
            nodes[i].close();
            nodes[i] = null;
        }
    }
}
