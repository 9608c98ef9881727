package io.quotaledger.cluster;

import io.quotaledger.cli.LedgerCli;
import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.SnapshotReport;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.engine.ChildJvm;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.Recovery;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Three cluster members in child JVMs ({@code ledger serve --cluster-members ...}) on loopback under pipelined
 * DEDUCTs from several clients, each connected to a different member and failing over to the others. Each cycle
 * kills (SIGKILL) the leader or a follower at a random moment under load and restarts it once the others answer
 * again; at the end every acknowledged deduct is in the balances exactly once, and every member's snapshot of the
 * state has the same checksum at the same sequence.
 *
 * <p>CI runs two cycles (a leader and a follower); {@code scripts/cluster-test --cycles N} runs more
 * ({@code -Dledger.cluster.cycles=N}, {@code -Dledger.cluster.seed=S}).
 */
class ClusterKillTest
{
    private static final int MEMBERS = 3;
    private static final int CLIENTS = 3;
    private static final int WINDOW = 32;
    private static final int USERS = 64;
    private static final long CREDIT = 1_000_000_000L;
    private static final Pattern NUMBER = Pattern.compile("\"(\\w+)\":(-?\\d+)");
    private static final Pattern TEXT = Pattern.compile("\"(\\w+)\":\"([^\"]*)\"");

    @TempDir
    Path dir;

    private final ChildJvm[] members = new ChildJvm[MEMBERS];
    private final int[] ports = new int[MEMBERS];
    private final int[] metricsPorts = new int[MEMBERS];
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    private final AtomicLongArray acknowledged = new AtomicLongArray(USERS);
    private final AtomicLong acknowledgedTotal = new AtomicLong();
    private final AtomicLong lastAckNanos = new AtomicLong();
    private final AtomicLong longestGapAfterKill = new AtomicLong();
    private final Queue<UUID[]> unknown = new ConcurrentLinkedQueue<>();
    private volatile long killNanos = Long.MAX_VALUE;
    private volatile boolean loading = true;
    private String clusterMembers;
    private String key;

    @AfterEach
    void tearDown() throws Exception
    {
        loading = false;
        for (final ChildJvm member : members)
        {
            if (member != null)
            {
                member.kill();
            }
        }
    }

