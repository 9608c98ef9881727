package io.quotaledger.cluster;

import io.aeron.cluster.RecordingLog;
import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Journals;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A member's disk stays bounded: after each snapshot every member purges its log before the snapshot before the
 * latest one and the recordings of older snapshots, and still recovers from what it kept; the leader asks for
 * periodic snapshots.
 */
class ClusterDiskTest
{
    private static final int SEGMENT = 256 * 1024;
    private static final int REQUESTS_PER_ROUND = 2_500; // about 220 bytes of log each: two segments a round

    @TempDir
    Path dir;

    private final ClusterNode[] nodes = new ClusterNode[3];
    private final ClusterEngine[] engines = new ClusterEngine[3];
    private final ClusterRuntime[] runtimes = new ClusterRuntime[3];
    private ClusterMembers members;
    private long requestId;

    @AfterEach
    void tearDown()
    {
        for (int i = 0; i < 3; i++)
        {
            close(i);
            if (runtimes[i] != null)
            {
                runtimes[i].close();
            }
        }
    }

    @Test
    void shouldPurgeOldLogAndSnapshotsAndRecoverFromWhatIsKept() throws Exception
    {
        members = LoopbackMembers.three();
        for (int i = 0; i < 3; i++)
        {
            start(i);
        }
        assertEquals(ResultCode.OK, execute(0, new Command().op(Op.CREDIT).requestId(1, 1).userId(7)
            .amount(1_000_000_000L)).code());

        final int rounds = 4;
        final long[] committedBeforeSnapshot = new long[rounds];
        final long[] bytesAfterSecondRound = new long[3];
        for (int round = 0; round < rounds; round++)
        {
            load(round);
            committedBeforeSnapshot[round] = nodes[0].status().commitPosition;
            snapshotEverywhere();
            final long[] sizes = new long[3];
            for (int i = 0; i < 3; i++)
            {
                final int member = i;
                if (round >= 1)
                {
                    // from the second snapshot on, the log before the one before the latest goes
                    final long keptFrom = committedBeforeSnapshot[round - 1] - SEGMENT;
                    awaitTrue(() -> logStart(member) >= keptFrom,
                        "member " + i + " purged no log in round " + round);
                }
                awaitTrue(() -> recordings(member).size() <= 1 + 2 * 2,
                    "member " + i + " keeps old snapshot recordings: " + recordings(member));
                sizes[i] = logBytes(i);
                if (round == 1)
                {
                    bytesAfterSecondRound[i] = sizes[i];
                }
            }
            System.out.printf("round %d: log committed to %,d; log recording bytes %,d %,d %,d; log start %,d%n", round,
                nodes[0].status().commitPosition, sizes[0], sizes[1], sizes[2], logStart(0));
        }
        for (int i = 0; i < 3; i++)
        {
            // steady: each round's new log and snapshots replace as much of the old (give or take a segment)
            assertTrue(logBytes(i) <= bytesAfterSecondRound[i] + SEGMENT,
                "member " + i + " log grew from " + bytesAfterSecondRound[i] + " to " + logBytes(i) + " bytes");
            final int member = i;
            awaitTrue(() -> validSnapshots(member) == 2 * 2,
                "member " + i + " recording log lists purged snapshots as valid");
        }

        // a follower misses a round (less than the log kept) and catches up from the leader's log; then the leader
        // restarts: each from its latest snapshot and the log kept after it
        final int follower = (leader() + 1) % 3;
        close(follower);
        load(rounds);
        start(follower);
        final int leader = leader();
        close(leader);
        start(leader);
        load(rounds + 1);
        snapshotEverywhere();
        final ClusterNode.Status expected = nodes[0].status();
        for (int i = 1; i < 3; i++)
        {
            final ClusterNode.Status status = nodes[i].status();
            assertEquals(expected.snapshotSequence, status.snapshotSequence, "member " + i);
            assertEquals(expected.snapshotChecksum, status.snapshotChecksum, "member " + i);
            assertEquals(expected.snapshotCrc, status.snapshotCrc, "member " + i);
        }
        assertEquals(1_000_000_000L - (rounds + 2) * REQUESTS_PER_ROUND,
            execute(leader, new Command().op(Op.QUERY).userId(7)).balance());
    }