    @Test
    void shouldLoseNothingAcknowledgedWhenMembersAreKilled() throws Exception
    {
        final int cycles = Integer.getInteger("ledger.cluster.cycles", 2);
        final long seed = Long.getLong("ledger.cluster.seed", System.nanoTime());
        System.out.println("cluster test seed " + seed);
        final Random random = new Random(seed);

        key = ApiKeys.generate();
        final StringBuilder spec = new StringBuilder();
        final StringBuilder endpoints = new StringBuilder();
        final int udpBase = LoopbackMembers.freeUdpPorts(MEMBERS * ClusterMembers.PORTS_PER_MEMBER);
        for (int i = 0; i < MEMBERS; i++)
        {
            ports[i] = freeTcpPort();
            metricsPorts[i] = freeTcpPort();
            spec.append(i == 0 ? "" : ",").append("localhost:").append(udpBase + i * ClusterMembers.PORTS_PER_MEMBER);
            endpoints.append(i == 0 ? "" : ",").append("127.0.0.1:").append(ports[i]);
            ApiKeys.append(dir.resolve("member" + i).resolve("keys"), Role.ADMIN, key, "cluster-test");
        }
        clusterMembers = spec.toString();
        for (int i = 0; i < MEMBERS; i++)
        {
            members[i] = start(i);
        }
        awaitLeader();

        final List<LedgerClient> clients = new ArrayList<>();
        final List<Thread> loaders = new ArrayList<>();
        final List<Long> failovers = new ArrayList<>();
        try
        {
            for (int c = 0; c < CLIENTS; c++)
            {
                clients.add(LedgerClient.connect(new ClientConfig()
                    .endpoints(rotate(endpoints.toString(), c))
                    .apiKey(key)
                    .timeout(Duration.ofMillis(1_500))
                    .attempts(20)
                    .reconnectBackoff(Duration.ofMillis(50))));
            }
            for (int u = 0; u < USERS; u++)
            {
                final LedgerResult credit = clients.get(0).blocking().credit(UUID.randomUUID(), u + 1, CREDIT);
                assertEquals(ResultCode.OK, credit.code(), credit.toString());
            }
            for (final LedgerClient client : clients)
            {
                final Thread loader = new Thread(() -> load(client, random.nextLong()), "cluster-test-load");
                loader.start();
                loaders.add(loader);
            }

            for (int cycle = 1; cycle <= cycles; cycle++)
            {
                Thread.sleep(1_000 + random.nextInt(2_000));
                final int leader = awaitLeader();
                final boolean killLeader = cycle % 2 == 1;
                final int victim = killLeader ? leader : (leader + 1 + random.nextInt(MEMBERS - 1)) % MEMBERS;
                final long acknowledgedBefore = acknowledgedTotal.get();
                longestGapAfterKill.set(0);
                killNanos = System.nanoTime();
                members[victim].kill();
                saveLog(victim, cycle);
                final long failoverMillis = awaitFailover();
                failovers.add(failoverMillis);
                killNanos = Long.MAX_VALUE;

                Thread.sleep(500 + random.nextInt(1_000));
                members[victim] = start(victim);
                final long syncMillis = awaitInSync(victim);
                System.out.printf(Locale.ROOT, "cycle %d: killed %s member %d, failover_ms=%d, restarted and back in " +
                    "sync %d ms later, acknowledged %d during the cycle%n", cycle, killLeader ? "leader" : "follower",
                    victim, failoverMillis, syncMillis, acknowledgedTotal.get() - acknowledgedBefore);
            }
            loading = false;
            for (final Thread loader : loaders)
            {
                loader.join(TimeUnit.SECONDS.toMillis(60));
            }
            resolveUnknown(clients.get(0));

            long lost = 0;
            long doubled = 0;
            for (int u = 0; u < USERS; u++)
            {
                final long balance = clients.get(0).blocking().query(u + 1, 0).balance();
                final long expected = CREDIT - acknowledged.get(u);
                lost += Math.max(0, balance - expected);
                doubled += Math.max(0, expected - balance);
            }
            final SnapshotReport snapshot = clients.get(0).snapshot().get(60, TimeUnit.SECONDS);
            assertEquals(ResultCode.OK, snapshot.code(), snapshot.toString());
            for (int i = 0; i < MEMBERS; i++)
            {
                saveLog(i, cycles + 1);
            }
            final String checksums = awaitSameSnapshot();
            checkStatusCommand();
            checkJournals(checksums);
            final long[] sorted = failovers.stream().mapToLong(Long::longValue).sorted().toArray();
            System.out.printf(Locale.ROOT, "cluster test: cycles=%d acknowledged=%d lost=%d doubled=%d " +
                "failover_ms=%d (p50 %d) checksums %s%n", cycles, acknowledgedTotal.get(), lost, doubled,
                sorted[sorted.length - 1], sorted[(sorted.length - 1) / 2], checksums);
            assertEquals(0, lost, "acknowledged deducts missing from the balances");
            assertEquals(0, doubled, "deducts applied more than once");
        }
        finally
        {
            loading = false;
            for (final LedgerClient client : clients)
            {
                client.close();
            }
        }
    }

    /**
     * Keeps {@link #WINDOW} deducts of 1 in flight, each with a request id of its own, until told to stop.
     */
    private void load(final LedgerClient client, final long seed)
    {
        final Random random = new Random(seed);
        final Semaphore window = new Semaphore(WINDOW);
        try
        {
            while (loading)
            {
                if (!window.tryAcquire(100, TimeUnit.MILLISECONDS))
                {
                    continue;
                }
                final int user = random.nextInt(USERS);
                final UUID requestId = UUID.randomUUID();
                client.deduct(requestId, user + 1, 1, 1).whenComplete((result, failure) ->
                {
                    window.release();
                    if (failure == null && result.code() == ResultCode.OK)
                    {
                        acknowledge(user);
                    }
                    else
                    {
                        unknown.add(new UUID[]{ requestId, new UUID(0, user) });
                    }
                });
            }
            window.acquire(WINDOW); // everything answered
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@code ledger cluster status --json} over the three members: all answer, one leads, exit 0.
     */
    private void checkStatusCommand()
    {
        final StringBuilder addresses = new StringBuilder();
        for (int i = 0; i < MEMBERS; i++)
        {
            addresses.append(i == 0 ? "" : ",").append("127.0.0.1:").append(metricsPorts[i]);
        }
        final java.io.PrintStream out = System.out;
        final java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        final int code;
        System.setOut(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        try
        {
            code = LedgerCli.run("cluster", "status", "--members", addresses.toString(), "--json");
        }
        finally
        {
            System.setOut(out);
        }
        final String json = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, code, json);
        assertTrue(json.startsWith("{\"healthy\":true,\"oneLeader\":true"), json);
        assertEquals(MEMBERS, json.split("\"answering\":true", -1).length - 1, json);
    }

    /**
     * Every member's own outcome journal, read alone once the members have stopped, rebuilds the state of the
     * cluster's last snapshot: same last sequence, same checksum, so no outcome is missing or written twice.
     *
     * @param snapshot "sequence/checksum/crc" as the members reported it.
     */
    private void checkJournals(final String snapshot) throws Exception
    {
        for (int i = 0; i < MEMBERS; i++)
        {
            members[i].terminate(30_000);
        }
        final String[] parts = snapshot.split("/");
        for (int i = 0; i < MEMBERS; i++)
        {
            final DataDir data = new DataDir(dir.resolve("member" + i));
            Journals.refreshListing(data);
            final Recovery.Result replayed = Recovery.recover(data, () -> new Ledger(new LedgerConfig()
                .expectedAccounts(1024).dedupeWindowCount(262_144), OutcomeSink.NONE));
            assertEquals(Long.parseLong(parts[0]), replayed.lastSequence(), "member " + i + "'s journal ends elsewhere");
            assertEquals(parts[1], String.format("%016x", replayed.ledger().checksum()),
                "member " + i + "'s journal rebuilds another state");
        }
        System.out.println("every member's journal rebuilds the snapshot's state at sequence " + parts[0]);
    }

    /**
     * Keeps what a member printed (its log) in target/cluster-test-logs, for a look at a slow failover.
     */
    private void saveLog(final int member, final int run) throws IOException
    {
        final Path logs = Path.of("target", "cluster-test-logs");
        java.nio.file.Files.createDirectories(logs);
        java.nio.file.Files.writeString(logs.resolve("member" + member + "-until-" + run + ".log"),
            members[member].output());
    }

    private void acknowledge(final int user)
    {
        acknowledged.incrementAndGet(user);
        acknowledgedTotal.incrementAndGet();
        final long now = System.nanoTime();
        final long previous = lastAckNanos.getAndAccumulate(now, Math::max);
        if (now > killNanos)
        {
            longestGapAfterKill.accumulateAndGet(now - previous, Math::max);
        }
    }

    /**
     * The failover time: the longest stretch without any acknowledgement that ends after the kill (from the last
     * request acknowledged before it, or after it by replies already on their way, to the first one after the gap).
     * Measured once acknowledgements have flowed again for a while.
     *
     * @return the gap in milliseconds.
     */
    private long awaitFailover() throws InterruptedException
    {
        final long deadline = killNanos + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline)
        {
            Thread.sleep(20);
            final long now = System.nanoTime();
            final boolean flowing = now - lastAckNanos.get() < TimeUnit.MILLISECONDS.toNanos(100);
            if (flowing && now - killNanos > TimeUnit.SECONDS.toNanos(4))
            {
                return TimeUnit.NANOSECONDS.toMillis(longestGapAfterKill.get());
            }
        }
        throw new AssertionError("acknowledgements did not resume within 30 s of the kill");
    }