    @Test
    void shouldReseedAMemberThatMissedMoreThanTheKeptLog() throws Exception
    {
        members = LoopbackMembers.three();
        for (int i = 0; i < 3; i++)
        {
            start(i);
        }
        assertEquals(ResultCode.OK, execute(0, new Command().op(Op.CREDIT).requestId(1, 1).userId(7)
            .amount(1_000_000_000L)).code());
        load(0);
        snapshotEverywhere();
        final int stale = (leader() + 1) % 3;
        final long stalePosition = nodes[stale].status().commitPosition;
        close(stale);
        for (int round = 1; round <= 3; round++)
        {
            load(round);
            snapshotEverywhere();
        }
        for (int i = 0; i < 3; i++)
        {
            final int member = i;
            if (i != stale)
            {
                awaitTrue(() -> logStart(member) > stalePosition, "member " + i + " kept the log the stale one needs");
            }
        }
        start(stale);
        // the log it misses is purged everywhere: it waits for a catch-up the leader cannot replay, and stays behind
        Thread.sleep(3_000);
        final int healthy = leader() == (stale + 1) % 3 ? (stale + 2) % 3 : (stale + 1) % 3;
        assertEquals(2_501, nodes[stale].status().appliedSequence);
        assertTrue(nodes[healthy].status().appliedSequence > 10_000);

        // re-seeded: both stopped, the healthy member's data directory copied over the stale one's
        close(stale);
        close(healthy);
        copyDirectory(dir.resolve("node" + healthy), dir.resolve("node" + stale));
        start(healthy);
        start(stale);
        load(4);
        snapshotEverywhere();
        final ClusterNode.Status expected = nodes[0].status();
        for (int i = 1; i < 3; i++)
        {
            final ClusterNode.Status status = nodes[i].status();
            assertEquals(expected.snapshotSequence, status.snapshotSequence, "member " + i);
            assertEquals(expected.snapshotCrc, status.snapshotCrc, "member " + i);
        }
        assertEquals(12_501, expected.snapshotSequence);
    }