    /**
     * A deduct that got no OK may or may not have been applied: sent again with its id, it is answered with its
     * first result (applied once) or applied now. Either way it is then acknowledged, once.
     */
    private void resolveUnknown(final LedgerClient client) throws Exception
    {
        UUID[] entry;
        int resolved = 0;
        while ((entry = unknown.poll()) != null)
        {
            final int user = (int)entry[1].getLeastSignificantBits();
            final LedgerResult result = client.deduct(entry[0], user + 1, 1, 1).get(60, TimeUnit.SECONDS);
            assertEquals(ResultCode.OK, result.code(), result.toString());
            acknowledge(user);
            resolved++;
        }
        System.out.println("resent " + resolved + " deducts answered without OK during the run");
    }

    private ChildJvm start(final int member) throws IOException
    {
        return ChildJvm.start(List.of("-Xmx384m"), LedgerCli.class, List.of(
            "serve",
            "--data", dir.resolve("member" + member).toString(),
            "--port", Integer.toString(ports[member]),
            "--metrics-port", Integer.toString(metricsPorts[member]),
            "--no-projector",
            "--dedupe-window", "262144",
            "--expected-accounts", "1024",
            "--cluster-members", clusterMembers,
            "--cluster-member-id", Integer.toString(member),
            "--aeron-dir", dir.resolve("aeron-" + member).toString()));
    }

    /**
     * @return the member that says it leads, once one does and the others follow it.
     */
    private int awaitLeader() throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline)
        {
            for (int i = 0; i < MEMBERS; i++)
            {
                final String health = health(i);
                if (health != null && "leader".equals(text(health, "role")))
                {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no leader within 60 s");
    }

    /**
     * Waits until the restarted member has applied at least what the leader had when this began.
     *
     * @return the wait, in milliseconds.
     */
    private long awaitInSync(final int member) throws Exception
    {
        final long start = System.nanoTime();
        final long deadline = start + TimeUnit.SECONDS.toNanos(90);
        long target = -1;
        while (System.nanoTime() < deadline)
        {
            if (target < 0)
            {
                final String leader = health(awaitLeader());
                target = leader == null ? -1 : number(leader, "appliedSequence");
            }
            final String health = health(member);
            if (target >= 0 && health != null && number(health, "appliedSequence") >= target)
            {
                return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            }
            Thread.sleep(50);
        }
        throw new AssertionError("member " + member + " not back in sync within 90 s: " + health(member) +
            "\n" + members[member].stderr());
    }

    /**
     * @return the members' checksums, once all three have a snapshot at the same sequence with the same checksum.
     */
    private String awaitSameSnapshot() throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        final String[] seen = new String[MEMBERS];
        while (System.nanoTime() < deadline)
        {
            for (int i = 0; i < MEMBERS; i++)
            {
                final String health = health(i);
                seen[i] = health == null ? null : number(health, "snapshotSequence") + "/" +
                    text(health, "snapshotChecksum") + "/" + text(health, "snapshotCrc");
            }
            if (seen[0] != null && !seen[0].startsWith("-1") && seen[0].equals(seen[1]) && seen[1].equals(seen[2]))
            {
                return seen[0];
            }
            Thread.sleep(100);
        }
        fail("members' snapshots differ: " + Arrays.toString(seen));
        return null;
    }

    private String health(final int member)
    {
        try
        {
            final HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + metricsPorts[member] + "/health")).timeout(Duration.ofSeconds(2))
                .build(), HttpResponse.BodyHandlers.ofString());
            return response.body();
        }
        catch (final IOException ex)
        {
            return null;
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static long number(final String json, final String name)
    {
        final Matcher m = NUMBER.matcher(json);
        while (m.find())
        {
            if (m.group(1).equals(name))
            {
                return Long.parseLong(m.group(2));
            }
        }
        return -1;
    }

    private static String text(final String json, final String name)
    {
        final Matcher m = TEXT.matcher(json);
        while (m.find())
        {
            if (m.group(1).equals(name))
            {
                return m.group(2);
            }
        }
        return null;
    }

    private static String rotate(final String endpoints, final int by)
    {
        final List<String> list = new ArrayList<>(List.of(endpoints.split(",")));
        for (int i = 0; i < by; i++)
        {
            list.add(list.remove(0));
        }
        return String.join(",", list);
    }

    private static int freeTcpPort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0))
        {
            return socket.getLocalPort();
        }
    }
}