    private static void copyDirectory(final Path from, final Path to) throws IOException
    {
        try (Stream<Path> old = Files.walk(to))
        {
            old.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
        try (Stream<Path> files = Files.walk(from))
        {
            for (final Path file : (Iterable<Path>)files::iterator)
            {
                final Path target = to.resolve(from.relativize(file));
                if (Files.isDirectory(file))
                {
                    Files.createDirectories(target);
                }
                else
                {
                    Files.copy(file, target);
                }
            }
        }
    }

    @Test
    void shouldHaveTheLeaderAskForPeriodicSnapshots() throws Exception
    {
        members = LoopbackMembers.three();
        final long every = 1_000;
        for (int i = 0; i < 3; i++)
        {
            runtimes[i] = ClusterRuntime.start(context(i).snapshotEveryOutcomes(every), 1024, () -> { });
            nodes[i] = runtimes[i].node();
            engines[i] = (ClusterEngine)runtimes[i].engine();
        }
        assertEquals(ResultCode.OK, execute(0, new Command().op(Op.CREDIT).requestId(1, 1).userId(7)
            .amount(1_000_000_000L)).code());
        for (int round = 1; round <= 2; round++)
        {
            load(round);
            for (int i = 0; i < 3; i++)
            {
                final int member = i;
                final int expected = round;
                awaitTrue(() -> nodes[member].status().snapshots >= expected,
                    "member " + i + " took no periodic snapshot");
            }
        }
        for (int i = 0; i < 3; i++)
        {
            final ClusterNode.Status status = nodes[i].status();
            assertTrue(status.snapshots <= status.appliedSequence / every,
                status.snapshots + " snapshots for " + status.appliedSequence + " outcomes");
        }
        runtimes[0].close();
        runtimes[1].close();
        runtimes[2].close();
        for (int i = 0; i < 3; i++)
        {
            runtimes[i] = null;
            nodes[i] = null;
            engines[i] = null;
        }
    }

    /**
     * {@link #REQUESTS_PER_ROUND} deductions through the three members, pipelined.
     */
    private void load(final int round) throws Exception
    {
        final Semaphore inFlight = new Semaphore(256);
        final CountDownLatch done = new CountDownLatch(REQUESTS_PER_ROUND);
        final AtomicInteger refused = new AtomicInteger();
        for (int n = 0; n < REQUESTS_PER_ROUND; n++)
        {
            inFlight.acquire();
            final Command command = new Command().op(Op.DEDUCT).requestId(2, ++requestId).userId(7).serviceId(1)
                .amount(1);
            final ClusterEngine engine = engines[n % 3] != null ? engines[n % 3] : engines[(n + 1) % 3];
            engine.submit(command, (correlationId, arrival, c, result) ->
            {
                if (result.code() != ResultCode.OK)
                {
                    refused.incrementAndGet();
                }
                inFlight.release();
                done.countDown();
            }, 0);
        }
        assertTrue(done.await(30, TimeUnit.SECONDS), "round " + round + " not answered");
        assertEquals(0, refused.get(), "round " + round + " had refusals");
    }

    private void snapshotEverywhere() throws Exception
    {
        final int asker = leader();
        final long before = nodes[asker].service().lastSnapshotSequence();
        assertEquals("OK", engines[asker].requestSnapshot().get(30, TimeUnit.SECONDS));
        for (int i = 0; i < 3; i++)
        {
            if (nodes[i] == null)
            {
                continue;
            }
            final int member = i;
            awaitTrue(() -> nodes[member].service().lastSnapshotSequence() > before &&
                nodes[member].service().lastSnapshotSequence() == nodes[asker].service().lastSnapshotSequence(),
                "member " + i + " took no snapshot");
        }
    }

    private int leader() throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline)
        {
            for (int i = 0; i < 3; i++)
            {
                if (nodes[i] != null && "leader".equals(nodes[i].status().role))
                {
                    return i;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no leader");
    }

    /**
     * @return the archive's recording ids that still have segment files.
     */
    private Set<Long> recordings(final int member)
    {
        final Set<Long> ids = new TreeSet<>();
        try (Stream<Path> files = Files.list(archiveDir(member)))
        {
            files.map(file -> file.getFileName().toString())
                .filter(name -> name.endsWith(".rec"))
                .forEach(name -> ids.add(Long.parseLong(name.substring(0, name.indexOf('-')))));
        }
        catch (final IOException ex)
        {
            throw new AssertionError(ex);
        }
        return ids;
    }

    private long logRecordingId(final int member)
    {
        try (RecordingLog recordingLog = new RecordingLog(clusterDir(member).toFile(), false))
        {
            return recordingLog.findLastTermRecordingId();
        }
    }

    private long validSnapshots(final int member)
    {
        try (RecordingLog recordingLog = new RecordingLog(clusterDir(member).toFile(), false))
        {
            return recordingLog.entries().stream()
                .filter(entry -> entry.type == RecordingLog.ENTRY_TYPE_SNAPSHOT && entry.isValid)
                .count();
        }
    }

    /**
     * @return where the first of the log recording's segment files starts.
     */
    private long logStart(final int member)
    {
        final String prefix = logRecordingId(member) + "-";
        try (Stream<Path> files = Files.list(archiveDir(member)))
        {
            return files.map(file -> file.getFileName().toString())
                .filter(name -> name.startsWith(prefix) && name.endsWith(".rec"))
                .mapToLong(name -> Long.parseLong(name.substring(prefix.length(), name.length() - ".rec".length())))
                .min()
                .orElse(-1);
        }
        catch (final IOException ex)
        {
            throw new AssertionError(ex);
        }
    }

    /**
     * @return the length of the log recording's segment files (a snapshot's files are sparse, as long as its term).
     */
    private long logBytes(final int member) throws IOException
    {
        final String prefix = logRecordingId(member) + "-";
        try (Stream<Path> files = Files.list(archiveDir(member)))
        {
            return files.filter(file -> file.getFileName().toString().startsWith(prefix))
                .mapToLong(file -> file.toFile().length())
                .sum();
        }
    }

    private Path archiveDir(final int member)
    {
        return dir.resolve("node" + member).resolve("archive");
    }

    private Path clusterDir(final int member)
    {
        return dir.resolve("node" + member).resolve("cluster");
    }

    private static void awaitTrue(final BooleanSupplier condition, final String message) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean())
        {
            assertTrue(System.nanoTime() < deadline, message);
            Thread.sleep(20);
        }
    }

    private Result execute(final int node, final Command command) throws Exception
    {
        return engines[node].execute(command, 30, TimeUnit.SECONDS);
    }

    private ClusterNode.Context context(final int i)
    {
        return new ClusterNode.Context()
            .memberId(i)
            .members(members)
            .dataDir(new DataDir(dir.resolve("node" + i)))
            .ledger(new LedgerConfig().expectedAccounts(1024).dedupeWindowCount(1 << 12))
            .rollCycle(Journals.rollCycle("DAILY"))
            .logTermLength("256k")
            .archiveSegmentLength(SEGMENT)
            .onFatal(why -> { throw new AssertionError(why); });
    }

    private void start(final int i)
    {
        nodes[i] = ClusterNode.launch(context(i));
        engines[i] = ClusterRuntime.gatewaySide(nodes[i].context(), 1024, () -> { }, TimeUnit.SECONDS.toNanos(1),
            TimeUnit.SECONDS.toNanos(20));
    }

    private void close(final int i)
    {
        if (engines[i] != null && runtimes[i] == null)
        {
            engines[i].close();
        }
        engines[i] = null;
        if (nodes[i] != null && runtimes[i] == null)
        {
            nodes[i].close();
        }
        nodes[i] = null;
    }
}
